// AssemblyScript source: NCHW 2-D convolution forward and backward built on the packed GEMM of
// gemm.as (im2col of one image into WebAssembly memory, never copied out). Every function takes
// a pointer to a block of i32 parameters (see the P_* indices), written by src/backend/wasm/conv.ts.
import { packA32, packB32, gemm32, packA64, packB64, gemm64, kc } from "./gemm";

// Parameter block (i32 each; generated from scripts/wasm-layout.mjs). Pointers are byte addresses.
import {
  P_X, P_W, P_WP, P_OUT, P_BIAS, P_DX, P_DW, P_C, P_H, P_WD, P_F, P_KH, P_KW, P_SH, P_SW, P_PH, P_PW,
  P_DH, P_DWL, P_HO, P_WO, P_N0, P_N1, P_S0, P_S1, P_SCR, P_COLS, P_TILE, P_ACC,
} from "./layout";

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

/**
 * Rows [k0, k1) of im2col (tap k's row holds its input at the L output positions), written
 * row-major from cols. xp holds the padded image (padImage), tab the tap offsets (tapOffsets).
 */
function im2colRows<T>(p: usize, xp: usize, tab: usize, cols: usize, k0: i32, k1: i32): void {
  const es = <usize>sizeof<T>();
  const sh = prm(p, P_SH), sw = prm(p, P_SW);
  const Wp = prm(p, P_WD) + 2 * prm(p, P_PW);
  const Ho = prm(p, P_HO), Wo = prm(p, P_WO);
  const rowBytes = <usize>Wo * es;
  let d = cols;
  for (let k = k0; k < k1; k++) {
    let src = xp + <usize>load<i32>(tab + (<usize>k << 2)) * es;
    for (let ho = 0; ho < Ho; ho++, src += <usize>(sh * Wp) * es, d += rowBytes) {
      if (sw == 1) copyBytes(d, src, rowBytes);
      else for (let wo = 0; wo < Wo; wo++) store<T>(d + <usize>wo * es, load<T>(src + <usize>(wo * sw) * es));
    }
  }
}

// Image rows are short (tens of elements): inline 16-byte moves beat memory.copy / memory.fill,
// which V8 runs as calls out of the module.
@inline function copyBytes(d: usize, s: usize, n: usize): void {
  const e = d + n;
  for (; d + 16 <= e; d += 16, s += 16) v128.store(d, v128.load(s));
  for (; d < e; d += 4, s += 4) store<u32>(d, load<u32>(s));
}
@inline function zeroBytes(d: usize, n: usize): void {
  const e = d + n;
  const z = v128.splat<i32>(0);
  for (; d + 16 <= e; d += 16) v128.store(d, z);
  for (; d < e; d += 4) store<u32>(d, 0);
}

/** Copies image x [C, H, W] into xp [C, H + 2 ph, W + 2 pw] with zero borders. */
function padImage<T>(p: usize, x: usize, xp: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD);
  const ph = prm(p, P_PH), pw = prm(p, P_PW);
  const Hp = H + 2 * ph, Wp = W + 2 * pw;
  zeroBytes(xp, <usize>(C * Hp * Wp) * es);
  for (let c = 0; c < C; c++) {
    for (let h = 0; h < H; h++) {
      copyBytes(xp + <usize>((c * Hp + h + ph) * Wp + pw) * es, x + <usize>((c * H + h) * W) * es, <usize>W * es);
    }
  }
}

/**
 * Writes at tab, for every tap k = (c, kh, kw), the element offset of its input from a window's
 * top-left corner in a padded image (padImage's layout). Depends on the geometry only.
 */
function tapOffsets(p: usize, tab: usize): void {
  const C = prm(p, P_C), Hp = prm(p, P_H) + 2 * prm(p, P_PH), Wp = prm(p, P_WD) + 2 * prm(p, P_PW);
  const KH = prm(p, P_KH), KW = prm(p, P_KW), dh = prm(p, P_DH), dw = prm(p, P_DWL);
  for (let k = 0, K = C * KH * KW; k < K; k++) {
    const c = k / (KH * KW);
    const kh = (k / KW) % KH;
    const kw = k % KW;
    store<i32>(tab + (<usize>k << 2), (c * Hp + kh * dh) * Wp + kw * dw);
  }
}

