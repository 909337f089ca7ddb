import { backend } from "../backend/index.js";
import { isFloatArray, reluBackward, reluForward } from "../backend/js/activation.js";
import { mapBinary, mapTernary, mapUnary, walk3 } from "../backend/js/strided.js";
import {
  composite,
  defineOp,
  mayOverwriteGradient,
  type Ctx,
  type FunctionDef,
} from "../autograd/function.js";
import { activeRecorder, traced } from "../runtime/trace.js";
import { noGrad } from "../autograd/grad-mode.js";
import {
  allocate,
  allocateForOverwrite,
  castScalar,
  floatingOf,
  isFloating,
  promoteWithScalar,
  resultType,
  canCast,
  type DType,
  type TypedArray,
} from "../tensor/dtype.js";
import {
  broadcastShapes,
  broadcastStrides,
  numel,
  shapesEqual,
  shapeToString,
  type Shape,
} from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData, sumToShape, toTensor, view, type TensorLike } from "./util.js";

// ---------------------------------------------------------------- kernels

type BinaryFn = (x: number, y: number) => number;

/**
 * out[i] = f(x[i], y[i mod period]) for a contiguous x and a contiguous y that is broadcast along the
 * leading dims (period = y.length; 1 for a scalar). `swap` computes f(y, x) instead. The common ops
 * get loops of their own (no call per element).
 */
function broadcastLoop(
  op: string,
  x: TypedArray,
  y: TypedArray,
  out: TypedArray,
  swap: boolean,
  f: BinaryFn,
): void {
  const n = out.length;
  const period = y.length;
  if (period === 1) {
    const v = y[0];
    if (op === "add") for (let i = 0; i < n; i++) out[i] = x[i] + v;
    else if (op === "mul") for (let i = 0; i < n; i++) out[i] = x[i] * v;
    else if (op === "sub" && !swap) for (let i = 0; i < n; i++) out[i] = x[i] - v;
    else if (op === "div" && !swap) for (let i = 0; i < n; i++) out[i] = x[i] / v;
    else if (swap) for (let i = 0; i < n; i++) out[i] = f(v, x[i]);
    else for (let i = 0; i < n; i++) out[i] = f(x[i], v);
    return;
  }
  for (let base = 0; base < n; base += period) {
    if (op === "add") for (let j = 0; j < period; j++) out[base + j] = x[base + j] + y[j];
    else if (op === "mul") for (let j = 0; j < period; j++) out[base + j] = x[base + j] * y[j];
    else if (swap) for (let j = 0; j < period; j++) out[base + j] = f(y[j], x[base + j]);
    else for (let j = 0; j < period; j++) out[base + j] = f(x[base + j], y[j]);
  }
}

/** True when `small` broadcasts to `shape` by repetition along leading dims only (its shape, without leading 1s, is a suffix of `shape`). */
function isSuffixBroadcast(small: readonly number[], shape: readonly number[]): boolean {
  let s = 0;
  while (s < small.length && small[s] === 1) s++;
  const rest = small.length - s;
  if (rest > shape.length) return false;
  for (let i = 0; i < rest; i++) if (small[s + i] !== shape[shape.length - rest + i]) return false;
  return true;
}

/** Kernels called outside an op (comparisons) are replayable units of their own for compile. */
function binaryKernel(op: string, a: Tensor, b: Tensor, outDtype: DType, f: BinaryFn): Tensor {
  if (activeRecorder() === null) return binaryKernelNow(op, a, b, outDtype, f);
  return traced("op", op, [op, a, b, outDtype, f], binaryKernelNow);
}

