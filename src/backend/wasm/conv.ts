import type { Conv2dBackwardKernel, Conv2dForwardKernel, ConvGeometry, Window2d } from "../backend.js";
import { CONV_PARAMS, CONV_PARAM_COUNT, OPS } from "./generated/layout.js";
import { align, runtime, type WasmRuntime } from "./runtime.js";
import { MAIN_SLOT, SLOT_BASE, SLOT_INTS, getNumThreads, getPool, share } from "./threads.js";
import { PARALLEL_MIN_FLOPS } from "./gemm.js";

const P = CONV_PARAMS;

/** Writes the geometry and the given fields into parameter block `base` (Int32 index of slot field 0). */
export function writeParams(
  I: Int32Array,
  base: number,
  g: Window2d & { cout?: number },
  fields: Partial<Record<keyof typeof P, number>>,
): void {
  const q = base + 1;
  I.fill(0, q, q + CONV_PARAM_COUNT);
  I[q + P.C] = g.c;
  I[q + P.H] = g.h;
  I[q + P.W] = g.w;
  I[q + P.F] = g.cout ?? 0;
  I[q + P.KH] = g.kh;
  I[q + P.KW] = g.kw;
  I[q + P.SH] = g.sh;
  I[q + P.SW] = g.sw;
  I[q + P.PH] = g.ph;
  I[q + P.PW] = g.pw;
  I[q + P.DH] = g.dh;
  I[q + P.DW] = g.dw;
  I[q + P.HO] = g.ho;
  I[q + P.WO] = g.wo;
  for (const [k, v] of Object.entries(fields)) I[q + P[k as keyof typeof P]] = v as number;
}

/**
 * Runs `op` (a PARAM_OPS code) over `parts` work shares: worker t gets params(t), the caller params(0).
 * Uses up to getNumThreads() threads when `flops` is large enough.
 */
export function dispatch(
  rt: WasmRuntime,
  op: number,
  parts: number,
  flops: number,
  params: (base: number, t: number, nt: number) => void,
  kernel: (ptr: number) => void,
  ntFixed?: number,
): number {
  let nt = ntFixed ?? 1;
  const wanted = getNumThreads();
  const pool = wanted > 1 && parts >= 2 && flops >= PARALLEL_MIN_FLOPS ? getPool(rt) : null;
  if (ntFixed === undefined && pool) nt = 1 + pool.ready(Math.min(wanted, parts) - 1);
  const mainBase = SLOT_BASE + MAIN_SLOT * SLOT_INTS;
  const mainPtr = rt.ctrlOffset + (mainBase + 1) * 4;
  if (nt === 1 || !pool) {
    params(mainBase, 0, 1);
    kernel(mainPtr);
    return 1;
  }
  const I = rt.ctrl;
  pool.run(
    nt,
    (base, t) => {
      params(base, t, nt);
      I[base] = op;
    },
    () => {
      params(mainBase, 0, nt);
      kernel(mainPtr);
    },
  );
  return nt;
}

/** Threads for a job: decided once so both backward phases use the same per-thread scratch. */
function threadsFor(rt: WasmRuntime, parts: number, flops: number): number {
  const wanted = getNumThreads();
  if (wanted <= 1 || parts < 2 || flops < PARALLEL_MIN_FLOPS) return 1;
  return 1 + getPool(rt).ready(Math.min(wanted, parts) - 1);
}

/**
 * 2-D convolution forward (NCHW, groups 1) on the WebAssembly kernels: per image, im2col into
 * WebAssembly memory, then the packed GEMM out[n] = W (F x C*kH*kW) * cols (C*kH*kW x Ho*Wo),
 * plus bias. Images are split across threads; results do not depend on the thread count. The
 * geometry comes validated from backend/geometry.ts (convGeometry) and is not checked again.
 */
