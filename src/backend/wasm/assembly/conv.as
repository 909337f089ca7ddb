// AssemblyScript source: NCHW 2-D convolution forward and backward built on the packed GEMM of
// gemm.as (im2col of one image into WebAssembly memory, never copied out). Every function takes
// a pointer to a block of i32 parameters (see the P_* indices), written by src/backend/wasm/conv.ts.
import { packA32, packB32, gemm32, packA64, packB64, gemm64 } from "./gemm";

// Parameter block (i32 each). Pointers are byte addresses.
const P_X: i32 = 0; // input [N, C, H, W]
const P_W: i32 = 1; // weight [F, C, KH, KW] (raw)
const P_WP: i32 = 2; // packed weight: W as A (forward) or W^T as A (backward dx)
const P_OUT: i32 = 3; // forward: output [N, F, Ho, Wo]; backward: dout
const P_BIAS: i32 = 4; // forward bias [F] (0: none)
const P_DX: i32 = 5; // backward: dx [N, C, H, W] (0: not wanted)
const P_DW: i32 = 6; // backward: dw [F, K] (0: not wanted)
const P_C: i32 = 7;
const P_H: i32 = 8;
const P_WD: i32 = 9;
const P_F: i32 = 10;
const P_KH: i32 = 11;
const P_KW: i32 = 12;
const P_SH: i32 = 13;
const P_SW: i32 = 14;
const P_PH: i32 = 15;
const P_PW: i32 = 16;
const P_DH: i32 = 17;
const P_DWL: i32 = 18; // dilation along W
const P_HO: i32 = 19;
const P_WO: i32 = 20;
const P_N0: i32 = 21; // images [n0, n1) (or all images, phase 2)
const P_N1: i32 = 22;
const P_S0: i32 = 23; // phase 2: dw column strips [s0, s1)
const P_S1: i32 = 24;
const P_SCR: i32 = 25; // per-thread scratch
const P_COLS: i32 = 26; // backward: all images' packed cols^T (shared)
const P_TILE: i32 = 27;
const P_ACC: i32 = 28; // backward: add into dx and dw instead of overwriting them

@inline function prm(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

@inline function up(x: i32, a: i32): i32 {
  return ((x + a - 1) / a) * a;
}

/** Valid output columns [lo, hi) for which 0 <= wo*sw + off < W. */
@inline function colRange(off: i32, sw: i32, W: i32, Wo: i32): u64 {
  let lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  let hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
  if (hi > Wo) hi = Wo;
  if (lo > hi) lo = hi;
  return (<u64>lo << 32) | <u64>(<u32>hi);
}

/** cols[K, L] (row-major, K = C*KH*KW rows (c, kh, kw), L = Ho*Wo) from one image x[C, H, W]. */
function im2col<T>(p: usize, x: usize, cols: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD);
  const KH = prm(p, P_KH), KW = prm(p, P_KW), sh = prm(p, P_SH), sw = prm(p, P_SW);
  const ph = prm(p, P_PH), pw = prm(p, P_PW), dh = prm(p, P_DH), dw = prm(p, P_DWL);
  const Ho = prm(p, P_HO), Wo = prm(p, P_WO);
  const rowBytes = <usize>Wo * es;
  let d = cols;
  for (let c = 0; c < C; c++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const off = kw * dw - pw;
        const r = colRange(off, sw, W, Wo);
        const lo = <i32>(r >> 32);
        const hi = <i32>(r & 0xffffffff);
        for (let ho = 0; ho < Ho; ho++) {
          const ih = ho * sh - ph + kh * dh;
          if (ih < 0 || ih >= H || lo >= hi) {
            memory.fill(d, 0, rowBytes);
          } else {
            const row = x + <usize>((c * H + ih) * W) * es;
            if (lo > 0) memory.fill(d, 0, <usize>lo * es);
            if (sw == 1) {
              memory.copy(d + <usize>lo * es, row + <usize>(lo + off) * es, <usize>(hi - lo) * es);
            } else {
              for (let wo = lo; wo < hi; wo++) store<T>(d + <usize>wo * es, load<T>(row + <usize>(wo * sw + off) * es));
            }
            if (hi < Wo) memory.fill(d + <usize>hi * es, 0, <usize>(Wo - hi) * es);
          }
          d += rowBytes;
        }
      }
    }
  }
}

