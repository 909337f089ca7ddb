// AssemblyScript source of cnnlab's WebAssembly SIMD GEMM kernels.
// Compiled by scripts/build-wasm.mjs (the `.as` extension keeps it out of the tsc/eslint/prettier runs).
//
// Layout (all row-major, byte pointers into the shared linear memory):
//   op(A) is m x k, op(B) is k x n, C is m x n (ldc = n).
//   Packed A: for each k-block p (KC deep, the last one shorter) and each MR-row strip i,
//     a contiguous kc x MR panel (element (kk, r) at kk*MR + r). Strip (p, i) starts at
//     element pc*Mpad + i*MR*kc, Mpad = ceil(m/MR)*MR; rows past m are zero.
//   Packed B: the same with NR-column strips: strip (p, j) at pc*Npad + j*NR*kc.
// Every C element is the sum over k-blocks in increasing order of (sum over the block in
// increasing k), added to C's old value when accumulating: the order never depends on
// how the strips are split between threads.

const KC: i32 = 256; // k-block depth
const MCS: i32 = 32; // A strips per L2 block (32 * 4 rows = 128 rows)
const NCS: i32 = 256; // B strips per L3 block

// c + a*b. The relaxed-SIMD build (chosen at run time when the engine accepts it) emits one fused
// multiply-add; the plain SIMD128 build a multiply then an add. Each build is deterministic, so
// results still do not depend on the thread count.
@inline function madd32(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(c, f32x4.mul(a, b));
}
@inline function madd64(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  else return f64x2.add(c, f64x2.mul(a, b));
}

// ---------------------------------------------------------------- float32: 4 x 8 tile
const MR32: i32 = 4;
const NR32: i32 = 8;

export function kc(): i32 {
  return KC;
}

export function heapBase(): usize {
  return __heap_base;
}

/**
 * Reads 4 float32 from each of 4 rows (src, src+ld, ...) and writes them transposed: output row q
 * (at dst + q*dstLd) holds element q of the 4 input rows.
 */
@inline function transpose4x4to(dst: usize, src: usize, ld: usize, dstLd: usize): void {
  const x0 = v128.load(src);
  const x1 = v128.load(src + ld);
  const x2 = v128.load(src + 2 * ld);
  const x3 = v128.load(src + 3 * ld);
  const t0 = v128.shuffle<i32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(x0, x1, 2, 6, 3, 7);
  const t2 = v128.shuffle<i32>(x2, x3, 0, 4, 1, 5);
  const t3 = v128.shuffle<i32>(x2, x3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(t0, t2, 0, 2));
  v128.store(dst + dstLd, v128.shuffle<i64>(t0, t2, 1, 3));
  v128.store(dst + 2 * dstLd, v128.shuffle<i64>(t1, t3, 0, 2));
  v128.store(dst + 3 * dstLd, v128.shuffle<i64>(t1, t3, 1, 3));
}

