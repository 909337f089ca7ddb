// The memory-bound kernels of a CNN step (ReLU and 2x2 max pooling, forward and backward) on the
// W4/W5 activation shape [64, 32, 32, 32], each implementation the dispatch table could pick, on the
// same arrays in the same run: the JavaScript loops on the tensors' own arrays, and the WebAssembly
// SIMD kernels with their copies into and out of WebAssembly memory (what a call costs as the ops
// make it). Medians of wall clock and of the process's CPU time (steadier on a loaded machine), and
// each implementation's ratio to the JS loops. This is how src/backend/dispatch.ts's choices for
// these kernels were measured.
//   node --import tsx bench/memory-bound.ts [--dtype float32|float64] [--runs N]
import { reluBackward, reluForward } from "../src/backend/js/activation.js";
import { maxPool2d, maxPool2dBackward } from "../src/backend/js/pool.js";
import {
  wasmAvailable,
  wasmMaxPool2d,
  wasmMaxPool2dBackward,
  wasmRelu,
  wasmReluBackward,
} from "../src/backend/wasm/index.js";
import type { MaxPool2dArgs } from "../src/backend/backend.js";
import { bench } from "./timing.js";

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  if (!wasmAvailable()) throw new Error("bench/memory-bound.ts: WebAssembly SIMD is not available");
  const runs = Number(argValue("--runs") ?? 30);
  const dtypes = argValue("--dtype") ? [argValue("--dtype")] : ["float32", "float64"];
  const [n, c, h, w] = [64, 32, 32, 32];
  const len = n * c * h * w;
  const win = { n, c, h, w, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ho: h / 2, wo: w / 2 };
  for (const dtype of dtypes) {
    const T = dtype === "float64" ? Float64Array : Float32Array;
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24 - 0.5;
    const filled = (k: number) => {
      const a = new T(k);
      for (let i = 0; i < k; i++) a[i] = rand();
      return a;
    };
    const x = filled(len);
    const g = filled(len);
    const out = new T(len);
    const pooled = new T(len / 4);
    const indices = new Int32Array(len / 4);
    const gPooled = filled(len / 4);
    const dx = new T(len);
    const poolArgs: MaxPool2dArgs = { ...win, x, out: pooled, indices };
    const backArgs: MaxPool2dArgs = { ...win, x: dx, out: gPooled, indices, xIsZero: true };
    maxPool2d(poolArgs);
    const cases: [string, [string, () => void][]][] = [
      [
        "relu",
        [
          ["JS loops", () => reluForward(x, out)],
          ["WebAssembly SIMD + copies", () => wasmRelu(x, out)],
        ],
      ],
      [
        "reluBackward",
        [
          ["JS loops", () => reluBackward(g, x, out)],
          ["WebAssembly SIMD + copies", () => wasmReluBackward(g, x, out)],
        ],
      ],
      [
        "maxPool2d",
        [
          ["JS loops", () => maxPool2d(poolArgs)],
          ["WebAssembly SIMD + copies", () => wasmMaxPool2d(poolArgs)],
        ],
      ],
      [
        // the op hands the kernel a zeroed input gradient; the zeroing is part of each call here
        "maxPool2dBackward (with zeroing dx)",
        [
          [
            "JS loops",
            () => {
              dx.fill(0);
              maxPool2dBackward(backArgs);
            },
          ],
          [
            "WebAssembly SIMD + copies",
            () => {
              dx.fill(0);
              wasmMaxPool2dBackward(backArgs);
            },
          ],
        ],
      ],
    ];
    for (const [kernel, impls] of cases) {
      const rows = impls.map(([impl, fn]) => ({
        impl,
        t: bench(fn, { warmup: 3, minRuns: runs, maxRuns: runs, minTimeS: 0 }),
      }));
      const base = rows[0].t;
      for (const { impl, t } of rows) {
        console.log(
          JSON.stringify({
            kernel,
            dtype,
            shape: [n, c, h, w],
            impl,
            ms: +t.ms.toFixed(3),
            cpuMs: +t.cpuMs.toFixed(3),
            cpuVsJs: +(t.cpuMs / base.cpuMs).toFixed(2),
          }),
        );
      }
    }
  }
}

main();
