/**
 * Convolution, as the CS231n notes build it: im2col turns every receptive field into a column, so
 * the convolution becomes one matrix multiply (`conv2d`); `conv2dNaive` is the loop version kept for
 * teaching, and `im2col`/`col2im` are public in the notes' layout.
 */
import { backend } from "../backend/index.js";
import type { Conv2dBackwardKernel, Conv2dForwardKernel, Im2colArgs, Window2d } from "../backend/backend.js";
import { convGeometry, pair, samePadding, type Size2d } from "../backend/geometry.js";
import { conv2dNaiveBackward, conv2dNaiveForward, type ConvGeometry } from "../backend/js/conv.js";
import { defineOp, type AppliedFunction, type Ctx } from "../autograd/function.js";
import { allocate, allocateForOverwrite, type FloatArray } from "../tensor/dtype.js";
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

function requireRank4(t: Tensor, op: string, arg: string, layout: string): void {
  if (t.ndim !== 4)
    throw new RangeError(`${op}: ${arg} must be 4-D ${layout}, got ${shapeToString(t.shape)}`);
}

// ---------------------------------------------------------------- kernels of the active backend

function runIm2col(args: Im2colArgs): void {
  backend().im2col(args);
}

function runCol2im(args: Im2colArgs): void {
  backend().col2im(args);
}

type ConvKernels = { forward: Conv2dForwardKernel; backward: Conv2dBackwardKernel };

function convFunction(
  name: string,
  k: ConvKernels,
): AppliedFunction<[Tensor, Tensor, Tensor | null, ConvGeometry]> {
  return defineOp({
    name,
    nodeName: "ConvolutionBackward",
    forward(ctx: Ctx<{ geometry: ConvGeometry }>, x: Tensor, w: Tensor, b: Tensor | null, g: ConvGeometry) {
      ctx.saveForBackward(x, w);
      ctx.geometry = g;
      // every conv2dForward kernel writes all of out
      const out = allocateForOverwrite(x.dtype, g.n * g.cout * g.ho * g.wo) as FloatArray;
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
      const g = ctx.geometry;
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

/** The backend's whole-convolution kernels (the dispatch table picks the implementation). */
const Conv2dGemm = convFunction("conv2d", {
  forward: (x, w, b, out, g) => backend().conv2dForward(x, w, b, out, g),
  backward: (x, w, gOut, dx, dw, db, g) => backend().conv2dBackward(x, w, gOut, dx, dw, db, g),
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
  forward(ctx: Ctx<{ window: Window2d }>, x: Tensor, win: Window2d) {
    ctx.window = win;
    return unfoldNotes(x, win);
  },
  backward(ctx, grad) {
    return [foldNotes(grad, ctx.window), null];
  },
});

const Col2im: AppliedFunction<[Tensor, Window2d]> = defineOp({
  name: "col2im",
  forward(ctx: Ctx<{ window: Window2d }>, cols: Tensor, win: Window2d) {
    ctx.window = win;
    return foldNotes(cols, win);
  },
  backward(ctx, grad) {
    return [unfoldNotes(grad, ctx.window), null];
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
