import { walk3 } from "../backend/js/strided.js";
import { composite, defineOp, type Ctx } from "../autograd/function.js";
import { allocate } from "../tensor/dtype.js";
import {
  contiguousStrides,
  normalizeDim,
  numel,
  shapesEqual,
  shapeToString,
  type Shape,
} from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData, emptyTensor, sumToShape } from "./util.js";

interface Geometry {
  shape: number[];
  strides: number[];
  offset: number;
}

function viewOf(t: Tensor, g: Geometry): Tensor {
  return new Tensor(t.storage, g.shape, g.strides, g.offset, t.dtype);
}

/** Writes `source` (any layout) into the positions a view geometry describes on `target`. */
function writeIntoView(target: Tensor, g: Geometry, source: Tensor): void {
  const out = target.storage.data;
  const src = source.storage.data;
  walk3(
    g.shape,
    g.strides,
    g.offset,
    source.strides,
    source.offset,
    g.strides,
    0,
    (count, po, ps, _pc, dout, dsrc) => {
      for (let i = 0; i < count; i++) out[po + i * dout] += src[ps + i * dsrc];
    },
  );
}

/** Gradient of a view: zeros of the input's shape with the view's region filled from `grad`. */
function scatterGradient(inputShape: Shape, geometryOnContiguous: Geometry, grad: Tensor): Tensor {
  const out = emptyTensor(inputShape, grad.dtype);
  writeIntoView(out, geometryOnContiguous, grad);
  return out;
}

// ---------------------------------------------------------------- reshape / view

export function inferShape(op: string, shape: readonly number[], total: number, from: Shape): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (out.lastIndexOf(-1) !== unknown)
    throw new RangeError(`${op}: only one dimension can be -1, got ${shapeToString(shape)}`);
  for (const d of out) {
    if (d !== -1 && (!Number.isInteger(d) || d < 0)) {
      throw new RangeError(`${op}: invalid size ${d} in shape ${shapeToString(shape)}`);
    }
  }
  if (unknown >= 0) {
    const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
    if (known === 0 || total % known !== 0) {
      throw new RangeError(
        `${op}: shape ${shapeToString(shape)} is invalid for input ${shapeToString(from)} of size ${total}`,
      );
    }
    out[unknown] = total / known;
  }
  if (numel(out) !== total) {
    throw new RangeError(
      `${op}: shape ${shapeToString(shape)} is invalid for input ${shapeToString(from)} of size ${total}`,
    );
  }
  return out;
}

/**
 * Strides that let `shape` view memory laid out as (oldShape, oldStrides), or null when the
 * reshape needs a copy. Old dims are grouped into chunks that are contiguous in themselves
 * (innermost first); the new dims must split each chunk exactly.
 */
function viewStrides(
  oldShape: Shape,
  oldStrides: readonly number[],
  shape: readonly number[],
): number[] | null {
  if (oldShape.length === 0 || numel(oldShape) === 0) return contiguousStrides(shape);
  const out = new Array<number>(shape.length).fill(1);
  let newDim = shape.length - 1;
  let chunkStride = oldStrides[oldShape.length - 1];
  let chunkSize = 1;
  let viewSize = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    chunkSize *= oldShape[d];
    const chunkEnds = d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== chunkSize * chunkStride);
    if (!chunkEnds) continue;
    while (newDim >= 0 && (viewSize < chunkSize || shape[newDim] === 1)) {
      out[newDim] = viewSize * chunkStride;
      viewSize *= shape[newDim];
      newDim--;
    }
    if (viewSize !== chunkSize) return null;
    if (d > 0) {
      chunkStride = oldStrides[d - 1];
      chunkSize = 1;
      viewSize = 1;
    }
  }
  return newDim === -1 ? out : null;
}

const Reshape = defineOp({
  name: "reshape",
  nodeName: "ViewBackward",
  forward(ctx: Ctx<{ inputShape: Shape }>, x: Tensor, shape: number[]) {
    ctx.inputShape = x.shape;
    if (x.isContiguous()) return new Tensor(x.storage, shape, contiguousStrides(shape), x.offset, x.dtype);
    const strides = viewStrides(x.shape, x.strides, shape);
    if (strides) return new Tensor(x.storage, shape, strides, x.offset, x.dtype);
    return Tensor.fromData(contiguousData(x), shape);
  },
  backward(ctx, g) {
    return [reshape(g, ctx.inputShape)];
  },
});

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape("reshape", shape, x.numel(), x.shape);
  if (shapesEqual(target, x.shape)) return x;
  return Reshape.apply(x, target);
}

