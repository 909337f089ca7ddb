// convnetjs 0.3.0 peer for cnnlab's benchmarks, run by bench/run.ts as a subprocess:
//   node --import tsx bench/peers/convnetjs.ts CONFIG_JSON
// convnetjs works on one image at a time (Vol [sx, sy, depth], Float64Array): a batch time is a loop
// over the batch's images. It has no GEMM (W1) and no float32, so its W5 step (64 x trainer.train
// with one SGD update per batch) is reported for both the float32 and the float64 row.
import { createRequire } from "node:module";
import { emit, record, wants, type PeerConfig } from "./common.js";
import { CASES, convFlops, netFlops } from "./shapes.js";

interface Vol {
  w: Float64Array;
  dw: Float64Array;
}
interface Layer {
  forward(v: Vol, training?: boolean): Vol;
  backward(): void;
  in_act: Vol;
  out_act: Vol;
}
interface ConvnetJs {
  Vol: new (sx: number, sy: number, depth: number, c?: number) => Vol;
  ConvLayer: new (opt: Record<string, unknown>) => Layer;
  PoolLayer: new (opt: Record<string, unknown>) => Layer;
  Net: new () => { makeLayers(defs: Record<string, unknown>[]): void };
  SGDTrainer: new (net: unknown, opt: Record<string, unknown>) => { train(x: Vol, y: number): unknown };
}

const require = createRequire(import.meta.url);
const cfg = JSON.parse(process.argv[2] ?? "{}") as PeerConfig;
const SYS = "convnetjs-0.3.0";
const base = { sys: SYS, threads: 1 };
const opts = { warmup: 2, minRuns: 5, minTimeS: 1 };

function main(): void {
  let cj: ConvnetJs;
  try {
    cj = require("convnetjs") as ConvnetJs;
  } catch (e) {
    emit({ ...base, missing: e instanceof Error ? e.message.slice(0, 200) : String(e) });
    return;
  }
  const wl = cfg.workloads;
  const smoke = wl.smoke;
  const randVol = (sx: number, sy: number, d: number): Vol => {
    const v = new cj.Vol(sx, sy, d, 0);
    for (let i = 0; i < v.w.length; i++) v.w[i] = Math.random() * 2 - 1;
    return v;
  };
  if (wants(cfg, "W1")) {
    for (const n of wl.gemm)
      emit({ ...base, workload: "W1", case: CASES.gemm(n), error: "no matrix multiply" });
  }
  for (const c of wl.convs) {
    const [n, ch, h, w] = c.x;
    const [k, , r] = c.w;
    const layer = new cj.ConvLayer({
      in_sx: w,
      in_sy: h,
      in_depth: ch,
      sx: r,
      filters: k,
      stride: c.stride,
      pad: c.pad,
    });
    const xs = Array.from({ length: n }, () => randVol(w, h, ch));
    const fl = convFlops(c);
    if (wants(cfg, "W2")) {
      record(base, "W2", CASES.convFwd(c), () => xs.forEach((x) => layer.forward(x)), smoke, fl, opts);
    }
    if (wants(cfg, "W3")) {
      // replay each image's saved (input, output) with a random upstream gradient
      const saved = xs.map((x) => {
        const o = layer.forward(x); // a fresh Vol per call
        for (let i = 0; i < o.dw.length; i++) o.dw[i] = Math.random() - 0.5;
        return [x, o] as const;
      });
      const bwd = () => {
        for (const [x, o] of saved) {
          layer.in_act = x;
          layer.out_act = o;
          layer.backward();
        }
      };
      record(base, "W3", CASES.convBwd(c), bwd, smoke, 2 * fl, opts);
    }
  }
  if (wants(cfg, "W4")) {
    const [n, ch, h, w] = wl.pool;
    const pool = new cj.PoolLayer({ in_sx: w, in_sy: h, in_depth: ch, sx: 2, stride: 2 });
    const xs = Array.from({ length: n }, () => randVol(w, h, ch));
    const both = () => {
      for (const x of xs) {
        pool.forward(x).dw.fill(1);
        pool.backward();
      }
    };
    record(base, "W4", CASES.poolBoth, both, smoke, undefined, opts);
    record(base, "W4", CASES.poolFwd, () => xs.forEach((x) => pool.forward(x)), smoke, undefined, opts);
  }
  if (wants(cfg, "W5")) {
    const t = wl.net;
    const net = new cj.Net();
    net.makeLayers([
      { type: "input", out_sx: t.W, out_sy: t.H, out_depth: t.C },
      { type: "conv", sx: t.R, filters: t.F, stride: 1, pad: t.pad, activation: "relu" },
      { type: "pool", sx: 2, stride: 2 },
      { type: "fc", num_neurons: t.hidden, activation: "relu" },
      { type: "softmax", num_classes: t.classes },
    ]);
    const trainer = new cj.SGDTrainer(net, {
      method: "sgd",
      learning_rate: 1e-3,
      momentum: 0,
      batch_size: t.N,
      l2_decay: 0,
    });
    const xs = Array.from({ length: t.N }, () => randVol(t.W, t.H, t.C));
    const ys = xs.map(() => Math.floor(Math.random() * t.classes));
    const step = () => xs.forEach((x, i) => trainer.train(x, ys[i]));
    const note = { note: "float64 arithmetic (convnetjs has no float32)" };
    record(base, "W5", CASES.step32, step, smoke, netFlops(t), opts, note);
    record(base, "W5", CASES.step64, step, smoke, netFlops(t), opts, note);
  }
}

main();
