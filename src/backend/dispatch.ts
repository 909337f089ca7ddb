/**
 * The dispatch table: for every backend and kernel, the implementations in order of preference,
 * each with the condition (WebAssembly loaded, dtype, size, groups) under which it runs; the last
 * one of every list is unconditional (the JavaScript reference, or a composition of kernels). This
 * is the only place that decides which code runs for a kernel call; backendInfo() prints it.
 */
import type { Backend, Kernels, KernelName } from "./backend.js";
import type { DType } from "../tensor/dtype.js";
import { gemm as jsGemm } from "./js/gemm.js";
import { col2im as jsCol2im, im2col as jsIm2col } from "./js/conv.js";
import { gemmConv2dBackward, gemmConv2dForward } from "./js/conv-gemm.js";
import {
  avgPool2d as jsAvgPool2d,
  avgPool2dBackward as jsAvgPool2dBackward,
  maxPool2d as jsMaxPool2d,
  maxPool2dBackward as jsMaxPool2dBackward,
} from "./js/pool.js";
import { reluBackward as jsReluBackward, reluForward as jsRelu } from "./js/activation.js";
import { adamUpdate as jsAdamUpdate, sgdUpdate as jsSgdUpdate } from "./js/optim-update.js";
import * as jsNorm from "./js/norm.js";
import { reduceDims as jsReduce, sumDims as jsSumDims } from "./js/reduce.js";
import * as jsSoftmax from "./js/softmax.js";
import * as jsLoss from "./js/loss.js";
import * as jsIndexing from "./js/indexing.js";
import { runtime } from "./wasm/runtime.js";
import { wasmGemm } from "./wasm/gemm.js";
import { wasmConvBackwardKernel, wasmConvForwardKernel } from "./wasm/conv.js";
import { wasmMaxPool2d } from "./wasm/pool.js";
import { wasmRelu, wasmReluBackward } from "./wasm/activation.js";
import { wasmSumDims } from "./wasm/reduce.js";
import type { Blas } from "./native/blas.js";
import { blasGemm } from "./native/gemm.js";
import { blasConvKernels } from "./native/conv.js";
import { BLAS_AXPY_MIN, blasSgdUpdate } from "./native/optim.js";

/** What a kernel call is, as far as choosing its implementation goes. */
export interface KernelQuery {
  dtype: DType;
  /** Elements the kernel reads (GEMM: m·n·k; conv: the input's elements). */
  size: number;
  groups: number;
}

export interface Rule<K extends KernelName> {
  /** What runs, e.g. "WebAssembly SIMD" or "JS loops". */
  impl: string;
  /** When it runs, in words (absent: always). */
  when?: string;
  accepts?: (q: KernelQuery) => boolean;
  run: Kernels[K];
}

export type Table = { [K in KernelName]: Rule<K>[] };

/**
 * Below this many elements a memory-bound kernel stays in JavaScript: copying into WebAssembly
 * memory and back would cost more than the SIMD loop saves.
 */
export const WASM_ELEMENTWISE_MIN = 1 << 16;

const dt = (a: ArrayLike<number>): DType =>
  a instanceof Float64Array
    ? "float64"
    : a instanceof Int32Array
      ? "int32"
      : a instanceof Uint8Array
        ? "bool"
        : "float32";
const one = (dtype: DType, size: number): KernelQuery => ({ dtype, size, groups: 1 });
const viewSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** How each kernel's arguments map to a query. */
const QUERY: { [K in KernelName]: (...args: Parameters<Kernels[K]>) => KernelQuery } = {
  gemm: (a) => one(dt(a.a), a.m * a.n * a.k),
  im2col: (a) => one(dt(a.x), a.cols.length),
  col2im: (a) => one(dt(a.x), a.cols.length),
  conv2dForward: (x, _w, _b, _o, g) => ({ dtype: dt(x), size: x.length, groups: g.groups }),
  conv2dBackward: (x, _w, _g, _dx, _dw, _db, g) => ({ dtype: dt(x), size: x.length, groups: g.groups }),
  maxPool2d: (a) => one(dt(a.x), a.x.length),
  maxPool2dBackward: (a) => one(dt(a.x), a.x.length),
  avgPool2d: (a) => one(dt(a.x), a.x.length),
  avgPool2dBackward: (a) => one(dt(a.x), a.x.length),
  relu: (x) => one(dt(x), x.length),
  reluBackward: (g) => one(dt(g), g.length),
  sgdUpdate: (a) => one(a.params[0] ? dt(a.params[0]) : "float32", a.params.length),
  adamUpdate: (a) => one(a.params[0] ? dt(a.params[0]) : "float32", a.params.length),
  sumDims: (x) => one(dt(x.data), viewSize(x.shape)),
  reduce: (x) => one(dt(x.data), viewSize(x.shape)),
  channelMoments: (x) => one(dt(x), x.length),
  channelAffine: (_x, _n, _c, _s, _sc, _sh, out) => one(dt(out), out.length),
  channelAffineBackward: (x) => one(dt(x), x.length),
  batchNormBackward: (x) => one(dt(x), x.length),
  rowNormalize: (_x, _r, _s, _e, out) => one(dt(out), out.length),
  rowNormalizeBackward: (_g, _xh, _is, _r, _s, dx) => one(dt(dx), dx.length),
  lrn: (_x, _n, _c, _s, _cfg, out) => one(dt(out), out.length),
  lrnBackward: (x) => one(dt(x), x.length),
  softmax: (_x, out) => one(dt(out), out.length),
  softmaxBackward: (_y, _g, dx) => one(dt(dx), dx.length),
  nllLoss: (x) => one(dt(x), x.length),
  nllLossBackward: (_t, _w, _g, _p, _l, dx) => one(dt(dx), dx.length),
  multiMarginLoss: (x) => one(dt(x), x.length),
  multiMarginLossBackward: (x) => one(dt(x), x.length),
  cat: (_parts, _rows, _outer, out) => one(dt(out), out.length),
  pad: (_x, _s, _b, _os, out) => one(dt(out), out.length),
  indexSelect: (_x, _o, _s, _i, _idx, out) => one(dt(out), out.length),
  indexAdd: (_src, _o, _s, _i, _idx, out) => one(dt(out), out.length),
  gather: (_x, _xs, _d, _idx, _is, out) => one(dt(out), out.length),
  scatterAdd: (out, _xs, _d, idx) => one(dt(out), idx.length),
};

