/**
 * conv2d forward and backward on the BLAS: the WebAssembly module unfolds images into plain
 * im2col columns (in parallel, in its own memory), and the BLAS multiplies the weights straight
 * against those columns (views of the WebAssembly memory, passed as pointers: no copy out), one
 * GEMM per image and group, writing the output in NCHW order with no layout shuffle. Only the
 * input images (and, backward, the input gradient) cross between JS arrays and WebAssembly memory;
 * they are a fraction (1 / (kh*kw) of the columns for stride 1) of what the columns move.
 *
 * At two threads or more (groups 1), cnnlab's first pool worker loads the same library through the
 * FFI and runs the GEMMs of half of each chunk's images, while the calling thread runs the other
 * half: each on one BLAS thread, so that the two cores work on the convolution at once instead of
 * OpenBLAS's threads waiting on each small GEMM. The worker's operands and results live in
 * WebAssembly memory (the weights, its half of the output gradient in; its half of the output,
 * or its dW partial, out): a copy of half of the output, against half of the GEMMs.
 */
import type { Conv2dBackwardKernel, Conv2dForwardKernel, ConvGeometry } from "../backend.js";
import type { FloatArray } from "../../tensor/dtype.js";
import { align, type WasmRuntime } from "../wasm/runtime.js";
import { imageColumnsScratch, wasmImageColumns, writeParams } from "../wasm/conv.js";
import { CONV_PARAMS, CONV_PARAM_COUNT } from "../wasm/generated/layout.js";
import { PARALLEL_MIN_FLOPS } from "../wasm/gemm.js";
import { koffiPath, type Blas } from "./blas.js";
import { BLAS_GEMMS, G, getNumThreads, getPool, setWorkerBlas, type ThreadPool } from "../wasm/threads.js";

/**
 * Runs `fn` with the BLAS on one thread. The per-image GEMMs of a convolution are small (W5: 32 x
 * 1024 x 147), and handing each to OpenBLAS's second thread and waiting for it made the W5 step
 * at two threads 1.9x slower than at one (145 vs 78 ms, same run); the im2col passes and the
 * worker's share (blasWorker) use cnnlab's threads instead.
 */
function blasSingleThreaded(blas: Blas, fn: () => void): void {
  const nt = getNumThreads();
  if (nt <= 1) return fn();
  blas.setThreads(1);
  try {
    fn();
  } finally {
    blas.setThreads(nt);
  }
}

/**
 * Bytes of im2col columns one pass may hold by default; larger batches run in chunks of images, so
 * that a chunk's columns are still in cache when the BLAS reads them. On one thread 1 MB (the
 * columns of one W5 image, 0.6 MB, at a time): the W5 7x7 conv forward takes 7.9 ms with it
 * against 9.6 ms with 4 MB, and W3's 3x3 conv forward + backward 20.7 vs 22.9 ms (same run,
 * 2 MB of L2 per core). With a BLAS worker (two threads) each thread's half of a chunk is 4 MB:
 * every chunk wakes the worker once, and smaller chunks made the two-thread W5 forward slower
 * (8.5 ms at 1.3 MB, 7.0 ms at 4 MB).
 */
const COLS_BUDGET_BYTES = 1 << 20;
const WORKER_COLS_BUDGET_BYTES = 1 << 22;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

type Gemm = (
  ta: number,
  tb: number,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  lda: number,
  b: FloatArray,
  ldb: number,
  beta: number,
  c: FloatArray,
  ldc: number,
) => void;

function gemmOf(blas: Blas, f64: boolean): Gemm {
  if (f64) {
    return (ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc) =>
      blas.dgemm(
        ROW_MAJOR,
        ta,
        tb,
        m,
        n,
        k,
        1,
        a as Float64Array,
        lda,
        b as Float64Array,
        ldb,
        beta,
        c as Float64Array,
        ldc,
      );
  }
  return (ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc) =>
    blas.sgemm(
      ROW_MAJOR,
      ta,
      tb,
      m,
      n,
      k,
      1,
      a as Float32Array,
      lda,
      b as Float32Array,
      ldb,
      beta,
      c as Float32Array,
      ldc,
    );
}