function binaryKernelNow(op: string, a: Tensor, b: Tensor, outDtype: DType, f: BinaryFn): Tensor {
  // int32 products must be exact modulo 2^32 (a double product of two int32 loses the low bits)
  if (op === "mul" && outDtype === "int32") return binaryKernelNow("imul", a, b, outDtype, Math.imul);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = allocate(outDtype, numel(shape));
  const aFull = shapesEqual(a.shape, shape);
  const bFull = shapesEqual(b.shape, shape);
  if (a.isContiguous() && b.isContiguous() && aFull && bFull) {
    const x = a.data;
    const y = b.data;
    if (op === "add") for (let i = 0; i < out.length; i++) out[i] = x[i] + y[i];
    else if (op === "mul") for (let i = 0; i < out.length; i++) out[i] = x[i] * y[i];
    else for (let i = 0; i < out.length; i++) out[i] = f(x[i], y[i]);
  } else if (
    out.length > 0 &&
    aFull &&
    a.isContiguous() &&
    b.isContiguous() &&
    isSuffixBroadcast(b.shape, shape)
  ) {
    broadcastLoop(op, a.data, b.data, out, false, f);
  } else if (
    out.length > 0 &&
    bFull &&
    b.isContiguous() &&
    a.isContiguous() &&
    isSuffixBroadcast(a.shape, shape)
  ) {
    broadcastLoop(op, b.data, a.data, out, true, f);
  } else {
    mapBinary(
      shape,
      a.storage.data,
      broadcastStrides(a.shape, a.strides, shape),
      a.offset,
      b.storage.data,
      broadcastStrides(b.shape, b.strides, shape),
      b.offset,
      out,
      f,
    );
  }
  if (outDtype === "int32") for (let i = 0; i < out.length; i++) out[i] = castScalar(out[i], "int32");
  return Tensor.fromData(out, shape);
}

function unaryKernel(x: Tensor, outDtype: DType, f: (v: number) => number): Tensor {
  if (activeRecorder() === null) return unaryKernelNow(x, outDtype, f);
  return traced("op", "unary", [x, outDtype, f], unaryKernelNow);
}

function unaryKernelNow(x: Tensor, outDtype: DType, f: (v: number) => number): Tensor {
  const out = allocate(outDtype, x.numel());
  if (x.isContiguous()) {
    const d = x.data;
    for (let i = 0; i < out.length; i++) out[i] = f(d[i]);
  } else {
    mapUnary(view(x), out, f);
  }
  return Tensor.fromData(out, x.shape);
}

function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (a instanceof Tensor) return [a, toTensor(b, op, "other", a)];
  if (b instanceof Tensor) return [toTensor(a, op, "input", b), b];
  return [toTensor(a, op, "input"), toTensor(b, op, "other")];
}

// ---------------------------------------------------------------- arithmetic

const Add = defineOp({
  name: "add",
  forward(ctx: Ctx<{ shapes: Shape[] }>, a: Tensor, b: Tensor) {
    ctx.shapes = [a.shape, b.shape];
    return binaryKernel("add", a, b, resultType(a, b), (x, y) => x + y);
  },
  backward(ctx, g) {
    return [
      ctx.needsInputGrad[0] ? sumToShape(g, ctx.shapes[0]) : null,
      ctx.needsInputGrad[1] ? sumToShape(g, ctx.shapes[1]) : null,
    ];
  },
});

const Sub = defineOp({
  name: "sub",
  forward(ctx: Ctx<{ shapes: Shape[] }>, a: Tensor, b: Tensor) {
    ctx.shapes = [a.shape, b.shape];
    return binaryKernel("sub", a, b, resultType(a, b), (x, y) => x - y);
  },
  backward(ctx, g) {
    return [
      ctx.needsInputGrad[0] ? sumToShape(g, ctx.shapes[0]) : null,
      ctx.needsInputGrad[1] ? sumToShape(neg(g), ctx.shapes[1]) : null,
    ];
  },
});

