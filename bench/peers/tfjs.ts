// TensorFlow.js peer (tfjs-backend-wasm or tfjs-backend-cpu 4.22) for cnnlab's benchmarks, run by
// bench/run.ts as a subprocess:  node --import tsx bench/peers/tfjs.ts wasm|cpu CONFIG_JSON
// tfjs convolutions are NHWC (XNNPACK, in the wasm backend, is NHWC-only); the shapes are the NCHW
// ones transposed. The installed tfjs-core bundle registers no gradients, so backward passes call the
// gradient kernels (Conv2DBackpropInput/Filter, MaxPoolGrad) and W5's backward is written out from
// them: the same arithmetic an autograd would run. A kernel the backend lacks is reported as an error
// line (tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter, so it cannot train a CNN).
// In Node tfjs-backend-wasm runs one thread (its multithreaded build needs a browser), tfjs-cpu too.
import { createRequire } from "node:module";
import type * as TF from "@tensorflow/tfjs-core";
import { emit, record, wants, type PeerConfig } from "./common.js";
import { CASES, convFlops, convOut, netFlops } from "./shapes.js";

const require = createRequire(import.meta.url);
const which = process.argv[2];
const cfg = JSON.parse(process.argv[3] ?? "{}") as PeerConfig;
const SYS = `tfjs-${which}-4.22`;

type Pad = number | "valid";