interface Plan {
  f64: boolean;
  es: number;
  /** Taps per image over every channel, and per group. */
  K: number;
  Kg: number;
  Fg: number;
  L: number;
  /** Input elements per image. */
  chw: number;
  /** Images per chunk. */
  nb: number;
  imgOff: number;
  colsOff: number;
  scrOff: number;
  /** With a BLAS worker: the weights, the bias, one chunk's output (or output gradient), its dWᵀ partial. */
  wOff: number;
  bOff: number;
  cOff: number;
  dwOff: number;
  /** The calling thread's dWᵀ partial (backward). */
  dwtOff: number;
}

/** The columns budget of one pass: `budget` given by the caller, else the default for one thread or two. */
function chunkBudget(budget: number | undefined, pool: ThreadPool | null): number {
  if (budget !== undefined) return pool ? 2 * budget : budget;
  return pool ? 2 * WORKER_COLS_BUDGET_BYTES : COLS_BUDGET_BYTES;
}

function plan(rt: WasmRuntime, x: FloatArray, g: ConvGeometry, budget: number): Plan {
  const f64 = x instanceof Float64Array;
  const es = f64 ? 8 : 4;
  const K = g.c * g.kh * g.kw;
  const L = g.ho * g.wo;
  const chw = g.c * g.h * g.w;
  const nb = Math.max(1, Math.min(g.n, Math.floor(budget / Math.max(1, K * L * es))));
  const imgOff = rt.arenaOffset;
  const colsOff = align(imgOff + nb * chw * es, 64);
  const scrOff = align(colsOff + nb * K * L * es, 64);
  const wOff = align(scrOff + Math.max(1, getNumThreads()) * imageColumnsScratch(g, es), 64);
  const bOff = align(wOff + g.cout * K * es, 64);
  const cOff = align(bOff + g.cout * es, 64);
  const dwOff = align(cOff + nb * g.cout * L * es, 64);
  const dwtOff = align(dwOff + g.cout * K * es, 64);
  rt.ensureArena(dwtOff + g.cout * K * es - rt.arenaOffset);
  const Kg = K / g.groups;
  return {
    f64,
    es,
    K,
    Kg,
    Fg: g.cout / g.groups,
    L,
    chw,
    nb,
    imgOff,
    colsOff,
    scrOff,
    wOff,
    bOff,
    cOff,
    dwOff,
    dwtOff,
  };
}

function view(rt: WasmRuntime, f64: boolean, off: number, len: number): FloatArray {
  return f64 ? rt.f64.subarray(off / 8, off / 8 + len) : rt.f32.subarray(off / 4, off / 4 + len);
}

/** Unfolds images [n0, n0 + m) of x into the plan's columns; returns the columns' view. */
function unfold(rt: WasmRuntime, p: Plan, x: FloatArray, g: ConvGeometry, n0: number, m: number): FloatArray {
  // images already in WebAssembly memory (a compiled graph's arena) are unfolded where they are
  const at = rt.place(p.imgOff, x.subarray(n0 * p.chw, (n0 + m) * p.chw));
  wasmImageColumns(rt, "im2col", p.f64, { ...g, n: m }, at, p.colsOff, p.scrOff);
  return view(rt, p.f64, p.colsOff, m * p.K * p.L);
}

/** One BLAS_GEMMS job (see wasm/threads.ts): byte offsets into WebAssembly memory, strides in elements. */
type GemmJob = { [F in keyof typeof G]: number };

/** False once a worker failed to run BLAS jobs (its FFI or library did not load): then one thread. */
let workerBlas: boolean | undefined;

/**
 * The pool to split a convolution's GEMMs with: at two threads or more, its first worker runs the
 * GEMMs of half of each chunk's images on the BLAS (one BLAS thread each), while the calling
 * thread runs the other half. Null when one thread is asked for or no worker can.
 */
function blasWorker(rt: WasmRuntime, blas: Blas, g: ConvGeometry): ThreadPool | null {
  if (getNumThreads() < 2 || g.groups !== 1 || g.n < 2 || workerBlas === false) return null;
  // a small convolution is not worth waking the worker and copying its share
  if (2 * g.cout * g.c * g.kh * g.kw * g.ho * g.wo * g.n < PARALLEL_MIN_FLOPS) return null;
  if (workerBlas === undefined) {
    const k = koffiPath();
    if (!k) return null;
    setWorkerBlas(k, blas.path);
    workerBlas = true;
  }
  const pool = getPool(rt);
  return pool.ready(1) >= 1 ? pool : null;
}

