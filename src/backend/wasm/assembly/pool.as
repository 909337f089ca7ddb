// AssemblyScript source: max pooling forward over planes x[planes, h, w] -> out[planes, ho, wo] and
// the per-plane flat index (iy*w + ix) of each maximum. Same rules as the JS reference
// (src/backend/js/pool.ts): padding is never a maximum, the first maximum in row-major window
// order wins ties, and the first NaN wins over everything.

import { P_X, P_OUT, P_DX, P_H, P_WD, P_KH, P_KW, P_SH, P_SW, P_PH, P_PW, P_DH, P_DWL, P_HO, P_WO, P_N0, P_N1 } from "./layout";

function maxPoolGeneric<T>(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32, p0: i32,
): void {
  const es = <usize>sizeof<T>();
  for (let p = p0; p < planes; p++) {
    const xb = x + <usize>(p * h * w) * es;
    const ob = <usize>(p * ho * wo);
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - ph;
      for (let ox = 0; ox < wo; ox++) {
        const x0 = ox * sw - pw;
        let best: T = <T>-Infinity;
        let bi = -1;
        let nan = false;
        for (let ki = 0; ki < kh && !nan; ki++) {
          const iy = y0 + ki * dh;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = x0 + kj * dw;
            if (ix < 0 || ix >= w) continue;
            const v = load<T>(xb + <usize>(iy * w + ix) * es);
            if (v > best || v != v || bi < 0) {
              best = v;
              bi = iy * w + ix;
              if (v != v) {
                nan = true;
                break;
              }
            }
          }
        }
        const o = ob + <usize>(oy * wo + ox);
        store<T>(out + o * es, best);
        store<i32>(idx + (o << 2), bi);
      }
    }
  }
}

/** 2x2 windows, stride 2, no padding, dilation 1, w divisible by 8 (float32): 4 outputs per step. */
function maxPool2x2f32(x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32): void {
  const stepIdx = i32x4(0, 2, 4, 6);
  const one = i32x4.splat(1);
  const wv = i32x4.splat(w);
  for (let p = 0; p < planes; p++) {
    const xb = x + <usize>(p * h * w) * 4;
    const ob = <usize>(p * ho * wo);
    for (let oy = 0; oy < ho; oy++) {
      const r0 = xb + <usize>(2 * oy * w) * 4;
      const r1 = r0 + <usize>w * 4;
      let o = ob + <usize>(oy * wo);
      for (let ox = 0; ox < wo; ox += 4) {
        const c = <usize>(2 * ox) * 4;
        const a0 = v128.load(r0 + c);
        const a1 = v128.load(r0 + c, 16);
        const b0 = v128.load(r1 + c);
        const b1 = v128.load(r1 + c, 16);
        const v00 = v128.shuffle<i32>(a0, a1, 0, 2, 4, 6); // (row 0, col 0) of 4 windows
        const v01 = v128.shuffle<i32>(a0, a1, 1, 3, 5, 7);
        const v10 = v128.shuffle<i32>(b0, b1, 0, 2, 4, 6);
        const v11 = v128.shuffle<i32>(b0, b1, 1, 3, 5, 7);
        const i00 = i32x4.add(i32x4.splat(2 * oy * w + 2 * ox), stepIdx);
        let best = v00;
        let bi = i00;
        // take = v > best || (v is NaN && best is not NaN)
        let take = v128.or(f32x4.gt(v01, best), v128.andnot(f32x4.ne(v01, v01), f32x4.ne(best, best)));
        best = v128.bitselect(v01, best, take);
        bi = v128.bitselect(i32x4.add(i00, one), bi, take);
        take = v128.or(f32x4.gt(v10, best), v128.andnot(f32x4.ne(v10, v10), f32x4.ne(best, best)));
        best = v128.bitselect(v10, best, take);
        bi = v128.bitselect(i32x4.add(i00, wv), bi, take);
        take = v128.or(f32x4.gt(v11, best), v128.andnot(f32x4.ne(v11, v11), f32x4.ne(best, best)));
        best = v128.bitselect(v11, best, take);
        bi = v128.bitselect(i32x4.add(i32x4.add(i00, wv), one), bi, take);
        v128.store(out + (o << 2), best);
        v128.store(idx + (o << 2), bi);
        o += 4;
      }
    }
  }
}

