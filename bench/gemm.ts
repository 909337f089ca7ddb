// W1: SGEMM n = 256, 512, 1024 (and DGEMM n = 512) on the WebAssembly backend (and the native one's
// BLAS, where it loads) at 1 and 2 threads,
// with PyTorch / numpy / tfjs-wasm figures for the same workload read from the peers' results.
//   node --import tsx bench/gemm.ts            full run, writes bench/results/wasm_gemm.jsonl
//   node --import tsx bench/gemm.ts --smoke    tiny sizes, a few runs, writes nothing (CI)
import { cpus } from "node:os";
import {
  getNumThreads,
  setNumThreads,
  shutdownThreads,
  wasmAvailable,
  wasmGemm,
  wasmUnavailableReason,
} from "../src/backend/wasm/index.js";
import { runtime } from "../src/backend/wasm/runtime.js";
import { blasCandidates, blasGemm, findBlas } from "../src/backend/native/index.js";
import { bench, printPeerRatios, row, writeResults, type Row } from "./timing.js";

const smoke = process.argv.includes("--smoke");
const SYS = "cnnlab-wasm";

function rand(
  T: Float32ArrayConstructor | Float64ArrayConstructor,
  len: number,
): Float32Array | Float64Array {
  const a = new T(len);
  for (let i = 0; i < len; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** GFLOP/s of 12 independent f32x4 mul+add chains: the WASM SIMD ceiling on this machine now. */
function probe(): number {
  const rt = runtime();
  if (!rt) return NaN;
  const iters = smoke ? 1e5 : 1e7;
  rt.x.probe32(iters);
  const t = bench(() => rt.x.probe32(iters), { minRuns: smoke ? 2 : 5, minTimeS: smoke ? 0 : 0.5 });
  return (iters * 96) / (t.ms * 1e-3) / 1e9;
}

function main(): void {
  if (!wasmAvailable()) {
    console.log(`W1: WebAssembly SIMD unavailable (${wasmUnavailableReason()}); nothing to measure`);
    process.exitCode = 1;
    return;
  }
  const defaultThreads = getNumThreads();
  const sizes = smoke ? [16, 33] : [256, 512, 1024];
  const threadCounts = [1, 2];
  const opts = smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : {};
  const rows: Row[] = [];
  const peak = probe();
  // the native backend's GEMM, where a BLAS loads (its rows are printed, not written to wasm_gemm.jsonl)
  const blas = findBlas(blasCandidates(process.env, process.platform)).blas;
  console.log(
    `WASM SIMD mul+add probe: ${peak.toFixed(1)} GFLOP/s per core now (the peers' run measured 35.5 for the same loop)`,
  );
  const cases: { dtype: "float32" | "float64"; n: number }[] = sizes.map((n) => ({ dtype: "float32", n }));
  cases.push({ dtype: "float64", n: smoke ? 20 : 512 });
  for (const threads of threadCounts) {
    setNumThreads(threads);
    for (const { dtype, n } of cases) {
      const T = dtype === "float32" ? Float32Array : Float64Array;
      const a = rand(T, n * n);
      const b = rand(T, n * n);
      const c = new T(n * n);
      const args = { transA: false, transB: false, m: n, n, k: n, a, b, c, accumulate: false };
      const t = bench(() => wasmGemm(args), opts);
      const name = `${dtype === "float32" ? "sgemm" : "dgemm"} n=${n}`;
      const r = row(SYS, threads, "W1", name, t, 2 * n ** 3, {
        probe_gflops: +peak.toFixed(1),
        backend: "wasm",
      });
      rows.push(r);
      console.log(JSON.stringify(r));
      if (blas) {
        blas.setThreads(threads);
        const tn = bench(() => blasGemm(blas, args), opts);
        console.log(
          JSON.stringify(
            row(SYS, threads, "W1", name, tn, 2 * n ** 3, { backend: "native", blas: blas.description }),
          ),
        );
      }
    }
  }
  setNumThreads(defaultThreads);

  printPeerRatios(rows);
  if (!smoke) {
    const cpu = cpus()[0]?.model ?? "unknown cpu";
    const file = writeResults(
      "wasm_gemm",
      rows,
      `node ${process.version}; ${cpu}; ${new Date().toISOString()}; probe ${peak.toFixed(1)} GFLOP/s`,
    );
    console.log(`wrote ${file}`);
  }
}

main();
await shutdownThreads();
