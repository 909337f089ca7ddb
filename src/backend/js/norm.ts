/**
 * Normalization kernels (the JavaScript reference): per-channel moments and affine maps of a
 * contiguous [n, c, s] block and their backward (batch norm), row normalization of [rows, size]
 * (layer and group norm) and local response normalization across channels, forward and backward
 * side by side. Statistics are accumulated in float64 whatever the input's dtype.
 */
import type { FloatArray } from "../../tensor/dtype.js";

type Numbers = ArrayLike<number>;

/** Local response normalization: `size` channels in the window, scale = k + alpha/size · Σ x². */
export interface LrnConfig {
  size: number;
  alpha: number;
  beta: number;
  k: number;
}

/** Per-channel mean and biased variance of a contiguous [n, c, s] block (two passes). */
export function channelMoments(
  x: Numbers,
  n: number,
  c: number,
  s: number,
  mean: Float64Array,
  variance: Float64Array,
): void {
  const m = n * s;
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) sum += x[base + k];
    }
    const mu = sum / m;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) {
        const d = x[base + k] - mu;
        sq += d * d;
      }
    }
    mean[ch] = mu;
    variance[ch] = sq / m;
  }
}

/** out = x · scale[ch] + shift[ch] over a contiguous [n, c, s] block. */
export function channelAffine(
  x: Numbers,
  n: number,
  c: number,
  s: number,
  scale: Float64Array,
  shift: Float64Array,
  out: FloatArray,
): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const a = scale[ch];
      const b = shift[ch];
      const base = (i * c + ch) * s;
      for (let k = 0; k < s; k++) out[base + k] = x[base + k] * a + b;
    }
  }
}

/** Backward of a per-channel affine y = x·w[ch] + b[ch] over [n, c, s]: dx, Σ g·x and Σ g per channel. */
export function channelAffineBackward(
  x: Numbers,
  g: Numbers,
  n: number,
  c: number,
  s: number,
  w: Numbers | null,
  dx: FloatArray | null,
  dw: Float64Array,
  db: Float64Array,
): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * s;
      const wc = w ? w[ch] : 1;
      let a = 0;
      let b = 0;
      for (let q = 0; q < s; q++) {
        const gv = g[base + q];
        a += gv * x[base + q];
        b += gv;
        if (dx) dx[base + q] = gv * wc;
      }
      dw[ch] += a;
      db[ch] += b;
    }
  }
}

/**
 * Batch-norm backward over [n, c, s]: fills Σg and Σg·x̂ per channel and, when `dx` is given, the
 * input gradient (training: γ·invstd·(g − mean(g) − x̂·mean(g·x̂)); eval: γ·invstd·g).
 */
export function batchNormBackward(
  x: Numbers,
  g: Numbers,
  n: number,
  c: number,
  s: number,
  mean: Float64Array,
  invstd: Float64Array,
  gamma: Numbers | null,
  training: boolean,
  sumDy: Float64Array,
  sumDyXhat: Float64Array,
  dx: FloatArray | null,
): void {
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = mean[ch];
      const is = invstd[ch];
      const base = (i * c + ch) * s;
      let a = 0;
      let b = 0;
      for (let k = 0; k < s; k++) {
        const gv = g[base + k];
        a += gv;
        b += gv * (x[base + k] - mu) * is;
      }
      sumDy[ch] += a;
      sumDyXhat[ch] += b;
    }
  }
  if (!dx) return;
  const m = n * s;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const mu = mean[ch];
      const is = invstd[ch];
      const k0 = (gamma ? gamma[ch] : 1) * is;
      const base = (i * c + ch) * s;
      if (training) {
        const meanDy = sumDy[ch] / m;
        const meanDyXhat = sumDyXhat[ch] / m;
        for (let k = 0; k < s; k++) {
          const xhat = (x[base + k] - mu) * is;
          dx[base + k] = k0 * (g[base + k] - meanDy - xhat * meanDyXhat);
        }
      } else {
        for (let k = 0; k < s; k++) dx[base + k] = k0 * g[base + k];
      }
    }
  }
}