/** Packs strips [s0, s1) of op(A) (m x k) from src into dst (float32). */
export function packA32(src: usize, dst: usize, m: i32, k: i32, transA: i32, s0: i32, s1: i32): void {
  const mpad = ((m + MR32 - 1) / MR32) * MR32;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    for (let s = s0; s < s1; s++) {
      const i0 = s * MR32;
      let d = dst + (<usize>(pc * mpad + i0 * kb) << 2);
      const rows = min(MR32, m - i0);
      if (transA) {
        // A stored k x m: op(A)[i][kk] = A[kk*m + i]
        for (let kk = 0; kk < kb; kk++) {
          const sp = src + (<usize>((pc + kk) * m + i0) << 2);
          if (rows == MR32) {
            v128.store(d, v128.load(sp));
          } else {
            for (let r = 0; r < MR32; r++) store<f32>(d + (<usize>r << 2), r < rows ? load<f32>(sp + (<usize>r << 2)) : 0);
          }
          d += MR32 << 2;
        }
      } else {
        // A stored m x k: op(A)[i][kk] = A[i*k + kk]
        if (rows == MR32) {
          const r0 = src + (<usize>(i0 * k + pc) << 2);
          const ld = <usize>k << 2;
          const r1 = r0 + ld;
          const r2 = r1 + ld;
          const r3 = r2 + ld;
          let kk = 0;
          for (; kk + 4 <= kb; kk += 4) {
            const o = <usize>kk << 2;
            const x0 = v128.load(r0 + o);
            const x1 = v128.load(r1 + o);
            const x2 = v128.load(r2 + o);
            const x3 = v128.load(r3 + o);
            // 4x4 transpose
            const t0 = v128.shuffle<i32>(x0, x1, 0, 4, 1, 5);
            const t1 = v128.shuffle<i32>(x0, x1, 2, 6, 3, 7);
            const t2 = v128.shuffle<i32>(x2, x3, 0, 4, 1, 5);
            const t3 = v128.shuffle<i32>(x2, x3, 2, 6, 3, 7);
            v128.store(d, v128.shuffle<i64>(t0, t2, 0, 2));
            v128.store(d, v128.shuffle<i64>(t0, t2, 1, 3), 16);
            v128.store(d, v128.shuffle<i64>(t1, t3, 0, 2), 32);
            v128.store(d, v128.shuffle<i64>(t1, t3, 1, 3), 48);
            d += 64;
          }
          for (; kk < kb; kk++) {
            const o = <usize>kk << 2;
            store<f32>(d, load<f32>(r0 + o));
            store<f32>(d, load<f32>(r1 + o), 4);
            store<f32>(d, load<f32>(r2 + o), 8);
            store<f32>(d, load<f32>(r3 + o), 12);
            d += 16;
          }
        } else {
          for (let kk = 0; kk < kb; kk++) {
            for (let r = 0; r < MR32; r++) {
              store<f32>(d + (<usize>r << 2), r < rows ? load<f32>(src + (<usize>((i0 + r) * k + pc + kk) << 2)) : 0);
            }
            d += MR32 << 2;
          }
        }
      }
    }
  }
}

/** Packs strips [s0, s1) of op(B) (k x n) from src into dst (float32). */
export function packB32(src: usize, dst: usize, k: i32, n: i32, transB: i32, s0: i32, s1: i32): void {
  const npad = ((n + NR32 - 1) / NR32) * NR32;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    for (let s = s0; s < s1; s++) {
      const j0 = s * NR32;
      let d = dst + (<usize>(pc * npad + j0 * kb) << 2);
      const cols = min(NR32, n - j0);
      if (!transB) {
        // B stored k x n
        let sp = src + (<usize>(pc * n + j0) << 2);
        const ld = <usize>n << 2;
        if (cols == NR32) {
          for (let kk = 0; kk < kb; kk++) {
            v128.store(d, v128.load(sp));
            v128.store(d, v128.load(sp, 16), 16);
            sp += ld;
            d += NR32 << 2;
          }
        } else {
          for (let kk = 0; kk < kb; kk++) {
            for (let c = 0; c < NR32; c++) store<f32>(d + (<usize>c << 2), c < cols ? load<f32>(sp + (<usize>c << 2)) : 0);
            sp += ld;
            d += NR32 << 2;
          }
        }
      } else {
        // B stored n x k: op(B)[kk][j] = B[j*k + kk]
        let kk = 0;
        if (cols == NR32) {
          // 8 rows of B, 4 k at a time: two 4x4 transposes.
          const r0 = src + (<usize>(j0 * k + pc) << 2);
          const ld = <usize>k << 2;
          for (; kk + 4 <= kb; kk += 4) {
            const o = r0 + (<usize>kk << 2);
            transpose4x4to(d, o, ld, 32);
            transpose4x4to(d + 16, o + (ld << 2), ld, 32);
            d += 4 * (NR32 << 2);
          }
        }
        for (; kk < kb; kk++) {
          for (let c = 0; c < NR32; c++) {
            store<f32>(d + (<usize>c << 2), c < cols ? load<f32>(src + (<usize>((j0 + c) * k + pc + kk) << 2)) : 0);
          }
          d += NR32 << 2;
        }
      }
    }
  }
}