// Binary ops save only what the gradients asked for need (PyTorch does the same), so an input
// that needs no gradient of its own may be updated in place after the op (w.mul(data), then
// opt.step() on data's partner).
const Mul = defineOp({
  name: "mul",
  forward(ctx: Ctx<{ shapes: Shape[] }>, a: Tensor, b: Tensor) {
    const [needA, needB] = ctx.needsInputGrad;
    ctx.saveForBackward(needB ? a : null, needA ? b : null);
    ctx.shapes = [a.shape, b.shape];
    return binaryKernel("mul", a, b, resultType(a, b), (x, y) => x * y);
  },
  backward(ctx, g) {
    const [a, b] = ctx.savedTensors;
    return [
      ctx.needsInputGrad[0] ? sumToShape(mul(g, b), ctx.shapes[0]) : null,
      ctx.needsInputGrad[1] ? sumToShape(mul(g, a), ctx.shapes[1]) : null,
    ];
  },
});

const Div = defineOp({
  name: "div",
  forward(ctx: Ctx<{ shapes: Shape[] }>, a: Tensor, b: Tensor) {
    ctx.saveForBackward(ctx.needsInputGrad[1] ? a : null, b);
    ctx.shapes = [a.shape, b.shape];
    return binaryKernel("div", a, b, floatingOf(resultType(a, b)), (x, y) => x / y);
  },
  backward(ctx, g) {
    const [a, b] = ctx.savedTensors;
    return [
      ctx.needsInputGrad[0] ? sumToShape(div(g, b), ctx.shapes[0]) : null,
      ctx.needsInputGrad[1] ? sumToShape(neg(div(mul(g, a), mul(b, b))), ctx.shapes[1]) : null,
    ];
  },
});

const Pow = defineOp({
  name: "pow",
  forward(ctx, a: Tensor, b: Tensor) {
    ctx.saveForBackward(a, b);
    const dtype = resultType(a, b);
    return binaryKernel("pow", a, b, dtype === "bool" ? "int32" : dtype, Math.pow);
  },
  backward(ctx, g) {
    const [a, b] = ctx.savedTensors;
    const dtype = floatingOf(resultType(a, b));
    // d/da a^b = b·a^(b−1), taken as 0 where b = 0 (also at a = 0, as PyTorch does)
    const ga = ctx.needsInputGrad[0]
      ? sumToShape(
          mul(
            g,
            binaryKernel("pow", a, b, dtype, (x, y) => (y === 0 ? 0 : y * Math.pow(x, y - 1))),
          ),
          a.shape,
        )
      : null;
    let gb: Tensor | null = null;
    if (ctx.needsInputGrad[1]) {
      // d/db a^b = a^b ln a, taken as 0 where a = 0 and b ≥ 0 (PyTorch's convention)
      const term = binaryKernel("pow", a, b, dtype, (x, y) =>
        x === 0 && y >= 0 ? 0 : Math.pow(x, y) * Math.log(x),
      );
      gb = sumToShape(mul(g, term), b.shape);
    }
    return [ga, gb];
  },
});

function minMaxFunction(name: "maximum" | "minimum") {
  const pick: BinaryFn =
    name === "maximum"
      ? (x, y) => (Number.isNaN(x) || x > y ? x : Number.isNaN(y) || y > x ? y : x)
      : (x, y) => (Number.isNaN(x) || x < y ? x : Number.isNaN(y) || y < x ? y : x);
  return defineOp({
    name,
    forward(ctx, a: Tensor, b: Tensor) {
      ctx.saveForBackward(a, b);
      return binaryKernel(name, a, b, resultType(a, b), pick);
    },
    backward(ctx, g) {
      const [a, b] = ctx.savedTensors;
      // the larger (smaller) side takes the gradient; ties split it evenly, as PyTorch does
      const wins =
        name === "maximum"
          ? (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0)
          : (x: number, y: number) => (x < y ? 1 : x === y ? 0.5 : 0);
      const dtype = g.dtype;
      const wa = binaryKernel(name, a, b, dtype, wins);
      const wb = binaryKernel(name, a, b, dtype, (x, y) => 1 - wins(x, y));
      return [
        ctx.needsInputGrad[0] ? sumToShape(mul(g, wa), a.shape) : null,
        ctx.needsInputGrad[1] ? sumToShape(mul(g, wb), b.shape) : null,
      ];
    },
  });
}

