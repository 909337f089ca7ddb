type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Deterministic pseudo-random numbers in [-1, 1) (xorshift32), so failures reproduce. */
export function filled(T: Ctor, len: number, seed: number): Float32Array | Float64Array {
  const out = new T(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
