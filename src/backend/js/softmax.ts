/**
 * Softmax and log-softmax kernels (the JavaScript reference) along the middle axis of a contiguous
 * [outer, size, inner] block, forward and backward side by side.
 */
import type { FloatArray } from "../../tensor/dtype.js";

/** The block [outer, size, inner] reduced along its middle axis, and which of the two functions. */
export interface SoftmaxLayout {
  outer: number;
  size: number;
  inner: number;
  /** log-softmax instead of softmax */
  log: boolean;
}

/**
 * Softmax (or log-softmax) of a contiguous [outer, size, inner] block along the middle axis,
 * subtracting the maximum first for stability.
 */
export function softmax(x: ArrayLike<number>, out: FloatArray, l: SoftmaxLayout): void {
  const { outer, size, inner, log } = l;
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    for (let i = 0; i < inner; i++) {
      const start = base + i;
      let m = -Infinity;
      for (let k = 0, p = start; k < size; k++, p += inner) if (x[p] > m) m = x[p];
      if (m === -Infinity || Number.isNaN(m)) m = 0;
      let s = 0;
      if (log) {
        for (let k = 0, p = start; k < size; k++, p += inner) s += Math.exp(x[p] - m);
        const lse = m + Math.log(s);
        for (let k = 0, p = start; k < size; k++, p += inner) out[p] = x[p] - lse;
      } else {
        // exp once, into the output, then normalize (the sum is taken in double precision)
        for (let k = 0, p = start; k < size; k++, p += inner) {
          const e = Math.exp(x[p] - m);
          out[p] = e;
          s += e;
        }
        const inv = 1 / s;
        for (let k = 0, p = start; k < size; k++, p += inner) out[p] *= inv;
      }
    }
  }
}

/**
 * Backward of softmax: dx = y (g - Σ g y); of log-softmax: dx = g - exp(y) Σ g, both along the
 * middle axis of [outer, size, inner].
 */
export function softmaxBackward(
  y: ArrayLike<number>,
  g: ArrayLike<number>,
  dx: FloatArray,
  l: SoftmaxLayout,
): void {
  const { outer, size, inner, log } = l;
  for (let o = 0; o < outer; o++) {
    const base = o * size * inner;
    for (let i = 0; i < inner; i++) {
      const start = base + i;
      let s = 0;
      if (log) {
        for (let k = 0, p = start; k < size; k++, p += inner) s += g[p];
        for (let k = 0, p = start; k < size; k++, p += inner) dx[p] = g[p] - Math.exp(y[p]) * s;
      } else {
        for (let k = 0, p = start; k < size; k++, p += inner) s += g[p] * y[p];
        for (let k = 0, p = start; k < size; k++, p += inner) dx[p] = y[p] * (g[p] - s);
      }
    }
  }
}