export const wasmConvForwardKernel: Conv2dForwardKernel = (xs, weight, bias, out, g) => {
  const op = "wasmConvForwardKernel";
  if (g.groups !== 1) throw new RangeError(`${op}: only groups = 1 runs here, got ${g.groups}`);
  const K = g.c * g.kh * g.kw;
  const L = g.ho * g.wo;
  const f64 = xs instanceof Float64Array;
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  if (g.n === 0 || g.cout === 0) return;
  if (K === 0) {
    for (let n = 0; n < g.n; n++)
      for (let f = 0; f < g.cout; f++)
        out.fill(bias ? bias[f] : 0, (n * g.cout + f) * L, (n * g.cout + f + 1) * L);
    return;
  }
  const es = f64 ? 8 : 4;
  const nr = f64 ? 4 : 8;
  const F = g.cout;
  const Fs = Math.ceil(F / 4);
  const Ls = Math.ceil(L / nr);
  const xOff = rt.arenaOffset;
  const wOff = align(xOff + xs.length * es, 64);
  const bOff = align(wOff + weight.length * es, 64);
  const outOff = align(bOff + F * es, 64);
  const wpOff = align(outOff + out.length * es, 64);
  const scrOff = align(wpOff + Fs * 4 * K * es, 64);
  // packed columns | zero-padded image | tap offsets (assembly/conv.as, convForward)
  const padded = g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * es;
  const scrSize = align(Ls * nr * K * es, 64) + align(padded, 64) + align(K * 4, 64);
  const flops = 2 * g.n * F * K * L;
  const nt = threadsFor(rt, g.n, flops);
  rt.ensureArena(scrOff + nt * scrSize - rt.arenaOffset);
  // arrays already in WebAssembly memory (a compiled graph's arena) are used where they are
  const xAt = rt.place(xOff, xs);
  const wAt = rt.place(wOff, weight);
  const bAt = bias ? rt.place(bOff, bias) : 0;
  const outOwn = rt.offsetOf(out);
  const outAt = outOwn >= 0 ? outOwn : outOff;
  const x = rt.x;
  (f64 ? x.packA64 : x.packA32)(wAt, wpOff, F, K, 0, 0, Fs);
  dispatch(
    rt,
    f64 ? OPS.convForward64 : OPS.convForward32,
    g.n,
    flops,
    (base, t, n) => {
      const [n0, n1] = share(g.n, n, t);
      writeParams(rt.ctrl, base, g, {
        x: xAt,
        wp: wpOff,
        out: outAt,
        bias: bAt,
        n0,
        n1,
        scr: scrOff + t * scrSize,
        tile: rt.tile(t),
      });
    },
    f64 ? x.convForward64 : x.convForward32,
    nt,
  );
  if (outOwn < 0) rt.read(outOff, out);
};

/**
 * 2-D convolution backward on the WebAssembly kernels (groups 1): ADDS dx = col2im(W^T * dout[n])
 * per image, dw = sum over images (in order) of dout[n] * cols[n]^T and db = sum of dout over n and
 * pixels into dx, dw, db (each may be null). Results do not depend on the thread count.
 */
export const wasmConvBackwardKernel: Conv2dBackwardKernel = (xs, weight, dout, dx, dw, db, g) => {
  const op = "wasmConvBackwardKernel";
  if (g.groups !== 1) throw new RangeError(`${op}: only groups = 1 runs here, got ${g.groups}`);
  const K = g.c * g.kh * g.kw;
  const L = g.ho * g.wo;
  const F = g.cout;
  const N = g.n;
  const f64 = xs instanceof Float64Array;
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  const es = f64 ? 8 : 4;
  const nr = f64 ? 4 : 8;
  const x = rt.x;
  const wantDx = dx != null;
  const wantDw = dw != null;
  if (N === 0 || F === 0 || K === 0) {
    if (db) {
      for (let f = 0; f < F; f++) {
        let t = 0;
        for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) t += dout[(n * F + f) * L + l];
        db[f] += t;
      }
    }
    return;
  }
  const Ks = Math.ceil(K / 4);
  const Ls = Math.ceil(L / nr);
  const Fn = Math.ceil(F / nr);
  const xOff = rt.arenaOffset;
  const wOff = align(xOff + xs.length * es, 64);
  const doutOff = align(wOff + weight.length * es, 64);
  const dxOff = align(doutOff + dout.length * es, 64);
  const dwOff = align(dxOff + (wantDx ? xs.length * es : 0), 64);
  const dbOff = align(dwOff + F * K * es, 64);
  const wtpOff = align(dbOff + F * es, 64);
  const dwtOff = align(wtpOff + (wantDx ? Ks * 4 * F * es : 0), 64);
  const scrOff = align(dwtOff + (wantDw ? K * F * es : 0), 64);
  const flopsDx = wantDx ? 2 * N * F * K * L : 0;
  const flopsDw = wantDw ? 2 * N * F * K * L : 0;
  const ntDx = wantDx ? threadsFor(rt, N, flopsDx) : 1;
  const ntDw = wantDw ? threadsFor(rt, Ks, flopsDw) : 1;
  // input gradient: dcols | packed dout; weight gradient: padded image | tap offsets | im2col rows |
  // packed rows | packed dout^T (assembly/conv.as)
  const scrDx = wantDx ? align(K * L * es, 64) + Ls * nr * F * es : 0;
  const rowsDw = Math.min(K, 4 * Math.ceil(Ks / ntDw));
  const padded = g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * es;
  const scrDw = wantDw
    ? align(padded, 64) +
      align(K * 4, 64) +
      align(rowsDw * L * es, 64) +
      align(Math.ceil(rowsDw / 4) * 4 * L * es, 64) +
      Fn * nr * L * es
    : 0;
  const scrSize = align(Math.max(scrDx, scrDw), 64);
  rt.ensureArena(scrOff + Math.max(ntDx, ntDw) * scrSize - rt.arenaOffset);
  // arrays already in WebAssembly memory (a compiled graph's arena) are used where they are; dx and
  // dw are accumulated into, so they are copied in and out when they live elsewhere
  const xAt = wantDw ? rt.place(xOff, xs) : xOff;
  const wAt = wantDx ? rt.place(wOff, weight) : wOff;
  const doutAt = rt.place(doutOff, dout);
  const dxAt = dx ? rt.place(dxOff, dx) : dxOff;
  const dwAt = dw ? rt.place(dwOff, dw) : dwOff;
  if (wantDx) (f64 ? x.packA64 : x.packA32)(wAt, wtpOff, K, F, 1, 0, Ks);
  const common = {
    x: xAt,
    wp: wtpOff,
    out: doutAt,
    dx: wantDx ? dxAt : 0,
    dw: wantDw ? dwAt : 0,
    cols: dwtOff,
    acc: 1,
  };
  if (wantDx) {
    dispatch(
      rt,
      f64 ? OPS.convBackwardInput64 : OPS.convBackwardInput32,
      N,
      flopsDx,
      (base, t, n) => {
        const [n0, n1] = share(N, n, t);
        writeParams(rt.ctrl, base, g, {
          ...common,
          n0,
          n1,
          scr: scrOff + t * scrSize,
          tile: rt.tile(t),
        });
      },
      f64 ? x.convBackwardInput64 : x.convBackwardInput32,
      ntDx,
    );
  }
  if (wantDw) {
    dispatch(
      rt,
      f64 ? OPS.convBackwardWeight64 : OPS.convBackwardWeight32,
      Ks,
      flopsDw,
      (base, t, n) => {
        const [s0, s1] = share(Ks, n, t);
        writeParams(rt.ctrl, base, g, {
          ...common,
          n0: 0,
          n1: N,
          s0,
          s1,
          scr: scrOff + t * scrSize,
          tile: rt.tile(t),
        });
      },
      f64 ? x.convBackwardWeight64 : x.convBackwardWeight32,
      ntDw,
    );
    (f64 ? x.transposeInto64 : x.transposeInto32)(dwtOff, dwAt, K, F, 1);
  }
  if (db) (f64 ? x.biasGrad64 : x.biasGrad32)(doutAt, dbOff, N, F, L);
  if (dx) rt.read(dxAt, dx);
  if (dw) rt.read(dwAt, dw);
  if (db) {
    const view = f64 ? rt.f64.subarray(dbOff / 8, dbOff / 8 + F) : rt.f32.subarray(dbOff / 4, dbOff / 4 + F);
    for (let f = 0; f < F; f++) db[f] += view[f];
  }
};