/**
 * im2col(x) of one image written straight into the packed B layout of gemm.as (K x L, strips of NR
 * columns, k-blocks of kc()): element (k, l) of block pc, strip s sits at pc*Lpad + s*NR*kb +
 * (k - pc)*NR + (l - s*NR); columns past L are zero. The image is first copied into a zero-padded
 * buffer, so that every tap is in range: with stride 1 a strip whose NR outputs share an output
 * row then copies NR consecutive pixels per k (two 16-byte moves), with no bounds checks; other
 * strips gather element by element. xp: room for the padded image; tab: from tapOffsets.
 */
function im2colPacked<T>(p: usize, x: usize, dst: usize, xp: usize, tab: usize): void {
  const es = <usize>sizeof<T>();
  const NR = nr<T>();
  const sh = prm(p, P_SH), sw = prm(p, P_SW);
  const Ho = prm(p, P_HO), Wo = prm(p, P_WO);
  const Wp = prm(p, P_WD) + 2 * prm(p, P_PW);
  const K = prm(p, P_C) * prm(p, P_KH) * prm(p, P_KW);
  const L = Ho * Wo;
  const Ls = (L + NR - 1) / NR;
  const Lpad = Ls * NR;
  const KC = kc();
  padImage<T>(p, x, xp);
  for (let pc = 0; pc < K; pc += KC) {
    const kb = min(KC, K - pc);
    const t0 = tab + (<usize>pc << 2);
    for (let s = 0; s < Ls; s++) {
      const l0 = s * NR;
      let d = dst + <usize>(pc * Lpad + s * NR * kb) * es;
      const ho = l0 / Wo;
      const wo0 = l0 - ho * Wo;
      if (sw == 1 && wo0 + NR <= Wo) {
        const corner = xp + <usize>(ho * sh * Wp + wo0) * es;
        for (let kk = 0; kk < kb; kk++) {
          const src = corner + <usize>load<i32>(t0 + (<usize>kk << 2)) * es;
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          d += <usize>NR * es;
        }
      } else {
        for (let q = 0; q < NR; q++) {
          const l = l0 + q;
          let e = d + <usize>q * es;
          if (l >= L) {
            for (let kk = 0; kk < kb; kk++, e += <usize>NR * es) store<T>(e, <T>0);
          } else {
            const oh = l / Wo;
            const corner = xp + <usize>(oh * sh * Wp + (l - oh * Wo) * sw) * es;
            for (let kk = 0; kk < kb; kk++, e += <usize>NR * es) {
              store<T>(e, load<T>(corner + <usize>load<i32>(t0 + (<usize>kk << 2)) * es));
            }
          }
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
 * Scratch: packed cols K*Lpad | padded image | K offsets (sizes: see wasmConv2dForward).
 */
function convForward<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD), F = prm(p, P_F);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const x = <usize>prm(p, P_X), wp = <usize>prm(p, P_WP), out = <usize>prm(p, P_OUT), bias = <usize>prm(p, P_BIAS);
  const Fs = (F + 3) / 4;
  const Ls = (L + NR - 1) / NR;
  const packed = <usize>prm(p, P_SCR);
  const xp = packed + <usize>up(Ls * NR * K * <i32>es, 64);
  const Hp = H + 2 * prm(p, P_PH), Wp = W + 2 * prm(p, P_PW);
  const tab = xp + <usize>up(C * Hp * Wp * <i32>es, 64);
  tapOffsets(p, tab);
  const tile = <usize>prm(p, P_TILE);
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    im2colPacked<T>(p, x + <usize>(n * C * H * W) * es, packed, xp, tab);
    const o = out + <usize>(n * F * L) * es;
    gemm<T>(wp, packed, o, F, L, K, 0, 0, Fs, 0, Ls, tile);
    if (bias != 0) {
      for (let f = 0; f < F; f++) {
        const b = load<T>(bias + <usize>f * es);
        let q = o + <usize>(f * L) * es;
        const end = q + <usize>L * es;
        if (sizeof<T>() == 4) {
          const bv = f32x4.splat(<f32>b);
          for (; q + 16 <= end; q += 16) v128.store(q, f32x4.add(v128.load(q), bv));
        } else {
          const bv = f64x2.splat(<f64>b);
          for (; q + 16 <= end; q += 16) v128.store(q, f64x2.add(v128.load(q), bv));
        }
        for (; q < end; q += es) store<T>(q, load<T>(q) + b);
      }
    }
  }
}

/**
 * Backward, input gradient, for images [n0, n1): dcols = W^T * dout[n] (K x L), then
 * dx[n] (+)= col2im(dcols). Scratch: dcols K*L | packed dout F*Lpad.
 */
function convBackwardInput<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD), F = prm(p, P_F);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const wtp = <usize>prm(p, P_WP), dout = <usize>prm(p, P_OUT), dx = <usize>prm(p, P_DX);
  const dcols = <usize>prm(p, P_SCR);
  const packed = dcols + <usize>up(K * L * <i32>es, 64);
  const tile = <usize>prm(p, P_TILE);
  const Ks = (K + 3) / 4;
  const Ls = (L + NR - 1) / NR;
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    packB<T>(dout + <usize>(n * F * L) * es, packed, F, L, 0, 0, Ls);
    gemm<T>(wtp, packed, dcols, K, L, F, 0, 0, Ks, 0, Ls, tile);
    col2im<T>(p, dcols, dx + <usize>(n * C * H * W) * es);
  }
}