const KERNELS = Object.keys(QUERY) as KernelName[];

/** The first rule of `rules` that accepts `q`. */
export function pick<K extends KernelName>(rules: Rule<K>[], q: KernelQuery): Rule<K> {
  for (const r of rules) if (!r.accepts || r.accepts(q)) return r;
  return rules[rules.length - 1];
}

/** A backend whose every kernel call runs the implementation its table picks. */
export function makeBackend(name: string, table: Table): Backend & { readonly table: Table } {
  const b: Record<string, unknown> = { name, table };
  for (const k of KERNELS) {
    const rules = table[k] as Rule<KernelName>[];
    const query = QUERY[k] as (...args: unknown[]) => KernelQuery;
    b[k] =
      rules.length === 1
        ? rules[0].run
        : (...args: unknown[]) => (pick(rules, query(...args)).run as (...a: unknown[]) => void)(...args);
  }
  return b as unknown as Backend & { readonly table: Table };
}

/** The table as lines "kernel: impl (when), else impl", for backendInfo(). */
export function describeTable(table: Table): string[] {
  return KERNELS.map(
    (k) =>
      `${k}: ${(table[k] as Rule<KernelName>[]).map((r) => (r.when ? `${r.impl} (${r.when})` : r.impl)).join(", else ")}`,
  );
}

// ---------------------------------------------------------------- the tables

const wasmOn = (): boolean => runtime() !== null;
const JS = "JS loops";

export const jsTable: Table = {
  gemm: [{ impl: JS, run: jsGemm }],
  im2col: [{ impl: JS, run: jsIm2col }],
  col2im: [{ impl: JS, run: jsCol2im }],
  conv2dForward: [{ impl: "im2col + GEMM (JS)", run: gemmConv2dForward({ gemm: jsGemm }) }],
  conv2dBackward: [{ impl: "im2col + GEMM (JS)", run: gemmConv2dBackward({ gemm: jsGemm }) }],
  maxPool2d: [{ impl: JS, run: jsMaxPool2d }],
  maxPool2dBackward: [{ impl: JS, run: jsMaxPool2dBackward }],
  avgPool2d: [{ impl: JS, run: jsAvgPool2d }],
  avgPool2dBackward: [{ impl: JS, run: jsAvgPool2dBackward }],
  relu: [{ impl: JS, run: jsRelu }],
  reluBackward: [{ impl: JS, run: jsReluBackward }],
  // memory-bound, on arrays in the JS heap: every backend runs these loops (see optim-update.ts)
  sgdUpdate: [{ impl: JS, run: jsSgdUpdate }],
  adamUpdate: [{ impl: JS, run: jsAdamUpdate }],
  sumDims: [{ impl: JS, run: jsSumDims }],
  reduce: [{ impl: JS, run: jsReduce }],
  channelMoments: [{ impl: JS, run: jsNorm.channelMoments }],
  channelAffine: [{ impl: JS, run: jsNorm.channelAffine }],
  channelAffineBackward: [{ impl: JS, run: jsNorm.channelAffineBackward }],
  batchNormBackward: [{ impl: JS, run: jsNorm.batchNormBackward }],
  rowNormalize: [{ impl: JS, run: jsNorm.rowNormalize }],
  rowNormalizeBackward: [{ impl: JS, run: jsNorm.rowNormalizeBackward }],
  lrn: [{ impl: JS, run: jsNorm.lrn }],
  lrnBackward: [{ impl: JS, run: jsNorm.lrnBackward }],
  softmax: [{ impl: JS, run: jsSoftmax.softmax }],
  softmaxBackward: [{ impl: JS, run: jsSoftmax.softmaxBackward }],
  nllLoss: [{ impl: JS, run: jsLoss.nllLoss }],
  nllLossBackward: [{ impl: JS, run: jsLoss.nllLossBackward }],
  multiMarginLoss: [{ impl: JS, run: jsLoss.multiMarginLoss }],
  multiMarginLossBackward: [{ impl: JS, run: jsLoss.multiMarginLossBackward }],
  cat: [{ impl: JS, run: jsIndexing.cat }],
  pad: [{ impl: JS, run: jsIndexing.pad }],
  indexSelect: [{ impl: JS, run: jsIndexing.indexSelect }],
  indexAdd: [{ impl: JS, run: jsIndexing.indexAdd }],
  gather: [{ impl: JS, run: jsIndexing.gather }],
  scatterAdd: [{ impl: JS, run: jsIndexing.scatterAdd }],
};

