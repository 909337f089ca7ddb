// W4: 2x2 / stride 2 max pooling, forward + backward through autograd (as PyTorch's
// `y = F.max_pool2d(x, 2, 2); y.backward(dy)`), and forward alone, on [64, 32, 32, 32] float32,
// through the public F.maxPool2d on the backend CNNLAB_BENCH_BACKEND names (default wasm), at 1 and 2 threads.
//   node --import tsx bench/pool.ts [--smoke] [--threads 1,2]
// Prints one JSON line per measurement (the format of bench/timing.ts's row()).
import { pathToFileURL } from "node:url";
import { F, noGrad, randn, setBackend, setNumThreads, wasmAvailable } from "../src/index.js";
import { shutdownThreads, wasmUnavailableReason } from "../src/backend/wasm/index.js";
import { bench, row, type BenchOptions, type Row } from "./timing.js";
import { CASES, FULL, SMOKE } from "./peers/shapes.js";

export const SYS = "cnnlab";

/**
 * Selects the backend the runner measures: CNNLAB_BENCH_BACKEND (bench/run.ts sets it per column),
 * default "wasm". Returns its name for the results, with a note when the WebAssembly kernels fall
 * back to JavaScript on this engine.
 */
export function selectBackend(): string {
  const name = process.env.CNNLAB_BENCH_BACKEND || "wasm";
  setBackend(name);
  if (!wasmAvailable()) return `${name} (WebAssembly unavailable: ${wasmUnavailableReason()})`;
  return name;
}

export function benchPool(shape: readonly number[], threadCounts: number[], smoke: boolean): Row[] {
  const opts: BenchOptions = smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : {};
  const [n, c, h, w] = shape;
  const x = randn([n, c, h, w], { requiresGrad: true });
  const dy = randn([n, c, h / 2, w / 2]);
  const pool = { kernelSize: 2, stride: 2 } as const;
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    setNumThreads(threads);
    const both = bench(() => {
      F.maxPool2d(x, pool).backward(dy);
      x.grad = null;
    }, opts);
    rows.push(row(SYS, threads, "W4", CASES.poolBoth, both));
    const fwd = bench(() => noGrad(() => F.maxPool2d(x, pool)), opts);
    rows.push(row(SYS, threads, "W4", CASES.poolFwd, fwd));
  }
  return rows;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const smoke = process.argv.includes("--smoke");
  const threadCounts = (argValue("--threads") ?? "1,2").split(",").map(Number);
  const note = selectBackend();
  try {
    for (const r of benchPool((smoke ? SMOKE : FULL).pool, threadCounts, smoke)) {
      console.log(JSON.stringify({ ...r, backend: note }));
    }
  } finally {
    await shutdownThreads();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
