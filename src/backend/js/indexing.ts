/**
 * Index kernels (the JavaScript reference), each forward next to the kernel its backward uses:
 * concatenation and constant padding (whose backward ops are views), index_select and its adjoint
 * index_add along the middle axis of a contiguous [outer, size, inner] block, gather and its
 * adjoint scatter_add along one dim of contiguous arrays. Indices come checked (in range, shapes
 * compatible) from the ops in ops/indexing.ts.
 */
import type { TypedArray } from "../../tensor/dtype.js";

/**
 * Concatenation along the middle axis of [outer, ·]: part i is a contiguous [outer, rows[i]] block
 * (rows[i] = its size along the axis times the inner size), out the [outer, Σ rows] block (values
 * convert to out's type).
 */
export function cat(
  parts: readonly TypedArray[],
  rows: readonly number[],
  outer: number,
  out: TypedArray,
): void {
  let rowOut = 0;
  for (const r of rows) rowOut += r;
  let at = 0;
  parts.forEach((data, i) => {
    const rowIn = rows[i];
    for (let o = 0; o < outer; o++) out.set(data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + at);
    at += rowIn;
  });
}

/**
 * Writes contiguous `x` of shape `shape` into `out` of shape `outShape` (which holds the padding
 * value already), shifted by `before` along every dim.
 */
export function pad(
  x: ArrayLike<number>,
  shape: readonly number[],
  before: readonly number[],
  outShape: readonly number[],
  out: TypedArray,
): void {
  const rank = outShape.length;
  const outStrides = new Array<number>(rank);
  for (let d = rank - 1, st = 1; d >= 0; d--) {
    outStrides[d] = st;
    st *= outShape[d];
  }
  const counter = new Array<number>(rank).fill(0);
  let pos = 0;
  for (let d = 0; d < rank; d++) pos += before[d] * outStrides[d];
  const n = x.length;
  for (let i = 0; i < n; i++) {
    out[pos] = x[i];
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      pos += outStrides[d];
      if (counter[d] < shape[d]) break;
      pos -= counter[d] * outStrides[d];
      counter[d] = 0;
    }
  }
}

/** out[o, j, i] = x[o, idx[j], i] for x [outer, size, inner] and out [outer, idx.length, inner]. */
export function indexSelect(
  x: TypedArray,
  outer: number,
  size: number,
  inner: number,
  idx: Int32Array,
  out: TypedArray,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const s = (o * size + idx[j]) * inner;
      out.set(x.subarray(s, s + inner), (o * idx.length + j) * inner);
    }
  }
}

/** out[o, idx[j], i] += src[o, j, i]: the adjoint of indexSelect (repeated indices add up). */
export function indexAdd(
  src: ArrayLike<number>,
  outer: number,
  size: number,
  inner: number,
  idx: Int32Array,
  out: TypedArray,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const dst = (o * size + idx[j]) * inner;
      const s = (o * idx.length + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += src[s + i];
    }
  }
}

/**
 * Calls fn(position in x, position in index) for every element of a contiguous index of shape
 * `ishape`, where x's position takes the index's value along `dim` and the index's own position
 * along every other dim.
 */
function forEachIndexed(
  xShape: readonly number[],
  dim: number,
  idx: Int32Array,
  ishape: readonly number[],
  fn: (xPos: number, i: number) => void,
): void {
  const rank = ishape.length;
  const xStrides = new Array<number>(rank);
  for (let d = rank - 1, st = 1; d >= 0; d--) {
    xStrides[d] = st;
    st *= xShape[d];
  }
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < idx.length; i++) {
    let pos = 0;
    for (let d = 0; d < rank; d++) pos += (d === dim ? idx[i] : counter[d]) * xStrides[d];
    fn(pos, i);
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < ishape[d]) break;
      counter[d] = 0;
    }
  }
}

/** out[i][j] = x[idx[i][j]][j] for dim 0 (and so on): out has the index's shape `ishape`. */
export function gather(
  x: ArrayLike<number>,
  xShape: readonly number[],
  dim: number,
  idx: Int32Array,
  ishape: readonly number[],
  out: TypedArray,
): void {
  forEachIndexed(xShape, dim, idx, ishape, (p, i) => (out[i] = x[p]));
}

/**
 * out[idx[i][j]][j] += src[i][j] for dim 0 (and so on), the adjoint of gather: `out` (shape
 * `xShape`) is added into, `src` (shape `srcShape`, at least the index's along every dim) is read
 * at the index's positions.
 */
export function scatterAdd(
  out: TypedArray,
  xShape: readonly number[],
  dim: number,
  idx: Int32Array,
  ishape: readonly number[],
  src: ArrayLike<number>,
  srcShape: readonly number[],
): void {
  const rank = ishape.length;
  const srcStrides = new Array<number>(rank);
  for (let d = rank - 1, st = 1; d >= 0; d--) {
    srcStrides[d] = st;
    st *= srcShape[d];
  }
  const counter = new Array<number>(rank).fill(0);
  forEachIndexed(xShape, dim, idx, ishape, (p) => {
    let s = 0;
    for (let d = 0; d < rank; d++) s += counter[d] * srcStrides[d];
    out[p] += src[s];
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < ishape[d]) break;
      counter[d] = 0;
    }
  });
}