/**
 * Whether the pool's workers run convolution GEMMs on the BLAS: undefined before the first
 * convolution at two threads, false after a worker could not load the FFI or the library.
 */
export function convWorkerBlas(): boolean | undefined {
  return workerBlas;
}

/** The job on the calling thread (what a worker runs, for when none can). */
function runHere(blas: Blas, rt: WasmRuntime, j: GemmJob): void {
  const f64 = j.f64 === 1;
  const es = f64 ? 8 : 4;
  const M = f64 ? rt.f64 : rt.f32;
  const gemm = gemmOf(blas, f64);
  const beta = j.bias >= 0 ? 1 : j.beta;
  const P = j.prm >= 0 ? new Int32Array(rt.memory.buffer, j.prm, CONV_PARAM_COUNT) : null;
  const x0 = P === null ? 0 : P[CONV_PARAMS.x];
  for (let i = 0; i < j.count; i++) {
    if (P !== null) {
      P[CONV_PARAMS.x] = x0 + i * j.xStride;
      (f64 ? rt.x.im2colImages64 : rt.x.im2colImages32)(j.prm);
    }
    const c = j.c / es + i * j.cStride;
    if (j.bias >= 0)
      for (let r = 0; r < j.m; r++) M.fill(M[j.bias / es + r], c + r * j.ldc, c + r * j.ldc + j.n);
    gemm(
      j.ta,
      j.tb,
      j.m,
      j.n,
      j.k,
      M.subarray(j.a / es + i * j.aStride),
      j.lda,
      M.subarray(j.b / es + i * j.bStride),
      j.ldb,
      beta,
      M.subarray(c),
      j.ldc,
    );
  }
}

/** Runs `job` on the pool's first worker while the calling thread runs `own()`. */
function split(pool: ThreadPool, blas: Blas, rt: WasmRuntime, job: GemmJob, own: () => void): void {
  const I = rt.ctrl;
  let ownError: unknown = null;
  try {
    pool.run(
      2,
      (base) => {
        for (const [k, v] of Object.entries(job)) I[base + G[k as keyof typeof G]] = v;
        I[base] = BLAS_GEMMS;
      },
      () => {
        try {
          own();
        } catch (e) {
          ownError = e;
        }
      },
    );
  } catch {
    // the worker could not run the BLAS: its share runs here, and later calls stay on one thread
    workerBlas = false;
    runHere(blas, rt, job);
  }
  if (ownError !== null) throw ownError;
}

/**
 * WebAssembly memory for a convolution split in two halves of the batch: every image, and per
 * thread one image's columns, im2col scratch and an im2col parameter block.
 */
interface Halves {
  f64: boolean;
  K: number;
  L: number;
  /** Output elements per image. */
  FL: number;
  gemm: Gemm;
  /** Images of the calling thread ([0, h)); the worker takes [h, n). */
  h: number;
  /** Byte offsets of the calling thread's and the worker's im2col parameter blocks and columns. */
  prm: [number, number];
  cols: [number, number];
  /** The calling thread's columns (one image), and the unfold of image i into them. */
  ownCols: FloatArray;
  unfold: (i: number) => void;
  /** Byte offsets of further regions asked for by size (in elements, in order). */
  extra: number[];
  /** The worker's BLAS_GEMMS job over its images, unfolding each before its product. */
  job(j: Omit<GemmJob, "f64" | "count" | "prm" | "xStride">): GemmJob;
}

