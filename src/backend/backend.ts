import type { FloatArray } from "../tensor/dtype.js";
import type * as jsIndexing from "./js/indexing.js";
import type * as jsLoss from "./js/loss.js";
import type * as jsNorm from "./js/norm.js";
import type * as jsReduce from "./js/reduce.js";
import type * as jsSoftmax from "./js/softmax.js";

export type { LrnConfig } from "./js/norm.js";

/**
 * Row-major GEMM on exact-length views of one dtype:
 * C[m,n] (+)= op(A)[m,k] · op(B)[k,n], where op transposes when `transA`/`transB`.
 */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: FloatArray;
  b: FloatArray;
  c: FloatArray;
  accumulate: boolean;
}

// ---- Convolution and pooling ----

/**
 * Geometry of a 2-d sliding window over images [n, c, h, w] producing [ho, wo] positions.
 * Used by im2col/col2im and the pooling kernels.
 */
export interface Window2d {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  ho: number;
  wo: number;
}

/**
 * im2col / col2im: `cols` is a matrix with rows over (channel, kernel row, kernel col) and
 * row stride `rowStride`; the column of (image i, output position p) is `i*imgStride + p*posStride`.
 * im2col overwrites every entry of `cols` it addresses (zeros in the padding); col2im adds into `x`.
 */
export interface Im2colArgs extends Window2d {
  x: FloatArray;
  cols: FloatArray;
  rowStride: number;
  posStride: number;
  imgStride: number;
}

/** Pooling over planes: `x` is [n*c, h, w], `out` is [n*c, ho, wo] (dilation fields are 1). */
export interface Pool2dArgs extends Window2d {
  x: FloatArray;
  out: FloatArray;
}

export interface MaxPool2dArgs extends Pool2dArgs {
  /** Per-plane flat index h*w of each maximum (PyTorch's returnIndices). */
  indices: Int32Array;
  /** Backward only: `x` holds zeros, so a kernel need not read it before adding into it. */
  xIsZero?: boolean;
}

/** Shapes and hyper-parameters of one conv2d call: its window over the images, the output channels and groups. */
export interface ConvGeometry extends Window2d {
  cout: number;
  groups: number;
}

/** Whole conv2d forward, any groups: `out` [n, cout, ho, wo] = conv(x, w) + b. */
export type Conv2dForwardKernel = (
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  out: FloatArray,
  g: ConvGeometry,
) => void;

/** Whole conv2d backward, any groups: ADDS the gradients into dx, dw, db (each may be null). */
export type Conv2dBackwardKernel = (
  x: FloatArray,
  w: FloatArray,
  gOut: FloatArray,
  dx: FloatArray | null,
  dw: FloatArray | null,
  db: FloatArray | null,
  g: ConvGeometry,
) => void;

export type AvgPool2dArgs = Pool2dArgs & { countIncludePad: boolean };

/**
 * The kernels behind the boundary between ops and backends. Every backend has all of them: the
 * dispatch table (backend/dispatch.ts) decides, per backend, kernel, dtype, size and groups, which
 * implementation runs, with the JavaScript reference (backend/js) as the last resort of each.
 */
// ---- Optimizer updates over many parameters at once ----

/**
 * SGD on every listed parameter (momentumBuffers null: no momentum). The eager step passes a list
 * of one, whose gradient may be the other float dtype than its parameter (the arithmetic is done in
 * float64 either way).
 */
export interface SgdUpdateArgs {
  params: FloatArray[];
  grads: FloatArray[];
  momentumBuffers: FloatArray[] | null;
  /** 1 where the momentum buffer is new (it takes the gradient as is). */
  first: Uint8Array;
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** Adam / AdamW on every listed parameter; per parameter, the bias-corrected step size and sqrt(1 - beta2^t). */
export interface AdamUpdateArgs {
  params: FloatArray[];
  grads: FloatArray[];
  expAvg: FloatArray[];
  expAvgSq: FloatArray[];
  maxExpAvgSq: FloatArray[] | null;
  stepSize: Float64Array;
  bc2Sqrt: Float64Array;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW's decoupled decay (else the L2 penalty goes into the gradient). */
  decoupled: boolean;
  maximize: boolean;
}

export interface Kernels {
  gemm(args: GemmArgs): void;
  /** im2col overwrites every entry of `cols` it addresses; col2im adds into `x`. */
  im2col(args: Im2colArgs): void;
  col2im(args: Im2colArgs): void;
  conv2dForward: Conv2dForwardKernel;
  conv2dBackward: Conv2dBackwardKernel;
  maxPool2d(args: MaxPool2dArgs): void;
  /** Adds `out` (the output gradient) into `x` (the input gradient) at `indices`. */
  maxPool2dBackward(args: MaxPool2dArgs): void;
  avgPool2d(args: AvgPool2dArgs): void;
  /** Adds the spread of `out` (the output gradient) into `x` (the input gradient). */
  avgPool2dBackward(args: AvgPool2dArgs): void;
  /** out = relu(x) with the sign-bit rule of the JS reference (backend/js/activation.ts). */
  relu(x: FloatArray, out: FloatArray): void;
  /** out = g * [x > 0]. */
  reluBackward(g: FloatArray, x: FloatArray, out: FloatArray): void;
  sgdUpdate(args: SgdUpdateArgs): void;
  adamUpdate(args: AdamUpdateArgs): void;

  // The op families below take the signature of their JavaScript reference (backend/js/<family>.ts,
  // where each is documented), so that the contract is written once.

  // reductions over dims of a strided view (backend/js/reduce.ts): sums have a kernel of their own
  sumDims: typeof jsReduce.sumDims;
  reduce: typeof jsReduce.reduceDims;
  // normalization (backend/js/norm.ts)
  channelMoments: typeof jsNorm.channelMoments;
  channelAffine: typeof jsNorm.channelAffine;
  channelAffineBackward: typeof jsNorm.channelAffineBackward;
  batchNormBackward: typeof jsNorm.batchNormBackward;
  rowNormalize: typeof jsNorm.rowNormalize;
  rowNormalizeBackward: typeof jsNorm.rowNormalizeBackward;
  lrn: typeof jsNorm.lrn;
  lrnBackward: typeof jsNorm.lrnBackward;
  // softmax and log-softmax (backend/js/softmax.ts)
  softmax: typeof jsSoftmax.softmax;
  softmaxBackward: typeof jsSoftmax.softmaxBackward;
  // losses (backend/js/loss.ts)
  nllLoss: typeof jsLoss.nllLoss;
  nllLossBackward: typeof jsLoss.nllLossBackward;
  multiMarginLoss: typeof jsLoss.multiMarginLoss;
  multiMarginLossBackward: typeof jsLoss.multiMarginLossBackward;
  // indexing (backend/js/indexing.ts)
  cat: typeof jsIndexing.cat;
  pad: typeof jsIndexing.pad;
  indexSelect: typeof jsIndexing.indexSelect;
  indexAdd: typeof jsIndexing.indexAdd;
  gather: typeof jsIndexing.gather;
  scatterAdd: typeof jsIndexing.scatterAdd;
}

export type KernelName = keyof Kernels;

/** A backend: a name and every kernel (backend/dispatch.ts builds them from the table). */
export interface Backend extends Kernels {
  readonly name: string;
}