const Maximum = minMaxFunction("maximum");
const Minimum = minMaxFunction("minimum");

export function add(a: TensorLike, b: TensorLike, alpha?: number): Tensor {
  const [x, y] = operands("add", a, b);
  if (alpha === undefined || alpha === 1) return Add.apply(x, y);
  return composite("AddBackward", () => Add.apply(x, mul(y, alpha)));
}
export function sub(a: TensorLike, b: TensorLike, alpha?: number): Tensor {
  const [x, y] = operands("sub", a, b);
  if (alpha === undefined || alpha === 1) return Sub.apply(x, y);
  return composite("SubBackward", () => Sub.apply(x, mul(y, alpha)));
}
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return Mul.apply(...operands("mul", a, b));
}
export function div(a: TensorLike, b: TensorLike): Tensor {
  return Div.apply(...operands("div", a, b));
}
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands("pow", a, b);
  if (typeof b === "number" && Number.isInteger(b) && b < 0 && !isFloating(x.dtype)) {
    throw new RangeError(
      `pow: integers to negative integer powers are not allowed (a ${x.dtype} tensor to the power ${b}); use .float() first`,
    );
  }
  return Pow.apply(x, y);
}
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return Maximum.apply(...operands("maximum", a, b));
}
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return Minimum.apply(...operands("minimum", a, b));
}

// ---------------------------------------------------------------- comparisons (no gradient)

function comparison(name: string, f: (x: number, y: number) => boolean) {
  return (a: TensorLike, b: TensorLike): Tensor => {
    const [x, y] = operands(name, a, b);
    return binaryKernel(name, x, y, "bool", (p, q) => (f(p, q) ? 1 : 0));
  };
}

export const eq = comparison("eq", (x, y) => x === y);
export const ne = comparison("ne", (x, y) => x !== y);
export const lt = comparison("lt", (x, y) => x < y);
export const le = comparison("le", (x, y) => x <= y);
export const gt = comparison("gt", (x, y) => x > y);
export const ge = comparison("ge", (x, y) => x >= y);
export const logicalAnd = comparison("logicalAnd", (x, y) => x !== 0 && y !== 0);
export const logicalOr = comparison("logicalOr", (x, y) => x !== 0 || y !== 0);

export function logicalNot(x: Tensor): Tensor {
  return unaryKernel(x, "bool", (v) => (v === 0 ? 1 : 0));
}

/** True when every element of a and b is within atol + rtol·|b| (PyTorch's `allclose`). */
export function allclose(a: Tensor, b: TensorLike, rtol = 1e-5, atol = 1e-8): boolean {
  const [x, y] = operands("allclose", a, b);
  const close = binaryKernel("allclose", x, y, "bool", (p, q) =>
    Math.abs(p - q) <= atol + rtol * Math.abs(q) || p === q ? 1 : 0,
  );
  return close.data.every((v) => v === 1);
}

// ---------------------------------------------------------------- where

const Where = defineOp({
  name: "where",
  forward(ctx: Ctx<{ shapes: Shape[] }>, cond: Tensor, a: Tensor, b: Tensor) {
    const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where");
    ctx.saveForBackward(cond);
    ctx.shapes = [a.shape, b.shape];
    const out = allocate(resultType(a, b), numel(shape));
    mapTernary(
      shape,
      view(cond),
      broadcastStrides(cond.shape, cond.strides, shape),
      view(a),
      broadcastStrides(a.shape, a.strides, shape),
      view(b),
      broadcastStrides(b.shape, b.strides, shape),
      out,
      (c, x, y) => (c !== 0 ? x : y),
    );
    return Tensor.fromData(out, shape);
  },
  backward(ctx, g) {
    const [cond] = ctx.savedTensors;
    const zero = zerosOf(g);
    return [
      null,
      ctx.needsInputGrad[1] ? sumToShape(where(cond, g, zero), ctx.shapes[0]) : null,
      ctx.needsInputGrad[2] ? sumToShape(where(cond, zero, g), ctx.shapes[1]) : null,
    ];
  },
});