/**
 * Backward, weight gradient, as dW^T (K x F) for its rows in strips [s0, s1) of 4: for every image
 * n in order, rows += im2col(x[n])[rows, :] * dout[n]^T. The rows of one image's columns stay in
 * cache between their im2col, packing and GEMM, and a thread owns whole output elements, so the
 * sums do not depend on the thread count. Scratch: padded image | tap offsets | im2col rows |
 * packed rows | packed dout^T.
 */
function convBackwardWeight<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD), F = prm(p, P_F);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const NR = nr<T>();
  const x = <usize>prm(p, P_X), dout = <usize>prm(p, P_OUT), dwT = <usize>prm(p, P_COLS);
  const k0 = prm(p, P_S0) * 4;
  const k1 = min(K, prm(p, P_S1) * 4);
  const rows = k1 - k0;
  if (rows <= 0) return;
  const Ms = (rows + 3) / 4;
  const Fs = (F + NR - 1) / NR;
  const xp = <usize>prm(p, P_SCR);
  const Hp = H + 2 * prm(p, P_PH), Wp = W + 2 * prm(p, P_PW);
  const tab = xp + <usize>up(C * Hp * Wp * <i32>es, 64);
  const cols = tab + <usize>up(K * 4, 64);
  const ap = cols + <usize>up(rows * L * <i32>es, 64);
  const bp = ap + <usize>up(Ms * 4 * L * <i32>es, 64);
  const tile = <usize>prm(p, P_TILE);
  const c = dwT + <usize>(k0 * F) * es;
  tapOffsets(p, tab);
  for (let n = 0, N = prm(p, P_N1); n < N; n++) {
    padImage<T>(p, x + <usize>(n * C * H * W) * es, xp);
    im2colRows<T>(p, xp, tab, cols, k0, k1);
    packA<T>(cols, ap, rows, L, 0, 0, Ms);
    packB<T>(dout + <usize>(n * F * L) * es, bp, L, F, 1, 0, Fs);
    gemm<T>(ap, bp, c, rows, F, L, n > 0 ? 1 : 0, 0, Ms, 0, Fs, tile);
  }
}

/** dst[c, r] (+)= src[r, c] for src rows x cols. */
function transposeInto<T>(src: usize, dst: usize, rows: i32, cols: i32, acc: i32): void {
  const es = <usize>sizeof<T>();
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const q = dst + <usize>(c * rows + r) * es;
      const v = load<T>(src + <usize>(r * cols + c) * es);
      store<T>(q, acc ? load<T>(q) + v : v);
    }
  }
}

