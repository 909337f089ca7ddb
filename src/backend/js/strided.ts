import type { TypedArray } from "../../tensor/dtype.js";

/** A strided read-only window on a typed array (what a tensor view is, minus autograd). */
export interface StridedView {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Visits every element of `shape` in row-major order, walking up to three stride sets in step.
 * `inner(count, pa, pb, pc, sa, sb, sc, start)` handles one run along the last dimension.
 */
export function walk3(
  shape: readonly number[],
  sa: readonly number[],
  oa: number,
  sb: readonly number[],
  ob: number,
  sc: readonly number[],
  oc: number,
  inner: (
    count: number,
    pa: number,
    pb: number,
    pc: number,
    da: number,
    db: number,
    dc: number,
    start: number,
  ) => void,
): void {
  const rank = shape.length;
  if (rank === 0) {
    inner(1, oa, ob, oc, 0, 0, 0, 0);
    return;
  }
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const last = rank - 1;
  const runLength = shape[last];
  const runs = total / runLength;
  const counter = new Array<number>(rank).fill(0);
  let pa = oa;
  let pb = ob;
  let pc = oc;
  for (let r = 0; r < runs; r++) {
    inner(runLength, pa, pb, pc, sa[last], sb[last], sc[last], r * runLength);
    for (let d = last - 1; d >= 0; d--) {
      counter[d]++;
      pa += sa[d];
      pb += sb[d];
      pc += sc[d];
      if (counter[d] < shape[d]) break;
      pa -= counter[d] * sa[d];
      pb -= counter[d] * sb[d];
      pc -= counter[d] * sc[d];
      counter[d] = 0;
    }
  }
}

/** Copies a strided view into a contiguous array `out` (casting to out's element type). */
export function copyToContiguous(src: StridedView, out: TypedArray): void {
  const data = src.data;
  if (src.shape.length === 2 && src.strides[1] !== 1 && src.shape[0] * src.shape[1] >= 4096) {
    copyTiled2d(src, out);
    return;
  }
  walk3(
    src.shape,
    src.strides,
    src.offset,
    src.strides,
    0,
    src.strides,
    0,
    (count, pa, _pb, _pc, da, _db, _dc, start) => {
      for (let i = 0; i < count; i++) out[start + i] = data[pa + i * da];
    },
  );
}

/** out[i] = f(src[i]) over a strided source, writing contiguously. */
export function mapUnary(src: StridedView, out: TypedArray, f: (x: number) => number): void {
  const data = src.data;
  walk3(
    src.shape,
    src.strides,
    src.offset,
    src.strides,
    0,
    src.strides,
    0,
    (count, pa, _pb, _pc, da, _db, _dc, start) => {
      for (let i = 0; i < count; i++) out[start + i] = f(data[pa + i * da]);
    },
  );
}

/** out = f(a, b) with a and b already broadcast to `shape` (zero strides where broadcast). */
export function mapBinary(
  shape: readonly number[],
  a: TypedArray,
  aStrides: readonly number[],
  aOffset: number,
  b: TypedArray,
  bStrides: readonly number[],
  bOffset: number,
  out: TypedArray,
  f: (x: number, y: number) => number,
): void {
  walk3(
    shape,
    aStrides,
    aOffset,
    bStrides,
    bOffset,
    aStrides,
    0,
    (count, pa, pb, _pc, da, db, _dc, start) => {
      for (let i = 0; i < count; i++) out[start + i] = f(a[pa + i * da], b[pb + i * db]);
    },
  );
}

/** out = f(c, a, b) for a ternary select-like op, all broadcast to `shape`. */
export function mapTernary(
  shape: readonly number[],
  c: StridedView,
  cStrides: readonly number[],
  a: StridedView,
  aStrides: readonly number[],
  b: StridedView,
  bStrides: readonly number[],
  out: TypedArray,
  f: (c: number, a: number, b: number) => number,
): void {
  const cd = c.data;
  const ad = a.data;
  const bd = b.data;
  walk3(
    shape,
    cStrides,
    c.offset,
    aStrides,
    a.offset,
    bStrides,
    b.offset,
    (count, pc, pa, pb, dc, da, db, start) => {
      for (let i = 0; i < count; i++) out[start + i] = f(cd[pc + i * dc], ad[pa + i * da], bd[pb + i * db]);
    },
  );
}

/**
 * copyToContiguous for a 2-d view whose rows are not contiguous (typically a transpose): copies
 * 32×32 tiles so that the strided reads stay within cache.
 */
function copyTiled2d(src: StridedView, out: TypedArray): void {
  const data = src.data;
  const [rows, cols] = src.shape;
  const [s0, s1] = src.strides;
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(rows, i0 + T);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(cols, j0 + T);
      for (let i = i0; i < i1; i++) {
        const o = i * cols;
        const p = src.offset + i * s0;
        for (let j = j0; j < j1; j++) out[o + j] = data[p + j * s1];
      }
    }
  }
}