// 4x8 float32 micro-kernel: C[4][8] (ldc in bytes) = (load ? C : 0) + Apanel * Bpanel.
function micro32(a: usize, b: usize, kb: i32, c: usize, ldc: usize, addc: bool): void {
  let c00 = f32x4.splat(0);
  let c01 = c00;
  let c10 = c00;
  let c11 = c00;
  let c20 = c00;
  let c21 = c00;
  let c30 = c00;
  let c31 = c00;
  // The A pointer is the loop variable (no separate counter: the loop is instruction-bound).
  const aEnd = a + (<usize>kb << 4);
  while (a < aEnd) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    // One load of the 4 A values and lane shuffles: fewer instructions than 4 load32_splat
    // (V8 does not fold their offsets), and the loop is instruction-bound.
    const aa = v128.load(a);
    let av = i32x4.shuffle(aa, aa, 0, 0, 0, 0);
    c00 = madd32(av, b0, c00);
    c01 = madd32(av, b1, c01);
    av = i32x4.shuffle(aa, aa, 1, 1, 1, 1);
    c10 = madd32(av, b0, c10);
    c11 = madd32(av, b1, c11);
    av = i32x4.shuffle(aa, aa, 2, 2, 2, 2);
    c20 = madd32(av, b0, c20);
    c21 = madd32(av, b1, c21);
    av = i32x4.shuffle(aa, aa, 3, 3, 3, 3);
    c30 = madd32(av, b0, c30);
    c31 = madd32(av, b1, c31);
    a += 16;
    b += 32;
  }
  if (addc) {
    c00 = f32x4.add(v128.load(c), c00);
    c01 = f32x4.add(v128.load(c, 16), c01);
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  c += ldc;
  if (addc) {
    c10 = f32x4.add(v128.load(c), c10);
    c11 = f32x4.add(v128.load(c, 16), c11);
  }
  v128.store(c, c10);
  v128.store(c, c11, 16);
  c += ldc;
  if (addc) {
    c20 = f32x4.add(v128.load(c), c20);
    c21 = f32x4.add(v128.load(c, 16), c21);
  }
  v128.store(c, c20);
  v128.store(c, c21, 16);
  c += ldc;
  if (addc) {
    c30 = f32x4.add(v128.load(c), c30);
    c31 = f32x4.add(v128.load(c, 16), c31);
  }
  v128.store(c, c30);
  v128.store(c, c31, 16);
}

/**
 * C (m x n float32 at c) for A strips [i0, i1) x B strips [j0, j1), from packed ap/bp.
 * accumulate != 0: C += op(A)op(B), else C = op(A)op(B). tmp: 128 bytes of per-thread scratch.
 */