function zerosOf(g: Tensor): Tensor {
  return Tensor.fromData(allocate(g.dtype, 1), []);
}

/** Elements of a where cond is true, else of b (with broadcasting). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (!(cond instanceof Tensor)) throw new TypeError("where: condition must be a Tensor");
  const [x, y] = operands("where", a, b);
  return Where.apply(cond, x, y);
}

// ---------------------------------------------------------------- unary

interface UnaryOptions {
  /** Output dtype: the floating type of the input (default), or the input's own (bool → int32). */
  floatOut?: boolean;
  /** What backward reads: the input (default), the output, or nothing (it is then free to change). */
  uses?: "input" | "output" | "none";
  /** PyTorch's node name when it is not the op's name + "Backward". */
  nodeName?: string;
}

const POINTWISE = new WeakMap<object, (v: number) => number>();

/** The element function of a unary op's definition (compile fuses chains of them), if it is one. */
export function pointwiseOf(def: unknown): ((v: number) => number) | undefined {
  return typeof def === "object" && def !== null ? POINTWISE.get(def) : undefined;
}

function unaryFunction(
  name: string,
  f: (v: number) => number,
  grad: (g: Tensor, saved: Tensor) => Tensor,
  { floatOut = true, uses = "input", nodeName }: UnaryOptions = {},
) {
  const def: FunctionDef<[Tensor]> = {
    name,
    nodeName,
    forward(ctx, x: Tensor) {
      const out = unaryKernel(x, floatOut ? floatingOf(x.dtype) : x.dtype === "bool" ? "int32" : x.dtype, f);
      if (uses !== "none") ctx.saveForBackward(uses === "input" ? x : out);
      return out;
    },
    backward(ctx, g) {
      const saved = uses === "none" ? g : ctx.savedTensors[0];
      return [grad(g, saved)];
    },
  };
  POINTWISE.set(def, f);
  const op = defineOp(def);
  return (x: Tensor): Tensor => {
    if (!(x instanceof Tensor)) throw new TypeError(`${name}: input must be a Tensor, got ${typeof x}`);
    return op.apply(x);
  };
}

export const neg = unaryFunction(
  "neg",
  (v) => -v,
  (g) => neg(g),
  { floatOut: false, uses: "none" },
);
export const abs = unaryFunction("abs", Math.abs, (g, x) => mul(g, sign(x)), { floatOut: false });
export const exp = unaryFunction("exp", Math.exp, (g, out) => mul(g, out), { uses: "output" });
export const log = unaryFunction("log", Math.log, (g, x) => div(g, x));
export const sqrt = unaryFunction("sqrt", Math.sqrt, (g, out) => div(g, mul(out, 2)), { uses: "output" });
export const tanh = unaryFunction("tanh", Math.tanh, (g, out) => mul(g, sub(1, mul(out, out))), {
  uses: "output",
});
export const sigmoid = unaryFunction(
  "sigmoid",
  (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))),
  (g, out) => mul(g, mul(out, sub(1, out))),
  { uses: "output" },
);
// relu has loops of its own (it runs on every activation of a CNN). Backward is g·[x > 0], as
// mul(g, gt(x, 0)) computes it (g·0 keeps NaN/Inf gradients NaN), with the comparison turned into a
// number rather than a branch.
const Relu = defineOp({
  name: "relu",
  forward(ctx, x: Tensor) {
    ctx.saveForBackward(x);
    const out = allocateForOverwrite(x.dtype === "bool" ? "int32" : x.dtype, x.numel());
    const xd = contiguousData(x);
    if (isFloatArray(xd) && isFloatArray(out)) backend().relu(xd, out);
    else reluForward(xd, out);
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const [x] = ctx.savedTensors;
    const gd = contiguousData(g);
    // in place when the engine hands g's buffer over (each element is read before it is written)
    const out = mayOverwriteGradient(g) ? gd : allocateForOverwrite(g.dtype, g.numel());
    const xd = contiguousData(x);
    if (isFloatArray(gd) && isFloatArray(xd) && isFloatArray(out)) backend().reluBackward(gd, xd, out);
    else reluBackward(gd, xd, out);
    return [Tensor.fromData(out, g.shape)];
  },
});

