// W2 / W3: conv2d forward and backward (dx + dw) on the WebAssembly backend at 1 and 2 threads,
// float32, NCHW, and W4 max pooling, against the peers' figures for the same shapes.
//   node --import tsx bench/conv.ts            full run, writes bench/results/wasm_conv.jsonl
//   node --import tsx bench/conv.ts --smoke    tiny batch, a few runs, writes nothing (CI)
import { cpus } from "node:os";
import {
  getNumThreads,
  setNumThreads,
  shutdownThreads,
  wasmAvailable,
  wasmConvBackwardKernel,
  wasmConvForwardKernel,
  wasmUnavailableReason,
} from "../src/backend/wasm/index.js";
import { wasmBackend } from "../src/backend/dispatch.js";
import { bench, printPeerRatios, row, writeResults, type Row } from "./timing.js";
import { blasCandidates, findBlas } from "../src/backend/native/index.js";
import { blasConvKernels } from "../src/backend/native/conv.js";
import { runtime } from "../src/backend/wasm/runtime.js";
import type { ConvGeometry } from "../src/backend/backend.js";
import { convGeometry } from "../src/backend/geometry.js";

const smoke = process.argv.includes("--smoke");
const SYS = "cnnlab-wasm";

function rand(len: number): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

const batch = smoke ? 2 : 64;
const geometry = (x: number[], w: number[], pad: number): ConvGeometry =>
  convGeometry("bench", x, w, { stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups: 1 });
const SHAPES: [string, ConvGeometry][] = [
  ["conv1", geometry([batch, 3, 32, 32], [32, 3, 5, 5], 2)],
  ["conv2", geometry([batch, 32, 16, 16], [64, 32, 3, 3], 1)],
];

function main(): void {
  if (!wasmAvailable()) {
    console.log(`W2/W3: WebAssembly SIMD unavailable (${wasmUnavailableReason()}); nothing to measure`);
    process.exitCode = 1;
    return;
  }
  const defaultThreads = getNumThreads();
  const blas = findBlas(blasCandidates(process.env, process.platform)).blas;
  const opts = smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : {};
  const rows: Row[] = [];
  for (const threads of [1, 2]) {
    setNumThreads(threads);
    for (const [name, s] of SHAPES) {
      const { ho, wo } = s;
      const x = rand(s.n * s.c * s.h * s.w);
      const weight = rand(s.cout * s.c * s.kh * s.kw);
      const bias = rand(s.cout);
      const out = new Float32Array(s.n * s.cout * ho * wo);
      const dout = rand(out.length);
      const dx = new Float32Array(x.length);
      const dw = new Float32Array(weight.length);
      const flops = 2 * s.n * s.cout * s.c * s.kh * s.kw * ho * wo;
      const fwd = bench(() => wasmConvForwardKernel(x, weight, bias, out, s), opts);
      const tag = smoke ? ` (smoke, batch ${s.n})` : "";
      rows.push(row(SYS, threads, "W2", `${name} fwd${tag}`, fwd, flops));
      const bwd = bench(() => wasmConvBackwardKernel(x, weight, dout, dx, dw, null, s), opts);
      rows.push(row(SYS, threads, "W3", `${name} bwd(dx,dw)${tag}`, bwd, 2 * flops));
      for (const r of rows.slice(-2)) console.log(JSON.stringify({ ...r, backend: "wasm" }));
      const rt = runtime();
      if (blas && rt) {
        blas.setThreads(threads);
        const g = s;
        const blasConv = blasConvKernels(blas, () => rt);
        const nf = bench(() => blasConv.forward(x, weight, bias, out, g), opts);
        const nb = bench(() => blasConv.backward(x, weight, dout, dx, dw, null, g), opts);
        for (const r of [
          row(SYS, threads, "W2", `${name} fwd${tag}`, nf, flops),
          row(SYS, threads, "W3", `${name} bwd(dx,dw)${tag}`, nb, 2 * flops),
        ])
          console.log(JSON.stringify({ ...r, backend: "native" }));
      }
    }
  }
  // W4: max pool 2x2 stride 2 on [64, 32, 32, 32], forward and backward on the kernels the wasm
  // backend's table runs (the backward told that dx starts at zero, as the op does)
  {
    const [n, c, h, w] = smoke ? [2, 4, 8, 8] : [64, 32, 32, 32];
    const g = { n, c, h, w, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ho: h / 2, wo: w / 2 };
    const x = rand(n * c * h * w);
    const out = new Float32Array(n * c * g.ho * g.wo);
    const indices = new Int32Array(out.length);
    const dx = new Float32Array(x.length);
    const tag = smoke ? ` (smoke, [${n},${c},${h},${w}])` : "";
    const fwd = bench(() => wasmBackend.maxPool2d({ ...g, x, out, indices }), opts);
    rows.push(row(SYS, 1, "W4", `maxpool2x2 fwd only${tag}`, fwd));
    const both = bench(() => {
      wasmBackend.maxPool2d({ ...g, x, out, indices });
      dx.fill(0);
      wasmBackend.maxPool2dBackward({ ...g, x: dx, out, indices, xIsZero: true });
    }, opts);
    rows.push(row(SYS, 1, "W4", `maxpool2x2 fwd+bwd${tag}`, both));
    for (const r of rows.slice(-2)) console.log(JSON.stringify(r));
  }
  setNumThreads(defaultThreads);
  printPeerRatios(rows);
  if (!smoke) {
    const cpu = cpus()[0]?.model ?? "unknown cpu";
    console.log(
      `wrote ${writeResults("wasm_conv", rows, `node ${process.version}; ${cpu}; ${new Date().toISOString()}`)}`,
    );
  }
}

main();
await shutdownThreads();
