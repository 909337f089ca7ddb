import { reduceLastAxis, type ReduceKind } from "../backend/js/reduce.js";
import { defineOp } from "../autograd/function.js";
import { noGrad } from "../autograd/grad-mode.js";
import { allocate, type DType } from "../tensor/dtype.js";
import { normalizeDims, numel } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, div, exp, log, mul, sqrt, sub } from "./elementwise.js";
import { gather } from "./indexing.js";
import { contiguousData, requireTensor } from "./util.js";
import { expand, permute, reshape, squeeze } from "./view.js";

export type Dims = number | readonly number[] | null | undefined;

interface Plan {
  dims: number[];
  outer: number;
  size: number;
  keptShape: number[];
  outShape: number[];
}

function plan(x: Tensor, dims: Dims, keepdim: boolean, op: string): Plan {
  const d = normalizeDims(dims, x.ndim, op);
  const keptShape = x.shape.map((s, i) => (d.includes(i) ? 1 : s));
  const outShape = keepdim ? keptShape : x.shape.filter((_, i) => !d.includes(i));
  const size = numel(d.map((i) => x.shape[i]));
  return { dims: d, outer: numel(outShape), size, keptShape, outShape };
}

/** Runs a last-axis kernel after moving the reduced dims to the end. */
function reduceRaw(x: Tensor, p: Plan, kind: ReduceKind, dtype: DType): Tensor {
  const rest = x.shape.map((_, i) => i).filter((i) => !p.dims.includes(i));
  const moved = noGrad(() => permute(x.detach(), [...rest, ...p.dims]));
  const data = contiguousData(moved);
  const out = allocate(dtype, p.outer);
  if (p.size === 0) {
    if (kind !== "sum") throw new RangeError(`${kind}: cannot reduce over an empty dimension`);
  } else {
    reduceLastAxis(data, p.outer, p.size, kind, out);
  }
  return Tensor.fromData(out, p.outShape);
}

const Sum = defineOp({
  name: "sum",
  forward(ctx, x: Tensor, p: Plan) {
    ctx.inputShape = x.shape;
    ctx.keptShape = p.keptShape;
    const dtype: DType = x.dtype === "bool" ? "int32" : x.dtype;
    return reduceRaw(x, p, "sum", dtype);
  },
  backward(ctx, g) {
    return [expand(reshape(g, ctx.keptShape), ctx.inputShape), null];
  },
});

/** Sum over `dim` (all dims when omitted), PyTorch's positional form `sum(dim?, keepdim?)`. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "sum", "input");
  return Sum.apply(x, plan(x, dim, keepdim, "sum"));
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "mean", "input");
  const p = plan(x, dim, keepdim, "mean");
  return div(Sum.apply(x, p), p.size);
}

export interface VarianceOptions {
  /** Subtracted from the count in the denominator: 1 (default) is the unbiased estimate. */
  correction?: number;
  unbiased?: boolean;
}

export function variance(x: Tensor, dim?: Dims, keepdim = false, options: VarianceOptions = {}): Tensor {
  requireTensor(x, "var", "input");
  const p = plan(x, dim, keepdim, "var");
  const correction = options.correction ?? (options.unbiased === false ? 0 : 1);
  const centered = sub(x, mean(x, p.dims, true));
  return div(sum(mul(centered, centered), p.dims, keepdim), Math.max(0, p.size - correction));
}

export function std(x: Tensor, dim?: Dims, keepdim = false, options: VarianceOptions = {}): Tensor {
  return sqrt(variance(x, dim, keepdim, options));
}

/** log(sum(exp(x))) computed stably. */
export function logsumexp(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireTensor(x, "logsumexp", "input");
  const p = plan(x, dim, true, "logsumexp");
  const m = noGrad(() => reduceRaw(x, p, "max", x.dtype));
  const finiteMax = m;
  const data = m.data;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) data[i] = 0;
  const out = add(log(sum(exp(sub(x, finiteMax)), p.dims, true)), finiteMax);
  return keepdim ? out : reshape(out, plan(x, dim, false, "logsumexp").outShape);
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
    return reduceRaw(
      reshape(x.detach(), [x.numel()]),
      plan(reshape(x.detach(), [x.numel()]), 0, false, kind),
      kind,
      "int32",
    );
  }
  return reduceRaw(x, plan(x, dim, keepdim, kind), kind, "int32");
}

export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(x, dim, keepdim, "argmax");
}

export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argReduce(x, dim, keepdim, "argmin");
}

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
    const flat = reshape(x, [x.numel()]);
    const at = argReduce(flat, 0, true, kind === "max" ? "argmax" : "argmin");
    return reshape(gather(flat, 0, at), []);
  }
  const indicesKept = argReduce(x, dim, true, kind === "max" ? "argmax" : "argmin");
  const d = plan(x, dim, true, kind).dims[0];
  const valuesKept = gather(x, d, indicesKept);
  return keepdim
    ? { values: valuesKept, indices: indicesKept }
    : { values: squeeze(valuesKept, d), indices: noGrad(() => squeeze(indicesKept, d)) };
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

/** Max over several dims at once (values only). */
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const p = plan(x, dim, keepdim, "amax");
  let out = x;
  for (const d of [...p.dims].reverse()) out = (max(out, d, true) as ValuesIndices).values;
  return keepdim ? out : reshape(out, p.outShape);
}
