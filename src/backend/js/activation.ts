import type { FloatArray, TypedArray } from "../../tensor/dtype.js";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * max(x, 0) without a branch per element (activations' signs are random, and a mispredicted branch
 * per element made this loop 3x slower): floats whose sign bit is set become +0, by masking their
 * bits (for float64, both halves by the high word's sign). -0 and -Infinity give +0; NaN stays NaN
 * (PyTorch's rule) unless its sign bit is set.
 */
export function reluForward(d: TypedArray, out: TypedArray): void {
  const n = out.length;
  if (d instanceof Float32Array && out instanceof Float32Array) {
    const di = new Int32Array(d.buffer, d.byteOffset, n);
    const oi = new Int32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const b = di[i];
      oi[i] = b & ~(b >> 31);
    }
  } else if (LITTLE_ENDIAN && d instanceof Float64Array && out instanceof Float64Array) {
    const di = new Int32Array(d.buffer, d.byteOffset, 2 * n);
    const oi = new Int32Array(out.buffer, out.byteOffset, 2 * n);
    for (let i = 0; i < 2 * n; i += 2) {
      const m = ~(di[i + 1] >> 31);
      oi[i] = di[i] & m;
      oi[i + 1] = di[i + 1] & m;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = d[i];
      out[i] = v > 0 ? v : 0;
    }
  }
}

/** out = g·[x > 0], with one loop per array type so that each stays monomorphic. */
export function reluBackward(g: TypedArray, x: TypedArray, out: TypedArray): void {
  const n = out.length;
  if (g instanceof Float32Array && x instanceof Float32Array && out instanceof Float32Array) {
    for (let i = 0; i < n; i++) out[i] = g[i] * +(x[i] > 0);
  } else if (g instanceof Float64Array && x instanceof Float64Array && out instanceof Float64Array) {
    for (let i = 0; i < n; i++) out[i] = g[i] * +(x[i] > 0);
  } else {
    for (let i = 0; i < n; i++) out[i] = g[i] * +(x[i] > 0);
  }
}

export function isFloatArray(a: TypedArray): a is FloatArray {
  return a instanceof Float32Array || a instanceof Float64Array;
}