export function relu(x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`relu: input must be a Tensor, got ${typeof x}`);
  return Relu.apply(x);
}
export const sin = unaryFunction("sin", Math.sin, (g, x) => mul(g, cos(x)));
export const cos = unaryFunction("cos", Math.cos, (g, x) => neg(mul(g, sin(x))));
export const square = unaryFunction(
  "square",
  (v) => v * v,
  (g, x) => mul(g, mul(x, 2)),
  { floatOut: false, nodeName: "PowBackward" },
);
export const reciprocal = unaryFunction(
  "reciprocal",
  (v) => 1 / v,
  (g, out) => neg(mul(g, mul(out, out))),
  { uses: "output" },
);

// Piecewise-constant ops: their gradient is 0 everywhere (PyTorch's convention), so a result
// still takes part in autograd and backward through it gives zeros.
const zeroGrad = (g: Tensor): Tensor => Tensor.fromData(allocate(g.dtype, g.numel()), g.shape);

/** -1, 0 or 1 elementwise; 0 for NaN, as PyTorch gives. */
export const sign = unaryFunction("sign", (v) => (v > 0 ? 1 : v < 0 ? -1 : 0), zeroGrad, {
  floatOut: false,
  uses: "none",
});

export const floor = unaryFunction("floor", Math.floor, zeroGrad, { floatOut: false, uses: "none" });

/** Round half to even, as PyTorch does. */
export const round = unaryFunction(
  "round",
  (v) => {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  zeroGrad,
  { floatOut: false, uses: "none" },
);

export function isnan(x: Tensor): Tensor {
  return unaryKernel(x, "bool", (v) => (Number.isNaN(v) ? 1 : 0));
}

const LeakyRelu = defineOp({
  name: "leakyRelu",
  forward(ctx: Ctx<{ slope: number }>, x: Tensor, slope: number) {
    ctx.saveForBackward(x);
    ctx.slope = slope;
    return unaryKernel(x, x.dtype, (v) => (v > 0 ? v : v * slope));
  },
  backward(ctx, g) {
    const [x] = ctx.savedTensors;
    const slope = ctx.slope;
    return [
      mul(
        g,
        unaryKernel(x, g.dtype, (v) => (v > 0 ? 1 : slope)),
      ),
      null,
    ];
  },
});

export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return LeakyRelu.apply(x, negativeSlope);
}

const Clamp = defineOp({
  name: "clamp",
  forward(ctx: Ctx<{ lo: number; hi: number }>, x: Tensor, lo: number, hi: number, dtype: DType) {
    ctx.saveForBackward(x);
    ctx.lo = lo;
    ctx.hi = hi;
    return unaryKernel(x, dtype, (v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi)));
  },
  backward(ctx, g) {
    const [x] = ctx.savedTensors;
    const { lo, hi } = ctx;
    return [
      mul(
        g,
        unaryKernel(x, g.dtype, (v) => (v >= lo && v <= hi ? 1 : 0)),
      ),
      null,
      null,
      null,
    ];
  },
});