export function gemm32(
  ap: usize, bp: usize, c: usize, m: i32, n: i32, k: i32, accumulate: i32,
  i0: i32, i1: i32, j0: i32, j1: i32, tmp: usize,
): void {
  const mpad = ((m + MR32 - 1) / MR32) * MR32;
  const npad = ((n + NR32 - 1) / NR32) * NR32;
  const ldc = <usize>n << 2;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    const addc = pc > 0 || accumulate != 0;
    const aBlock = ap + (<usize>(pc * mpad) << 2);
    const bBlock = bp + (<usize>(pc * npad) << 2);
    for (let jc = j0; jc < j1; jc += NCS) {
      const je = min(jc + NCS, j1);
      for (let ic = i0; ic < i1; ic += MCS) {
        const ie = min(ic + MCS, i1);
        for (let j = jc; j < je; j++) {
          const bs = bBlock + (<usize>(j * NR32 * kb) << 2);
          const cols = min(NR32, n - j * NR32);
          for (let i = ic; i < ie; i++) {
            const as = aBlock + (<usize>(i * MR32 * kb) << 2);
            const rows = min(MR32, m - i * MR32);
            const cp = c + (<usize>(i * MR32) * ldc) + (<usize>(j * NR32) << 2);
            if (rows == MR32 && cols == NR32) {
              micro32(as, bs, kb, cp, ldc, addc);
            } else {
              if (addc) {
                for (let r = 0; r < rows; r++)
                  for (let q = 0; q < cols; q++)
                    store<f32>(tmp + (<usize>(r * NR32 + q) << 2), load<f32>(cp + <usize>r * ldc + (<usize>q << 2)));
              }
              micro32(as, bs, kb, tmp, NR32 << 2, addc);
              for (let r = 0; r < rows; r++)
                for (let q = 0; q < cols; q++)
                  store<f32>(cp + <usize>r * ldc + (<usize>q << 2), load<f32>(tmp + (<usize>(r * NR32 + q) << 2)));
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- float64: 4 x 4 tile
const MR64: i32 = 4;
const NR64: i32 = 4;

/** Packs strips [s0, s1) of op(A) (m x k) from src into dst (float64). */
export function packA64(src: usize, dst: usize, m: i32, k: i32, transA: i32, s0: i32, s1: i32): void {
  const mpad = ((m + MR64 - 1) / MR64) * MR64;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    for (let s = s0; s < s1; s++) {
      const i0 = s * MR64;
      let d = dst + (<usize>(pc * mpad + i0 * kb) << 3);
      const rows = min(MR64, m - i0);
      if (transA) {
        for (let kk = 0; kk < kb; kk++) {
          const sp = src + (<usize>((pc + kk) * m + i0) << 3);
          if (rows == MR64) {
            v128.store(d, v128.load(sp));
            v128.store(d, v128.load(sp, 16), 16);
          } else {
            for (let r = 0; r < MR64; r++) store<f64>(d + (<usize>r << 3), r < rows ? load<f64>(sp + (<usize>r << 3)) : 0);
          }
          d += MR64 << 3;
        }
      } else if (rows == MR64) {
        const r0 = src + (<usize>(i0 * k + pc) << 3);
        const ld = <usize>k << 3;
        const r1 = r0 + ld;
        const r2 = r1 + ld;
        const r3 = r2 + ld;
        let kk = 0;
        for (; kk + 2 <= kb; kk += 2) {
          const o = <usize>kk << 3;
          const x0 = v128.load(r0 + o);
          const x1 = v128.load(r1 + o);
          const x2 = v128.load(r2 + o);
          const x3 = v128.load(r3 + o);
          v128.store(d, v128.shuffle<i64>(x0, x1, 0, 2));
          v128.store(d, v128.shuffle<i64>(x2, x3, 0, 2), 16);
          v128.store(d, v128.shuffle<i64>(x0, x1, 1, 3), 32);
          v128.store(d, v128.shuffle<i64>(x2, x3, 1, 3), 48);
          d += 64;
        }
        for (; kk < kb; kk++) {
          const o = <usize>kk << 3;
          store<f64>(d, load<f64>(r0 + o));
          store<f64>(d, load<f64>(r1 + o), 8);
          store<f64>(d, load<f64>(r2 + o), 16);
          store<f64>(d, load<f64>(r3 + o), 24);
          d += 32;
        }
      } else {
        for (let kk = 0; kk < kb; kk++) {
          for (let r = 0; r < MR64; r++) {
            store<f64>(d + (<usize>r << 3), r < rows ? load<f64>(src + (<usize>((i0 + r) * k + pc + kk) << 3)) : 0);
          }
          d += MR64 << 3;
        }
      }
    }
  }
}

/** Packs strips [s0, s1) of op(B) (k x n) from src into dst (float64). */
export function packB64(src: usize, dst: usize, k: i32, n: i32, transB: i32, s0: i32, s1: i32): void {
  const npad = ((n + NR64 - 1) / NR64) * NR64;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    for (let s = s0; s < s1; s++) {
      const j0 = s * NR64;
      let d = dst + (<usize>(pc * npad + j0 * kb) << 3);
      const cols = min(NR64, n - j0);
      if (!transB) {
        let sp = src + (<usize>(pc * n + j0) << 3);
        const ld = <usize>n << 3;
        if (cols == NR64) {
          for (let kk = 0; kk < kb; kk++) {
            v128.store(d, v128.load(sp));
            v128.store(d, v128.load(sp, 16), 16);
            sp += ld;
            d += NR64 << 3;
          }
        } else {
          for (let kk = 0; kk < kb; kk++) {
            for (let c = 0; c < NR64; c++) store<f64>(d + (<usize>c << 3), c < cols ? load<f64>(sp + (<usize>c << 3)) : 0);
            sp += ld;
            d += NR64 << 3;
          }
        }
      } else {
        let kk = 0;
        if (cols == NR64) {
          const r0 = src + (<usize>(j0 * k + pc) << 3);
          const ld = <usize>k << 3;
          const r1 = r0 + ld;
          const r2 = r1 + ld;
          const r3 = r2 + ld;
          for (; kk + 2 <= kb; kk += 2) {
            const o = <usize>kk << 3;
            const x0 = v128.load(r0 + o);
            const x1 = v128.load(r1 + o);
            const x2 = v128.load(r2 + o);
            const x3 = v128.load(r3 + o);
            v128.store(d, v128.shuffle<i64>(x0, x1, 0, 2));
            v128.store(d, v128.shuffle<i64>(x2, x3, 0, 2), 16);
            v128.store(d, v128.shuffle<i64>(x0, x1, 1, 3), 32);
            v128.store(d, v128.shuffle<i64>(x2, x3, 1, 3), 48);
            d += 64;
          }
        }
        for (; kk < kb; kk++) {
          for (let c = 0; c < NR64; c++) {
            store<f64>(d + (<usize>c << 3), c < cols ? load<f64>(src + (<usize>((j0 + c) * k + pc + kk) << 3)) : 0);
          }
          d += NR64 << 3;
        }
      }
    }
  }
}

// 4x4 float64 micro-kernel.
function micro64(a: usize, b: usize, kb: i32, c: usize, ldc: usize, addc: bool): void {
  let c00 = f64x2.splat(0);
  let c01 = c00;
  let c10 = c00;
  let c11 = c00;
  let c20 = c00;
  let c21 = c00;
  let c30 = c00;
  let c31 = c00;
  const aEnd = a + (<usize>kb << 5);
  while (a < aEnd) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const a01 = v128.load(a);
    const a23 = v128.load(a, 16);
    let av = i64x2.shuffle(a01, a01, 0, 0);
    c00 = madd64(av, b0, c00);
    c01 = madd64(av, b1, c01);
    av = i64x2.shuffle(a01, a01, 1, 1);
    c10 = madd64(av, b0, c10);
    c11 = madd64(av, b1, c11);
    av = i64x2.shuffle(a23, a23, 0, 0);
    c20 = madd64(av, b0, c20);
    c21 = madd64(av, b1, c21);
    av = i64x2.shuffle(a23, a23, 1, 1);
    c30 = madd64(av, b0, c30);
    c31 = madd64(av, b1, c31);
    a += 32;
    b += 32;
  }
  if (addc) {
    c00 = f64x2.add(v128.load(c), c00);
    c01 = f64x2.add(v128.load(c, 16), c01);
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  c += ldc;
  if (addc) {
    c10 = f64x2.add(v128.load(c), c10);
    c11 = f64x2.add(v128.load(c, 16), c11);
  }
  v128.store(c, c10);
  v128.store(c, c11, 16);
  c += ldc;
  if (addc) {
    c20 = f64x2.add(v128.load(c), c20);
    c21 = f64x2.add(v128.load(c, 16), c21);
  }
  v128.store(c, c20);
  v128.store(c, c21, 16);
  c += ldc;
  if (addc) {
    c30 = f64x2.add(v128.load(c), c30);
    c31 = f64x2.add(v128.load(c, 16), c31);
  }
  v128.store(c, c30);
  v128.store(c, c31, 16);
}

/** float64 counterpart of gemm32 (tmp: 128 bytes). */
export function gemm64(
  ap: usize, bp: usize, c: usize, m: i32, n: i32, k: i32, accumulate: i32,
  i0: i32, i1: i32, j0: i32, j1: i32, tmp: usize,
): void {
  const mpad = ((m + MR64 - 1) / MR64) * MR64;
  const npad = ((n + NR64 - 1) / NR64) * NR64;
  const ldc = <usize>n << 3;
  for (let pc = 0; pc < k; pc += KC) {
    const kb = min(KC, k - pc);
    const addc = pc > 0 || accumulate != 0;
    const aBlock = ap + (<usize>(pc * mpad) << 3);
    const bBlock = bp + (<usize>(pc * npad) << 3);
    for (let jc = j0; jc < j1; jc += NCS) {
      const je = min(jc + NCS, j1);
      for (let ic = i0; ic < i1; ic += MCS) {
        const ie = min(ic + MCS, i1);
        for (let j = jc; j < je; j++) {
          const bs = bBlock + (<usize>(j * NR64 * kb) << 3);
          const cols = min(NR64, n - j * NR64);
          for (let i = ic; i < ie; i++) {
            const as = aBlock + (<usize>(i * MR64 * kb) << 3);
            const rows = min(MR64, m - i * MR64);
            const cp = c + (<usize>(i * MR64) * ldc) + (<usize>(j * NR64) << 3);
            if (rows == MR64 && cols == NR64) {
              micro64(as, bs, kb, cp, ldc, addc);
            } else {
              if (addc) {
                for (let r = 0; r < rows; r++)
                  for (let q = 0; q < cols; q++)
                    store<f64>(tmp + (<usize>(r * NR64 + q) << 3), load<f64>(cp + <usize>r * ldc + (<usize>q << 3)));
              }
              micro64(as, bs, kb, tmp, NR64 << 3, addc);
              for (let r = 0; r < rows; r++)
                for (let q = 0; q < cols; q++)
                  store<f64>(cp + <usize>r * ldc + (<usize>q << 3), load<f64>(tmp + (<usize>(r * NR64 + q) << 3)));
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- machine probe
/**
 * 12 independent f32x4 mul+add chains, `iters` times (96 flops per iteration): what this machine
 * gives WebAssembly SIMD right now. The benchmark prints it next to the GEMM figures.
 */
export function probe32(iters: i32): f32 {
  let a0 = f32x4.splat(1);
  let a1 = a0;
  let a2 = a0;
  let a3 = a0;
  let a4 = a0;
  let a5 = a0;
  let a6 = a0;
  let a7 = a0;
  let a8 = a0;
  let a9 = a0;
  let a10 = a0;
  let a11 = a0;
  const m = f32x4.splat(0.9999999);
  const d = f32x4.splat(0.0000001);
  for (let i = 0; i < iters; i++) {
    a0 = madd32(a0, m, d);
    a1 = madd32(a1, m, d);
    a2 = madd32(a2, m, d);
    a3 = madd32(a3, m, d);
    a4 = madd32(a4, m, d);
    a5 = madd32(a5, m, d);
    a6 = madd32(a6, m, d);
    a7 = madd32(a7, m, d);
    a8 = madd32(a8, m, d);
    a9 = madd32(a9, m, d);
    a10 = madd32(a10, m, d);
    a11 = madd32(a11, m, d);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}
