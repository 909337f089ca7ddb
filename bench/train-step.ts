// W5: one training step (forward, backward, SGD update) of the CS231n ThreeLayerConvNet on a batch
// of 64 images [64, 3, 32, 32] (conv 32 7x7 pad 3 - relu - 2x2 max pool - affine 100 - relu -
// affine 10 - softmax loss), float32 and float64, at 1 and 2 threads on the backend
// CNNLAB_BENCH_BACKEND names (default wasm);
// and the RSS check: 1,000 steps must keep the resident set flat (within 10%) after warm-up.
//   node --import tsx bench/train-step.ts [--smoke] [--threads 1,2] [--rss STEPS]
//   node --cpu-prof --import tsx bench/train-step.ts --threads 1 --steps 30 [--dtype float64]   (profiling)
// Prints one JSON line per measurement (the format of bench/timing.ts's row()).
import { pathToFileURL } from "node:url";
import { F, manualSeed, nn, optim, randint, randn, setNumThreads, type Tensor } from "../src/index.js";
import { shutdownThreads } from "../src/backend/wasm/index.js";
import { bench, row, type BenchOptions, type Row } from "./timing.js";
import { CASES, FULL, SMOKE, netFlops, type NetShape } from "./peers/shapes.js";
import { selectBackend, SYS } from "./pool.js";

export interface TrainStep {
  step(): number;
  /** One training step returning the loss tensor (what bench/compile.ts compiles). */
  stepLoss(): Tensor;
  model: nn.ThreeLayerConvNet;
}

/** A ThreeLayerConvNet with fixed random data and plain SGD; `step()` runs one training step. */
export function makeTrainStep(t: NetShape, dtype: "float32" | "float64"): TrainStep {
  manualSeed(0);
  const model = new nn.ThreeLayerConvNet({
    inputDim: [t.C, t.H, t.W],
    numFilters: t.F,
    filterSize: t.R,
    hiddenDim: t.hidden,
    numClasses: t.classes,
    weightScale: 1e-3,
    dtype,
  });
  const opt = new optim.SGD(model.parameters(), { lr: 1e-3 });
  const x: Tensor = randn([t.N, t.C, t.H, t.W], { dtype });
  const y: Tensor = randint(0, t.classes, [t.N]);
  const stepLoss = (): Tensor => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  return { model, stepLoss, step: () => stepLoss().item() };
}

const smokeOpts: BenchOptions = { warmup: 1, minRuns: 2, minTimeS: 0 };

/** Median time of one training step at each thread count. */
export function benchTrainStep(t: NetShape, threadCounts: number[], smoke: boolean): Row[] {
  const rows: Row[] = [];
  for (const dtype of ["float32", "float64"] as const) {
    const ts = makeTrainStep(t, dtype);
    for (const threads of threadCounts) {
      setNumThreads(threads);
      const timing = bench(() => ts.step(), smoke ? smokeOpts : { warmup: 3, minRuns: 10, minTimeS: 2 });
      const name = dtype === "float32" ? CASES.step32 : CASES.step64;
      rows.push(row(SYS, threads, "W5", name, timing, netFlops(t), { dtype, loss: +ts.step().toFixed(4) }));
    }
  }
  return rows;
}

export interface RssResult {
  steps: number;
  warmupSteps: number;
  /** RSS (MB) after warm-up, and its maximum and final value over the remaining steps. */
  rssWarmMb: number;
  rssMaxMb: number;
  rssFinalMb: number;
  /** rssMax / rssWarm - 1 */
  growth: number;
  flat: boolean;
  /** RSS (MB) every `every` steps. */
  samples: number[];
  every: number;
  /** Median RSS of the last quarter of the post-warm-up samples over that of the first quarter, minus 1. */
  trend: number;
  /** RSS (MB) right after a full GC (NaN without --expose-gc): after warm-up, max, final. */
  rssAfterGcWarmMb: number;
  rssAfterGcMaxMb: number;
  rssAfterGcFinalMb: number;
  growthAfterGc: number;
  flatAfterGc: boolean;
  gcSamples: number[];
  msPerStep: number;
}

/**
 * Runs `steps` float32 training steps and samples the resident set size; "flat" means it never
 * rises more than 10% above its value at the end of warm-up (a tenth of the steps, at least 20).
 */