/** The shared part of the two-halves kernels; `extra` sizes their own regions (in elements). */
function halves(
  blas: Blas,
  rt: WasmRuntime,
  x: FloatArray,
  g: ConvGeometry,
  extra: (s: { K: number; FL: number; rest: number }) => number[],
): Halves {
  const f64 = x instanceof Float64Array;
  const es = f64 ? 8 : 4;
  const K = g.c * g.kh * g.kw;
  const L = g.ho * g.wo;
  const FL = g.cout * L;
  const chw = g.c * g.h * g.w;
  const h = Math.ceil(g.n / 2);
  const rest = g.n - h;
  const scr = imageColumnsScratch(g, es);
  let end = rt.arenaOffset;
  const region = (bytes: number): number => {
    const at = align(end, 64);
    end = at + bytes;
    return at;
  };
  const imgOff = region(g.n * chw * es);
  const prm: [number, number] = [region(CONV_PARAM_COUNT * 4), region(CONV_PARAM_COUNT * 4)];
  const cols: [number, number] = [region(K * L * es), region(K * L * es)];
  const scrs = [region(scr), region(scr)];
  const more = extra({ K, FL, rest }).map((len) => region(len * es));
  rt.ensureArena(end - rt.arenaOffset);
  const xAt = rt.place(imgOff, x);
  const I = new Int32Array(rt.memory.buffer);
  for (const t of [0, 1]) {
    writeParams(I, prm[t] / 4 - 1, g, {
      x: xAt + (t === 0 ? 0 : h * chw * es),
      cols: cols[t],
      scr: scrs[t],
      n0: 0,
      n1: 1,
    });
  }
  const kernel = f64 ? rt.x.im2colImages64 : rt.x.im2colImages32;
  const unfold = (i: number): void => {
    I[prm[0] / 4 + CONV_PARAMS.x] = xAt + i * chw * es;
    kernel(prm[0]);
  };
  return {
    f64,
    K,
    L,
    FL,
    gemm: gemmOf(blas, f64),
    h,
    prm,
    cols,
    ownCols: view(rt, f64, cols[0], K * L),
    unfold,
    extra: more,
    job: (j) => ({ ...j, f64: f64 ? 1 : 0, count: rest, prm: prm[1], xStride: chw * es }),
  };
}

/**
 * conv2d forward at two threads: the calling thread takes the first half of the batch and the BLAS
 * worker the second, each unfolding and multiplying one image at a time (its columns stay in its
 * own core's cache), with one hand-over per call instead of one per chunk of images.
 */
function convForwardHalves(
  blas: Blas,
  rt: WasmRuntime,
  pool: ThreadPool,
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  out: FloatArray,
  g: ConvGeometry,
): void {
  const s = halves(blas, rt, x, g, ({ K, FL, rest }) => [g.cout * K, g.cout, rest * FL]);
  const [wOff, bOff, cOff] = s.extra;
  const { K, L, FL, h, gemm } = s;
  rt.write(wOff, w);
  if (b) rt.write(bOff, b);
  const job = s.job({
    ta: NO_TRANS,
    tb: NO_TRANS,
    m: g.cout,
    n: L,
    k: K,
    a: wOff,
    lda: K,
    aStride: 0,
    b: s.cols[1],
    ldb: L,
    bStride: 0,
    c: cOff,
    ldc: L,
    cStride: FL,
    beta: 0,
    bias: b ? bOff : -1,
  });
  split(pool, blas, rt, job, () => {
    for (let i = 0; i < h; i++) {
      s.unfold(i);
      const o = i * FL;
      if (b) for (let f = 0; f < g.cout; f++) out.fill(b[f], o + f * L, o + (f + 1) * L);
      gemm(NO_TRANS, NO_TRANS, g.cout, L, K, w, K, s.ownCols, L, b ? 1 : 0, out.subarray(o, o + FL), L);
    }
  });
  rt.read(cOff, out.subarray(h * FL, g.n * FL));
}

/** The weight gradient alone (dw += ...) at two threads, the batch split as convForwardHalves does. */
function convWeightGradHalves(
  blas: Blas,
  rt: WasmRuntime,
  pool: ThreadPool,
  x: FloatArray,
  gOut: FloatArray,
  dw: FloatArray,
  g: ConvGeometry,
): void {
  const s = halves(blas, rt, x, g, ({ K, FL, rest }) => [rest * FL, g.cout * K, g.cout * K]);
  const [gOff, ownOff, partOff] = s.extra;
  const { K, L, FL, h, gemm } = s;
  const gAt = rt.place(gOff, gOut.subarray(h * FL, g.n * FL));
  const dwT = view(rt, s.f64, ownOff, g.cout * K);
  const dwPart = view(rt, s.f64, partOff, g.cout * K);
  dwT.fill(0);
  dwPart.fill(0);
  const job = s.job({
    ta: NO_TRANS,
    tb: TRANS,
    m: K,
    n: g.cout,
    k: L,
    a: s.cols[1],
    lda: L,
    aStride: 0,
    b: gAt,
    ldb: L,
    bStride: FL,
    c: partOff,
    ldc: g.cout,
    cStride: 0,
    beta: 1,
    bias: -1,
  });
  split(pool, blas, rt, job, () => {
    for (let i = 0; i < h; i++) {
      s.unfold(i);
      gemm(
        NO_TRANS,
        TRANS,
        K,
        g.cout,
        L,
        s.ownCols,
        L,
        gOut.subarray(i * FL, (i + 1) * FL),
        L,
        1,
        dwT,
        g.cout,
      );
    }
  });
  addTransposed(dw, dwT, dwPart, 1, g.cout, K);
}

