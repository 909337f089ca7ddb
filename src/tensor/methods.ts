/**
 * Tensor methods that are ops: defined in src/ops next to their backward, attached here so that
 * the Tensor class itself depends on no op (and no import cycle exists).
 */
import { backward, type BackwardOptions } from "../autograd/engine.js";
import { composite } from "../autograd/function.js";
import * as E from "../ops/elementwise.js";
import * as I from "../ops/indexing.js";
import * as M from "../ops/matmul.js";
import * as R from "../ops/reduce.js";
import * as V from "../ops/view.js";
import type { TensorLike } from "../ops/util.js";
import { traced } from "../runtime/trace.js";
import type { DType } from "./dtype.js";
import { Tensor } from "./tensor.js";

type Dims = R.Dims;

declare module "./tensor.js" {
  interface Tensor {
    backward(gradient?: Tensor | null, options?: BackwardOptions): void;
    add(other: TensorLike, alpha?: number): Tensor;
    sub(other: TensorLike, alpha?: number): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    square(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    reciprocal(): Tensor;
    sign(): Tensor;
    floor(): Tensor;
    round(): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    logicalNot(): Tensor;
    allclose(other: TensorLike, rtol?: number, atol?: number): boolean;
    to(dtype: DType): Tensor;
    double(): Tensor;
    float(): Tensor;
    int(): Tensor;
    bool(): Tensor;
    sum(dim?: Dims, keepdim?: boolean): Tensor;
    mean(dim?: Dims, keepdim?: boolean): Tensor;
    var(dim?: Dims, keepdim?: boolean, options?: R.VarianceOptions): Tensor;
    std(dim?: Dims, keepdim?: boolean, options?: R.VarianceOptions): Tensor;
    logsumexp(dim?: Dims, keepdim?: boolean): Tensor;
    max(): Tensor;
    max(dim: number, keepdim?: boolean): R.ValuesIndices;
    min(): Tensor;
    min(dim: number, keepdim?: boolean): R.ValuesIndices;
    amax(dim?: Dims, keepdim?: boolean): Tensor;
    amin(dim?: Dims, keepdim?: boolean): Tensor;
    argmax(dim?: number | null, keepdim?: boolean): Tensor;
    argmin(dim?: number | null, keepdim?: boolean): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(...shape: number[] | [readonly number[]]): Tensor;
    view(...shape: number[] | [readonly number[]]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    permute(...dims: number[] | [readonly number[]]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** Transpose of a 2-d tensor. */
    t(): Tensor;
    readonly T: Tensor;
    expand(...shape: number[] | [readonly number[]]): Tensor;
    expandAs(other: Tensor): Tensor;
    slice(...specs: V.SliceSpec[]): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    select(dim: number, index: number): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    split(sizeOrSections: number | readonly number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    indexSelect(dim: number, index: Tensor): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    /** In-place ops: refused on tensors autograd tracks (use them inside noGrad). */
    add_(other: TensorLike, alpha?: number): Tensor;
    sub_(other: TensorLike, alpha?: number): Tensor;
    mul_(other: TensorLike): Tensor;
    div_(other: TensorLike): Tensor;
    clamp_(min?: number | null, max?: number | null): Tensor;
    copy_(src: TensorLike): Tensor;
    fill_(value: number): Tensor;
    zero_(): Tensor;
    zeroGrad(): void;
  }
}

function shapeArgs(args: (number | readonly number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as number[])] : (args as number[]);
}

const P = Tensor.prototype;

P.backward = function (this: Tensor, gradient?: Tensor | null, options?: BackwardOptions) {
  backward(this, gradient, options);
};
P.add = function (this: Tensor, o: TensorLike, alpha?: number) {
  return E.add(this, o, alpha);
};
P.sub = function (this: Tensor, o: TensorLike, alpha?: number) {
  return E.sub(this, o, alpha);
};
P.mul = function (this: Tensor, o: TensorLike) {
  return E.mul(this, o);
};
P.div = function (this: Tensor, o: TensorLike) {
  return E.div(this, o);
};
P.pow = function (this: Tensor, o: TensorLike) {
  return E.pow(this, o);
};
P.maximum = function (this: Tensor, o: TensorLike) {
  return E.maximum(this, o);
};
P.minimum = function (this: Tensor, o: TensorLike) {
  return E.minimum(this, o);
};
for (const name of [
  "neg",
  "abs",
  "exp",
  "log",
  "sqrt",
  "square",
  "tanh",
  "sigmoid",
  "relu",
  "sin",
  "cos",
  "reciprocal",
  "sign",
  "floor",
  "round",
  "logicalNot",
] as const) {
  const fn = E[name] as (x: Tensor) => Tensor;
  (P as any)[name] = function (this: Tensor) {
    return fn(this);
  };
}
for (const name of ["eq", "ne", "lt", "le", "gt", "ge"] as const) {
  const fn = E[name];
  (P as any)[name] = function (this: Tensor, o: TensorLike) {
    return fn(this, o);
  };
}
P.clamp = function (this: Tensor, min?: number | null, max?: number | null) {
  return E.clamp(this, min, max);
};
P.allclose = function (this: Tensor, o: TensorLike, rtol?: number, atol?: number) {
  return E.allclose(this, o, rtol, atol);
};
P.to = function (this: Tensor, dtype: DType) {
  return E.to(this, dtype);
};
P.double = function (this: Tensor) {
  return E.to(this, "float64");
};
P.float = function (this: Tensor) {
  return E.to(this, "float32");
};
P.int = function (this: Tensor) {
  return E.to(this, "int32");
};
P.bool = function (this: Tensor) {
  return E.to(this, "bool");
};
P.sum = function (this: Tensor, dim?: Dims, keepdim?: boolean) {
  return R.sum(this, dim, keepdim);
};
P.mean = function (this: Tensor, dim?: Dims, keepdim?: boolean) {
  return R.mean(this, dim, keepdim);
};
P.var = function (this: Tensor, dim?: Dims, keepdim?: boolean, options?: R.VarianceOptions) {
  return R.variance(this, dim, keepdim, options);
};
P.std = function (this: Tensor, dim?: Dims, keepdim?: boolean, options?: R.VarianceOptions) {
  return R.std(this, dim, keepdim, options);
};
P.logsumexp = function (this: Tensor, dim?: Dims, keepdim?: boolean) {
  return R.logsumexp(this, dim, keepdim);
};
P.max = function (this: Tensor, dim?: number, keepdim?: boolean): any {
  return dim === undefined ? R.max(this) : R.max(this, dim, keepdim);
};
P.min = function (this: Tensor, dim?: number, keepdim?: boolean): any {
  return dim === undefined ? R.min(this) : R.min(this, dim, keepdim);
};
P.amax = function (this: Tensor, dim?: Dims, keepdim?: boolean) {
  return R.amax(this, dim, keepdim);
};
P.amin = function (this: Tensor, dim?: Dims, keepdim?: boolean) {
  return R.amin(this, dim, keepdim);
};
P.argmax = function (this: Tensor, dim?: number | null, keepdim?: boolean) {
  return R.argmax(this, dim, keepdim);
};
P.argmin = function (this: Tensor, dim?: number | null, keepdim?: boolean) {
  return R.argmin(this, dim, keepdim);
};
P.matmul = function (this: Tensor, o: Tensor) {
  return M.matmul(this, o);
};
P.reshape = function (this: Tensor, ...shape: (number | readonly number[])[]) {
  return V.reshape(this, shapeArgs(shape));
};
P.view = function (this: Tensor, ...shape: (number | readonly number[])[]) {
  return V.viewAs(this, shapeArgs(shape));
};
P.flatten = function (this: Tensor, s?: number, e?: number) {
  return V.flatten(this, s, e);
};
P.squeeze = function (this: Tensor, dim?: number) {
  return V.squeeze(this, dim);
};
P.unsqueeze = function (this: Tensor, dim: number) {
  return V.unsqueeze(this, dim);
};
P.permute = function (this: Tensor, ...dims: (number | readonly number[])[]) {
  return V.permute(this, shapeArgs(dims));
};
P.transpose = function (this: Tensor, a: number, b: number) {
  return V.transpose(this, a, b);
};
P.t = function (this: Tensor) {
  if (this.ndim > 2)
    throw new RangeError(`t: expects a tensor with at most 2 dims, got shape [${this.shape.join(",")}]`);
  return this.ndim < 2 ? this : composite("TBackward", () => V.transpose(this, 0, 1));
};
Object.defineProperty(P, "T", {
  get(this: Tensor) {
    return V.permute(
      this,
      this.shape.map((_, i) => this.ndim - 1 - i),
    );
  },
});
P.expand = function (this: Tensor, ...shape: (number | readonly number[])[]) {
  return V.expand(this, shapeArgs(shape));
};
P.expandAs = function (this: Tensor, o: Tensor) {
  return V.expand(this, o.shape);
};
P.slice = function (this: Tensor, ...specs: V.SliceSpec[]) {
  return V.slice(this, ...specs);
};
P.narrow = function (this: Tensor, dim: number, start: number, length: number) {
  return V.narrow(this, dim, start, length);
};
P.select = function (this: Tensor, dim: number, index: number) {
  return V.select(this, dim, index);
};
P.contiguous = function (this: Tensor) {
  return V.contiguous(this);
};
P.clone = function (this: Tensor) {
  return V.clone(this);
};
P.split = function (this: Tensor, s: number | readonly number[], dim?: number) {
  return I.split(this, s, dim);
};
P.chunk = function (this: Tensor, chunks: number, dim?: number) {
  return I.chunk(this, chunks, dim);
};
P.indexSelect = function (this: Tensor, dim: number, index: Tensor) {
  return I.indexSelect(this, dim, index);
};
P.gather = function (this: Tensor, dim: number, index: Tensor) {
  return I.gather(this, dim, index);
};
P.scatterAdd = function (this: Tensor, dim: number, index: Tensor, src: Tensor) {
  return I.scatterAdd(this, dim, index, src);
};
P.add_ = function (this: Tensor, o: TensorLike, alpha?: number) {
  return traced("inplace", "add_", [this, o, alpha], (t: Tensor, v: TensorLike, a?: number) =>
    E.inPlace(t, "add_", () => E.add(t, v, a)),
  );
};
P.sub_ = function (this: Tensor, o: TensorLike, alpha?: number) {
  return traced("inplace", "sub_", [this, o, alpha], (t: Tensor, v: TensorLike, a?: number) =>
    E.inPlace(t, "sub_", () => E.sub(t, v, a)),
  );
};
P.mul_ = function (this: Tensor, o: TensorLike) {
  return traced("inplace", "mul_", [this, o], (t: Tensor, v: TensorLike) =>
    E.inPlace(t, "mul_", () => E.mul(t, v)),
  );
};
P.div_ = function (this: Tensor, o: TensorLike) {
  return traced("inplace", "div_", [this, o], (t: Tensor, v: TensorLike) =>
    E.inPlace(t, "div_", () => E.div(t, v)),
  );
};
P.clamp_ = function (this: Tensor, min?: number | null, max?: number | null) {
  return traced("inplace", "clamp_", [this, min, max], (t: Tensor, lo?: number | null, hi?: number | null) =>
    E.inPlace(t, "clamp_", () => E.clamp(t, lo, hi)),
  );
};
P.copy_ = function (this: Tensor, src: TensorLike) {
  return traced("inplace", "copy_", [this, src], (t: Tensor, v: TensorLike) =>
    E.assignInPlace(t, v, "copy_"),
  );
};
P.fill_ = function (this: Tensor, value: number) {
  return traced("inplace", "fill_", [this, value], (t: Tensor, v: number) => E.assignInPlace(t, v, "fill_"));
};
P.zero_ = function (this: Tensor) {
  return traced("inplace", "zero_", [this], (t: Tensor) => E.assignInPlace(t, 0, "zero_"));
};
P.zeroGrad = function (this: Tensor) {
  this.grad = null;
};
