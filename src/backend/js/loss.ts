/**
 * Loss kernels (the JavaScript reference), forward and backward side by side: negative
 * log-likelihood over class-index targets (x a contiguous [n, classes, spatial] block, t the
 * [n·spatial] targets) and the multiclass SVM (hinge) loss over [n, c]. Per-sample losses are
 * float64; the upstream gradient `g` is per sample when `perSample`, else g[0] for every sample.
 */
import type { FloatArray } from "../../tensor/dtype.js";

/** Class-index targets: `classes` in dim 1 of x [n, classes, spatial]; targets equal to `ignore` count for nothing. */
export interface NllLayout {
  classes: number;
  spatial: number;
  ignore: number;
}

/** The multiclass SVM over x [n, c]: Σ_{j≠y} max(0, margin − x_y + x_j)^p. */
export interface MarginLayout {
  n: number;
  c: number;
  margin: number;
  p: number;
}

/** Per-sample −w[t]·x[t] and the weights used (0 for ignored samples). */
export function nllLoss(
  x: ArrayLike<number>,
  t: Int32Array,
  w: ArrayLike<number> | null,
  l: NllLayout,
  loss: Float64Array,
  sampleWeight: Float64Array,
): void {
  const { classes, spatial, ignore } = l;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === ignore) continue;
    const n = Math.floor(i / spatial);
    const s = i - n * spatial;
    const wi = w ? w[c] : 1;
    sampleWeight[i] = wi;
    loss[i] = -wi * x[(n * classes + c) * spatial + s];
  }
}

/** dx[t] = −w[t]·g_i where g_i is the upstream gradient of sample i (dx holds zeros elsewhere). */
export function nllLossBackward(
  t: Int32Array,
  sampleWeight: Float64Array,
  g: ArrayLike<number>,
  perSample: boolean,
  l: NllLayout,
  dx: FloatArray,
): void {
  const { classes, spatial, ignore } = l;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c === ignore) continue;
    const n = Math.floor(i / spatial);
    const s = i - n * spatial;
    dx[(n * classes + c) * spatial + s] = -sampleWeight[i] * (perSample ? g[i] : g[0]);
  }
}

/** Per-sample w[y]·Σ_{j≠y} max(0, margin − x_y + x_j)^p / C over a contiguous [n, c] block. */
export function multiMarginLoss(
  x: ArrayLike<number>,
  t: Int32Array,
  w: ArrayLike<number> | null,
  cfg: MarginLayout,
  loss: Float64Array,
): void {
  const { n, c, margin, p } = cfg;
  for (let i = 0; i < n; i++) {
    const y = t[i];
    const sy = x[i * c + y];
    let s = 0;
    for (let j = 0; j < c; j++) {
      if (j === y) continue;
      const m = margin - sy + x[i * c + j];
      if (m > 0) s += p === 1 ? m : m * m;
    }
    loss[i] = ((w ? w[y] : 1) * s) / c;
  }
}

/** Gradient of the SVM loss: each active margin adds to x_j and subtracts from x_y. */
export function multiMarginLossBackward(
  x: ArrayLike<number>,
  t: Int32Array,
  w: ArrayLike<number> | null,
  cfg: MarginLayout,
  g: ArrayLike<number>,
  perSample: boolean,
  dx: FloatArray,
): void {
  const { n, c, margin, p } = cfg;
  for (let i = 0; i < n; i++) {
    const y = t[i];
    const scale = ((perSample ? g[i] : g[0]) * (w ? w[y] : 1)) / c;
    const sy = x[i * c + y];
    for (let j = 0; j < c; j++) {
      if (j === y) continue;
      const m = margin - sy + x[i * c + j];
      if (m > 0) {
        const d = scale * (p === 1 ? 1 : 2 * m);
        dx[i * c + j] += d;
        dx[i * c + y] -= d;
      }
    }
  }
}