/** out [n, cout, ho, wo] = conv(x, w) + b for any groups. */
function convForward(
  blas: Blas,
  rt: WasmRuntime,
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  out: FloatArray,
  g: ConvGeometry,
  budget?: number,
): void {
  const pool = blasWorker(rt, blas, g);
  if (pool && budget === undefined && g.c * g.kh * g.kw > 0)
    return convForwardHalves(blas, rt, pool, x, w, b, out, g);
  const p = plan(rt, x, g, chunkBudget(budget, pool));
  const { K, Kg, Fg, L } = p;
  const gemm = gemmOf(blas, p.f64);
  if (K === 0) {
    for (let i = 0; i < g.n * g.cout; i++) out.fill(b ? b[i % g.cout] : 0, i * L, (i + 1) * L);
    return;
  }
  const FL = g.cout * L;
  if (pool) {
    rt.write(p.wOff, w);
    if (b) rt.write(p.bOff, b);
  }
  for (let n0 = 0; n0 < g.n; n0 += p.nb) {
    const m = Math.min(p.nb, g.n - n0);
    const cols = unfold(rt, p, x, g, n0, m);
    const ownImages = (upTo: number): void => {
      for (let i = 0; i < upTo; i++) {
        const o = (n0 + i) * FL;
        if (b) for (let f = 0; f < g.cout; f++) out.fill(b[f], o + f * L, o + (f + 1) * L);
        for (let gi = 0; gi < g.groups; gi++) {
          gemm(
            NO_TRANS,
            NO_TRANS,
            Fg,
            L,
            Kg,
            w.subarray(gi * Fg * Kg, (gi + 1) * Fg * Kg),
            Kg,
            cols.subarray((i * K + gi * Kg) * L, (i * K + (gi + 1) * Kg) * L),
            L,
            b ? 1 : 0,
            out.subarray(o + gi * Fg * L, o + (gi + 1) * Fg * L),
            L,
          );
        }
      }
    };
    // with a worker, it computes images [h, m) of the chunk into WebAssembly memory, copied out after
    const h = pool && m >= 2 ? Math.ceil(m / 2) : m;
    if (h === m) {
      ownImages(m);
      continue;
    }
    const job: GemmJob = {
      f64: p.f64 ? 1 : 0,
      ta: NO_TRANS,
      tb: NO_TRANS,
      m: g.cout,
      n: L,
      k: K,
      a: p.wOff,
      lda: K,
      aStride: 0,
      b: p.colsOff + h * K * L * p.es,
      ldb: L,
      bStride: K * L,
      c: p.cOff,
      ldc: L,
      cStride: FL,
      beta: 0,
      count: m - h,
      bias: b ? p.bOff : -1,
      prm: -1,
      xStride: 0,
    };
    split(pool!, blas, rt, job, () => ownImages(h));
    rt.read(p.cOff, out.subarray((n0 + h) * FL, (n0 + m) * FL));
  }
}

/** Adds the sum over images and positions of g [n, c, l] into out[c] (four partial sums per row). */
function addBiasGrad(gOut: FloatArray, db: FloatArray, n: number, c: number, l: number): void {
  for (let i = 0; i < n; i++) {
    for (let ci = 0; ci < c; ci++) {
      const base = (i * c + ci) * l;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = 0;
      for (; p + 4 <= l; p += 4) {
        s0 += gOut[base + p];
        s1 += gOut[base + p + 1];
        s2 += gOut[base + p + 2];
        s3 += gOut[base + p + 3];
      }
      for (; p < l; p++) s0 += gOut[base + p];
      db[ci] += s0 + s1 + (s2 + s3);
    }
  }
}

/** A vector of at least `len` ones of the dtype (kept between calls), for row sums by gemv. */
let ones32 = new Float32Array(0);
let ones64 = new Float64Array(0);
function onesOf(f64: boolean, len: number): FloatArray {
  if (f64) {
    if (ones64.length < len) ones64 = new Float64Array(len).fill(1);
    return ones64.subarray(0, len);
  }
  if (ones32.length < len) ones32 = new Float32Array(len).fill(1);
  return ones32.subarray(0, len);
}