const WASM = "WebAssembly SIMD";
const LOADED = "WebAssembly SIMD loads";
const LARGE = `WebAssembly SIMD loads and size >= ${WASM_ELEMENTWISE_MIN}`;

/** The WebAssembly GEMM where the module runs, else the JS loops (the wasm table's gemm). */
function wasmOrJsGemm(args: Parameters<Kernels["gemm"]>[0]): void {
  if (wasmOn()) wasmGemm(args);
  else jsGemm(args);
}

export const wasmTable: Table = {
  ...jsTable,
  gemm: [{ impl: WASM, when: LOADED, accepts: wasmOn, run: wasmGemm }, ...jsTable.gemm],
  conv2dForward: [
    {
      impl: "WebAssembly fused conv",
      when: `${LOADED} and groups = 1`,
      accepts: (q) => q.groups === 1 && wasmOn(),
      run: wasmConvForwardKernel,
    },
    { impl: "im2col (JS) + the GEMM above", run: gemmConv2dForward({ gemm: wasmOrJsGemm }) },
  ],
  conv2dBackward: [
    {
      impl: "WebAssembly fused conv",
      when: `${LOADED} and groups = 1`,
      accepts: (q) => q.groups === 1 && wasmOn(),
      run: wasmConvBackwardKernel,
    },
    { impl: "im2col (JS) + the GEMM above", run: gemmConv2dBackward({ gemm: wasmOrJsGemm }) },
  ],
  maxPool2d: [{ impl: WASM, when: LOADED, accepts: wasmOn, run: wasmMaxPool2d }, ...jsTable.maxPool2d],
  // max-pool backward stays in JS at every size: the scatter reads the output gradient and indices
  // once, and the WebAssembly kernel's copies (both in, the whole input gradient out) cost 2-3x
  // the loop (bench/memory-bound.ts)
  relu: [
    { impl: WASM, when: LARGE, accepts: (q) => q.size >= WASM_ELEMENTWISE_MIN && wasmOn(), run: wasmRelu },
    ...jsTable.relu,
  ],
  sumDims: [
    {
      impl: WASM,
      when: `float32, ${LARGE}`,
      accepts: (q) => q.dtype === "float32" && q.size >= WASM_ELEMENTWISE_MIN && wasmOn(),
      run: wasmSumDims,
    },
    ...jsTable.sumDims,
  ],
  // in float64, copying two inputs in and the result out costs more than the SIMD loop saves
  reluBackward: [
    {
      impl: WASM,
      when: `float32, ${LARGE}`,
      accepts: (q) => q.dtype === "float32" && q.size >= WASM_ELEMENTWISE_MIN && wasmOn(),
      run: wasmReluBackward,
    },
    ...jsTable.reluBackward,
  ],
};

/** The native backend's table on one loaded BLAS: its GEMMs on the BLAS, the memory-bound kernels as wasm's. */
export function nativeTable(blas: Blas): Table {
  const blasConv = blasConvKernels(blas, () => runtime()!);
  const gemm: Kernels["gemm"] = (args) => blasGemm(blas, args);
  const BLAS = `BLAS (${blas.description})`;
  return {
    ...wasmTable,
    gemm: [{ impl: BLAS, run: gemm }],
    // decided per parameter inside the kernel (a call's query counts parameters, not elements)
    sgdUpdate: [
      {
        impl: `BLAS axpy for plain descent of parameters of >= ${BLAS_AXPY_MIN} elements, JS loops for the rest`,
        run: blasSgdUpdate(blas),
      },
    ],
    conv2dForward: [
      {
        impl: "BLAS GEMMs on WebAssembly im2col",
        when: LOADED,
        accepts: wasmOn,
        run: blasConv.forward,
      },
      { impl: "im2col (JS) + BLAS GEMM", run: gemmConv2dForward({ gemm }) },
    ],
    conv2dBackward: [
      {
        impl: "BLAS GEMMs on WebAssembly im2col",
        when: LOADED,
        accepts: wasmOn,
        run: blasConv.backward,
      },
      { impl: "im2col (JS) + BLAS GEMM", run: gemmConv2dBackward({ gemm }) },
    ],
  };
}

export const jsBackend = makeBackend("js", jsTable);
export const wasmBackend = makeBackend("wasm", wasmTable);