/** 2x2 windows, stride 2, no padding, dilation 1, w divisible by 4 (float64): 2 outputs per step. */
function maxPool2x2f64(x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32): void {
  const stepIdx = i64x2(0, 2);
  const one = i64x2.splat(1);
  const wv = i64x2.splat(w);
  for (let p = 0; p < planes; p++) {
    const xb = x + <usize>(p * h * w) * 8;
    const ob = <usize>(p * ho * wo);
    for (let oy = 0; oy < ho; oy++) {
      const r0 = xb + <usize>(2 * oy * w) * 8;
      const r1 = r0 + <usize>w * 8;
      let o = ob + <usize>(oy * wo);
      for (let ox = 0; ox < wo; ox += 2) {
        const c = <usize>(2 * ox) * 8;
        const a0 = v128.load(r0 + c);
        const a1 = v128.load(r0 + c, 16);
        const b0 = v128.load(r1 + c);
        const b1 = v128.load(r1 + c, 16);
        const v00 = v128.shuffle<i64>(a0, a1, 0, 2); // (row 0, col 0) of 2 windows
        const v01 = v128.shuffle<i64>(a0, a1, 1, 3);
        const v10 = v128.shuffle<i64>(b0, b1, 0, 2);
        const v11 = v128.shuffle<i64>(b0, b1, 1, 3);
        const i00 = i64x2.add(i64x2.splat(2 * oy * w + 2 * ox), stepIdx);
        let best = v00;
        let bi = i00;
        // take = v > best || (v is NaN && best is not NaN)
        let take = v128.or(f64x2.gt(v01, best), v128.andnot(f64x2.ne(v01, v01), f64x2.ne(best, best)));
        best = v128.bitselect(v01, best, take);
        bi = v128.bitselect(i64x2.add(i00, one), bi, take);
        take = v128.or(f64x2.gt(v10, best), v128.andnot(f64x2.ne(v10, v10), f64x2.ne(best, best)));
        best = v128.bitselect(v10, best, take);
        bi = v128.bitselect(i64x2.add(i00, wv), bi, take);
        take = v128.or(f64x2.gt(v11, best), v128.andnot(f64x2.ne(v11, v11), f64x2.ne(best, best)));
        best = v128.bitselect(v11, best, take);
        bi = v128.bitselect(i64x2.add(i64x2.add(i00, wv), one), bi, take);
        v128.store(out + (o << 3), best);
        store<i32>(idx + (o << 2), <i32>i64x2.extract_lane(bi, 0));
        store<i32>(idx + (o << 2), <i32>i64x2.extract_lane(bi, 1), 4);
        o += 2;
      }
    }
  }
}

export function maxPool32(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
): void {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && (w & 7) == 0 && ho * 2 <= h && wo * 2 == w) {
    maxPool2x2f32(x, out, idx, planes, h, w, ho, wo);
  } else {
    maxPoolGeneric<f32>(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, 0);
  }
}

export function maxPool64(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
): void {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && (w & 3) == 0 && ho * 2 <= h && wo * 2 == w) {
    maxPool2x2f64(x, out, idx, planes, h, w, ho, wo);
  } else {
    maxPoolGeneric<f64>(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, 0);
  }
}

@inline function poolPrm(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

/**
 * Max pooling forward of planes [n0, n1) from a parameter block (a thread's share): P_X the input
 * planes, P_OUT the output planes, P_DX the indices (i32), geometry as for conv (P_C unused).
 */
function maxPoolPlanes<T>(p: usize): void {
  const es = <usize>sizeof<T>();
  const n0 = poolPrm(p, P_N0), n1 = poolPrm(p, P_N1);
  const h = poolPrm(p, P_H), w = poolPrm(p, P_WD), ho = poolPrm(p, P_HO), wo = poolPrm(p, P_WO);
  const x = <usize>poolPrm(p, P_X) + <usize>(n0 * h * w) * es;
  const out = <usize>poolPrm(p, P_OUT) + <usize>(n0 * ho * wo) * es;
  const idx = <usize>poolPrm(p, P_DX) + (<usize>(n0 * ho * wo) << 2);
  const kh = poolPrm(p, P_KH), kw = poolPrm(p, P_KW), sh = poolPrm(p, P_SH), sw = poolPrm(p, P_SW);
  const ph = poolPrm(p, P_PH), pw = poolPrm(p, P_PW), dh = poolPrm(p, P_DH), dw = poolPrm(p, P_DWL);
  if (sizeof<T>() == 4) maxPool32(x, out, idx, n1 - n0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo);
  else maxPool64(x, out, idx, n1 - n0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo);
}

export function maxPoolPlanes32(p: usize): void {
  maxPoolPlanes<f32>(p);
}

export function maxPoolPlanes64(p: usize): void {
  maxPoolPlanes<f64>(p);
}

/**
 * Max pooling backward: dx[p, idx[p, q]] += g[p, q] for every plane p and output q (dx is added
 * into, in the order of q, as the JS reference does). Returns -1, or the flat position of the first
 * index outside its plane (nothing from there on is written).
 */
function maxPoolBackward<T>(dx: usize, g: usize, idx: usize, planes: i32, plane: i32, oPlane: i32): i32 {
  const es = <usize>sizeof<T>();
  for (let p = 0; p < planes; p++) {
    const xb = dx + <usize>(p * plane) * es;
    const gb = g + <usize>(p * oPlane) * es;
    const ib = idx + (<usize>(p * oPlane) << 2);
    for (let q = 0; q < oPlane; q++) {
      const i = load<i32>(ib + (<usize>q << 2));
      if (<u32>i >= <u32>plane) return p * oPlane + q;
      const a = xb + <usize>i * es;
      store<T>(a, load<T>(a) + load<T>(gb + <usize>q * es));
    }
  }
  return -1;
}

export function maxPoolBackward32(dx: usize, g: usize, idx: usize, planes: i32, plane: i32, oPlane: i32): i32 {
  return maxPoolBackward<f32>(dx, g, idx, planes, plane, oPlane);
}
export function maxPoolBackward64(dx: usize, g: usize, idx: usize, planes: i32, plane: i32, oPlane: i32): i32 {
  return maxPoolBackward<f64>(dx, g, idx, planes, plane, oPlane);
}