/**
 * The bias gradient on the BLAS: one gemv sums every row of g viewed as [n*c, l] (against a vector
 * of ones), then the n row sums of each channel are added into out[c]. False when the library has
 * no gemv (the caller then runs the loop). On [64, 32, 32, 32] (W5) it takes 1/7 (float32) and 1/3.5 (float64) of the loop's CPU time.
 */
function blasBiasGrad(
  blas: Blas,
  gOut: FloatArray,
  db: FloatArray,
  n: number,
  c: number,
  l: number,
): boolean {
  const f64 = gOut instanceof Float64Array;
  const gemv = f64 ? blas.dgemv : blas.sgemv;
  if (!gemv || n * c === 0 || l === 0) return false;
  const rows = f64 ? new Float64Array(n * c) : new Float32Array(n * c);
  (gemv as (...a: unknown[]) => void)(
    ROW_MAJOR,
    NO_TRANS,
    n * c,
    l,
    1,
    gOut,
    l,
    onesOf(f64, l),
    1,
    0,
    rows,
    1,
  );
  for (let ci = 0; ci < c; ci++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += rows[i * c + ci];
    db[ci] += s;
  }
  return true;
}

/** ADDS the gradients of conv2d into dx, dw, db (each may be null), for any groups. */
function convBackward(
  blas: Blas,
  rt: WasmRuntime,
  x: FloatArray,
  w: FloatArray,
  gOut: FloatArray,
  dx: FloatArray | null,
  dw: FloatArray | null,
  db: FloatArray | null,
  g: ConvGeometry,
  budget?: number,
): void {
  if (db && !blasBiasGrad(blas, gOut, db, g.n, g.cout, g.ho * g.wo))
    addBiasGrad(gOut, db, g.n, g.cout, g.ho * g.wo);
  if ((!dx && !dw) || g.n === 0) return;
  const pool = blasWorker(rt, blas, g);
  if (pool && budget === undefined && !dx && dw && g.c * g.kh * g.kw > 0 && g.ho * g.wo > 0)
    return convWeightGradHalves(blas, rt, pool, x, gOut, dw, g);
  const p = plan(rt, x, g, chunkBudget(budget, pool));
  const { K, Kg, Fg, L } = p;
  if (K === 0 || L === 0) return;
  const gemm = gemmOf(blas, p.f64);
  const FL = g.cout * L;
  // dW is computed transposed, dWᵀ_g [Kg, Fg] = cols_g [Kg, L] · dOut_gᵀ [L, Fg], into zeroed
  // partials (the calling thread's, and with a worker its own), added into dw at the end: with
  // M = Kg and N = Fg the BLAS runs these long-K products faster than dW_g = dOut_g · cols_gᵀ
  // (W5's 7x7 conv at one thread: 7.2 vs 9.3 ms for the 64 images' GEMMs, same run)
  const dwT = dw ? view(rt, p.f64, p.dwtOff, dw.length) : null;
  const dwPart = pool && dw ? view(rt, p.f64, p.dwOff, dw.length) : null;
  dwT?.fill(0);
  dwPart?.fill(0);
  // with a worker: the weights for its dx share
  if (pool && dx) rt.write(p.wOff, w);
  for (let n0 = 0; n0 < g.n; n0 += p.nb) {
    const m = Math.min(p.nb, g.n - n0);
    const gChunk = (i: number, gi: number) => {
      const o = (n0 + i) * FL;
      return gOut.subarray(o + gi * Fg * L, o + (gi + 1) * Fg * L);
    };
    // with a worker, it takes images [h, m) of the chunk, reading their output gradient from
    // WebAssembly memory
    const h = pool && m >= 2 ? Math.ceil(m / 2) : m;
    const gAt = h < m ? rt.place(p.cOff, gOut.subarray((n0 + h) * FL, (n0 + m) * FL)) : -1;
    const job = (j: Omit<GemmJob, "f64" | "count" | "bias" | "prm" | "xStride">): GemmJob => ({
      ...j,
      f64: p.f64 ? 1 : 0,
      count: m - h,
      bias: -1,
      prm: -1,
      xStride: 0,
    });
    if (dwT) {
      const cols = unfold(rt, p, x, g, n0, m);
      const ownImages = (upTo: number): void => {
        for (let i = 0; i < upTo; i++) {
          for (let gi = 0; gi < g.groups; gi++) {
            gemm(
              NO_TRANS,
              TRANS,
              Kg,
              Fg,
              L,
              cols.subarray((i * K + gi * Kg) * L, (i * K + (gi + 1) * Kg) * L),
              L,
              gChunk(i, gi),
              L,
              1,
              dwT.subarray(gi * Kg * Fg, (gi + 1) * Kg * Fg),
              Fg,
            );
          }
        }
      };
      if (h === m) ownImages(m);
      else {
        const j = job({
          ta: NO_TRANS,
          tb: TRANS,
          m: K,
          n: g.cout,
          k: L,
          a: p.colsOff + h * K * L * p.es,
          lda: L,
          aStride: K * L,
          b: gAt,
          ldb: L,
          bStride: FL,
          c: p.dwOff,
          ldc: g.cout,
          cStride: 0,
          beta: 1,
        });
        split(pool!, blas, rt, j, () => ownImages(h));
      }
    }
    if (dx) {
      // dCols_g [Kg, L] = W_g^T [Kg, Fg] · dOut_g [Fg, L], then dx += col2im(dCols)
      const cols = view(rt, p.f64, p.colsOff, m * K * L);
      const ownImages = (upTo: number): void => {
        for (let i = 0; i < upTo; i++) {
          for (let gi = 0; gi < g.groups; gi++) {
            gemm(
              TRANS,
              NO_TRANS,
              Kg,
              L,
              Fg,
              w.subarray(gi * Fg * Kg, (gi + 1) * Fg * Kg),
              Kg,
              gChunk(i, gi),
              L,
              0,
              cols.subarray((i * K + gi * Kg) * L, (i * K + (gi + 1) * Kg) * L),
              L,
            );
          }
        }
      };
      if (h === m) ownImages(m);
      else {
        const j = job({
          ta: TRANS,
          tb: NO_TRANS,
          m: K,
          n: L,
          k: g.cout,
          a: p.wOff,
          lda: K,
          aStride: 0,
          b: gAt,
          ldb: L,
          bStride: FL,
          c: p.colsOff + h * K * L * p.es,
          ldc: L,
          cStride: K * L,
          beta: 0,
        });
        split(pool!, blas, rt, j, () => ownImages(h));
      }
      const dxChunk = dx.subarray(n0 * p.chw, (n0 + m) * p.chw);
      const at = rt.place(p.imgOff, dxChunk);
      wasmImageColumns(rt, "col2im", p.f64, { ...g, n: m }, at, p.colsOff, p.scrOff, true);
      rt.read(at, dxChunk);
    }
  }
  if (dw && dwT) addTransposed(dw, dwT, dwPart, g.groups, Fg, Kg);
}

