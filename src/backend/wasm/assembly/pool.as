// AssemblyScript source: max pooling forward over planes x[planes, h, w] -> out[planes, ho, wo] and
// the per-plane flat index (iy*w + ix) of each maximum. Same rules as the JS reference
// (src/backend/js/pool.ts): padding is never a maximum, the first maximum in row-major window
// order wins ties, and the first NaN wins over everything.

import { P_X, P_OUT, P_DX, P_H, P_WD, P_KH, P_KW, P_SH, P_SW, P_PH, P_PW, P_DH, P_DWL, P_HO, P_WO, P_N0, P_N1 } from "./layout";

/** max(v, 0) as the ReLU kernels compute it: a value whose sign bit is set becomes +0. */
@inline function reluOf<T>(v: T): T {
  if (sizeof<T>() == 4) {
    const b = reinterpret<i32>(<f32>v);
    return <T>reinterpret<f32>(b & ~(b >> 31));
  }
  const b = reinterpret<i64>(<f64>v);
  return <T>reinterpret<f64>(b & ~(b >> 63));
}

@inline function reluOf4(v: v128, relu: bool): v128 {
  return relu ? v128.andnot(v, i32x4.shr_s(v, 31)) : v;
}

@inline function reluOf2(v: v128, relu: bool): v128 {
  return relu ? v128.andnot(v, i64x2.shr_s(v, 63)) : v;
}

function maxPoolGeneric<T>(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32, p0: i32, relu: bool,
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
            let v = load<T>(xb + <usize>(iy * w + ix) * es);
            if (relu) v = reluOf<T>(v);
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
function maxPool2x2f32(x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32, relu: bool): void {
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
        const a0 = reluOf4(v128.load(r0 + c), relu);
        const a1 = reluOf4(v128.load(r0 + c, 16), relu);
        const b0 = reluOf4(v128.load(r1 + c), relu);
        const b1 = reluOf4(v128.load(r1 + c, 16), relu);
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
function maxPool2x2f64(x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32, relu: bool): void {
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
        const a0 = reluOf2(v128.load(r0 + c), relu);
        const a1 = reluOf2(v128.load(r0 + c, 16), relu);
        const b0 = reluOf2(v128.load(r1 + c), relu);
        const b1 = reluOf2(v128.load(r1 + c, 16), relu);
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

function pool32(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32, relu: bool,
): void {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && (w & 7) == 0 && ho * 2 <= h && wo * 2 == w) {
    maxPool2x2f32(x, out, idx, planes, h, w, ho, wo, relu);
  } else {
    maxPoolGeneric<f32>(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, 0, relu);
  }
}

function pool64(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32, relu: bool,
): void {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && (w & 3) == 0 && ho * 2 <= h && wo * 2 == w) {
    maxPool2x2f64(x, out, idx, planes, h, w, ho, wo, relu);
  } else {
    maxPoolGeneric<f64>(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, 0, relu);
  }
}

export function maxPool32(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
): void {
  pool32(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, false);
}

export function maxPool64(
  x: usize, out: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, ho: i32, wo: i32,
): void {
  pool64(x, out, idx, planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, false);
}

@inline function poolPrm(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}

/**
 * Max pooling forward of planes [n0, n1) from a parameter block (a thread's share): P_X the input
 * planes, P_OUT the output planes, P_DX the indices (i32), geometry as for conv (P_C unused).
 */
function maxPoolPlanes<T>(p: usize, relu: bool): void {
  const es = <usize>sizeof<T>();
  const n0 = poolPrm(p, P_N0), n1 = poolPrm(p, P_N1);
  const h = poolPrm(p, P_H), w = poolPrm(p, P_WD), ho = poolPrm(p, P_HO), wo = poolPrm(p, P_WO);
  const x = <usize>poolPrm(p, P_X) + <usize>(n0 * h * w) * es;
  const out = <usize>poolPrm(p, P_OUT) + <usize>(n0 * ho * wo) * es;
  const idx = <usize>poolPrm(p, P_DX) + (<usize>(n0 * ho * wo) << 2);
  const kh = poolPrm(p, P_KH), kw = poolPrm(p, P_KW), sh = poolPrm(p, P_SH), sw = poolPrm(p, P_SW);
  const ph = poolPrm(p, P_PH), pw = poolPrm(p, P_PW), dh = poolPrm(p, P_DH), dw = poolPrm(p, P_DWL);
  if (sizeof<T>() == 4) pool32(x, out, idx, n1 - n0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, relu);
  else pool64(x, out, idx, n1 - n0, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, relu);
}

export function maxPoolPlanes32(p: usize): void {
  maxPoolPlanes<f32>(p, false);
}

export function maxPoolPlanes64(p: usize): void {
  maxPoolPlanes<f64>(p, false);
}

/** Max pooling of relu(x) (ReLU applied to each value as it is read), planes [n0, n1) as above. */
export function reluMaxPoolPlanes32(p: usize): void {
  maxPoolPlanes<f32>(p, true);
}

export function reluMaxPoolPlanes64(p: usize): void {
  maxPoolPlanes<f64>(p, true);
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

/**
 * The gradient of max pooling after ReLU, for windows that tile the planes (stride = kernel, no
 * padding or dilation, ho*kh = h, wo*kw = w), written to every element of dx: (0 + g) * [pooled > 0]
 * at each window's maximum and +0 elsewhere, bit for bit what maxPoolBackward into zeros followed by
 * reluBackward on relu's input gives (the maximum of a window of ReLU outputs is positive exactly
 * when the input at its position is). Returns -1, or the flat output position of the first index
 * outside its window (dx is then only partly written).
 */
function reluMaxPoolBackward<T>(
  dx: usize, g: usize, pooled: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
): i32 {
  const es = <usize>sizeof<T>();
  const ho = h / kh, wo = w / kw;
  for (let p = 0; p < planes; p++) {
    const xb = dx + <usize>(p * h * w) * es;
    const ob = p * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const q = ob + oy * wo + ox;
        const i = load<i32>(idx + (<usize>q << 2));
        const v = (<T>0 + load<T>(g + <usize>q * es)) * (load<T>(pooled + <usize>q * es) > <T>0 ? <T>1 : <T>0);
        let hit = false;
        for (let ky = 0; ky < kh; ky++) {
          const row = (oy * kh + ky) * w + ox * kw;
          for (let kx = 0; kx < kw; kx++) {
            const at = row + kx;
            const here = at == i;
            hit = hit || here;
            store<T>(xb + <usize>at * es, here ? v : <T>0);
          }
        }
        if (!hit) return q;
      }
    }
  }
  return -1;
}