/**
 * db[f] = sum over n of the sum over l of dout[n, f, l], in a fixed order: each image's row is
 * summed in 16-byte lanes (lane j takes l = j, j + lanes, ...), the lanes are added left to right,
 * then the images in order.
 */
function biasGrad<T>(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  const es = <usize>sizeof<T>();
  for (let f = 0; f < F; f++) {
    let s: T = <T>0;
    for (let n = 0; n < N; n++) {
      let q = dout + <usize>((n * F + f) * L) * es;
      const end = q + <usize>L * es;
      let row: T = <T>0;
      if (sizeof<T>() == 4) {
        let acc = f32x4.splat(0);
        for (; q + 16 <= end; q += 16) acc = f32x4.add(acc, v128.load(q));
        row = <T>(f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      } else {
        let acc = f64x2.splat(0);
        for (; q + 16 <= end; q += 16) acc = f64x2.add(acc, v128.load(q));
        row = <T>(f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1));
      }
      for (; q < end; q += es) row += load<T>(q);
      s += row;
    }
    store<T>(db + <usize>f * es, s);
  }
}

/**
 * Plain im2col for a GEMM outside the module (the native backend's BLAS): image n's columns
 * (K x L, row-major) at P_COLS + n*K*L, for images [n0, n1). Scratch at P_SCR: padded image | tap
 * offsets.
 */
function im2colImages<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const x = <usize>prm(p, P_X), cols = <usize>prm(p, P_COLS);
  const xp = <usize>prm(p, P_SCR);
  const Hp = H + 2 * prm(p, P_PH), Wp = W + 2 * prm(p, P_PW);
  const tab = xp + <usize>up(C * Hp * Wp * <i32>es, 64);
  tapOffsets(p, tab);
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    padImage<T>(p, x + <usize>(n * C * H * W) * es, xp);
    im2colRows<T>(p, xp, tab, cols + <usize>(n * K * L) * es, 0, K);
  }
}

/** dx[n] (+)= col2im(columns of image n at P_COLS + n*K*L) for images [n0, n1) (the adjoint of im2colImages). */
function col2imImages<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const C = prm(p, P_C), H = prm(p, P_H), W = prm(p, P_WD);
  const K = C * prm(p, P_KH) * prm(p, P_KW);
  const L = prm(p, P_HO) * prm(p, P_WO);
  const dx = <usize>prm(p, P_DX), cols = <usize>prm(p, P_COLS);
  for (let n = prm(p, P_N0), n1 = prm(p, P_N1); n < n1; n++) {
    col2im<T>(p, cols + <usize>(n * K * L) * es, dx + <usize>(n * C * H * W) * es);
  }
}

export function convForward32(p: usize): void {
  convForward<f32>(p);
}
export function convForward64(p: usize): void {
  convForward<f64>(p);
}
export function convBackwardInput32(p: usize): void {
  convBackwardInput<f32>(p);
}
export function convBackwardInput64(p: usize): void {
  convBackwardInput<f64>(p);
}
export function convBackwardWeight32(p: usize): void {
  convBackwardWeight<f32>(p);
}
export function convBackwardWeight64(p: usize): void {
  convBackwardWeight<f64>(p);
}
export function transposeInto32(src: usize, dst: usize, rows: i32, cols: i32, acc: i32): void {
  transposeInto<f32>(src, dst, rows, cols, acc);
}
export function transposeInto64(src: usize, dst: usize, rows: i32, cols: i32, acc: i32): void {
  transposeInto<f64>(src, dst, rows, cols, acc);
}
export function biasGrad32(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  biasGrad<f32>(dout, db, N, F, L);
}
export function biasGrad64(dout: usize, db: usize, N: i32, F: i32, L: i32): void {
  biasGrad<f64>(dout, db, N, F, L);
}
export function im2colImages32(p: usize): void {
  im2colImages<f32>(p);
}
export function im2colImages64(p: usize): void {
  im2colImages<f64>(p);
}
export function col2imImages32(p: usize): void {
  col2imImages<f32>(p);
}
export function col2imImages64(p: usize): void {
  col2imImages<f64>(p);
}
