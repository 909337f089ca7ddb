import { backend } from "../backend/index.js";
import type { ReduceKind } from "../backend/js/reduce.js";
import { defineOp, type Ctx } from "../autograd/function.js";
import { activeRecorder, traced } from "../runtime/trace.js";
import { noGrad } from "../autograd/grad-mode.js";
import { allocate, floatingOf, type DType } from "../tensor/dtype.js";
import { normalizeDims, numel, shapeToString, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { div, eq, exp, mul, sub, where } from "./elementwise.js";
import { requireTensor, view } from "./util.js";
import { expand, reshape } from "./view.js";

export type Dims = number | readonly number[] | null | undefined;

interface Plan {
  /** Reduced dims, sorted (none for a 0-d input: its dim 0 / -1 is the value itself). */
  dims: number[];
  reduced: boolean[];
  /** Number of elements reduced into each output element. */
  size: number;
  keptShape: number[];
  outShape: number[];
}

function plan(x: Tensor, dims: Dims, keepdim: boolean, op: string): Plan {
  const d = normalizeDims(dims, x.ndim, op).filter((i) => i < x.ndim);
  const reduced = x.shape.map((_, i) => d.includes(i));
  const keptShape = x.shape.map((s, i) => (reduced[i] ? 1 : s));
  const outShape = keepdim ? keptShape : x.shape.filter((_, i) => !reduced[i]);
  const size = numel(d.map((i) => x.shape[i]));
  return { dims: d, reduced, size, keptShape, outShape };
}

/** Runs the reduction kernel (no autograd); `op` names the user's call in errors. */
function reduceRaw(x: Tensor, p: Plan, kind: ReduceKind, dtype: DType, op: string, keepdim = false): Tensor {
  // called outside an op by argmax/argmin: a replayable unit of its own for compile
  if (activeRecorder() === null) return reduceRawNow(x, p, kind, dtype, op, keepdim);
  return traced("op", op, [x, p, kind, dtype, op, keepdim], reduceRawNow);
}

function reduceRawNow(
  x: Tensor,
  p: Plan,
  kind: ReduceKind,
  dtype: DType,
  op: string,
  keepdim: boolean,
): Tensor {
  if (p.size === 0 && kind !== "sum" && kind !== "logsumexp" && numel(p.outShape) > 0) {
    const d = p.dims.find((i) => x.shape[i] === 0);
    throw new RangeError(
      `${op}: cannot reduce over an empty dimension (dim ${d} has size 0 in input ${shapeToString(x.shape)}); this op has no identity`,
    );
  }
  const out = allocate(dtype, numel(p.outShape));
  if (kind === "sum") backend().sumDims(view(x), p.reduced, out);
  else backend().reduce(view(x), p.reduced, kind, out);
  return Tensor.fromData(out, keepdim ? p.keptShape : p.outShape);
}

/** g (of the reduced shape) laid back over the input's shape. */
function spread(g: Tensor, keptShape: readonly number[], inputShape: readonly number[]): Tensor {
  return expand(reshape(g, keptShape), inputShape);
}

const Sum = defineOp({
  name: "sum",
  forward(ctx: Ctx<{ inputShape: Shape; keptShape: number[] }>, x: Tensor, p: Plan) {
    ctx.inputShape = x.shape;
    ctx.keptShape = p.keptShape;
    return reduceRaw(x, p, "sum", x.dtype === "bool" ? "int32" : x.dtype, "sum");
  },
  backward(ctx, g) {
    return [spread(g, ctx.keptShape, ctx.inputShape), null];
  },
});

/** Sum over `dim` (all dims when omitted), PyTorch's positional form `sum(dim?, keepdim?)`. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "sum", "input");
  return Sum.apply(x, plan(x, dim, keepdim, "sum"));
}

const Mean = defineOp({
  name: "mean",
  forward(ctx: Ctx<{ inputShape: Shape; keptShape: number[]; size: number }>, x: Tensor, p: Plan) {
    ctx.inputShape = x.shape;
    ctx.keptShape = p.keptShape;
    ctx.size = p.size;
    const out = reduceRaw(x, p, "sum", floatingOf(x.dtype), "mean");
    const d = out.data;
    for (let i = 0; i < d.length; i++) d[i] /= p.size;
    return out;
  },
  backward(ctx, g) {
    return [spread(div(g, ctx.size), ctx.keptShape, ctx.inputShape), null];
  },
});

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "mean", "input");
  return Mean.apply(x, plan(x, dim, keepdim, "mean"));
}

export interface VarianceOptions {
  /** Subtracted from the count in the denominator: 1 (default) is the unbiased estimate. */
  correction?: number;
  unbiased?: boolean;
}

