/**
 * Layer-level activations and the affine layer: `linear`, `softmax`, `logSoftmax`, `hardtanh`,
 * `elu`, `gelu`. softmax/logSoftmax are hand-written (one pass each way); the rest compose or use
 * small elementwise kernels.
 */
import { backend } from "../backend/index.js";
import { defineOp, type Ctx } from "../autograd/function.js";
import { allocate, type DType, type FloatArray } from "../tensor/dtype.js";
import { normalizeDim, numel, shapeToString } from "../tensor/shape.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import { linearRaw } from "./matmul.js";
import { contiguousData, requireFloating, requireTensor } from "./util.js";
import { reshape } from "./view.js";

function layout(shape: readonly number[], dim: number): { outer: number; size: number; inner: number } {
  return { outer: numel(shape.slice(0, dim)), size: shape[dim], inner: numel(shape.slice(dim + 1)) };
}

function softmaxFunction(name: string, log: boolean) {
  return defineOp({
    name,
    forward(ctx: Ctx<{ dim: number }>, x: Tensor, dim: number) {
      const out = allocate(x.dtype, x.numel()) as FloatArray;
      backend().softmax(contiguousData(x), out, { ...layout(x.shape, dim), log });
      const y = Tensor.fromData(out, x.shape);
      ctx.saveForBackward(y);
      ctx.dim = dim;
      return y;
    },
    backward(ctx, g) {
      const [y] = ctx.savedTensors;
      const dx = allocate(y.dtype, y.numel()) as FloatArray;
      backend().softmaxBackward(y.data, contiguousData(g), dx, { ...layout(y.shape, ctx.dim), log });
      return [Tensor.fromData(dx, y.shape), null];
    },
  });
}

const Softmax = softmaxFunction("softmax", false);
const LogSoftmax = softmaxFunction("logSoftmax", true);

function softmaxDim(op: string, x: Tensor, dim: number): number {
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  if (typeof dim !== "number" || !Number.isInteger(dim)) {
    throw new TypeError(
      `${op}: dim must be an integer (the axis to normalize over, e.g. 1 for [N, C] scores), got ${String(dim)}`,
    );
  }
  if (x.ndim === 0) {
    if (dim !== 0 && dim !== -1)
      throw new RangeError(`${op}: dim ${dim} is out of range for a 0-d tensor (use 0 or -1)`);
    return 0;
  }
  return normalizeDim(dim, x.ndim, op);
}

/** exp(x) / Σ exp(x) along `dim` (PyTorch's `F.softmax(x, dim)`). */
export function softmax(x: Tensor, dim: number): Tensor {
  const d = softmaxDim("softmax", x, dim);
  if (x.ndim === 0) return reshape(Softmax.apply(reshape(x, [1]), 0), []);
  return Softmax.apply(x, d);
}

/** log(softmax(x, dim)), computed stably (PyTorch's `F.log_softmax(x, dim)`). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const d = softmaxDim("logSoftmax", x, dim);
  if (x.ndim === 0) return reshape(LogSoftmax.apply(reshape(x, [1]), 0), []);
  return LogSoftmax.apply(x, d);
}

// ---------------------------------------------------------------- linear

/**
 * The affine layer y = x Wᵀ + b (PyTorch's `F.linear`): x [..., in], weight [out, in], bias [out].
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  requireTensor(x, "linear", "input");
  requireTensor(weight, "linear", "weight");
  if (weight.ndim !== 2) {
    throw new RangeError(
      `linear: weight must be 2-d [outFeatures, inFeatures], got ${shapeToString(weight.shape)}`,
    );
  }
  if (x.ndim < 1) throw new RangeError("linear: input must have at least 1 dimension, got a 0-d tensor");
  const inFeatures = x.shape[x.ndim - 1];
  if (inFeatures !== weight.shape[1]) {
    throw new RangeError(
      `linear: input ${shapeToString(x.shape)} has ${inFeatures} features but weight ${shapeToString(weight.shape)} expects ${weight.shape[1]} (x @ weight.T: ${shapeToString(x.shape)} @ [${weight.shape[1]},${weight.shape[0]}])`,
    );
  }
  requireSameDtype("linear", x, "input", weight, "weight");
  requireFloating(x, "linear", "input");
  if (bias !== undefined && bias !== null) {
    requireTensor(bias, "linear", "bias");
    if (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0]) {
      throw new RangeError(
        `linear: bias ${shapeToString(bias.shape)} must be [${weight.shape[0]}] for weight ${shapeToString(weight.shape)}`,
      );
    }
    requireSameDtype("linear", x, "input", bias, "bias");
  }
  return linearRaw(x, weight, bias ?? null);
}

function requireSameDtype(op: string, a: Tensor, an: string, b: Tensor, bn: string): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `${op}: ${an} ${shapeToString(a.shape)} is ${a.dtype} but ${bn} ${shapeToString(b.shape)} is ${b.dtype}; convert one with .to("${b.dtype}") or .to("${a.dtype}")`,
    );
  }
}

// ---------------------------------------------------------------- pointwise activations

type Pointwise = (v: number) => number;

/** An elementwise op with a value function and its derivative (as a function of the input). */
function pointwiseFunction(name: string) {
  return defineOp({
    name,
    forward(ctx: Ctx<{ df: Pointwise }>, x: Tensor, f: Pointwise, df: Pointwise) {
      ctx.saveForBackward(x);
      ctx.df = df;
      const src = contiguousData(x);
      const out = allocate(x.dtype, src.length);
      for (let i = 0; i < src.length; i++) out[i] = f(src[i]);
      return Tensor.fromData(out, x.shape);
    },
    backward(ctx, g) {
      const [x] = ctx.savedTensors;
      const df = ctx.df;
      const src = contiguousData(x);
      const gd = contiguousData(g);
      const out = allocate(g.dtype as DType, src.length);
      for (let i = 0; i < src.length; i++) out[i] = gd[i] * df(src[i]);
      return [Tensor.fromData(out, x.shape), null, null];
    },
  });
}

