import type { GemmArgs } from "../backend.js";
import { align, runtime } from "./runtime.js";
import { F, ThreadPool, getNumThreads, getPool, share } from "./threads.js";
import { OPS } from "./generated/layout.js";

/** Below this many flops (2mnk) a GEMM runs on the calling thread only. */
export const PARALLEL_MIN_FLOPS = 1 << 21;

const MR = 4;
const NR32 = 8;
const NR64 = 4;

export function checkGemmArgs(args: GemmArgs): void {
  const { m, n, k, a, b, c, transA, transB } = args;
  for (const [name, v] of [
    ["m", m],
    ["n", n],
    ["k", k],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`gemm: ${name} must be a non-negative integer, got ${v}`);
  }
  const isF64 = a instanceof Float64Array;
  if (!(a instanceof Float32Array || isF64))
    throw new TypeError("gemm: a must be a Float32Array or Float64Array");
  if (b.constructor !== a.constructor || c.constructor !== a.constructor) {
    throw new TypeError(
      `gemm: a, b and c must have one dtype, got ${a.constructor.name}, ${b.constructor.name}, ${c.constructor.name}`,
    );
  }
  const shapeA = transA ? `[${k}, ${m}]` : `[${m}, ${k}]`;
  const shapeB = transB ? `[${n}, ${k}]` : `[${k}, ${n}]`;
  if (a.length !== m * k)
    throw new RangeError(`gemm: a has ${a.length} elements, expected ${m * k} for shape ${shapeA}`);
  if (b.length !== k * n)
    throw new RangeError(`gemm: b has ${b.length} elements, expected ${k * n} for shape ${shapeB}`);
  if (c.length !== m * n)
    throw new RangeError(`gemm: c has ${c.length} elements, expected ${m * n} for shape [${m}, ${n}]`);
}

/**
 * C = op(A)op(B) (or C += ... when accumulate) with the WebAssembly SIMD kernels. Throws when
 * WebAssembly SIMD is unavailable (see wasmAvailable()). Each element's summation order is fixed
 * (k-blocks of kc() in order), so the result is the same for every thread count.
 */
export function wasmGemm(args: GemmArgs): void {
  checkGemmArgs(args);
  const rt = runtime();
  if (!rt) throw new Error("wasmGemm: WebAssembly SIMD is not available on this engine");
  const { transA, transB, m, n, k, a, b, c, accumulate } = args;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) c.fill(0);
    return;
  }
  const f64 = a instanceof Float64Array;
  const es = f64 ? 8 : 4;
  const nr = f64 ? NR64 : NR32;
  const mStrips = Math.ceil(m / MR);
  const nStrips = Math.ceil(n / nr);
  // Arena: [A][B][C][packed A][packed B], each 64-byte aligned.
  const aOff = rt.arenaOffset;
  const bOff = align(aOff + m * k * es, 64);
  const cOff = align(bOff + k * n * es, 64);
  const apOff = align(cOff + m * n * es, 64);
  const bpOff = align(apOff + mStrips * MR * k * es, 64);
  const end = bpOff + nStrips * nr * k * es;
  rt.ensureArena(end - rt.arenaOffset);
  // operands already in WebAssembly memory (a compiled graph's arena) are used where they are
  const aAt = rt.place(aOff, a);
  const bAt = rt.place(bOff, b);
  const cOwn = rt.offsetOf(c);
  const cAt = cOwn >= 0 ? cOwn : cOff;
  if (accumulate && cOwn < 0) rt.write(cOff, c);

  // Threads: split the larger strip dimension of C; packing is split too.
  let nt = 1;
  const wanted = getNumThreads();
  const splitRows = mStrips >= nStrips;
  const splitStrips = splitRows ? mStrips : nStrips;
  let p: ThreadPool | null = null;
  if (wanted > 1 && 2 * m * n * k >= PARALLEL_MIN_FLOPS && splitStrips >= 2) {
    p = getPool(rt);
    nt = 1 + p.ready(Math.min(wanted, splitStrips) - 1);
  }
  const x = rt.x;
  const packA = f64 ? x.packA64 : x.packA32;
  const packB = f64 ? x.packB64 : x.packB32;
  const kernel = f64 ? x.gemm64 : x.gemm32;
  const tA = transA ? 1 : 0;
  const tB = transB ? 1 : 0;
  const acc = accumulate ? 1 : 0;

  if (nt === 1 || p === null) {
    packA(aAt, apOff, m, k, tA, 0, mStrips);
    packB(bAt, bpOff, k, n, tB, 0, nStrips);
    kernel(apOff, bpOff, cAt, m, n, k, acc, 0, mStrips, 0, nStrips, rt.tile(0));
  } else {
    const I = rt.ctrl;
    const ranges = (t: number) => {
      const [pa0, pa1] = share(mStrips, nt, t);
      const [pb0, pb1] = share(nStrips, nt, t);
      const [s0, s1] = share(splitStrips, nt, t);
      return splitRows
        ? { pa0, pa1, pb0, pb1, i0: s0, i1: s1, j0: 0, j1: nStrips }
        : { pa0, pa1, pb0, pb1, i0: 0, i1: mStrips, j0: s0, j1: s1 };
    };
    const pool = p;
    pool.run(
      nt,
      (base, t) => {
        const r = ranges(t);
        I[base + F.aSrc] = aAt;
        I[base + F.bSrc] = bAt;
        I[base + F.ap] = apOff;
        I[base + F.bp] = bpOff;
        I[base + F.c] = cAt;
        I[base + F.m] = m;
        I[base + F.n] = n;
        I[base + F.k] = k;
        I[base + F.transA] = tA;
        I[base + F.transB] = tB;
        I[base + F.acc] = acc;
        I[base + F.pa0] = r.pa0;
        I[base + F.pa1] = r.pa1;
        I[base + F.pb0] = r.pb0;
        I[base + F.pb1] = r.pb1;
        I[base + F.i0] = r.i0;
        I[base + F.i1] = r.i1;
        I[base + F.j0] = r.j0;
        I[base + F.j1] = r.j1;
        I[base + F.tmp] = rt.tile(t);
        I[base + F.op] = f64 ? OPS.gemm64 : OPS.gemm32;
      },
      () => {
        const r = ranges(0);
        try {
          packA(aAt, apOff, m, k, tA, r.pa0, r.pa1);
          packB(bAt, bpOff, k, n, tB, r.pb0, r.pb1);
        } finally {
          pool.barrier();
        }
        kernel(apOff, bpOff, cAt, m, n, k, acc, r.i0, r.i1, r.j0, r.j1, rt.tile(0));
      },
    );
  }
  if (cOwn < 0) rt.read(cOff, c);
}
