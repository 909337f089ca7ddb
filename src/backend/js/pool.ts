/**
 * Reference pooling kernels on typed arrays. Every plane (image, channel) is pooled on its own;
 * padding is implicit (never a maximum; counted or not for averages).
 */
import type { MaxPool2dArgs, Pool2dArgs, Window2d } from "../backend.js";
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

/**
 * Per output row (or column) along one dimension: the window [start, end) clipped to the input,
 * and its length counted PyTorch's way (up to the padded edge when padding counts).
 */
function windows1d(
  outSize: number,
  size: number,
  k: number,
  s: number,
  p: number,
  countIncludePad: boolean,
): { start: Int32Array; end: Int32Array; len: Int32Array } {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  const len = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const s0 = o * s - p;
    const endPadded = Math.min(s0 + k, size + p);
    start[o] = Math.max(s0, 0);
    end[o] = Math.min(s0 + k, size);
    len[o] = countIncludePad ? endPadded - s0 : end[o] - start[o];
  }
  return { start, end, len };
}

/**
 * Average pooling (`backward` false: x → out) or its adjoint (`backward` true: spreads the output
 * gradient `out` evenly over each window into the input gradient `x`, accumulated).
 */
function avgPool(a: Pool2dArgs & { countIncludePad: boolean }, backward: boolean): void {
  const { x, out, n, c, h, w, kh, kw, sh, sw, ph, pw, ho, wo, countIncludePad } = a;
  const rows = windows1d(ho, h, kh, sh, ph, countIncludePad);
  const cols = windows1d(wo, w, kw, sw, pw, countIncludePad);
  const planes = n * c;
  const plane = h * w;
  for (let p = 0; p < planes; p++) {
    const xBase = p * plane;
    const oBase = p * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const ys = rows.start[oy];
      const ye = rows.end[oy];
      for (let ox = 0; ox < wo; ox++) {
        const xs = cols.start[ox];
        const xe = cols.end[ox];
        const div = rows.len[oy] * cols.len[ox];
        const o = oBase + oy * wo + ox;
        if (backward) {
          const g = out[o] / div;
          for (let iy = ys; iy < ye; iy++) {
            const row = xBase + iy * w;
            for (let ix = xs; ix < xe; ix++) x[row + ix] += g;
          }
        } else {
          let sum = 0;
          for (let iy = ys; iy < ye; iy++) {
            const row = xBase + iy * w;
            for (let ix = xs; ix < xe; ix++) sum += x[row + ix];
          }
          out[o] = sum / div;
        }
      }
    }
  }
}

/** Average pooling; the divisor counts padding when `countIncludePad` (PyTorch's rule). */
export function avgPool2d(a: Pool2dArgs & { countIncludePad: boolean }): void {
  avgPool(a, false);
}

/** Spreads each output gradient (`out`) evenly over its window in the input gradient (`x`, accumulated). */
export function avgPool2dBackward(a: Pool2dArgs & { countIncludePad: boolean }): void {
  avgPool(a, true);
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
  for (let p = 0; p < planes; p++) {
    const xBase = p * plane;
    for (let oy = 0; oy < ho; oy++) {
      const [ys, ye] = adaptiveRange(oy, ho, h);
      for (let ox = 0; ox < wo; ox++) {
        const [xs, xe] = adaptiveRange(ox, wo, w);
        const div = (ye - ys) * (xe - xs);
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

/**
 * Whether max pooling's windows tile its input: stride equal to the kernel, no padding or
 * dilation, and the windows covering every row and column, so that each input element lies in
 * exactly one window (what the fused ReLU + max-pool kernels need).
 */
export function windowsTile(a: Window2d): boolean {
  return (
    a.sh === a.kh &&
    a.sw === a.kw &&
    a.ph === 0 &&
    a.pw === 0 &&
    a.dh === 1 &&
    a.dw === 1 &&
    a.ho * a.kh === a.h &&
    a.wo * a.kw === a.w
  );
}

/** Whether the sign bit of element i of a float array is set (also for NaN). */
function signBitReader(x: FloatArray): (i: number) => boolean {
  if (x instanceof Float32Array) {
    const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
    return (i) => bits[i] < 0;
  }
  const bits = new Int32Array(x.buffer, x.byteOffset, 2 * x.length);
  const high = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
  return (i) => bits[2 * i + high] < 0;
}

/**
 * Max pooling of relu(x) without storing relu(x), for windows that tile the input (windowsTile):
 * the outputs and indices maxPool2d gives on the ReLU kernels' output (a value whose sign bit is
 * set counts as +0).
 */
export function reluMaxPool2d(a: MaxPool2dArgs): void {
  if (!windowsTile(a)) throw new RangeError("reluMaxPool2d: the windows must tile the input");
  const { x, out, indices, n, c, h, w, kh, kw, ho, wo } = a;
  const negative = signBitReader(x);
  const plane = h * w;
  for (let p = 0; p < n * c; p++) {
    const xBase = p * plane;
    const oBase = p * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let best = -Infinity;
        let bestIdx = -1;
        for (let ki = 0; ki < kh && !Number.isNaN(best); ki++) {
          for (let kj = 0; kj < kw; kj++) {
            const i = (oy * kh + ki) * w + ox * kw + kj;
            const v = negative(xBase + i) ? 0 : x[xBase + i];
            if (v > best || Number.isNaN(v) || bestIdx < 0) {
              best = v;
              bestIdx = i;
              if (Number.isNaN(v)) break;
            }
          }
        }
        out[oBase + oy * wo + ox] = best;
        indices[oBase + oy * wo + ox] = bestIdx;
      }
    }
  }
}

/**
 * The input gradient of reluMaxPool2d, written to every element of `x` (the gradient): (0 + g) ·
 * [pooled > 0] at each window's maximum and +0 elsewhere, as maxPool2dBackward into zeros followed
 * by ReLU's backward gives. `out` is the output gradient g, `pooled` the forward's output.
 */
export function reluMaxPool2dBackward(a: MaxPool2dArgs & { pooled: FloatArray }): void {
  if (!windowsTile(a)) throw new RangeError("reluMaxPool2d backward: the windows must tile the input");
  const { x, out, pooled, indices, n, c, h, w, kh, kw, ho, wo } = a;
  const plane = h * w;
  for (let p = 0; p < n * c; p++) {
    const xBase = p * plane;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const q = p * ho * wo + oy * wo + ox;
        const at = indices[q];
        const v = (0 + out[q]) * (pooled[q] > 0 ? 1 : 0);
        let hit = false;
        for (let ki = 0; ki < kh; ki++) {
          for (let kj = 0; kj < kw; kj++) {
            const i = (oy * kh + ki) * w + ox * kw + kj;
            hit ||= i === at;
            x[xBase + i] = i === at ? v : 0;
          }
        }
        if (!hit) {
          throw new RangeError(
            `reluMaxPool2d backward: index ${at} at ${q} is outside its ${kh}x${kw} window of a ${h}x${w} plane`,
          );
        }
      }
    }
  }
}