/** x[C, H, W] (+)= col2im(cols[K, L]): every column entry is added at its pixel (x zeroed first unless P_ACC). */
function col2im<T>(p: usize, cols: usize, x: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD);
  const KH = prm(p, P_KH), KW = prm(p, P_KW), sh = prm(p, P_SH), sw = prm(p, P_SW);
  const ph = prm(p, P_PH), pw = prm(p, P_PW), dh = prm(p, P_DH), dw = prm(p, P_DWL);
  const Ho = prm(p, P_HO), Wo = prm(p, P_WO);
  if (prm(p, P_ACC) == 0) memory.fill(x, 0, <usize>(C * H * W) * es);
  let s = cols;
  const rowBytes = <usize>Wo * es;
  for (let c = 0; c < C; c++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const off = kw * dw - pw;
        const r = colRange(off, sw, W, Wo);
        const lo = <i32>(r >> 32);
        const hi = <i32>(r & 0xffffffff);
        for (let ho = 0; ho < Ho; ho++) {
          const ih = ho * sh - ph + kh * dh;
          if (ih >= 0 && ih < H && lo < hi) {
            const row = x + <usize>((c * H + ih) * W) * es;
            if (sw == 1) {
              let dst = row + <usize>(lo + off) * es;
              let src = s + <usize>lo * es;
              const end = s + <usize>hi * es;
              for (; src + 16 <= end; src += 16, dst += 16) {
                if (sizeof<T>() == 4) v128.store(dst, f32x4.add(v128.load(dst), v128.load(src)));
                else v128.store(dst, f64x2.add(v128.load(dst), v128.load(src)));
              }
              for (; src < end; src += es, dst += es) store<T>(dst, load<T>(dst) + load<T>(src));
            } else {
              for (let wo = lo; wo < hi; wo++) {
                const q = row + <usize>(wo * sw + off) * es;
                store<T>(q, load<T>(q) + load<T>(s + <usize>wo * es));
              }
            }
          }
          s += rowBytes;
        }
      }
    }
  }
}

@inline function packA<T>(src: usize, dst: usize, m: i32, k: i32, t: i32, s0: i32, s1: i32): void {
  if (sizeof<T>() == 4) packA32(src, dst, m, k, t, s0, s1);
  else packA64(src, dst, m, k, t, s0, s1);
}
@inline function packB<T>(src: usize, dst: usize, k: i32, n: i32, t: i32, s0: i32, s1: i32): void {
  if (sizeof<T>() == 4) packB32(src, dst, k, n, t, s0, s1);
  else packB64(src, dst, k, n, t, s0, s1);
}
@inline function gemm<T>(
  ap: usize, bp: usize, c: usize, m: i32, n: i32, k: i32, acc: i32,
  i0: i32, i1: i32, j0: i32, j1: i32, tmp: usize,
): void {
  if (sizeof<T>() == 4) gemm32(ap, bp, c, m, n, k, acc, i0, i1, j0, j1, tmp);
  else gemm64(ap, bp, c, m, n, k, acc, i0, i1, j0, j1, tmp);
}
@inline function nr<T>(): i32 {
  return sizeof<T>() == 4 ? 8 : 4;
}

/**
 * Forward for images [n0, n1): out[n] (F x L) = Wpacked (F x K) * im2col(x[n]) (+ bias).
 * Scratch: cols K*L, then packed cols K*Lpad.
 */
function convForward<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD), F = prm(p, P_F);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const x = <usize>prm(p, P_X), wp = <usize>prm(p, P_WP), out = <usize>prm(p, P_OUT), bias = <usize>prm(p, P_BIAS);
  const cols = <usize>prm(p, P_SCR);
  const packed = cols + <usize>up(K * L * <i32>es, 64);
  const tile = <usize>prm(p, P_TILE);
  const Fs = (F + 3) / 4;
  const Ls = (L + NR - 1) / NR;
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    im2col<T>(p, x + <usize>(n * C * H * W) * es, cols);
    packB<T>(cols, packed, K, L, 0, 0, Ls);
    const o = out + <usize>(n * F * L) * es;
    gemm<T>(wp, packed, o, F, L, K, 0, 0, Fs, 0, Ls, tile);
    if (bias != 0) {
      for (let f = 0; f < F; f++) {
        const b = load<T>(bias + <usize>f * es);
        const row = o + <usize>(f * L) * es;
        for (let l = 0; l < L; l++) store<T>(row + <usize>l * es, load<T>(row + <usize>l * es) + b);
      }
    }
  }
}