/** Like reshape but never copies: fails on a non-contiguous tensor, as PyTorch's `view` does. */
export function viewAs(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape("view", shape, x.numel(), x.shape);
  if (!x.isContiguous()) {
    throw new Error(
      `view: size ${shapeToString(target)} is not compatible with the input's strides ${shapeToString(x.strides)} (shape ${shapeToString(x.shape)}); use .reshape(...) or .contiguous() first`,
    );
  }
  return Reshape.apply(x, target);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim(startDim, x.ndim, "flatten");
  const e = normalizeDim(endDim, x.ndim, "flatten");
  if (s > e) throw new RangeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined)
    return composite("SqueezeBackward", () =>
      reshape(
        x,
        x.shape.filter((d) => d !== 1),
      ),
    );
  const d = normalizeDim(dim, x.ndim, "squeeze");
  if (x.shape[d] !== 1) return x;
  return composite("SqueezeBackward", () => reshape(x, [...x.shape.slice(0, d), ...x.shape.slice(d + 1)]));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim(dim, x.ndim + 1, "unsqueeze");
  return composite("UnsqueezeBackward", () => reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]));
}

// ---------------------------------------------------------------- permute / transpose

const Permute = defineOp({
  name: "permute",
  forward(ctx: Ctx<{ dims: number[] }>, x: Tensor, dims: number[]) {
    ctx.dims = dims;
    return new Tensor(
      x.storage,
      dims.map((d) => x.shape[d]),
      dims.map((d) => x.strides[d]),
      x.offset,
      x.dtype,
    );
  },
  backward(ctx, g) {
    const dims = ctx.dims;
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => (inverse[d] = i));
    return [permute(g, inverse)];
  },
});

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) {
    throw new RangeError(
      `permute: got ${dims.length} dims ${shapeToString(dims)} for a tensor of rank ${x.ndim}`,
    );
  }
  const norm = dims.map((d) => normalizeDim(d, x.ndim, "permute"));
  if (new Set(norm).size !== norm.length)
    throw new RangeError(`permute: dims ${shapeToString(dims)} repeat a dimension`);
  if (norm.every((d, i) => d === i)) return x;
  return Permute.apply(x, norm);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normalizeDim(dim0, x.ndim, "transpose");
  const b = normalizeDim(dim1, x.ndim, "transpose");
  const dims = Array.from({ length: x.ndim }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return composite("TransposeBackward", () => permute(x, dims));
}

// ---------------------------------------------------------------- expand

const Expand = defineOp({
  name: "expand",
  forward(ctx: Ctx<{ inputShape: Shape }>, x: Tensor, shape: number[]) {
    ctx.inputShape = x.shape;
    const lead = shape.length - x.ndim;
    const strides = shape.map((size, d) =>
      d < lead || x.shape[d - lead] !== size ? 0 : x.strides[d - lead],
    );
    return new Tensor(x.storage, shape, strides, x.offset, x.dtype);
  },
  backward(ctx, g) {
    return [sumToShape(g, ctx.inputShape)];
  },
});

/** A broadcast view of `x` with `shape` (-1 keeps a dimension); no copy. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.ndim) {
    throw new RangeError(
      `expand: target ${shapeToString(shape)} has fewer dims than the input ${shapeToString(x.shape)}`,
    );
  }
  const lead = shape.length - x.ndim;
  const target = shape.map((size, d) => {
    const own = d >= lead ? x.shape[d - lead] : undefined;
    if (size === -1) {
      if (own === undefined) throw new RangeError(`expand: -1 is not allowed for the new leading dim ${d}`);
      return own;
    }
    if (own !== undefined && own !== size && own !== 1) {
      throw new RangeError(
        `expand: the expanded size ${size} must match the existing size ${own} at dim ${d} (input ${shapeToString(x.shape)}, target ${shapeToString(shape)})`,
      );
    }
    return size;
  });
  if (shapesEqual(target, x.shape)) return x;
  return Expand.apply(x, target);
}

// ---------------------------------------------------------------- slicing

/** Per dimension: an index (drops the dim), null (all of it), or [start, end, step?] with Python semantics. */
export type SliceSpec =
  number | null | undefined | readonly [number | null | undefined, (number | null)?, number?];