interface Moments {
  p: Plan;
  /** count − correction (clamped at 0, as PyTorch does). */
  denom: number;
}

function moments(x: Tensor, dim: Dims, keepdim: boolean, options: VarianceOptions, op: string): Moments {
  requireTensor(x, op, "input");
  const p = plan(x, dim, keepdim, op);
  const correction = options.correction ?? (options.unbiased === false ? 0 : 1);
  return { p, denom: Math.max(0, p.size - correction) };
}

/** Centered input and the variance (kept dims), computed without autograd. */
function centeredVariance(x: Tensor, m: Moments): { centered: Tensor; varKept: Tensor } {
  const keptDims = { ...m.p, outShape: m.p.keptShape };
  const centered = sub(x, mean(x, m.p.dims, true));
  const ss = reduceRaw(mul(centered, centered), keptDims, "sum", floatingOf(x.dtype), "var");
  return { centered, varKept: div(ss, m.denom) };
}

const Var = defineOp({
  name: "var",
  forward(ctx: Ctx<{ keptShape: number[]; denom: number }>, x: Tensor, m: Moments) {
    const { centered, varKept } = centeredVariance(x, m);
    ctx.saveForBackward(centered);
    ctx.keptShape = m.p.keptShape;
    ctx.denom = m.denom;
    return reshape(varKept, m.p.outShape);
  },
  backward(ctx, g) {
    const [centered] = ctx.savedTensors;
    const gk = reshape(g, ctx.keptShape);
    return [mul(mul(gk, 2 / ctx.denom), centered), null];
  },
});

export function variance(x: Tensor, dim?: Dims, keepdim = false, options: VarianceOptions = {}): Tensor {
  return Var.apply(x, moments(x, dim, keepdim, options, "var"));
}

const Std = defineOp({
  name: "std",
  forward(ctx: Ctx<{ keptShape: number[]; denom: number }>, x: Tensor, m: Moments) {
    const { centered, varKept } = centeredVariance(x, m);
    const d = varKept.data;
    for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
    ctx.saveForBackward(centered, varKept);
    ctx.keptShape = m.p.keptShape;
    ctx.denom = m.denom;
    return reshape(varKept, m.p.outShape);
  },
  backward(ctx, g) {
    const [centered, stdKept] = ctx.savedTensors;
    // d std = (x − mean) / (std · (N − correction)); 0 where the std is 0 (PyTorch's convention)
    const scale = div(reshape(g, ctx.keptShape), mul(stdKept, ctx.denom));
    return [mul(where(eq(stdKept, 0), 0, scale), centered), null];
  },
});

export function std(x: Tensor, dim?: Dims, keepdim = false, options: VarianceOptions = {}): Tensor {
  return Std.apply(x, moments(x, dim, keepdim, options, "std"));
}

const Logsumexp = defineOp({
  name: "logsumexp",
  forward(ctx: Ctx<{ keptShape: number[] }>, x: Tensor, p: Plan) {
    const kept = reduceRaw(x, p, "logsumexp", floatingOf(x.dtype), "logsumexp", true);
    ctx.saveForBackward(x, kept);
    ctx.keptShape = p.keptShape;
    return reshape(kept, p.outShape);
  },
  backward(ctx, g) {
    const [x, kept] = ctx.savedTensors;
    return [mul(reshape(g, ctx.keptShape), exp(sub(x, kept))), null];
  },
});

/** log(sum(exp(x))) computed stably; −∞ over an empty dim. */
export function logsumexp(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "logsumexp", "input");
  return Logsumexp.apply(x, plan(x, dim, keepdim, "logsumexp"));
}

export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

function argReduce(
  x: Tensor,
  dim: number | undefined | null,
  keepdim: boolean,
  kind: "argmax" | "argmin",
): Tensor {
  requireTensor(x, kind, "input");
  if (dim === undefined || dim === null) {
    const flat = noGrad(() => reshape(x.detach(), [x.numel()]));
    return reduceRaw(flat, plan(flat, 0, false, kind), kind, "int32", kind);
  }
  if (Array.isArray(dim)) throw new TypeError(`${kind}: dim must be one number, got [${dim.join(", ")}]`);
  return reduceRaw(x, plan(x, dim, keepdim, kind), kind, "int32", kind);
}

