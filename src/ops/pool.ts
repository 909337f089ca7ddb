/**
 * Pooling layers from the CS231n notes: max pooling (which remembers its "switches", the position
 * of each maximum, so backward routes the gradient there), average pooling and adaptive average
 * pooling. Each plane (image, channel) is pooled independently.
 */
import { backend } from "../backend/index.js";
import type { MaxPool2dArgs, Pool2dArgs, Window2d } from "../backend/backend.js";
import { pair, windowOutputSize, type Size2d } from "../backend/geometry.js";
import { adaptiveAvgPool2d as jsAdaptiveAvgPool2d } from "../backend/js/pool.js";
import { defineOp, type AppliedFunction, type Ctx } from "../autograd/function.js";
import { allocate, allocateForOverwrite, type DType, type FloatArray } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData, requireFloating, requireTensor } from "./util.js";
import { reshape } from "./view.js";

export interface MaxPool2dOptions {
  /** Window size F, or `[fh, fw]` (required). */
  kernelSize: Size2d;
  /** Step between windows (default: the kernel size). */
  stride?: Size2d;
  /** Implicit padding on both sides, never a maximum (default 0; at most half the kernel). */
  padding?: Size2d;
  /** Spacing between window elements (default 1). */
  dilation?: Size2d;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
  /** Also return the per-plane flat position h·W + w of every maximum (the notes' "switches"). */
  returnIndices?: boolean;
}