const Hardtanh = pointwiseFunction("hardtanh");
const Elu = pointwiseFunction("elu");
const Gelu = pointwiseFunction("gelu");

/** Clamps to [minVal, maxVal]; gradient 1 strictly inside, 0 outside (PyTorch's `F.hardtanh`). */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  requireTensor(x, "hardtanh", "input");
  requireFloating(x, "hardtanh", "input");
  if (minVal > maxVal) throw new RangeError(`hardtanh: minVal ${minVal} is greater than maxVal ${maxVal}`);
  return Hardtanh.apply(
    x,
    (v) => (v < minVal ? minVal : v > maxVal ? maxVal : v),
    (v) => (v <= minVal || v >= maxVal ? 0 : 1),
  );
}

/** x for x > 0, alpha (eˣ − 1) otherwise (PyTorch's `F.elu`). */
export function elu(x: Tensor, alpha = 1): Tensor {
  requireTensor(x, "elu", "input");
  requireFloating(x, "elu", "input");
  return Elu.apply(
    x,
    (v) => (v > 0 ? v : alpha * Math.expm1(v)),
    (v) => (v > 0 ? 1 : alpha * Math.exp(v)),
  );
}

/**
 * The error function to double precision: a positive power series for |x| < 3 and a continued
 * fraction for erfc beyond.
 */
function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax < 3) {
    // erf(x) = 2/√π e^{-x²} Σ_n 2ⁿ x^{2n+1} / (1·3·…·(2n+1))
    const x2 = ax * ax;
    let term = ax;
    let s = ax;
    for (let n = 0; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 3);
      s += term;
      if (term < s * 1e-17) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * s);
  }
  // erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), evaluated bottom-up
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export interface GeluOptions {
  /** "none" (default) is the exact x Φ(x); "tanh" is the tanh approximation. */
  approximate?: "none" | "tanh";
}

/** x Φ(x) with Φ the standard normal CDF (PyTorch's `F.gelu`). */
export function gelu(x: Tensor, options?: GeluOptions): Tensor {
  const opts = checkOptions("gelu", options, ["approximate"]);
  requireTensor(x, "gelu", "input");
  requireFloating(x, "gelu", "input");
  const mode = opts.approximate ?? "none";
  if (mode === "none") {
    const cdf = (v: number) => 0.5 * (1 + erf(v / Math.SQRT2));
    const pdf = (v: number) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    return Gelu.apply(
      x,
      (v) => v * cdf(v),
      (v) => cdf(v) + v * pdf(v),
    );
  }
  if (mode === "tanh") {
    const c = Math.sqrt(2 / Math.PI);
    return Gelu.apply(
      x,
      (v) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v))),
      (v) => {
        const t = Math.tanh(c * (v + 0.044715 * v * v * v));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
      },
    );
  }
  throw new TypeError(`gelu: approximate must be "none" or "tanh", got ${JSON.stringify(mode)}`);
}
