/**
 * Convolution, as the CS231n notes build it: im2col turns every receptive field into a column, so
 * the convolution becomes one matrix multiply (`conv2d`); `conv2dNaive` is the loop version kept for
 * teaching, and `im2col`/`col2im` are public in the notes' layout.
 */
import { backend } from "../backend/index.js";
import type { Im2colArgs, Window2d } from "../backend/backend.js";
import { convGeometry, pair, samePadding, type Size2d } from "../backend/geometry.js";
import {
  cnlToNcl,
  col2im as jsCol2im,
  conv2dNaiveBackward,
  conv2dNaiveForward,
  im2col as jsIm2col,
  nclToCnl,
  sumNcl,
  type ConvGeometry,
} from "../backend/js/conv.js";
import { defineOp, type AppliedFunction } from "../autograd/function.js";
import { allocate, type FloatArray } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { shapeToString, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData, requireFloating, requireSameDType, requireTensor } from "./util.js";
import { pad } from "./indexing.js";
import { reshape } from "./view.js";

export type { Size2d };

export interface Conv2dOptions {
  /** Step between neighbouring windows (default 1). */
  stride?: Size2d;
  /**
   * Zero padding added on both sides (default 0); "valid" is 0, "same" (stride 1 only) keeps the
   * input size, padding one more at the bottom/right when the kernel's span is even, as PyTorch.
   */
  padding?: Size2d | "same" | "valid";
  /** Spacing between kernel elements (default 1). */
  dilation?: Size2d;
  /** Input and output channels are split into this many independent groups (default 1). */
  groups?: number;
}

export interface Im2colOptions {
  /** Receptive field (filter) size F, or `[fh, fw]`. */
  kernelSize: Size2d;
  /** Stride S (default 1). */
  stride?: Size2d;
  /** Zero padding P (default 0). */
  padding?: Size2d;
}

const CONV_KEYS = ["stride", "padding", "dilation", "groups"] as const;
const IM2COL_KEYS = ["kernelSize", "stride", "padding"] as const;

/** Elements of the im2col buffer a chunk of images may use (the batch is processed in chunks). */
const COLS_BUDGET = 1 << 20;

function requireRank4(t: Tensor, op: string, arg: string, layout: string): void {
  if (t.ndim !== 4)
    throw new RangeError(`${op}: ${arg} must be 4-D ${layout}, got ${shapeToString(t.shape)}`);
}

// ---------------------------------------------------------------- kernels of the active backend

function runIm2col(args: Im2colArgs): void {
  const be = backend();
  if (be.im2col) be.im2col(args);
  else jsIm2col(args);
}

function runCol2im(args: Im2colArgs): void {
  const be = backend();
  if (be.col2im) be.col2im(args);
  else jsCol2im(args);
}

function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  accumulate: boolean,
): void {
  backend().gemm({ transA, transB, m, n, k, a, b, c, accumulate });
}

// ---------------------------------------------------------------- conv2d: im2col + GEMM

/** Images per chunk so that the chunk's columns stay within COLS_BUDGET elements. */
function chunkImages(g: ConvGeometry): number {
  const perImage = g.c * g.kh * g.kw * g.ho * g.wo;
  return Math.max(1, Math.min(g.n, Math.floor(COLS_BUDGET / Math.max(1, perImage))));
}

/** Columns [c*kh*kw, m*L] (images, then output positions) of images n0..n0+m-1. */
function unfoldChunk(x: FloatArray, cols: FloatArray, g: ConvGeometry, n0: number, m: number): void {
  const plane = g.c * g.h * g.w;
  const L = g.ho * g.wo;
  runIm2col({
    ...windowOf(g),
    n: m,
    x: x.subarray(n0 * plane, (n0 + m) * plane),
    cols: cols.subarray(0, g.c * g.kh * g.kw * m * L),
    rowStride: m * L,
    posStride: 1,
    imgStride: L,
  });
}

function windowOf(g: ConvGeometry): Window2d {
  const { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo } = g;
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo };
}

