import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { registerGlobalState } from "../../runtime/state.js";
import { MAX_THREADS, discardRuntime, type WasmRuntime } from "./runtime.js";
import { CONV_PARAMS, CONV_PARAM_COUNT, OPS, PARAM_OPS } from "./generated/layout.js";

// Control block (Int32 indices from the runtime's ctrlOffset), shared by the calling thread and workers.
export const SEQ = 0; // bumped once per job; workers Atomics.wait on it
export const DONE = 1; // workers that finished the current job
export const GEN = 2; // pool generation; a worker whose generation differs exits
export const BAR = 3; // barrier counter between the packing and the compute phase
export const NT = 4; // threads taking part in the current job (caller included)
export const ERR = 5; // set when a worker's kernel threw
export const SLOT_BASE = 16;
export const SLOT_INTS = 32;
export const JOB = 30; // per slot: the SEQ value of the job its fields belong to
export const STATUS = 31; // per slot: 0 starting, 1 ready, 2 failed to start
export const MAX_WORKERS = Math.min(MAX_THREADS - 1, (2048 - SLOT_BASE) / SLOT_INTS - 1);
/** The calling thread's own parameter block (after the workers' slots). */
export const MAIN_SLOT = MAX_WORKERS;

export { PARAM_OPS };

// Task fields in a slot (the caller's own task uses the same numbering).
export const F = {
  op: 0, // 0 none, else an op code of generated/layout.ts (OPS)
  aSrc: 1,
  bSrc: 2,
  ap: 3,
  bp: 4,
  c: 5,
  m: 6,
  n: 7,
  k: 8,
  transA: 9,
  transB: 10,
  acc: 11,
  pa0: 12,
  pa1: 13,
  pb0: 14,
  pb1: 15,
  i0: 16,
  i1: 17,
  j0: 18,
  j1: 19,
  tmp: 20,
} as const;

/**
 * A job of GEMMs that a worker runs on the system's CBLAS (the native backend's), on matrices in
 * the shared WebAssembly memory: `count` products C_i = alpha·op(A_i)·op(B_i) + beta·C_i with
 * A_i = A + i·aStride elements (B, C alike); byte offsets. When bias >= 0, each C_i's rows are first
 * filled with bias[row] (then beta is 1). When prm >= 0, it is the byte offset of an im2col
 * parameter block (one image, [n0, n1) = [0, 1)) whose input pointer advances by xStride bytes per
 * product: before product i the worker unfolds image i into the block's columns (the convolution's
 * B, with bStride 0), so that each image's columns are still in cache when the BLAS reads them.
 * The worker loads the FFI and the library named by setWorkerBlas() on its first such job.
 */
export const BLAS_GEMMS = 100;
export const G = {
  f64: 1,
  ta: 2,
  tb: 3,
  m: 4,
  n: 5,
  k: 6,
  a: 7,
  lda: 8,
  aStride: 9,
  b: 10,
  ldb: 11,
  bStride: 12,
  c: 13,
  ldc: 14,
  cStride: 15,
  beta: 16,
  count: 17,
  bias: 18,
  prm: 19,
  xStride: 20,
} as const;

// Where workers find the FFI module and the BLAS: a JSON string (length in the first Int32), shared.
const blasConfig = new SharedArrayBuffer(4096);

/** Names the FFI module's path and the CBLAS library that workers load for BLAS_GEMMS jobs. */
export function setWorkerBlas(koffiPath: string, libraryPath: string): void {
  const bytes = new TextEncoder().encode(JSON.stringify({ koffi: koffiPath, lib: libraryPath }));
  if (bytes.length + 4 > blasConfig.byteLength) throw new RangeError("setWorkerBlas: paths too long");
  new Uint8Array(blasConfig).set(bytes, 4);
  Atomics.store(new Int32Array(blasConfig), 0, bytes.length);
}

