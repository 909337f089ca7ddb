// AssemblyScript source: sums over strided layouts in WebAssembly memory, accumulated in float64
// whatever the element type (as the JS reference, src/backend/js/reduce.ts, does), 16 bytes at a
// time where the summed elements are contiguous. Called by src/backend/wasm/reduce.ts, which
// splits a view's dims into kept and reduced groups and writes the offset tables.
//
// Offsets are in elements from x; `bases` (nOut entries) and `runs` (nRuns entries) are i32 tables.

/** Σ_{i<len} x[p + i·step] in float64, with four f64x2 chains of partial sums where step is 1. */
function sumRun<T>(p: usize, len: i32, step: i32): f64 {
  const es = <usize>sizeof<T>();
  let s: f64 = 0;
  if (step == 1) {
    const end = p + <usize>len * es;
    // four independent chains of f64x2 additions, so that the adds' latency overlaps
    let a = f64x2.splat(0);
    let b = f64x2.splat(0);
    let c0 = f64x2.splat(0);
    let d = f64x2.splat(0);
    if (sizeof<T>() == 4) {
      for (; p + 32 <= end; p += 32) {
        const v = v128.load(p);
        const u = v128.load(p, 16);
        a = f64x2.add(a, f64x2.promote_low_f32x4(v));
        b = f64x2.add(b, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 0, 1)));
        c0 = f64x2.add(c0, f64x2.promote_low_f32x4(u));
        d = f64x2.add(d, f64x2.promote_low_f32x4(v128.shuffle<i32>(u, u, 2, 3, 0, 1)));
      }
      for (; p + 16 <= end; p += 16) {
        const v = v128.load(p);
        a = f64x2.add(a, f64x2.promote_low_f32x4(v));
        b = f64x2.add(b, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 0, 1)));
      }
    } else {
      for (; p + 64 <= end; p += 64) {
        a = f64x2.add(a, v128.load(p));
        b = f64x2.add(b, v128.load(p, 16));
        c0 = f64x2.add(c0, v128.load(p, 32));
        d = f64x2.add(d, v128.load(p, 48));
      }
      for (; p + 32 <= end; p += 32) {
        a = f64x2.add(a, v128.load(p));
        b = f64x2.add(b, v128.load(p, 16));
      }
    }
    const c = f64x2.add(f64x2.add(a, b), f64x2.add(c0, d));
    s = f64x2.extract_lane(c, 0) + f64x2.extract_lane(c, 1);
    for (; p < end; p += es) s += <f64>load<T>(p);
  } else {
    const stride = <usize>step * es;
    for (let i = 0; i < len; i++, p += stride) s += <f64>load<T>(p);
  }
  return s;
}

/**
 * out[k] = Σ_r Σ_{i<len} x[bases[k] + runs[r] + i·step] for k < nOut: the reduced dims are the
 * runs table and one innermost run of `len` elements (the kept dims are the bases table).
 */
function sumRuns<T>(x: usize, out: usize, bases: usize, nOut: i32, runs: usize, nRuns: i32, len: i32, step: i32): void {
  const es = <usize>sizeof<T>();
  for (let k = 0; k < nOut; k++) {
    const base = x + <usize>load<i32>(bases + (<usize>k << 2)) * es;
    let s: f64 = 0;
    for (let r = 0; r < nRuns; r++) s += sumRun<T>(base + <usize>load<i32>(runs + (<usize>r << 2)) * es, len, step);
    store<T>(out + <usize>k * es, <T>s);
  }
}

/**
 * out[k·width + j] = Σ_r x[bases[k] + runs[r] + j·step] for k < nOut, j < width: the innermost kept
 * dim (width, step) is summed row by row into `acc` (width float64s of scratch).
 */
function sumColumns<T>(
  x: usize,
  out: usize,
  bases: usize,
  nOut: i32,
  runs: usize,
  nRuns: i32,
  width: i32,
  step: i32,
  acc: usize,
): void {
  const es = <usize>sizeof<T>();
  const accEnd = acc + (<usize>width << 3);
  for (let k = 0; k < nOut; k++) {
    memory.fill(acc, 0, <usize>width << 3);
    const base = x + <usize>load<i32>(bases + (<usize>k << 2)) * es;
    for (let r = 0; r < nRuns; r++) {
      let p = base + <usize>load<i32>(runs + (<usize>r << 2)) * es;
      let a = acc;
      if (step == 1) {
        if (sizeof<T>() == 4) {
          for (; a + 32 <= accEnd; a += 32, p += 16) {
            const v = v128.load(p);
            v128.store(a, f64x2.add(v128.load(a), f64x2.promote_low_f32x4(v)));
            v128.store(
              a,
              f64x2.add(v128.load(a, 16), f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 0, 1))),
              16,
            );
          }
        } else {
          for (; a + 16 <= accEnd; a += 16, p += 16) v128.store(a, f64x2.add(v128.load(a), v128.load(p)));
        }
        for (; a < accEnd; a += 8, p += es) store<f64>(a, load<f64>(a) + <f64>load<T>(p));
      } else {
        const stride = <usize>step * es;
        for (; a < accEnd; a += 8, p += stride) store<f64>(a, load<f64>(a) + <f64>load<T>(p));
      }
    }
    const o = out + <usize>k * <usize>width * es;
    for (let j = 0; j < width; j++) store<T>(o + <usize>j * es, <T>load<f64>(acc + (<usize>j << 3)));
  }
}

export function sumRuns32(x: usize, out: usize, bases: usize, nOut: i32, runs: usize, nRuns: i32, len: i32, step: i32): void {
  sumRuns<f32>(x, out, bases, nOut, runs, nRuns, len, step);
}
export function sumRuns64(x: usize, out: usize, bases: usize, nOut: i32, runs: usize, nRuns: i32, len: i32, step: i32): void {
  sumRuns<f64>(x, out, bases, nOut, runs, nRuns, len, step);
}
export function sumColumns32(
  x: usize,
  out: usize,
  bases: usize,
  nOut: i32,
  runs: usize,
  nRuns: i32,
  width: i32,
  step: i32,
  acc: usize,
): void {
  sumColumns<f32>(x, out, bases, nOut, runs, nRuns, width, step, acc);
}
export function sumColumns64(
  x: usize,
  out: usize,
  bases: usize,
  nOut: i32,
  runs: usize,
  nRuns: i32,
  width: i32,
  step: i32,
  acc: usize,
): void {
  sumColumns<f64>(x, out, bases, nOut, runs, nRuns, width, step, acc);
}
