import { copyToContiguous, type StridedView } from "../backend/js/strided.js";
import { allocate, castScalar, promoteWithScalar, type DType, type TypedArray } from "../tensor/dtype.js";
import { contiguousStrides, numel, shapesEqual, shapeToString, type Shape } from "../tensor/shape.js";
import { Storage, Tensor } from "../tensor/tensor.js";

/** A tensor or a plain number/boolean standing for a 0-d tensor. */
export type TensorLike = Tensor | number | boolean;

export function view(t: Tensor): StridedView {
  return { data: t.storage.data, shape: t.shape, strides: t.strides, offset: t.offset };
}

export function emptyTensor(shape: Shape, dtype: DType): Tensor {
  return Tensor.fromData(allocate(dtype, numel(shape)), shape);
}

/** A contiguous copy of the data in logical order (or the data itself when already contiguous). */
export function contiguousData(t: Tensor): TypedArray {
  if (t.isContiguous()) return t.data;
  const out = allocate(t.dtype, t.numel());
  copyToContiguous(view(t), out);
  return out;
}

/** Contiguous data converted to `dtype` (a fresh array whenever a conversion happens). */
export function dataAs(t: Tensor, dtype: DType): TypedArray {
  if (t.dtype === dtype) return contiguousData(t);
  const out = allocate(dtype, t.numel());
  copyToContiguous(view(t), out);
  if (dtype === "int32" || dtype === "bool")
    for (let i = 0; i < out.length; i++) out[i] = castScalar(out[i], dtype);
  return out;
}

export function toTensor(value: TensorLike, op: string, arg: string, like?: Tensor): Tensor {
  if (value instanceof Tensor) return value;
  if (typeof value !== "number" && typeof value !== "boolean") {
    throw new TypeError(
      `${op}: ${arg} must be a Tensor or a number, got ${value === null ? "null" : typeof value}`,
    );
  }
  const dtype = like ? promoteWithScalar(like.dtype, value) : typeof value === "boolean" ? "bool" : "float32";
  const data = allocate(dtype, 1);
  data[0] = castScalar(Number(value), dtype);
  return Tensor.fromData(data, []);
}

/** Fresh tensor of the same values with a new shape (numel must match; data is shared when contiguous). */
export function reshapeRaw(t: Tensor, shape: Shape): Tensor {
  return new Tensor(new Storage(contiguousData(t)), shape, contiguousStrides(shape), 0, t.dtype);
}

/**
 * Sums a gradient of a broadcast result back to the shape of the operand it came from
 * (no autograd: backward runs with grad recording off).
 */
export function sumToShape(grad: Tensor, shape: Shape): Tensor {
  if (shapesEqual(grad.shape, shape)) return grad;
  const gShape = grad.shape;
  const lead = gShape.length - shape.length;
  if (lead < 0)
    throw new Error(`sumToShape: cannot reduce ${shapeToString(gShape)} to ${shapeToString(shape)}`);
  const out = allocate(grad.dtype, numel(shape));
  // Output strides laid over the gradient's shape, 0 where the operand was broadcast.
  const outStrides = contiguousStrides(shape);
  const mapped = gShape.map((size, d) => {
    const od = d - lead;
    if (od < 0) return 0;
    if (shape[od] === size) return outStrides[od];
    if (shape[od] === 1) return 0;
    throw new Error(`sumToShape: cannot reduce ${shapeToString(gShape)} to ${shapeToString(shape)}`);
  });
  const data = grad.storage.data;
  const rank = gShape.length;
  const counter = new Array<number>(rank).fill(0);
  let src = grad.offset;
  let dst = 0;
  const n = grad.numel();
  for (let i = 0; i < n; i++) {
    out[dst] += data[src];
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      src += grad.strides[d];
      dst += mapped[d];
      if (counter[d] < gShape[d]) break;
      src -= counter[d] * grad.strides[d];
      dst -= counter[d] * mapped[d];
      counter[d] = 0;
    }
  }
  return Tensor.fromData(out, shape);
}

export function describe(t: Tensor): string {
  return `${shapeToString(t.shape)} ${t.dtype}`;
}

export function requireFloating(t: Tensor, op: string, arg: string): void {
  if (t.dtype !== "float32" && t.dtype !== "float64") {
    throw new TypeError(`${op}: ${arg} must be float32 or float64, got ${t.dtype} (use .to("float32"))`);
  }
}

export function requireSameDType(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `${op}: ${aName} is ${a.dtype} but ${bName} is ${b.dtype}; convert one with .to("${a.dtype}") or .to("${b.dtype}")`,
    );
  }
}

export function requireTensor(value: unknown, op: string, arg: string): Tensor {
  if (!(value instanceof Tensor)) {
    throw new TypeError(`${op}: ${arg} must be a Tensor, got ${value === null ? "null" : typeof value}`);
  }
  return value;
}