/** Limits values to [min, max]; either bound may be omitted (null/undefined). */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if ((min === null || min === undefined) && (max === null || max === undefined)) {
    throw new TypeError("clamp: at least one of min and max must be given");
  }
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (lo > hi) throw new RangeError(`clamp: min ${lo} is greater than max ${hi}`);
  // the bounds take part in type promotion: an int32 tensor clamped to [-1.5, 2.5] is float32
  let dtype = x.dtype;
  for (const bound of [min, max]) if (typeof bound === "number") dtype = promoteWithScalar(dtype, bound);
  return Clamp.apply(x, lo, hi, dtype);
}

// ---------------------------------------------------------------- dtype conversion

const Cast = defineOp({
  name: "to",
  nodeName: "ToCopyBackward",
  forward(ctx: Ctx<{ from: DType }>, x: Tensor, dtype: DType) {
    ctx.from = x.dtype;
    return unaryKernel(
      x,
      dtype,
      dtype === "bool" ? (v) => (v !== 0 ? 1 : 0) : dtype === "int32" ? Math.trunc : (v) => v,
    );
  },
  backward(ctx, g) {
    return [isFloating(ctx.from) ? to(g, ctx.from) : null, null];
  },
});

/** A copy converted to `dtype` (the tensor itself if it already has that dtype). */
export function to(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return Cast.apply(x, dtype);
}

// ---------------------------------------------------------------- in place (outside autograd)

/** Writes `values` (broadcast to x's shape) into x's memory; for optimizers and initialisers. */
export function assignInPlace(x: Tensor, values: TensorLike, op: string): Tensor {
  x.checkInPlace(op);
  if (!UNIFORM_WRITES.has(op)) requireNoOverlap(x, op);
  const src = values instanceof Tensor ? values : toTensor(values, op, "value", x);
  const shape = x.shape;
  broadcastShapes(shape, src.shape, op);
  if (src.ndim > x.ndim || !src.shape.every((d, i) => d === 1 || d === shape[shape.length - src.ndim + i])) {
    throw new RangeError(
      `${op}: a value of shape [${src.shape.join(",")}] cannot be written into shape [${shape.join(",")}]`,
    );
  }
  const out = x.storage.data;
  const data = src.storage.data;
  const isInt = x.dtype === "int32" || x.dtype === "bool";
  walk3(
    shape,
    x.strides,
    x.offset,
    broadcastStrides(src.shape, src.strides, shape),
    src.offset,
    x.strides,
    0,
    (count, px, ps, _pc, dx, ds) => {
      for (let i = 0; i < count; i++)
        out[px + i * dx] = isInt ? castScalar(data[ps + i * ds], x.dtype) : data[ps + i * ds];
    },
  );
  x.bumpVersion();
  return x;
}

/** Ops that write one value everywhere: overlapping memory (an expanded view) is harmless. */
const UNIFORM_WRITES = new Set(["fill_", "zero_"]);

/** Refuses writing into a view whose elements share memory (expand), as PyTorch does. */
function requireNoOverlap(x: Tensor, op: string): void {
  const d = x.shape.findIndex((size, i) => size > 1 && x.strides[i] === 0);
  if (d >= 0) {
    throw new Error(
      `${op}: more than one element of this ${shapeToString(x.shape)} tensor refers to the same memory (dim ${d} is expanded); call .clone() first`,
    );
  }
}

/** x ← compute() for an in-place op: refused when its result type cannot be stored in x's dtype. */
export function inPlace(x: Tensor, op: string, compute: () => Tensor): Tensor {
  x.checkInPlace(op);
  requireNoOverlap(x, op);
  const value = noGrad(compute);
  if (!canCast(value.dtype, x.dtype)) {
    throw new TypeError(
      `${op}: the result type ${value.dtype} can't be cast to the tensor's dtype ${x.dtype}; convert the tensor first (e.g. .float())`,
    );
  }
  return assignInPlace(x, value, op);
}

export function contiguousCopy(x: Tensor): Tensor {
  return Tensor.fromData(contiguousData(x).slice(), x.shape);
}