function convForwardGemm(
  x: FloatArray,
  wt: FloatArray,
  bias: FloatArray | null,
  out: FloatArray,
  g: ConvGeometry,
) {
  const L = g.ho * g.wo;
  const cgkk = (g.c / g.groups) * g.kh * g.kw;
  const coutG = g.cout / g.groups;
  const nb = chunkImages(g);
  const dtype = x instanceof Float64Array ? "float64" : "float32";
  const cols = allocate(dtype, g.c * g.kh * g.kw * nb * L) as FloatArray;
  const tmp = allocate(dtype, g.cout * nb * L) as FloatArray;
  for (let n0 = 0; n0 < g.n; n0 += nb) {
    const m = Math.min(nb, g.n - n0);
    const cols_ = m * L;
    unfoldChunk(x, cols, g, n0, m);
    for (let gi = 0; gi < g.groups; gi++) {
      gemm(
        false,
        false,
        coutG,
        cols_,
        cgkk,
        wt.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
        cols.subarray(gi * cgkk * cols_, (gi + 1) * cgkk * cols_),
        tmp.subarray(gi * coutG * cols_, (gi + 1) * coutG * cols_),
        false,
      );
    }
    cnlToNcl(tmp, out.subarray(n0 * g.cout * L, (n0 + m) * g.cout * L), g.cout, m, L, bias);
  }
}

function convBackwardGemm(
  x: FloatArray,
  wt: FloatArray,
  gOut: FloatArray,
  dx: FloatArray | null,
  dWeight: FloatArray | null,
  dBias: FloatArray | null,
  g: ConvGeometry,
): void {
  const L = g.ho * g.wo;
  const cgkk = (g.c / g.groups) * g.kh * g.kw;
  const coutG = g.cout / g.groups;
  const plane = g.c * g.h * g.w;
  if (dBias) sumNcl(gOut, dBias, g.n, g.cout, L);
  if (!dx && !dWeight) return;
  const nb = chunkImages(g);
  const dtype = x instanceof Float64Array ? "float64" : "float32";
  const cols = allocate(dtype, g.c * g.kh * g.kw * nb * L) as FloatArray;
  const gc = allocate(dtype, g.cout * nb * L) as FloatArray;
  for (let n0 = 0; n0 < g.n; n0 += nb) {
    const m = Math.min(nb, g.n - n0);
    const ml = m * L;
    nclToCnl(gOut.subarray(n0 * g.cout * L, (n0 + m) * g.cout * L), gc, m, g.cout, L);
    if (dWeight) {
      unfoldChunk(x, cols, g, n0, m);
      for (let gi = 0; gi < g.groups; gi++) {
        // dW_g += dOut_g [coutG, mL] · cols_g^T [mL, cgkk]
        gemm(
          false,
          true,
          coutG,
          cgkk,
          ml,
          gc.subarray(gi * coutG * ml, (gi + 1) * coutG * ml),
          cols.subarray(gi * cgkk * ml, (gi + 1) * cgkk * ml),
          dWeight.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
          true,
        );
      }
    }
    if (dx) {
      for (let gi = 0; gi < g.groups; gi++) {
        // dCols_g = W_g^T [cgkk, coutG] · dOut_g [coutG, mL]
        gemm(
          true,
          false,
          cgkk,
          ml,
          coutG,
          wt.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
          gc.subarray(gi * coutG * ml, (gi + 1) * coutG * ml),
          cols.subarray(gi * cgkk * ml, (gi + 1) * cgkk * ml),
          false,
        );
      }
      runCol2im({
        ...windowOf(g),
        n: m,
        x: dx.subarray(n0 * plane, (n0 + m) * plane),
        cols: cols.subarray(0, g.c * g.kh * g.kw * ml),
        rowStride: ml,
        posStride: 1,
        imgStride: L,
      });
    }
  }
}

type ConvKernels = {
  forward(x: FloatArray, w: FloatArray, b: FloatArray | null, out: FloatArray, g: ConvGeometry): void;
  backward(
    x: FloatArray,
    w: FloatArray,
    gOut: FloatArray,
    dx: FloatArray | null,
    dw: FloatArray | null,
    db: FloatArray | null,
    g: ConvGeometry,
  ): void;
};