export function rssCheck(t: NetShape, steps: number, threads: number): RssResult {
  setNumThreads(threads);
  const ts = makeTrainStep(t, "float32");
  const warmupSteps = Math.max(20, Math.floor(steps / 10));
  const every = Math.max(1, Math.floor(steps / 50));
  const mb = () => process.memoryUsage().rss / 2 ** 20;
  // with --expose-gc, also the RSS right after a full collection: what the steps retain, without
  // the garbage that V8 has not collected yet
  const gc = (globalThis as { gc?: () => void }).gc;
  const gcMb = () => {
    if (!gc) return NaN;
    gc();
    return mb();
  };
  const samples: number[] = [];
  const gcSamples: number[] = [];
  let rssWarm = 0;
  let gcWarm = NaN;
  let busy = 0;
  for (let i = 1; i <= steps; i++) {
    const t0 = performance.now();
    ts.step();
    busy += performance.now() - t0;
    if (i === warmupSteps) {
      rssWarm = mb();
      gcWarm = gcMb();
    }
    if (i % every === 0) {
      samples.push(+mb().toFixed(1));
      if (i > warmupSteps && i % (every * 5) === 0) gcSamples.push(+gcMb().toFixed(1));
    }
  }
  const msPerStep = busy / steps;
  const after = samples.filter((_, j) => (j + 1) * every > warmupSteps);
  const rssMax = Math.max(rssWarm, ...after);
  const growth = rssMax / rssWarm - 1;
  // trend: median of the last quarter of the post-warm-up samples against the first quarter's
  const med = (xs: number[]) => {
    const t = xs.slice().sort((x, y) => x - y);
    return t.length % 2 ? t[(t.length - 1) / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
  };
  const q = Math.max(1, Math.floor(after.length / 4));
  const trend = after.length >= 4 ? med(after.slice(-q)) / med(after.slice(0, q)) - 1 : NaN;
  const gcFinal = gcMb();
  const gcMax = Math.max(gcWarm, ...gcSamples, gcFinal);
  return {
    trend: +trend.toFixed(4),
    rssAfterGcWarmMb: +gcWarm.toFixed(1),
    rssAfterGcMaxMb: +gcMax.toFixed(1),
    rssAfterGcFinalMb: +gcFinal.toFixed(1),
    growthAfterGc: +(gcMax / gcWarm - 1).toFixed(4),
    flatAfterGc: gcMax / gcWarm - 1 <= 0.1,
    gcSamples,
    steps,
    warmupSteps,
    rssWarmMb: +rssWarm.toFixed(1),
    rssMaxMb: +rssMax.toFixed(1),
    rssFinalMb: samples[samples.length - 1] ?? rssWarm,
    growth: +growth.toFixed(4),
    flat: growth <= 0.1,
    samples,
    every,
    msPerStep: +msPerStep.toFixed(2),
  };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const smoke = process.argv.includes("--smoke");
  const w = smoke ? SMOKE : FULL;
  const threadCounts = (argValue("--threads") ?? "1,2").split(",").map(Number);
  const rssSteps = argValue("--rss");
  const backendNote = selectBackend();
  try {
    const plain = argValue("--steps");
    if (plain !== undefined) {
      // for profiling (node --cpu-prof): just run the steps
      setNumThreads(threadCounts[0]);
      const ts = makeTrainStep(w.net, argValue("--dtype") === "float64" ? "float64" : "float32");
      const t0 = performance.now();
      for (let i = 0; i < Number(plain); i++) ts.step();
      console.log(
        JSON.stringify({ steps: Number(plain), msPerStep: (performance.now() - t0) / Number(plain) }),
      );
    } else if (rssSteps !== undefined) {
      const r = rssCheck(w.net, Number(rssSteps), threadCounts[0]);
      console.log(
        JSON.stringify({
          sys: SYS,
          threads: threadCounts[0],
          workload: "W5",
          case: "RSS over training steps",
          ...r,
        }),
      );
    } else {
      for (const r of benchTrainStep(w.net, threadCounts, smoke))
        console.log(JSON.stringify({ ...r, backend: backendNote }));
    }
  } finally {
    await shutdownThreads();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