/** dw_g [Fg, Kg] += (t_g + part_g)ᵀ for each group, t and part holding [Kg, Fg] blocks (part may be null). */
function addTransposed(
  dw: FloatArray,
  t: FloatArray,
  part: FloatArray | null,
  groups: number,
  Fg: number,
  Kg: number,
): void {
  for (let gi = 0; gi < groups; gi++) {
    const base = gi * Fg * Kg;
    for (let f = 0; f < Fg; f++) {
      for (let k = 0; k < Kg; k++) {
        const s = base + k * Fg + f;
        dw[base + f * Kg + k] += part ? t[s] + part[s] : t[s];
      }
    }
  }
}

/**
 * The conv2d kernels on the BLAS: forward (out = conv(x, w) + b) and backward (ADDS into dx, dw, db,
 * each may be null), for any groups. The runtime is looked up at each call; `budget` caps the bytes
 * of im2col columns each thread's share of a chunk of images may use (default: 1 MB on one thread,
 * 4 MB each with the BLAS worker).
 */
export function blasConvKernels(
  blas: Blas,
  runtime: () => WasmRuntime,
  budget?: number,
): { forward: Conv2dForwardKernel; backward: Conv2dBackwardKernel } {
  return {
    forward: (x, w, b, out, g) =>
      blasSingleThreaded(blas, () => convForward(blas, runtime(), x, w, b, out, g, budget)),
    backward: (x, w, gOut, dx, dw, db, g) =>
      blasSingleThreaded(blas, () => convBackward(blas, runtime(), x, w, gOut, dx, dw, db, g, budget)),
  };
}