function convFunction(
  name: string,
  k: ConvKernels,
): AppliedFunction<[Tensor, Tensor, Tensor | null, ConvGeometry]> {
  return defineOp({
    name,
    nodeName: "ConvolutionBackward",
    forward(ctx, x: Tensor, w: Tensor, b: Tensor | null, g: ConvGeometry) {
      ctx.saveForBackward(x, w);
      ctx.geometry = g;
      const out = allocate(x.dtype, g.n * g.cout * g.ho * g.wo) as FloatArray;
      k.forward(
        contiguousData(x) as FloatArray,
        contiguousData(w) as FloatArray,
        b ? (contiguousData(b) as FloatArray) : null,
        out,
        g,
      );
      return Tensor.fromData(out, [g.n, g.cout, g.ho, g.wo]);
    },
    backward(ctx, grad) {
      const [x, w] = ctx.savedTensors;
      const g = ctx.geometry as ConvGeometry;
      const [needX, needW, needB] = ctx.needsInputGrad;
      const dx = needX ? (allocate(x.dtype, x.numel()) as FloatArray) : null;
      const dw = needW ? (allocate(w.dtype, w.numel()) as FloatArray) : null;
      const db = needB ? (allocate(w.dtype, g.cout) as FloatArray) : null;
      const gData = contiguousData(grad.dtype === x.dtype ? grad : grad.to(x.dtype)) as FloatArray;
      k.backward(contiguousData(x) as FloatArray, contiguousData(w) as FloatArray, gData, dx, dw, db, g);
      return [
        dx && Tensor.fromData(dx, x.shape),
        dw && Tensor.fromData(dw, w.shape),
        db && Tensor.fromData(db, [g.cout]),
        null,
      ];
    },
  });
}

/**
 * A backend with a fused convolution takes over groups = 1 (any groups when it says so); the rest
 * runs im2col + GEMM here.
 */
const Conv2dGemm = convFunction("conv2d", {
  forward(x, w, b, out, g) {
    const be = backend();
    const fused = be.conv2dForward;
    if (fused && (g.groups === 1 || be.convAnyGroups)) fused(x, w, b, out, g);
    else convForwardGemm(x, w, b, out, g);
  },
  backward(x, w, gOut, dx, dw, db, g) {
    const be = backend();
    const fused = be.conv2dBackward;
    if (fused && (g.groups === 1 || be.convAnyGroups)) fused(x, w, gOut, dx, dw, db, g);
    else convBackwardGemm(x, w, gOut, dx, dw, db, g);
  },
});
const Conv2dNaive = convFunction("conv2dNaive", {
  forward: conv2dNaiveForward,
  backward: conv2dNaiveBackward,
});

function isTensorOrNone(v: unknown): v is Tensor | null | undefined {
  return v === null || v === undefined || v instanceof Tensor;
}

/** Validates the arguments of conv2d/conv2dNaive; returns the 4-D input and the geometry. */
function prepareConv(
  op: string,
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options: Conv2dOptions | undefined,
): { x: Tensor; g: ConvGeometry; unbatched: boolean } {
  requireTensor(input, op, "input");
  requireTensor(weight, op, "weight");
  const opts = checkOptions(op, options, CONV_KEYS);
  if (input.ndim !== 3 && input.ndim !== 4) {
    throw new RangeError(
      `${op}: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got ${shapeToString(input.shape)}`,
    );
  }
  requireRank4(weight, op, "weight", "[out_channels, in_channels/groups, kH, kW]");
  requireFloating(input, op, "input");
  requireSameDType(op, input, "input", weight, "weight");
  const unbatched = input.ndim === 3;
  let x = unbatched ? reshape(input, [1, ...input.shape]) : input;
  const stride = pair(op, "stride", opts.stride, 1, 1);
  const dilation = pair(op, "dilation", opts.dilation, 1, 1);
  let padding: [number, number];
  if (opts.padding === "valid") padding = [0, 0];
  else if (opts.padding === "same") {
    const same = samePadding(op, [weight.shape[2], weight.shape[3]], stride, dilation);
    // an odd total goes one more to the bottom/right, through an explicit pad
    if (same.extra[0] || same.extra[1]) x = pad(x, [0, same.extra[1], 0, same.extra[0]]);
    padding = same.padding;
  } else if (typeof opts.padding === "string") {
    throw new RangeError(`${op}: padding must be a number, [h, w], "same" or "valid", got "${opts.padding}"`);
  } else padding = pair(op, "padding", opts.padding, 0, 0);
  const g = convGeometry(
    op,
    x.shape,
    weight.shape,
    { stride, padding, dilation, groups: opts.groups ?? 1 },
    input.shape,
  );
  if (bias !== null) {
    requireTensor(bias, op, "bias");
    requireSameDType(op, input, "input", bias, "bias");
    if (bias.ndim !== 1 || bias.shape[0] !== g.cout) {
      throw new RangeError(
        `${op}: bias must be 1-D [${g.cout}] (one per output channel of weight ${shapeToString(weight.shape)}), got ${shapeToString(bias.shape)}`,
      );
    }
  }
  return { x, unbatched, g };
}