/** Normalizes each row of a contiguous [rows, size] block (biased variance); keeps x̂ and 1/σ. */
export function rowNormalize(
  x: Numbers,
  rows: number,
  size: number,
  eps: number,
  out: FloatArray,
  xhat: Float64Array,
  invstd: Float64Array,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    let sum = 0;
    for (let k = 0; k < size; k++) sum += x[base + k];
    const mu = sum / size;
    let sq = 0;
    for (let k = 0; k < size; k++) {
      const d = x[base + k] - mu;
      sq += d * d;
    }
    const is = 1 / Math.sqrt(sq / size + eps);
    invstd[r] = is;
    for (let k = 0; k < size; k++) {
      const v = (x[base + k] - mu) * is;
      xhat[base + k] = v;
      out[base + k] = v;
    }
  }
}

/** Backward of the row normalization: dx = (1/σ)(g − mean(g) − x̂·mean(g·x̂)) per row. */
export function rowNormalizeBackward(
  g: Numbers,
  xhat: Float64Array,
  invstd: Float64Array,
  rows: number,
  size: number,
  dx: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    let a = 0;
    let b = 0;
    for (let k = 0; k < size; k++) {
      a += g[base + k];
      b += g[base + k] * xhat[base + k];
    }
    a /= size;
    b /= size;
    const is = invstd[r];
    for (let k = 0; k < size; k++) dx[base + k] = is * (g[base + k] - a - xhat[base + k] * b);
  }
}

/**
 * Local response normalization of a contiguous [n, c, s] block: scale = k + alpha/size · Σ x² over
 * the channel window [ch − ⌊size/2⌋, ch + ⌊(size−1)/2⌋] (zero outside), out = x · scale^−beta.
 * Keeps `scale` and `scale^−beta` for the backward.
 */
export function lrn(
  x: Numbers,
  n: number,
  c: number,
  s: number,
  cfg: LrnConfig,
  out: FloatArray,
  scale: Float64Array,
  powed: Float64Array,
): void {
  const before = Math.floor(cfg.size / 2);
  const after = Math.floor((cfg.size - 1) / 2);
  const coef = cfg.alpha / cfg.size;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * s;
      for (let q = 0; q < s; q++) scale[base + q] = 0;
      const lo = Math.max(0, ch - before);
      const hi = Math.min(c - 1, ch + after);
      for (let cc = lo; cc <= hi; cc++) {
        const src = (i * c + cc) * s;
        for (let q = 0; q < s; q++) scale[base + q] += x[src + q] * x[src + q];
      }
      for (let q = 0; q < s; q++) {
        const v = cfg.k + coef * scale[base + q];
        scale[base + q] = v;
        const pw = Math.pow(v, -cfg.beta);
        powed[base + q] = pw;
        out[base + q] = x[base + q] * pw;
      }
    }
  }
}

/**
 * Backward of `lrn`: dx_c = g_c·scale_c^−beta − (2·alpha·beta/size)·x_c·Σ g_j x_j scale_j^(−beta−1)
 * over the channels j whose window contains c.
 */
export function lrnBackward(
  x: Numbers,
  g: Numbers,
  n: number,
  c: number,
  s: number,
  cfg: LrnConfig,
  scale: Float64Array,
  powed: Float64Array,
  dx: FloatArray,
): void {
  const before = Math.floor(cfg.size / 2);
  const after = Math.floor((cfg.size - 1) / 2);
  const coef = (2 * cfg.alpha * cfg.beta) / cfg.size;
  const t = new Float64Array(c * s);
  const acc = new Float64Array(s);
  for (let i = 0; i < n; i++) {
    const off = i * c * s;
    for (let q = 0; q < c * s; q++) t[q] = (g[off + q] * x[off + q] * powed[off + q]) / scale[off + q];
    for (let ch = 0; ch < c; ch++) {
      acc.fill(0);
      const lo = Math.max(0, ch - after);
      const hi = Math.min(c - 1, ch + before);
      for (let j = lo; j <= hi; j++) {
        const src = j * s;
        for (let q = 0; q < s; q++) acc[q] += t[src + q];
      }
      const base = off + ch * s;
      for (let q = 0; q < s; q++) dx[base + q] = g[base + q] * powed[base + q] - coef * x[base + q] * acc[q];
    }
  }
}