// The worker: plain JavaScript run with `eval: true`, so it works the same from .ts sources (tsx,
// vitest) and from the compiled dist/ files. Op codes 1 and 2 run the GEMM's two phases (as
// wasmGemm does on the calling thread), the others one kernel export (PARAM_OPS).
const WORKER_SOURCE = `"use strict";
const { workerData } = require("node:worker_threads");
const { module, memory, ctrl, slot, gen, blasConfig } = workerData;
const I = new Int32Array(memory.buffer, ctrl, 2048);
const S = ${SLOT_BASE} + slot * ${SLOT_INTS};
let x = null;
try {
  x = new WebAssembly.Instance(module, { env: { memory } }).exports;
  Atomics.store(I, S + ${STATUS}, 1);
} catch (e) {
  Atomics.store(I, S + ${STATUS}, 2);
}
Atomics.notify(I, ${DONE});
function barrier() {
  Atomics.add(I, ${BAR}, 1);
  Atomics.notify(I, ${BAR});
  const nt = Atomics.load(I, ${NT});
  for (;;) {
    const v = Atomics.load(I, ${BAR});
    if (v >= nt) return;
    Atomics.wait(I, ${BAR}, v);
  }
}
function run(op) {
  const f = (i) => I[S + i];
  const d = op === ${OPS.gemm64};
  try {
    (d ? x.packA64 : x.packA32)(f(${F.aSrc}), f(${F.ap}), f(${F.m}), f(${F.k}), f(${F.transA}), f(${F.pa0}), f(${F.pa1}));
    (d ? x.packB64 : x.packB32)(f(${F.bSrc}), f(${F.bp}), f(${F.k}), f(${F.n}), f(${F.transB}), f(${F.pb0}), f(${F.pb1}));
  } catch (e) {
    Atomics.store(I, ${ERR}, 1);
  }
  barrier();
  (d ? x.gemm64 : x.gemm32)(f(${F.ap}), f(${F.bp}), f(${F.c}), f(${F.m}), f(${F.n}), f(${F.k}), f(${F.acc}),
    f(${F.i0}), f(${F.i1}), f(${F.j0}), f(${F.j1}), f(${F.tmp}));
}
let blas = null;
let f32 = null;
let f64 = null;
function gemms() {
  if (blas === null) {
    const len = Atomics.load(new Int32Array(blasConfig), 0);
    if (len <= 0) throw new Error("no BLAS configured for the workers");
    const cfg = JSON.parse(new TextDecoder().decode(new Uint8Array(blasConfig).slice(4, 4 + len)));
    const lib = require(cfg.koffi).load(cfg.lib);
    const args = "int, int, int, int, int, int";
    blas = {
      s: lib.func("void cblas_sgemm(" + args + ", float, float *, int, float *, int, float, float *, int)"),
      d: lib.func("void cblas_dgemm(" + args + ", double, double *, int, double *, int, double, double *, int)"),
    };
  }
  if (f32 === null || f32.buffer.byteLength !== memory.buffer.byteLength) {
    f32 = new Float32Array(memory.buffer);
    f64 = new Float64Array(memory.buffer);
  }
  const f = (i) => I[S + i];
  const d = f(${G.f64}) === 1;
  const M = d ? f64 : f32;
  const es = d ? 8 : 4;
  const gemm = d ? blas.d : blas.s;
  const m = f(${G.m}), n = f(${G.n}), k = f(${G.k}), ldc = f(${G.ldc}), bias = f(${G.bias});
  const a = f(${G.a}) / es, b = f(${G.b}) / es, c = f(${G.c}) / es;
  const as = f(${G.aStride}), bs = f(${G.bStride}), cs = f(${G.cStride});
  const beta = bias >= 0 ? 1 : f(${G.beta});
  const prm = f(${G.prm});
  const P = prm >= 0 ? new Int32Array(memory.buffer, prm, ${CONV_PARAM_COUNT}) : null;
  const x0 = P === null ? 0 : P[${CONV_PARAMS.x}];
  for (let i = 0; i < f(${G.count}); i++) {
    if (P !== null) {
      P[${CONV_PARAMS.x}] = x0 + i * f(${G.xStride});
      (d ? x.im2colImages64 : x.im2colImages32)(prm);
    }
    const ci = c + i * cs;
    if (bias >= 0) for (let r = 0; r < m; r++) M.fill(M[bias / es + r], ci + r * ldc, ci + r * ldc + n);
    gemm(101, f(${G.ta}), f(${G.tb}), m, n, k, 1, M.subarray(a + i * as), f(${G.lda}),
      M.subarray(b + i * bs), f(${G.ldb}), beta, M.subarray(ci), ldc);
  }
}
const KERNEL_OF = ${JSON.stringify(PARAM_OPS)};
let seq = workerData.seq;
while (x !== null) {
  Atomics.wait(I, ${SEQ}, seq);
  seq = Atomics.load(I, ${SEQ});
  if (Atomics.load(I, ${GEN}) !== gen) break;
  // A worker that wakes late may see the fields of the next job being written: only a slot
  // stamped with the SEQ it just loaded is a job for now.
  if (Atomics.load(I, S + ${JOB}) !== seq) continue;
  const op = I[S + ${F.op}];
  if (op === 0) continue;
  try {
    if (op <= ${OPS.gemm64}) run(op);
    else if (op === ${BLAS_GEMMS}) gemms();
    else x[KERNEL_OF[op]](ctrl + (S + 1) * 4);
  } catch (e) {
    Atomics.store(I, ${ERR}, 1);
  }
  Atomics.add(I, ${DONE}, 1);
  Atomics.notify(I, ${DONE});
}
`;