function runConv(
  op: string,
  fn: AppliedFunction<[Tensor, Tensor, Tensor | null, ConvGeometry]>,
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined | Conv2dOptions,
  options: Conv2dOptions | undefined,
): Tensor {
  let b: Tensor | null = null;
  let opts = options;
  if (isTensorOrNone(bias)) b = bias ?? null;
  else if (typeof bias === "object" && options === undefined) opts = bias;
  else throw new TypeError(`${op}: bias must be a Tensor, null or undefined, got ${typeof bias}`);
  const { x, g, unbatched } = prepareConv(op, input, weight, b, opts);
  const out = fn.apply(x, weight, b, g);
  return unbatched ? reshape(out, out.shape.slice(1)) : out;
}

/**
 * 2-d convolution (cross-correlation, as in PyTorch) of `input` [N, C, H, W] with `weight`
 * [K, C/groups, kH, kW] and an optional `bias` [K]; the output is [N, K, Ho, Wo] with
 * Ho = floor((H + 2·padding − dilation·(kH − 1) − 1) / stride) + 1. Computed as im2col followed by
 * one matrix multiply per group (the notes' "implementation as matrix multiplication").
 * `conv2d(x, w, { padding: 1 })` (options in place of the bias) also works.
 */
export function conv2d(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null | Conv2dOptions,
  options?: Conv2dOptions,
): Tensor {
  return runConv("conv2d", Conv2dGemm, input, weight, bias, options);
}

/**
 * The same convolution as `conv2d`, computed with plain nested loops (one dot product per output
 * value) and its own loop backward: slow, but easy to read. For teaching and cross-checking.
 */
export function conv2dNaive(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null | Conv2dOptions,
  options?: Conv2dOptions,
): Tensor {
  return runConv("conv2dNaive", Conv2dNaive, input, weight, bias, options);
}

// ---------------------------------------------------------------- im2col / col2im in the notes' layout

/**
 * Output size along one dimension under the notes' rule (W − F + 2P)/S + 1, which must be a
 * positive integer.
 */
function fitOutput(
  op: string,
  dim: "height" | "width",
  size: number,
  f: number,
  p: number,
  s: number,
  ctx: string,
) {
  const num = size - f + 2 * p;
  const value = +(num / s + 1).toFixed(2);
  const formula = `(${size}-${f}+${2 * p})/${s}+1`;
  if (num < 0) {
    throw new RangeError(
      `${op}: the ${dim} does not fit: kernel ${f} is larger than the padded input ${size + 2 * p}; ${formula} = ${value} (${ctx})`,
    );
  }
  if (num % s !== 0) {
    throw new RangeError(
      `${op}: the ${dim} does not fit: ${formula} = ${value}, not an integer (${ctx}); change the padding or the stride`,
    );
  }
  return num / s + 1;
}

function notesWindow(op: string, xShape: Shape, options: Im2colOptions | undefined): Window2d {
  const opts = checkOptions(op, options, IM2COL_KEYS);
  if (opts.kernelSize === undefined) throw new TypeError(`${op}: options.kernelSize is required`);
  const [kh, kw] = pair(op, "kernelSize", opts.kernelSize, 1, 1);
  const [sh, sw] = pair(op, "stride", opts.stride, 1, 1);
  const [ph, pw] = pair(op, "padding", opts.padding, 0, 0);
  const [n, c, h, w] = xShape;
  const ctx = `input ${shapeToString(xShape)}, kernel ${kh}x${kw}, padding ${ph}x${pw}, stride ${sh}x${sw}`;
  const ho = fitOutput(op, "height", h, kh, ph, sh, ctx);
  const wo = fitOutput(op, "width", w, kw, pw, sw, ctx);
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, dh: 1, dw: 1, ho, wo };
}

