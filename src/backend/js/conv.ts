/**
 * Reference convolution kernels on typed arrays: im2col, its adjoint col2im (a direct scatter-add),
 * the layout shuffles around the GEMM, and the naive loop convolution kept for teaching.
 */
import type { Conv2dBackwardKernel, Conv2dForwardKernel, Im2colArgs } from "../backend.js";
import type { FloatArray } from "../../tensor/dtype.js";

/** Output columns ox whose input column ix0 + ox*sw lies inside [0, w): [lo, hi). */
function validRange(ix0: number, sw: number, w: number, wo: number): [number, number] {
  const lo = ix0 >= 0 ? 0 : Math.min(wo, Math.ceil(-ix0 / sw));
  const hi = ix0 > w - 1 ? 0 : Math.min(wo, Math.floor((w - 1 - ix0) / sw) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Unfolds image patches into columns (see Im2colArgs for the layout). */
export function im2col(a: Im2colArgs): void {
  const { x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, rowStride, posStride, imgStride } = a;
  const plane = h * w;
  for (let ci = 0; ci < c; ci++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const rowBase = ((ci * kh + ki) * kw + kj) * rowStride;
        const ix0 = kj * dw - pw;
        const [lo, hi] = validRange(ix0, sw, w, wo);
        for (let img = 0; img < n; img++) {
          const xBase = (img * c + ci) * plane;
          const colBase = rowBase + img * imgStride;
          for (let oy = 0; oy < ho; oy++) {
            const iy = oy * sh - ph + ki * dh;
            const dst = colBase + oy * wo * posStride;
            if (iy < 0 || iy >= h) {
              for (let ox = 0, d = dst; ox < wo; ox++, d += posStride) cols[d] = 0;
              continue;
            }
            for (let ox = 0, d = dst; ox < lo; ox++, d += posStride) cols[d] = 0;
            for (let ox = lo, d = dst + lo * posStride, s = xBase + iy * w + ix0 + lo * sw; ox < hi; ox++) {
              cols[d] = x[s];
              d += posStride;
              s += sw;
            }
            for (let ox = hi, d = dst + hi * posStride; ox < wo; ox++, d += posStride) cols[d] = 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds every column entry back into the image position it came from. */
export function col2im(a: Im2colArgs): void {
  const { x, cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, rowStride, posStride, imgStride } = a;
  const plane = h * w;
  for (let ci = 0; ci < c; ci++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const rowBase = ((ci * kh + ki) * kw + kj) * rowStride;
        const ix0 = kj * dw - pw;
        const [lo, hi] = validRange(ix0, sw, w, wo);
        for (let img = 0; img < n; img++) {
          const xBase = (img * c + ci) * plane;
          const colBase = rowBase + img * imgStride;
          for (let oy = 0; oy < ho; oy++) {
            const iy = oy * sh - ph + ki * dh;
            if (iy < 0 || iy >= h) continue;
            for (
              let ox = lo, src = colBase + (oy * wo + lo) * posStride, d = xBase + iy * w + ix0 + lo * sw;
              ox < hi;
              ox++
            ) {
              x[d] += cols[src];
              src += posStride;
              d += sw;
            }
          }
        }
      }
    }
  }
}

/**
 * [c, n, l] (the GEMM's output for a chunk of n images) → images [n, c, l] at `dst`,
 * adding `bias[c]` when given.
 */
export function cnlToNcl(
  src: FloatArray,
  dst: FloatArray,
  c: number,
  n: number,
  l: number,
  bias: FloatArray | null,
): void {
  for (let ci = 0; ci < c; ci++) {
    const b = bias ? bias[ci] : 0;
    for (let i = 0; i < n; i++) {
      const s = (ci * n + i) * l;
      const d = (i * c + ci) * l;
      for (let p = 0; p < l; p++) dst[d + p] = src[s + p] + b;
    }
  }
}

/** Images [n, c, l] → [c, n, l]. */
export function nclToCnl(src: FloatArray, dst: FloatArray, n: number, c: number, l: number): void {
  for (let i = 0; i < n; i++) {
    for (let ci = 0; ci < c; ci++) {
      const s = (i * c + ci) * l;
      const d = (ci * n + i) * l;
      for (let p = 0; p < l; p++) dst[d + p] = src[s + p];
    }
  }
}

/** Adds the sum over images and positions of g [n, c, l] into out[c]. */
export function sumNcl(g: FloatArray, out: FloatArray, n: number, c: number, l: number): void {
  for (let i = 0; i < n; i++) {
    for (let ci = 0; ci < c; ci++) {
      const base = (i * c + ci) * l;
      let s = 0;
      for (let p = 0; p < l; p++) s += g[base + p];
      out[ci] += s;
    }
  }
}

export type { ConvGeometry } from "../backend.js";

/**
 * The straightforward convolution: for every output value, a dot product of the filter with the
 * input window it covers (the notes' naive forward pass). `out` is [n, cout, ho, wo].
 */
export const conv2dNaiveForward: Conv2dForwardKernel = (x, weight, bias, out, g) => {
  const { n, c, h, w, cout, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo } = g;
  const cg = c / groups;
  const coutG = cout / groups;
  for (let img = 0; img < n; img++) {
    for (let f = 0; f < cout; f++) {
      const c0 = Math.floor(f / coutG) * cg;
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let s = bias ? bias[f] : 0;
          for (let cc = 0; cc < cg; cc++) {
            for (let ki = 0; ki < kh; ki++) {
              const iy = oy * sh - ph + ki * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kj = 0; kj < kw; kj++) {
                const ix = ox * sw - pw + kj * dw;
                if (ix < 0 || ix >= w) continue;
                s += x[((img * c + c0 + cc) * h + iy) * w + ix] * weight[((f * cg + cc) * kh + ki) * kw + kj];
              }
            }
          }
          out[((img * cout + f) * ho + oy) * wo + ox] = s;
        }
      }
    }
  }
};

/**
 * Backward of the naive convolution: every output gradient value flows back to the input window
 * (scaled by the filter) and to the filter (scaled by the window). dx, dw, db are accumulated
 * (pass zeroed arrays) and may be null when not needed.
 */
export const conv2dNaiveBackward: Conv2dBackwardKernel = (x, weight, gOut, dx, dWeight, dBias, g) => {
  const { n, c, h, w, cout, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo } = g;
  const cg = c / groups;
  const coutG = cout / groups;
  for (let img = 0; img < n; img++) {
    for (let f = 0; f < cout; f++) {
      const c0 = Math.floor(f / coutG) * cg;
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const go = gOut[((img * cout + f) * ho + oy) * wo + ox];
          if (dBias) dBias[f] += go;
          for (let cc = 0; cc < cg; cc++) {
            for (let ki = 0; ki < kh; ki++) {
              const iy = oy * sh - ph + ki * dh;
              if (iy < 0 || iy >= h) continue;
              for (let kj = 0; kj < kw; kj++) {
                const ix = ox * sw - pw + kj * dw;
                if (ix < 0 || ix >= w) continue;
                const xi = ((img * c + c0 + cc) * h + iy) * w + ix;
                const wi = ((f * cg + cc) * kh + ki) * kw + kj;
                if (dx) dx[xi] += go * weight[wi];
                if (dWeight) dWeight[wi] += go * x[xi];
              }
            }
          }
        }
      }
    }
  }
};