async function main(): Promise<void> {
  if (which !== "wasm" && which !== "cpu") throw new Error("usage: tfjs.ts wasm|cpu CONFIG_JSON");
  let tf: typeof TF;
  try {
    // the CommonJS bundles: tfjs-core's ES build uses extensionless imports that Node cannot load
    tf = require("@tensorflow/tfjs-core") as typeof TF;
    require(which === "wasm" ? "@tensorflow/tfjs-backend-wasm" : "@tensorflow/tfjs-backend-cpu");
    if (!(await tf.setBackend(which))) throw new Error(`tf.setBackend("${which}") returned false`);
    await tf.ready();
  } catch (e) {
    emit({ sys: SYS, threads: 1, missing: e instanceof Error ? e.message.slice(0, 200) : String(e) });
    return;
  }
  const base = { sys: SYS, threads: 1 };
  const wl = cfg.workloads;
  const smoke = wl.smoke;
  const engine = tf.engine();
  const run = (name: string, inputs: TF.NamedTensorMap, attrs: Record<string, unknown>) =>
    engine.runKernel(name, inputs, attrs as unknown as TF.NamedAttrMap) as TF.Tensor;

  if (wants(cfg, "W1")) {
    for (const n of wl.gemm) {
      const a = tf.randomNormal([n, n]);
      const b = tf.randomNormal([n, n]);
      record(base, "W1", CASES.gemm(n), () => tf.tidy(() => tf.matMul(a, b).dataSync()), smoke, 2 * n ** 3);
    }
  }
  for (const c of wl.convs) {
    const [n, ch, h, w] = c.x;
    const [k, , r, s] = c.w;
    const [, , ho, wo] = convOut(c);
    const x = tf.randomNormal([n, h, w, ch]) as TF.Tensor4D;
    const wt = tf.randomNormal([r, s, ch, k], 0, 0.1) as TF.Tensor4D;
    const dy = tf.randomNormal([n, ho, wo, k]) as TF.Tensor4D;
    const fl = convFlops(c);
    const attrs = {
      strides: [c.stride, c.stride],
      pad: c.pad as Pad,
      dataFormat: "NHWC",
      dimRoundingMode: undefined,
    };
    if (wants(cfg, "W2")) {
      record(
        base,
        "W2",
        CASES.convFwd(c),
        () => tf.tidy(() => tf.conv2d(x, wt, c.stride, c.pad).dataSync()),
        smoke,
        fl,
      );
    }
    if (wants(cfg, "W3")) {
      record(
        base,
        "W3",
        CASES.convBwd(c),
        () =>
          tf.tidy(() => {
            run(
              "Conv2DBackpropInput",
              { dy, filter: wt },
              { ...attrs, inputShape: [n, h, w, ch] },
            ).dataSync();
            run("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: [r, s, ch, k] }).dataSync();
          }),
        smoke,
        2 * fl,
      );
    }
  }
  if (wants(cfg, "W4")) {
    const [n, ch, h, w] = wl.pool;
    const x = tf.randomNormal([n, h, w, ch]) as TF.Tensor4D;
    const dy = tf.randomNormal([n, h / 2, w / 2, ch]);
    const pattrs = { filterSize: 2, strides: 2, pad: "valid", dimRoundingMode: undefined };
    record(
      base,
      "W4",
      CASES.poolBoth,
      () =>
        tf.tidy(() => {
          const y = tf.maxPool(x, 2, 2, "valid");
          run("MaxPoolGrad", { dy, input: x, output: y }, pattrs).dataSync();
        }),
      smoke,
    );
    record(base, "W4", CASES.poolFwd, () => tf.tidy(() => tf.maxPool(x, 2, 2, "valid").dataSync()), smoke);
  }
  if (wants(cfg, "W5")) {
    const t = wl.net;
    const d = t.F * (t.H / 2) * (t.W / 2);
    const v = (shape: number[], scale: number) =>
      tf.variable(scale ? tf.randomNormal(shape, 0, scale) : tf.zeros(shape));
    const W1 = v([t.R, t.R, t.C, t.F], 1e-3);
    const b1 = v([t.F], 0);
    const W2 = v([d, t.hidden], 1e-3);
    const b2 = v([t.hidden], 0);
    const W3 = v([t.hidden, t.classes], 1e-3);
    const b3 = v([t.classes], 0);
    const X = tf.randomNormal([t.N, t.H, t.W, t.C]) as TF.Tensor4D;
    const labels = Array.from({ length: t.N }, () => Math.floor(Math.random() * t.classes));
    const Y = tf.oneHot(tf.tensor1d(labels, "int32"), t.classes);
    const lr = 1e-3;
    const step = () =>
      tf.tidy(() => {
        // forward
        const a = tf.add(tf.conv2d(X, W1 as TF.Tensor4D, 1, t.pad), b1) as TF.Tensor4D;
        const r = tf.relu(a);
        const p = tf.maxPool(r, 2, 2, "valid");
        const pf = tf.reshape(p, [t.N, d]) as TF.Tensor2D;
        const z2 = tf.add(tf.matMul(pf, W2), b2) as TF.Tensor2D;
        const h2 = tf.relu(z2);
        const s = tf.add(tf.matMul(h2, W3), b3);
        const logp = tf.logSoftmax(s);
        const loss = tf.div(tf.neg(tf.sum(tf.mul(Y, logp))), t.N);
        // backward
        const ds = tf.div(tf.sub(tf.exp(logp), Y), t.N) as TF.Tensor2D;
        const dW3 = tf.matMul(h2, ds, true, false);
        const db3 = tf.sum(ds, 0);
        const dz2 = tf.mul(tf.matMul(ds, W3, false, true), tf.step(z2)) as TF.Tensor2D;
        const dW2 = tf.matMul(pf, dz2, true, false);
        const db2 = tf.sum(dz2, 0);
        const dp = tf.reshape(tf.matMul(dz2, W2, false, true), p.shape);
        const dr = run(
          "MaxPoolGrad",
          { dy: dp, input: r, output: p },
          {
            filterSize: 2,
            strides: 2,
            pad: "valid",
            dimRoundingMode: undefined,
          },
        );
        const da = tf.mul(dr, tf.step(a));
        const dW1 = run(
          "Conv2DBackpropFilter",
          { x: X, dy: da },
          {
            strides: [1, 1],
            pad: t.pad,
            dataFormat: "NHWC",
            dimRoundingMode: undefined,
            filterShape: [t.R, t.R, t.C, t.F],
          },
        );
        const db1 = tf.sum(da, [0, 1, 2]);
        const grads: [TF.Variable, TF.Tensor][] = [
          [W1, dW1],
          [b1, db1],
          [W2, dW2],
          [b2, db2],
          [W3, dW3],
          [b3, db3],
        ];
        for (const [q, g] of grads) q.assign(tf.sub(q, tf.mul(g, lr)));
        loss.dataSync();
      });
    record(base, "W5", CASES.step32, step, smoke, netFlops(t), { warmup: 2, minRuns: 5, minTimeS: 2 });
    emit({ ...base, workload: "W5", case: CASES.step64, error: "tfjs has no float64 dtype" });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    emit({ sys: SYS, threads: 1, crash: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  },
);
