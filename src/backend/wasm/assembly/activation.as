// AssemblyScript source: ReLU forward and backward over n elements in WebAssembly memory, 16 bytes
// at a time (called by src/backend/wasm/activation.ts).

/**
 * out = max(x, 0), by clearing every value whose sign bit is set (as the JS reference does): -0 and
 * -Infinity give +0, NaN stays NaN unless its sign bit is set.
 */
function relu<T>(x: usize, out: usize, n: i32): void {
  const es = <usize>sizeof<T>();
  const end = x + <usize>n * es;
  for (; x + 16 <= end; x += 16, out += 16) {
    const v = v128.load(x);
    const negative = sizeof<T>() == 4 ? i32x4.shr_s(v, 31) : i64x2.shr_s(v, 63);
    v128.store(out, v128.andnot(v, negative));
  }
  for (; x < end; x += es, out += es) {
    if (sizeof<T>() == 4) {
      const b = load<i32>(x);
      store<i32>(out, b & ~(b >> 31));
    } else {
      const b = load<i64>(x);
      store<i64>(out, b & ~(b >> 63));
    }
  }
}

/** out = g * [x > 0] (a multiplication, so an infinite or NaN g where x <= 0 gives NaN, as g * 0 does). */
function reluBackward<T>(g: usize, x: usize, out: usize, n: i32): void {
  const es = <usize>sizeof<T>();
  const end = g + <usize>n * es;
  const zero = v128.splat<i32>(0);
  for (; g + 16 <= end; g += 16, x += 16, out += 16) {
    if (sizeof<T>() == 4) {
      const one = f32x4.splat(1);
      v128.store(out, f32x4.mul(v128.load(g), v128.and(f32x4.gt(v128.load(x), zero), one)));
    } else {
      const one = f64x2.splat(1);
      v128.store(out, f64x2.mul(v128.load(g), v128.and(f64x2.gt(v128.load(x), zero), one)));
    }
  }
  for (; g < end; g += es, x += es, out += es) {
    store<T>(out, load<T>(g) * (load<T>(x) > <T>0 ? <T>1 : <T>0));
  }
}

export function relu32(x: usize, out: usize, n: i32): void {
  relu<f32>(x, out, n);
}
export function relu64(x: usize, out: usize, n: i32): void {
  relu<f64>(x, out, n);
}
export function reluBackward32(g: usize, x: usize, out: usize, n: i32): void {
  reluBackward<f32>(g, x, out, n);
}
export function reluBackward64(g: usize, x: usize, out: usize, n: i32): void {
  reluBackward<f64>(g, x, out, n);
}