export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(x, dim, keepdim, "argmax");
}

export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(x, dim, keepdim, "argmin");
}

/**
 * Max/min over dims without indices (amax, amin, and max()/min() of the whole tensor): the
 * gradient is split evenly between tied elements, as PyTorch does.
 */
function evenExtreme(name: string, kind: "max" | "min") {
  return defineOp({
    name,
    forward(ctx: Ctx<{ p: Plan }>, x: Tensor, p: Plan) {
      const kept = reduceRaw(x, p, kind, x.dtype, name, true);
      ctx.saveForBackward(x, kept);
      ctx.p = p;
      return reshape(kept, p.outShape);
    },
    backward(ctx, g) {
      const [x, kept] = ctx.savedTensors;
      const p = ctx.p;
      const mask = eq(x, kept).to(g.dtype);
      const count = reduceRaw(mask, p, "sum", g.dtype, name, true);
      return [mul(mask, div(reshape(g, p.keptShape), count)), null];
    },
  });
}

const MaxAll = evenExtreme("max", "max");
const MinAll = evenExtreme("min", "min");
const Amax = evenExtreme("amax", "max");
const Amin = evenExtreme("amin", "min");

/** Max/min along one dim with indices: the gradient goes to the index found (PyTorch's max(dim)). */
function indexedExtreme(name: "max" | "min") {
  return defineOp({
    name,
    forward(ctx: Ctx<{ inputShape: Shape; dim: number }>, x: Tensor, p: Plan, indicesKept: Tensor) {
      ctx.inputShape = x.shape;
      ctx.dim = p.dims[0] ?? -1;
      ctx.saveForBackward(indicesKept);
      return reduceRaw(x, p, name, x.dtype, name);
    },
    backward(ctx, g) {
      const [indices] = ctx.savedTensors;
      const shape = ctx.inputShape;
      const d = ctx.dim;
      if (d < 0) return [reshape(g, shape), null, null];
      const out = allocate(g.dtype, numel(shape));
      const gd = g.contiguous().data;
      const id = indices.data;
      const size = shape[d];
      const inner = numel(shape.slice(d + 1));
      const outer = numel(shape.slice(0, d));
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++) out[(o * size + id[o * inner + i]) * inner + i] += gd[o * inner + i];
      return [Tensor.fromData(out, shape), null, null];
    },
  });
}

const MaxDim = indexedExtreme("max");
const MinDim = indexedExtreme("min");

function extreme(
  x: Tensor,
  dim: number | undefined,
  keepdim: boolean,
  kind: "max" | "min",
): Tensor | ValuesIndices {
  requireTensor(x, kind, "input");
  if (dim === undefined) {
    if (x.numel() === 0)
      throw new RangeError(`${kind}: the input is empty; give a dim or a non-empty tensor`);
    return (kind === "max" ? MaxAll : MinAll).apply(x, plan(x, null, false, kind));
  }
  if (typeof dim !== "number")
    throw new TypeError(`${kind}: dim must be one number (use amax/amin for several dims)`);
  const p = plan(x, dim, keepdim, kind);
  const argKind = kind === "max" ? "argmax" : "argmin";
  const indicesKept = reduceRaw(x, p, argKind, "int32", kind, true);
  const values = (kind === "max" ? MaxDim : MinDim).apply(x, p, indicesKept);
  return { values, indices: keepdim ? indicesKept : reshape(indicesKept, p.outShape) };
}

/** Largest element (a 0-d tensor), or `{values, indices}` along `dim`. */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  return extreme(x, dim, keepdim, "max");
}

/** Smallest element (a 0-d tensor), or `{values, indices}` along `dim`. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  return extreme(x, dim, keepdim, "min");
}

/** Max over several dims at once (values only; ties share the gradient). */
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "amax", "input");
  return Amax.apply(x, plan(x, dim, keepdim, "amax"));
}

/** Min over several dims at once (values only; ties share the gradient). */
export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "amin", "input");
  return Amin.apply(x, plan(x, dim, keepdim, "amin"));
}