function sliceGeometry(
  shape: Shape,
  strides: readonly number[],
  offset: number,
  specs: readonly SliceSpec[],
): Geometry {
  if (specs.length > shape.length) {
    throw new RangeError(
      `slice: ${specs.length} index specs for a tensor of rank ${shape.length} (shape ${shapeToString(shape)})`,
    );
  }
  const outShape: number[] = [];
  const outStrides: number[] = [];
  let off = offset;
  for (let d = 0; d < shape.length; d++) {
    const spec = specs[d];
    const size = shape[d];
    if (spec === null || spec === undefined) {
      outShape.push(size);
      outStrides.push(strides[d]);
    } else if (typeof spec === "number") {
      if (!Number.isInteger(spec) || spec < -size || spec >= size) {
        throw new RangeError(`slice: index ${spec} is out of range for dim ${d} of size ${size}`);
      }
      off += (spec < 0 ? spec + size : spec) * strides[d];
    } else if (Array.isArray(spec)) {
      const step = spec[2] ?? 1;
      if (!Number.isInteger(step) || step <= 0)
        throw new RangeError(`slice: step must be a positive integer, got ${step} at dim ${d}`);
      const clamp = (v: number | null | undefined, dflt: number) => {
        if (v === null || v === undefined) return dflt;
        if (!Number.isInteger(v)) throw new RangeError(`slice: bound ${v} at dim ${d} is not an integer`);
        const w = v < 0 ? v + size : v;
        return Math.min(Math.max(w, 0), size);
      };
      const start = clamp(spec[0], 0);
      const end = clamp(spec[1], size);
      const len = end > start ? Math.ceil((end - start) / step) : 0;
      off += start * strides[d];
      outShape.push(len);
      outStrides.push(strides[d] * step);
    } else {
      throw new TypeError(
        `slice: spec for dim ${d} must be a number, null or [start, end, step], got ${JSON.stringify(spec)}`,
      );
    }
  }
  return { shape: outShape, strides: outStrides, offset: off };
}

const Slice = defineOp({
  name: "slice",
  forward(
    ctx: Ctx<{ inputShape: Shape; specs: readonly SliceSpec[] }>,
    x: Tensor,
    specs: readonly SliceSpec[],
  ) {
    ctx.inputShape = x.shape;
    ctx.specs = specs;
    return viewOf(x, sliceGeometry(x.shape, x.strides, x.offset, specs));
  },
  backward(ctx, g) {
    const shape = ctx.inputShape;
    return [scatterGradient(shape, sliceGeometry(shape, contiguousStrides(shape), 0, ctx.specs), g)];
  },
});

/** `x.slice(null, [1, 3])` is PyTorch's `x[:, 1:3]`; a number selects (and drops) a dimension. */
export function slice(x: Tensor, ...specs: SliceSpec[]): Tensor {
  return Slice.apply(x, specs);
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim(dim, x.ndim, "narrow");
  const size = x.shape[d];
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > size) {
    throw new RangeError(`narrow: start ${start} + length ${length} exceeds dim ${d} of size ${size}`);
  }
  const specs: SliceSpec[] = x.shape.map(() => null);
  specs[d] = [s, s + length];
  return slice(x, ...specs);
}

export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normalizeDim(dim, x.ndim, "select");
  const specs: SliceSpec[] = x.shape.map(() => null);
  specs[d] = index;
  return composite("SelectBackward", () => slice(x, ...specs));
}

// ---------------------------------------------------------------- copies

const Copy = defineOp({
  name: "clone",
  forward(_ctx, x: Tensor) {
    const data = contiguousData(x);
    return Tensor.fromData(data === x.storage.data || x.isContiguous() ? data.slice() : data, x.shape);
  },
  backward(_ctx, g) {
    return [g];
  },
});

/** A copy with its own storage (differentiable). */
export function clone(x: Tensor): Tensor {
  return Copy.apply(x);
}

/** `x` itself when contiguous, else a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  return x.isContiguous() ? x : Copy.apply(x);
}

/** A tensor with the same values in fresh storage, detached from the graph (for internal use). */
export function materialize(x: Tensor): Tensor {
  const out = allocate(x.dtype, x.numel());
  out.set(contiguousData(x));
  return Tensor.fromData(out, x.shape);
}