/**
 * Backward phase 1 for images [n0, n1): when dw is wanted, packs im2col(x[n])^T (L x K, as the B
 * operand of dW = dout[n] * cols[n]^T) into the shared buffer; when dx is wanted,
 * dcols = W^T * dout[n] (K x L) and dx[n] = col2im(dcols).
 * Scratch: cols K*L | dcols K*L | packed dout F*Lpad.
 */
function convBackward1<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD), F = prm(p, P_F);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const x = <usize>prm(p, P_X), wtp = <usize>prm(p, P_WP), dout = <usize>prm(p, P_OUT);
  const dx = <usize>prm(p, P_DX), dw = <usize>prm(p, P_DW), colsAll = <usize>prm(p, P_COLS);
  const cols = <usize>prm(p, P_SCR);
  const dcols = cols + <usize>up(K * L * <i32>es, 64);
  const packed = dcols + <usize>up(K * L * <i32>es, 64);
  const tile = <usize>prm(p, P_TILE);
  const Ks = (K + 3) / 4;
  const Ls = (L + NR - 1) / NR;
  const Kbs = (K + NR - 1) / NR;
  const colsStride = <usize>(Kbs * NR * L) * es; // packed B of L x K
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    if (dw != 0) {
      im2col<T>(p, x + <usize>(n * C * H * W) * es, cols);
      // B = cols^T (L x K): stored as K x L, i.e. transposed.
      packB<T>(cols, colsAll + <usize>n * colsStride, L, K, 1, 0, Kbs);
    }
    if (dx != 0) {
      packB<T>(dout + <usize>(n * F * L) * es, packed, F, L, 0, 0, Ls);
      gemm<T>(wtp, packed, dcols, K, L, F, 0, 0, Ks, 0, Ls, tile);
      col2im<T>(p, dcols, dx + <usize>(n * C * H * W) * es);
    }
  }
}

/**
 * Backward phase 2: dw[:, strips s0..s1) = sum over all images n (in order) of dout[n] * cols[n]^T.
 * Scratch: packed dout[n] as A (Fpad x L).
 */
function convBackward2<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const F = prm(p, P_F);
  const K = prm(p, P_C) * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const dout = <usize>prm(p, P_OUT), dw = <usize>prm(p, P_DW), colsAll = <usize>prm(p, P_COLS);
  const ap = <usize>prm(p, P_SCR);
  const tile = <usize>prm(p, P_TILE);
  const Fs = (F + 3) / 4;
  const Kbs = (K + NR - 1) / NR;
  const colsStride = <usize>(Kbs * NR * L) * es;
  const s0 = prm(p, P_S0), s1 = prm(p, P_S1);
  const acc = prm(p, P_ACC) != 0;
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    packA<T>(dout + <usize>(n * F * L) * es, ap, F, L, 0, 0, Fs);
    gemm<T>(ap, colsAll + <usize>n * colsStride, dw, F, K, L, n > 0 || acc ? 1 : 0, 0, Fs, s0, s1, tile);
  }
}

/** db[f] = sum over n, then l, of dout[n, f, l] (fixed order). */
function biasGrad<T>(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  const es = <usize>sizeof<T>();
  for (let f = 0; f < F; f++) {
    let s: T = <T>0;
    for (let n = 0; n < N; n++) {
      const row = dout + <usize>((n * F + f) * L) * es;
      for (let l = 0; l < L; l++) s += load<T>(row + <usize>l * es);
    }
    store<T>(db + <usize>f * es, s);
  }
}

export function convForward32(p: usize): void {
  convForward<f32>(p);
}
export function convForward64(p: usize): void {
  convForward<f64>(p);
}
export function convBackward1_32(p: usize): void {
  convBackward1<f32>(p);
}
export function convBackward1_64(p: usize): void {
  convBackward1<f64>(p);
}
export function convBackward2_32(p: usize): void {
  convBackward2<f32>(p);
}
export function convBackward2_64(p: usize): void {
  convBackward2<f64>(p);
}
export function biasGrad32(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  biasGrad<f32>(dout, db, N, F, L);
}
export function biasGrad64(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  biasGrad<f64>(dout, db, N, F, L);
}
