/**
 * Reference pooling kernels on typed arrays. Every plane (image, channel) is pooled on its own;
 * padding is implicit (never a maximum; counted or not for averages).
 */
import type { MaxPool2dArgs, Pool2dArgs } from "../backend.js";
import type { FloatArray } from "../../tensor/dtype.js";

/**
 * Max pooling; records in `indices` the flat per-plane position (iy*w + ix) of each maximum
 * (the first one in row-major order on ties; a NaN wins, as in PyTorch).
 */
export function maxPool2d(a: MaxPool2dArgs): void {
  const { x, out, indices, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo } = a;
  const planes = n * c;
  const plane = h * w;
  for (let p = 0; p < planes; p++) {
    const xBase = p * plane;
    const oBase = p * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - ph;
      for (let ox = 0; ox < wo; ox++) {
        const x0 = ox * sw - pw;
        let best = -Infinity;
        let bestIdx = -1;
        for (let ki = 0; ki < kh; ki++) {
          const iy = y0 + ki * dh;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = x0 + kj * dw;
            if (ix < 0 || ix >= w) continue;
            const v = x[xBase + iy * w + ix];
            if (v > best || Number.isNaN(v) || bestIdx < 0) {
              best = v;
              bestIdx = iy * w + ix;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        out[oBase + oy * wo + ox] = best;
        indices[oBase + oy * wo + ox] = bestIdx;
      }
    }
  }
}

/** Routes each output gradient (`out`) to its maximum in the input gradient (`x`, accumulated). */
export function maxPool2dBackward(a: MaxPool2dArgs): void {
  const { x, out, indices, n, c, h, w, ho, wo } = a;
  const planes = n * c;
  const plane = h * w;
  const oPlane = ho * wo;
  for (let p = 0; p < planes; p++) {
    const xBase = p * plane;
    const oBase = p * oPlane;
    for (let q = 0; q < oPlane; q++) x[xBase + indices[oBase + q]] += out[oBase + q];
  }
}

/** The window [start, end) clipped to the image, and the divisor PyTorch uses for it. */
function windowDivisor(
  y0: number,
  x0: number,
  a: Pool2dArgs,
  countIncludePad: boolean,
): { ys: number; ye: number; xs: number; xe: number; div: number } {
  const { h, w, kh, kw, ph, pw } = a;
  const yeP = Math.min(y0 + kh, h + ph);
  const xeP = Math.min(x0 + kw, w + pw);
  const padded = (yeP - y0) * (xeP - x0);
  const ys = Math.max(y0, 0);
  const xs = Math.max(x0, 0);
  const ye = Math.min(y0 + kh, h);
  const xe = Math.min(x0 + kw, w);
  return { ys, ye, xs, xe, div: countIncludePad ? padded : (ye - ys) * (xe - xs) };
}

/** Average pooling. */
export function avgPool2d(a: Pool2dArgs & { countIncludePad: boolean }): void {
  const { x, out, n, c, h, w, sh, sw, ph, pw, ho, wo, countIncludePad } = a;
  const planes = n * c;
  const plane = h * w;
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) {
      const { ys, ye, xs, xe, div } = windowDivisor(oy * sh - ph, ox * sw - pw, a, countIncludePad);
      for (let p = 0; p < planes; p++) {
        const xBase = p * plane;
        let s = 0;
        for (let iy = ys; iy < ye; iy++) for (let ix = xs; ix < xe; ix++) s += x[xBase + iy * w + ix];
        out[(p * ho + oy) * wo + ox] = s / div;
      }
    }
  }
}

/** Spreads each output gradient (`out`) evenly over its window in the input gradient (`x`, accumulated). */
export function avgPool2dBackward(a: Pool2dArgs & { countIncludePad: boolean }): void {
  const { x, out, n, c, h, w, sh, sw, ph, pw, ho, wo, countIncludePad } = a;
  const planes = n * c;
  const plane = h * w;
  for (let oy = 0; oy < ho; oy++) {
    for (let ox = 0; ox < wo; ox++) {
      const { ys, ye, xs, xe, div } = windowDivisor(oy * sh - ph, ox * sw - pw, a, countIncludePad);
      for (let p = 0; p < planes; p++) {
        const xBase = p * plane;
        const g = out[(p * ho + oy) * wo + ox] / div;
        for (let iy = ys; iy < ye; iy++) for (let ix = xs; ix < xe; ix++) x[xBase + iy * w + ix] += g;
      }
    }
  }
}

/** Start (floor) and end (ceil) of adaptive bin i of `out` bins over `size` inputs (PyTorch's rule). */
export function adaptiveRange(i: number, out: number, size: number): [number, number] {
  return [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
}

/**
 * Adaptive average pooling of `planes` planes [h, w] into [ho, wo]; with `backward` true, spreads
 * `out` (the output gradient) into `x` (accumulated) instead.
 */
export function adaptiveAvgPool2d(
  x: FloatArray,
  out: FloatArray,
  planes: number,
  h: number,
  w: number,
  ho: number,
  wo: number,
  backward: boolean,
): void {
  const plane = h * w;
  for (let oy = 0; oy < ho; oy++) {
    const [ys, ye] = adaptiveRange(oy, ho, h);
    for (let ox = 0; ox < wo; ox++) {
      const [xs, xe] = adaptiveRange(ox, wo, w);
      const div = (ye - ys) * (xe - xs);
      for (let p = 0; p < planes; p++) {
        const xBase = p * plane;
        const o = (p * ho + oy) * wo + ox;
        if (backward) {
          const g = out[o] / div;
          for (let iy = ys; iy < ye; iy++) for (let ix = xs; ix < xe; ix++) x[xBase + iy * w + ix] += g;
        } else {
          let s = 0;
          for (let iy = ys; iy < ye; iy++) for (let ix = xs; ix < xe; ix++) s += x[xBase + iy * w + ix];
          out[o] = s / div;
        }
      }
    }
  }
}