function notesArgs(win: Window2d, x: FloatArray, cols: FloatArray): Im2colArgs {
  return { ...win, x, cols, rowStride: win.ho * win.wo * win.n, posStride: win.n, imgStride: 1 };
}

function colsShape(win: Window2d): number[] {
  return [win.c * win.kh * win.kw, win.ho * win.wo * win.n];
}

function unfoldNotes(x: Tensor, win: Window2d): Tensor {
  const shape = colsShape(win);
  const cols = allocate(x.dtype, shape[0] * shape[1]) as FloatArray;
  runIm2col(notesArgs(win, contiguousData(x) as FloatArray, cols));
  return Tensor.fromData(cols, shape);
}

function foldNotes(cols: Tensor, win: Window2d): Tensor {
  const x = allocate(cols.dtype, win.n * win.c * win.h * win.w) as FloatArray;
  runCol2im(notesArgs(win, x, contiguousData(cols) as FloatArray));
  return Tensor.fromData(x, [win.n, win.c, win.h, win.w]);
}

const Im2col: AppliedFunction<[Tensor, Window2d]> = defineOp({
  name: "im2col",
  forward(ctx, x: Tensor, win: Window2d) {
    ctx.window = win;
    return unfoldNotes(x, win);
  },
  backward(ctx, grad) {
    return [foldNotes(grad, ctx.window as Window2d), null];
  },
});

const Col2im: AppliedFunction<[Tensor, Window2d]> = defineOp({
  name: "col2im",
  forward(ctx, cols: Tensor, win: Window2d) {
    ctx.window = win;
    return foldNotes(cols, win);
  },
  backward(ctx, grad) {
    return [unfoldNotes(grad, ctx.window as Window2d), null];
  },
});

/**
 * The notes' `im2col_indices`: every receptive field of `x` [N, C, H, W] becomes a column of a
 * [C·kh·kw, Ho·Wo·N] matrix. Rows run over (channel, kernel row, kernel column); columns over
 * output positions (row-major) and, fastest, images: column (y·Wo + x)·N + n. Like the notes'
 * code it refuses hyper-parameters where (W − F + 2P)/S + 1 is not an integer.
 */
export function im2col(x: Tensor, options: Im2colOptions): Tensor {
  requireTensor(x, "im2col", "input");
  requireRank4(x, "im2col", "input", "[N, C, H, W]");
  requireFloating(x, "im2col", "input");
  return Im2col.apply(x, notesWindow("im2col", x.shape, options));
}

/**
 * The adjoint of `im2col` (the notes' `col2im_indices`): adds every column entry back to the
 * input position it was read from, giving a tensor of shape `xShape`. Overlapping receptive
 * fields accumulate, so col2im(im2col(x)) is x times the number of fields covering each pixel.
 */
export function col2im(cols: Tensor, xShape: Shape, options: Im2colOptions): Tensor {
  requireTensor(cols, "col2im", "cols");
  requireFloating(cols, "col2im", "cols");
  if (
    !Array.isArray(xShape) ||
    xShape.length !== 4 ||
    !xShape.every((d) => typeof d === "number" && Number.isInteger(d) && d > 0)
  ) {
    throw new RangeError(
      `col2im: xShape must be [N, C, H, W] of positive integers, got ${JSON.stringify(xShape)}`,
    );
  }
  const win = notesWindow("col2im", xShape, options);
  const expected = colsShape(win);
  if (cols.ndim !== 2 || cols.shape[0] !== expected[0] || cols.shape[1] !== expected[1]) {
    throw new RangeError(
      `col2im: cols ${shapeToString(cols.shape)} does not match xShape ${shapeToString(xShape)} with kernel ` +
        `${win.kh}x${win.kw}, stride ${win.sh}x${win.sw}, padding ${win.ph}x${win.pw}: expected ${shapeToString(expected)}`,
    );
  }
  return Col2im.apply(cols, win);
}