export interface AvgPool2dOptions {
  /** Window size F, or `[fh, fw]` (required). */
  kernelSize: Size2d;
  /** Step between windows (default: the kernel size). */
  stride?: Size2d;
  /** Implicit zero padding on both sides (default 0; at most half the kernel). */
  padding?: Size2d;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
  /** Count padded zeros in the average's divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

const MAX_KEYS = ["kernelSize", "stride", "padding", "dilation", "ceilMode", "returnIndices"] as const;
const AVG_KEYS = ["kernelSize", "stride", "padding", "ceilMode", "countIncludePad"] as const;

function requireImages(op: string, x: Tensor): { x4: Tensor; unbatched: boolean } {
  requireTensor(x, op, "input");
  if (x.ndim !== 3 && x.ndim !== 4) {
    throw new RangeError(
      `${op}: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got ${shapeToString(x.shape)}`,
    );
  }
  requireFloating(x, op, "input");
  const unbatched = x.ndim === 3;
  return { x4: unbatched ? reshape(x, [1, ...x.shape]) : x, unbatched };
}

interface WindowOptions {
  kernelSize: Size2d;
  stride?: Size2d;
  padding?: Size2d;
  dilation?: Size2d;
  ceilMode?: boolean;
}

function poolWindow(op: string, x: Tensor, opts: WindowOptions): Window2d {
  if (opts.kernelSize === undefined) throw new TypeError(`${op}: options.kernelSize is required`);
  const [kh, kw] = pair(op, "kernelSize", opts.kernelSize, 1, 1);
  const [sh, sw] = pair(op, "stride", opts.stride, [kh, kw], 1);
  const [ph, pw] = pair(op, "padding", opts.padding, 0, 0);
  const [dh, dw] = pair(op, "dilation", opts.dilation, 1, 1);
  if (opts.ceilMode !== undefined && typeof opts.ceilMode !== "boolean") {
    throw new TypeError(`${op}: ceilMode must be a boolean, got ${typeof opts.ceilMode}`);
  }
  const ceil = opts.ceilMode === true;
  const [n, c, h, w] = x.shape;
  const xs = shapeToString(x.shape);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new RangeError(
      `${op}: padding ${ph}x${pw} must be at most half the kernel size ${kh}x${kw} (input ${xs})`,
    );
  }
  const spanH = dh * (kh - 1) + 1;
  const spanW = dw * (kw - 1) + 1;
  if (spanH > h + 2 * ph || spanW > w + 2 * pw) {
    const dil = dh === 1 && dw === 1 ? "" : ` (dilation ${dh}x${dw} spans ${spanH}x${spanW})`;
    throw new RangeError(
      `${op}: kernel ${kh}x${kw}${dil} is larger than the padded input ${h + 2 * ph}x${w + 2 * pw} (input ${xs}, padding ${ph}x${pw})`,
    );
  }
  const ho = windowOutputSize(h, kh, sh, ph, dh, ceil);
  const wo = windowOutputSize(w, kw, sw, pw, dw, ceil);
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo };
}

function finish(out: Tensor, unbatched: boolean): Tensor {
  return unbatched ? reshape(out, out.shape.slice(1)) : out;
}

// ---------------------------------------------------------------- max pooling

/** The kernels a max-pool op runs: the backend's, or a compiled graph's (compile/pool.ts). */
export interface MaxPoolKernels {
  forward(args: MaxPool2dArgs): void;
  /** Adds the output gradient `out` into `x` (zeros) at `indices`; `pooled` is the forward's output, if readsOutput. */
  backward(args: MaxPool2dArgs & { pooled: FloatArray }): void;
  /** backward reads the forward's output (which is then kept until backward runs). */
  readsOutput?: boolean;
  /** The op's name (default "maxPool2d") and its backward node's. */
  name?: string;
  nodeName?: string;
  /** backward writes every element of the input gradient, so it need not be zeroed first. */
  writesEveryGradient?: boolean;
}

/** The max-pool op (x, window, indices sink) on the given kernels. */
export function maxPoolOp(
  kernels: MaxPoolKernels,
): AppliedFunction<[Tensor, Window2d, { indices?: Tensor }]> {
  return defineOp({
    name: kernels.name ?? "maxPool2d",
    nodeName: kernels.nodeName ?? "MaxPool2DWithIndicesBackward",
    forward(
      ctx: Ctx<{ window: Window2d; indices: Int32Array; dtype: DType; pooled?: FloatArray }>,
      x: Tensor,
      win: Window2d,
      sink: { indices?: Tensor },
    ) {
      const shape = [win.n, win.c, win.ho, win.wo];
      const size = win.n * win.c * win.ho * win.wo;
      // every output and index is written
      const out = allocateForOverwrite(x.dtype, size) as FloatArray;
      const indices = allocateForOverwrite("int32", size) as Int32Array;
      kernels.forward({ ...win, x: contiguousData(x) as FloatArray, out, indices });
      ctx.window = win;
      ctx.indices = indices;
      ctx.dtype = x.dtype;
      if (kernels.readsOutput) ctx.pooled = out;
      sink.indices = Tensor.fromData(indices, shape);
      return Tensor.fromData(out, shape);
    },
    backward(ctx, grad) {
      const win = ctx.window;
      const size = win.n * win.c * win.h * win.w;
      const everyOne = kernels.writesEveryGradient === true;
      const dx = (everyOne ? allocateForOverwrite(ctx.dtype, size) : allocate(ctx.dtype, size)) as FloatArray;
      kernels.backward({
        ...win,
        x: dx,
        out: contiguousData(grad) as FloatArray,
        indices: ctx.indices,
        pooled: ctx.pooled ?? new Float32Array(0),
        xIsZero: !everyOne,
      });
      return [Tensor.fromData(dx, [win.n, win.c, win.h, win.w]), null, null];
    },
  });
}

const MaxPool = maxPoolOp({
  forward: (args) => backend().maxPool2d(args),
  backward: (args) => backend().maxPool2dBackward(args),
});

/**
 * 2-d max pooling of `x` [N, C, H, W] (or [C, H, W]) over kernelSize windows moved by `stride`
 * (default: kernelSize). With `returnIndices: true` returns `{ output, indices }`, the indices
 * (int32) being each maximum's flat position h·W + w within its plane, as PyTorch's. Backward sends
 * each output gradient to its maximum.
 */
export function maxPool2d(
  x: Tensor,
  options: MaxPool2dOptions & { returnIndices: true },
): { output: Tensor; indices: Tensor };
export function maxPool2d(x: Tensor, options: MaxPool2dOptions & { returnIndices?: false }): Tensor;
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor | { output: Tensor; indices: Tensor };
export function maxPool2d(
  x: Tensor,
  options: MaxPool2dOptions,
): Tensor | { output: Tensor; indices: Tensor } {
  const op = "maxPool2d";
  const { x4, unbatched } = requireImages(op, x);
  const opts = checkOptions(op, options, MAX_KEYS);
  if (opts.returnIndices !== undefined && typeof opts.returnIndices !== "boolean") {
    throw new TypeError(`${op}: returnIndices must be a boolean, got ${typeof opts.returnIndices}`);
  }
  const sink: { indices?: Tensor } = {};
  const output = finish(MaxPool.apply(x4, poolWindow(op, x4, opts), sink), unbatched);
  if (!opts.returnIndices) return output;
  return { output, indices: finish(sink.indices as Tensor, unbatched) };
}

// ---------------------------------------------------------------- average pooling

type AvgArgs = Pool2dArgs & { countIncludePad: boolean };

function runAvgPool(args: AvgArgs, backward: boolean): void {
  if (backward) backend().avgPool2dBackward(args);
  else backend().avgPool2d(args);
}

const AvgPool: AppliedFunction<[Tensor, Window2d, boolean]> = defineOp({
  name: "avgPool2d",
  nodeName: "AvgPool2DBackward",
  forward(
    ctx: Ctx<{ window: Window2d; countIncludePad: boolean; dtype: DType }>,
    x: Tensor,
    win: Window2d,
    countIncludePad: boolean,
  ) {
    const out = allocate(x.dtype, win.n * win.c * win.ho * win.wo) as FloatArray;
    runAvgPool({ ...win, x: contiguousData(x) as FloatArray, out, countIncludePad }, false);
    ctx.window = win;
    ctx.countIncludePad = countIncludePad;
    ctx.dtype = x.dtype;
    return Tensor.fromData(out, [win.n, win.c, win.ho, win.wo]);
  },
  backward(ctx, grad) {
    const win = ctx.window;
    const dx = allocate(ctx.dtype, win.n * win.c * win.h * win.w) as FloatArray;
    runAvgPool(
      {
        ...win,
        x: dx,
        out: contiguousData(grad) as FloatArray,
        countIncludePad: ctx.countIncludePad,
      },
      true,
    );
    return [Tensor.fromData(dx, [win.n, win.c, win.h, win.w]), null, null];
  },
});

/**
 * 2-d average pooling of `x` [N, C, H, W] (or [C, H, W]); `countIncludePad` (default true) counts
 * the padding zeros in each window's divisor, as PyTorch does.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const op = "avgPool2d";
  const { x4, unbatched } = requireImages(op, x);
  const opts = checkOptions(op, options, AVG_KEYS);
  if (opts.countIncludePad !== undefined && typeof opts.countIncludePad !== "boolean") {
    throw new TypeError(`${op}: countIncludePad must be a boolean, got ${typeof opts.countIncludePad}`);
  }
  const win = poolWindow(op, x4, opts);
  return finish(AvgPool.apply(x4, win, opts.countIncludePad ?? true), unbatched);
}

// ---------------------------------------------------------------- adaptive average pooling

interface AdaptiveShape {
  planes: number;
  n: number;
  c: number;
  h: number;
  w: number;
  ho: number;
  wo: number;
}

const AdaptiveAvgPool: AppliedFunction<[Tensor, AdaptiveShape]> = defineOp({
  name: "adaptiveAvgPool2d",
  nodeName: "AdaptiveAvgPool2DBackward",
  forward(ctx: Ctx<{ shape: AdaptiveShape; dtype: DType }>, x: Tensor, s: AdaptiveShape) {
    const out = allocate(x.dtype, s.planes * s.ho * s.wo) as FloatArray;
    jsAdaptiveAvgPool2d(contiguousData(x) as FloatArray, out, s.planes, s.h, s.w, s.ho, s.wo, false);
    ctx.shape = s;
    ctx.dtype = x.dtype;
    return Tensor.fromData(out, [s.n, s.c, s.ho, s.wo]);
  },
  backward(ctx, grad) {
    const s = ctx.shape;
    const dx = allocate(ctx.dtype, s.planes * s.h * s.w) as FloatArray;
    jsAdaptiveAvgPool2d(dx, contiguousData(grad) as FloatArray, s.planes, s.h, s.w, s.ho, s.wo, true);
    return [Tensor.fromData(dx, [s.n, s.c, s.h, s.w]), null];
  },
});

/**
 * Average pooling to a fixed output size `[Ho, Wo]` (a number for both; `null` keeps that input
 * size): output cell i covers inputs floor(i·H/Ho) to ceil((i+1)·H/Ho), as in PyTorch.
 */
export function adaptiveAvgPool2d(
  x: Tensor,
  outputSize: number | readonly [number | null, number | null],
): Tensor {
  const op = "adaptiveAvgPool2d";
  const { x4, unbatched } = requireImages(op, x);
  const [n, c, h, w] = x4.shape;
  const ok = (v: unknown) => v === null || (typeof v === "number" && Number.isInteger(v) && v > 0);
  let size: [number | null, number | null];
  if (typeof outputSize === "number" && ok(outputSize)) size = [outputSize, outputSize];
  else if (Array.isArray(outputSize) && outputSize.length === 2 && ok(outputSize[0]) && ok(outputSize[1]))
    size = [outputSize[0], outputSize[1]];
  else {
    throw new RangeError(
      `${op}: outputSize must be a positive integer or a pair [h, w] of them (null keeps the input size), got ${JSON.stringify(outputSize)}`,
    );
  }
  if (h === 0 || w === 0) throw new RangeError(`${op}: input ${shapeToString(x.shape)} has an empty plane`);
  const ho = size[0] ?? h;
  const wo = size[1] ?? w;
  return finish(AdaptiveAvgPool.apply(x4, { planes: n * c, n, c, h, w, ho, wo }), unbatched);
}