/** reluMaxPoolBackward for 2x2 windows, float32, w divisible by 8: 4 windows per step. */
function reluMaxPoolBackward2x2f32(dx: usize, g: usize, pooled: usize, idx: usize, planes: i32, h: i32, w: i32): i32 {
  const ho = h >> 1, wo = w >> 1;
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  const stepIdx = i32x4(0, 2, 4, 6);
  const i1 = i32x4.splat(1);
  const iw = i32x4.splat(w);
  for (let p = 0; p < planes; p++) {
    const xb = dx + <usize>(p * h * w) * 4;
    const ob = p * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const r0 = xb + <usize>(2 * oy * w) * 4;
      const r1 = r0 + <usize>w * 4;
      for (let ox = 0; ox < wo; ox += 4) {
        const q = <usize>(ob + oy * wo + ox) << 2;
        const m = v128.and(f32x4.gt(v128.load(pooled + q), zero), one);
        const v = f32x4.mul(f32x4.add(zero, v128.load(g + q)), m);
        const iv = v128.load(idx + q);
        const i00 = i32x4.add(i32x4.splat(2 * oy * w + 2 * ox), stepIdx);
        const e00 = i32x4.eq(iv, i00);
        const e01 = i32x4.eq(iv, i32x4.add(i00, i1));
        const e10 = i32x4.eq(iv, i32x4.add(i00, iw));
        const e11 = i32x4.eq(iv, i32x4.add(i32x4.add(i00, iw), i1));
        if (!i32x4.all_true(v128.or(v128.or(e00, e01), v128.or(e10, e11)))) {
          for (let l = 0; l < 4; l++) {
            const i = load<i32>(idx + q + (<usize>l << 2));
            const c0 = 2 * oy * w + 2 * (ox + l);
            if (i != c0 && i != c0 + 1 && i != c0 + w && i != c0 + w + 1) return <i32>(q >> 2) + l;
          }
        }
        const d00 = v128.and(v, e00);
        const d01 = v128.and(v, e01);
        const d10 = v128.and(v, e10);
        const d11 = v128.and(v, e11);
        const c = <usize>(2 * ox) * 4;
        v128.store(r0 + c, v128.shuffle<i32>(d00, d01, 0, 4, 1, 5));
        v128.store(r0 + c, v128.shuffle<i32>(d00, d01, 2, 6, 3, 7), 16);
        v128.store(r1 + c, v128.shuffle<i32>(d10, d11, 0, 4, 1, 5));
        v128.store(r1 + c, v128.shuffle<i32>(d10, d11, 2, 6, 3, 7), 16);
      }
    }
  }
  return -1;
}

export function reluMaxPoolBackward32(
  dx: usize, g: usize, pooled: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
): i32 {
  if (kh == 2 && kw == 2 && (w & 7) == 0) return reluMaxPoolBackward2x2f32(dx, g, pooled, idx, planes, h, w);
  return reluMaxPoolBackward<f32>(dx, g, pooled, idx, planes, h, w, kh, kw);
}

export function reluMaxPoolBackward64(
  dx: usize, g: usize, pooled: usize, idx: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32,
): i32 {
  return reluMaxPoolBackward<f64>(dx, g, pooled, idx, planes, h, w, kh, kw);
}