let numThreads = defaultThreads();

function defaultThreads(): number {
  try {
    return Math.max(1, Math.min(MAX_THREADS, availableParallelism()));
  } catch {
    return 1;
  }
}

/** Sets how many threads (the caller included) large kernels use; 1 turns the workers off. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`setNumThreads: n must be a positive integer, got ${String(n)}`);
  }
  numThreads = Math.min(n, MAX_THREADS);
}

export function getNumThreads(): number {
  return numThreads;
}

/** Worker threads sharing one runtime's memory. Workers are unref()'d: they never keep Node alive. */
export class ThreadPool {
  private readonly rt: WasmRuntime;
  private workers: Worker[] = [];
  private gen = 1;
  /** True from the start of run() to its end: still true afterwards means the job was cut short. */
  busy = false;

  constructor(rt: WasmRuntime) {
    this.rt = rt;
    Atomics.store(rt.ctrl, GEN, this.gen);
  }

  /**
   * Makes sure `count` workers exist and returns how many of the first `count` are ready to work
   * (waits for starting ones, at most `timeoutMs` in total).
   */
  ready(count: number, timeoutMs = 10_000): number {
    const want = Math.min(count, MAX_WORKERS);
    const I = this.rt.ctrl;
    while (this.workers.length < want) {
      const slot = this.workers.length;
      Atomics.store(I, SLOT_BASE + slot * SLOT_INTS + STATUS, 0);
      Atomics.store(I, SLOT_BASE + slot * SLOT_INTS + F.op, 0);
      Atomics.store(I, SLOT_BASE + slot * SLOT_INTS + JOB, Atomics.load(I, SEQ));
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: this.rt.module,
          memory: this.rt.memory,
          ctrl: this.rt.ctrlOffset,
          slot,
          gen: this.gen,
          seq: Atomics.load(I, SEQ),
          blasConfig,
        },
        // No inherited flags: the worker is plain CommonJS (a parent's --input-type=module or loader
        // hooks such as tsx would break or slow its start).
        execArgv: [],
      });
      w.unref();
      // An error event can only be delivered when the caller is idle; the slot status covers startup failures.
      w.on("error", () => Atomics.store(I, SLOT_BASE + slot * SLOT_INTS + STATUS, 2));
      this.workers.push(w);
    }
    const deadline = Date.now() + timeoutMs;
    let ready = 0;
    for (let s = 0; s < want; s++) {
      const at = SLOT_BASE + s * SLOT_INTS + STATUS;
      while (Atomics.load(I, at) === 0 && Date.now() < deadline)
        Atomics.wait(I, DONE, Atomics.load(I, DONE), 20);
      if (Atomics.load(I, at) !== 1) break;
      ready++;
    }
    return ready;
  }

  /**
   * Runs one job: `fill(slot, t)` writes thread t's task (t >= 1) into worker slot t-1, then the caller
   * runs `own()` (its share, which must call `barrier()` between its two phases) and waits for the
   * workers. Throws if a worker's kernel failed.
   */
  run(nt: number, fill: (base: number, t: number) => void, own: () => void): void {
    const I = this.rt.ctrl;
    this.busy = true;
    const next = (Atomics.load(I, SEQ) + 1) | 0;
    for (let t = 1; t < nt; t++) {
      const base = SLOT_BASE + (t - 1) * SLOT_INTS;
      fill(base, t);
      Atomics.store(I, base + JOB, next);
    }
    Atomics.store(I, DONE, 0);
    Atomics.store(I, BAR, 0);
    Atomics.store(I, ERR, 0);
    Atomics.store(I, NT, nt);
    Atomics.add(I, SEQ, 1);
    Atomics.notify(I, SEQ);
    let ownError: unknown = null;
    try {
      own();
    } catch (e) {
      ownError = e;
    }
    for (;;) {
      const v = Atomics.load(I, DONE);
      if (v >= nt - 1) break;
      Atomics.wait(I, DONE, v);
    }
    this.busy = false;
    if (ownError !== null) throw ownError;
    if (Atomics.load(I, ERR) !== 0) throw new Error("wasm backend: a worker thread's kernel failed");
  }

  /** The caller's side of the barrier between packing and computing. */
  barrier(): void {
    const I = this.rt.ctrl;
    Atomics.add(I, BAR, 1);
    Atomics.notify(I, BAR);
    const nt = Atomics.load(I, NT);
    for (;;) {
      const v = Atomics.load(I, BAR);
      if (v >= nt) return;
      Atomics.wait(I, BAR, v);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Ends all workers (they exit at their next wake-up; terminate() makes sure). */
  shutdown(): Promise<void> {
    const I = this.rt.ctrl;
    this.gen++;
    Atomics.store(I, GEN, this.gen);
    Atomics.add(I, SEQ, 1);
    Atomics.notify(I, SEQ);
    const ws = this.workers;
    this.workers = [];
    return Promise.all(ws.map((w) => w.terminate())).then(() => undefined);
  }
}

let shared: ThreadPool | null = null;

// A job cut short (the kernel terminated the calling thread's JavaScript) leaves workers waiting at a
// barrier or mid-kernel on the shared memory: the pool and the runtime's memory are dropped (the
// workers are terminated) and the next parallel kernel starts afresh. An idle pool is kept.
registerGlobalState<null>({
  name: "backend/wasm/threads: thread pool job slots, wasm arena",
  save: () => null,
  restore: () => {
    if (!shared?.busy) return;
    void shutdownThreads();
    discardRuntime();
  },
});

/** The pool of the runtime's workers (created empty; workers start on demand). */
export function getPool(rt: WasmRuntime): ThreadPool {
  shared ??= new ThreadPool(rt);
  return shared;
}

/** Ends the worker threads (a later parallel kernel starts new ones). */
export function shutdownThreads(): Promise<void> {
  const p = shared;
  shared = null;
  return p ? p.shutdown() : Promise.resolve();
}

/** Number of worker threads currently alive (for tests and benchmarks). */
export function workerCount(): number {
  return shared?.size ?? 0;
}

/** Splits [0, total) into `parts` contiguous ranges; returns range `t`. */
export function share(total: number, parts: number, t: number): [number, number] {
  return [Math.floor((total * t) / parts), Math.floor((total * (t + 1)) / parts)];
}