/** Bytes of per-thread scratch that wasmImageColumns needs: the zero-padded image and the tap offsets. */
export function imageColumnsScratch(g: ConvGeometry, es: number): number {
  return align(g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * es, 64) + align(g.c * g.kh * g.kw * 4, 64);
}

/**
 * Plain im2col ("im2col") or its adjoint ("col2im") over images [0, g.n) that sit in WebAssembly
 * memory at byte offset imgOff, split across up to getNumThreads() threads: image i's columns
 * (K x L, row-major, K = c*kh*kw over every channel) sit at colsOff + i*K*L elements. col2im adds
 * into the images when `acc`, else overwrites them. Per-thread scratch starts at scrOff (the arena
 * is grown to hold it, which may replace the memory's views).
 */
export function wasmImageColumns(
  rt: WasmRuntime,
  kind: "im2col" | "col2im",
  f64: boolean,
  g: ConvGeometry,
  imgOff: number,
  colsOff: number,
  scrOff: number,
  acc = false,
): void {
  const es = f64 ? 8 : 4;
  const bytes = g.n * g.c * g.kh * g.kw * g.ho * g.wo * es;
  const scr = imageColumnsScratch(g, es);
  // a memory-bound pass: worth a second thread only when it moves a few megabytes
  const nt = threadsFor(rt, g.n, bytes * 2);
  rt.ensureArena(scrOff + nt * scr - rt.arenaOffset);
  const x = rt.x;
  const op =
    kind === "im2col"
      ? f64
        ? OPS.im2colImages64
        : OPS.im2colImages32
      : f64
        ? OPS.col2imImages64
        : OPS.col2imImages32;
  const kernel =
    kind === "im2col"
      ? f64
        ? x.im2colImages64
        : x.im2colImages32
      : f64
        ? x.col2imImages64
        : x.col2imImages32;
  dispatch(
    rt,
    op,
    g.n,
    bytes * 2,
    (base, t, n) => {
      const [n0, n1] = share(g.n, n, t);
      writeParams(rt.ctrl, base, g, {
        x: imgOff,
        dx: imgOff,
        cols: colsOff,
        n0,
        n1,
        scr: scrOff + t * scr,
        acc: acc ? 1 : 0,
      });
    },
    kernel,
    nt,
  );
}
