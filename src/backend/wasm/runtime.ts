import { setFlagsFromString } from "node:v8";
import type { FloatArray } from "../../tensor/dtype.js";
import { WASM_BASE64, WASM_FMA_BASE64, WASM_MAX_PAGES } from "./generated/kernels.js";

/** dx += scatter of g at idx, plane by plane; returns -1 or the position of the first bad index. */
/** dx, g, pooled, idx (byte offsets), planes, h, w, kh, kw; returns -1 or a bad index's position. */
type ReluMaxPoolBackwardKernel = (
  dx: number,
  g: number,
  pooled: number,
  idx: number,
  planes: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
) => number;

type MaxPoolBackwardKernel = (
  dx: number,
  g: number,
  idx: number,
  planes: number,
  plane: number,
  oPlane: number,
) => number;

/** assembly/reduce.as: out[k] = Σ_r Σ_i x[bases[k] + runs[r] + i·step] (offsets in elements). */
type SumRunsKernel = (
  x: number,
  out: number,
  bases: number,
  nOut: number,
  runs: number,
  nRuns: number,
  len: number,
  step: number,
) => void;
/** assembly/reduce.as: out[k·width + j] = Σ_r x[bases[k] + runs[r] + j·step], `acc` width float64s of scratch. */
type SumColumnsKernel = (
  x: number,
  out: number,
  bases: number,
  nOut: number,
  runs: number,
  nRuns: number,
  width: number,
  step: number,
  acc: number,
) => void;

/** The exports of the kernels module (byte pointers into the shared memory; flags are 0/1). */
export interface KernelExports {
  heapBase(): number;
  probe32(iters: number): number;
  kc(): number;
  packA32(src: number, dst: number, m: number, k: number, transA: number, s0: number, s1: number): void;
  packB32(src: number, dst: number, k: number, n: number, transB: number, s0: number, s1: number): void;
  gemm32(
    ap: number,
    bp: number,
    c: number,
    m: number,
    n: number,
    k: number,
    accumulate: number,
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    tmp: number,
  ): void;
  convForward32(params: number): void;
  convForward64(params: number): void;
  convBackwardInput32(params: number): void;
  convBackwardInput64(params: number): void;
  convBackwardWeight32(params: number): void;
  convBackwardWeight64(params: number): void;
  im2colImages32(params: number): void;
  im2colImages64(params: number): void;
  col2imImages32(params: number): void;
  col2imImages64(params: number): void;
  transposeInto32(src: number, dst: number, rows: number, cols: number, acc: number): void;
  transposeInto64(src: number, dst: number, rows: number, cols: number, acc: number): void;
  biasGrad32(dout: number, db: number, n: number, f: number, l: number): void;
  biasGrad64(dout: number, db: number, n: number, f: number, l: number): void;
  maxPool32(...args: number[]): void;
  /** Max pooling forward of planes [n0, n1) of a conv-layout parameter block (a thread's share). */
  maxPoolPlanes32(params: number): void;
  maxPoolPlanes64(params: number): void;
  maxPoolBackward32: MaxPoolBackwardKernel;
  maxPoolBackward64: MaxPoolBackwardKernel;
  /** Max pooling of relu(x), planes [n0, n1) of a conv-layout parameter block. */
  reluMaxPoolPlanes32(params: number): void;
  reluMaxPoolPlanes64(params: number): void;
  reluMaxPoolBackward32: ReluMaxPoolBackwardKernel;
  reluMaxPoolBackward64: ReluMaxPoolBackwardKernel;
  relu32(x: number, out: number, n: number): void;
  relu64(x: number, out: number, n: number): void;
  reluBackward32(g: number, x: number, out: number, n: number): void;
  reluBackward64(g: number, x: number, out: number, n: number): void;
  sumRuns32: SumRunsKernel;
  sumRuns64: SumRunsKernel;
  sumColumns32: SumColumnsKernel;
  sumColumns64: SumColumnsKernel;
  maxPool64(...args: number[]): void;
  packA64(src: number, dst: number, m: number, k: number, transA: number, s0: number, s1: number): void;
  packB64(src: number, dst: number, k: number, n: number, transB: number, s0: number, s1: number): void;
  gemm64(
    ap: number,
    bp: number,
    c: number,
    m: number,
    n: number,
    k: number,
    accumulate: number,
    i0: number,
    i1: number,
    j0: number,
    j1: number,
    tmp: number,
  ): void;
}

const PAGE = 65536;
/** Bytes reserved for the thread-control block and per-thread scratch tiles. */
export const CTRL_BYTES = 16384;
/** Byte offset (from the control block) of the per-thread 128-byte scratch tiles. */
export const TILE_BASE = 8192;
export const TILE_BYTES = 128;
/** Most threads the control block has room for (main + workers). */
export const MAX_THREADS = (CTRL_BYTES - TILE_BASE) / TILE_BYTES;

/**
 * The compiled module, its shared memory and one instance on this thread. Memory layout:
 * [AssemblyScript data][control block, CTRL_BYTES][regions reserve() handed out][arena: kernels' scratch, grows, never shrinks].
 */
export class WasmRuntime {
  readonly module: WebAssembly.Module;
  /** Which build runs: "relaxed-simd" (fused multiply-add in the GEMM) or "simd128". */
  readonly variant: WasmVariant;
  readonly memory: WebAssembly.Memory;
  readonly x: KernelExports;
  readonly ctrlOffset: number;
  /** Where kernels' scratch starts: after the control block and every reserved region. */
  private scratchBase: number;
  /** Every buffer object this memory has had (a shared memory's views stay valid across grows). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Bytes handed out by reserve() so far. */
  reservedBytes = 0;
  private buf: ArrayBufferLike;
  f32: Float32Array;
  f64: Float64Array;
  ctrl: Int32Array;

  constructor(module: WebAssembly.Module, variant: WasmVariant) {
    this.module = module;
    this.variant = variant;
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: WASM_MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.x = instance.exports as unknown as KernelExports;
    this.ctrlOffset = align(this.x.heapBase(), 4096);
    this.scratchBase = this.ctrlOffset + CTRL_BYTES;
    this.buf = this.memory.buffer;
    this.buffers.add(this.buf);
    this.f32 = new Float32Array(this.buf);
    this.f64 = new Float64Array(this.buf);
    this.ctrl = new Int32Array(this.buf, this.ctrlOffset, CTRL_BYTES / 4);
    this.ensureArena(0);
  }

  /** Grows the memory so that the arena holds at least `bytes` bytes; refreshes the views. */
  ensureArena(bytes: number): void {
    const need = this.arenaOffset + bytes;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      const pages = Math.ceil((need - have) / PAGE);
      if (have / PAGE + pages > WASM_MAX_PAGES) {
        throw new RangeError(
          `wasm backend: a kernel needs ${need} bytes of WebAssembly memory, more than the 4 GiB limit`,
        );
      }
      // Grow by at least 1/8 of the current size so that slowly growing sizes do not grow every call.
      this.memory.grow(Math.max(pages, Math.min(WASM_MAX_PAGES - have / PAGE, Math.ceil(have / PAGE / 8))));
    }
    if (this.memory.buffer.byteLength !== this.buf.byteLength) {
      this.buf = this.memory.buffer;
      this.buffers.add(this.buf);
      this.f32 = new Float32Array(this.buf);
      this.f64 = new Float64Array(this.buf);
    }
  }

  /** The byte offset where kernels' scratch starts (kernels lay out their arguments from here). */
  get arenaOffset(): number {
    return this.scratchBase;
  }

  /**
   * A region of `bytes` bytes (64-byte aligned) of this memory that kernels' scratch never uses,
   * until release(): a compiled graph keeps its arrays there, so that kernels read and write them
   * in place (see offsetOf). Returns the memory's buffer and the region's byte offset. Regions are
   * never given back (they go with the memory when the runtime is discarded).
   */
  reserve(bytes: number): { buffer: ArrayBufferLike; offset: number } {
    const size = align(Math.max(bytes, 1), 64);
    const offset = align(this.scratchBase, 64);
    this.scratchBase = offset + size;
    this.reservedBytes += size;
    this.ensureArena(0);
    return { buffer: this.buf, offset };
  }

  /** The byte offset of `a` in this memory, or -1 when `a` lives elsewhere (then kernels copy it). */
  offsetOf(a: FloatArray): number {
    return this.buffers.has(a.buffer) ? a.byteOffset : -1;
  }

  /** Where a kernel finds `a`: its own offset when it lives in this memory, else `off`, after copying it there. */
  place(off: number, a: FloatArray): number {
    const own = this.offsetOf(a);
    if (own >= 0) return own;
    this.write(off, a);
    return off;
  }

  /** Copies `a` into WebAssembly memory at byte offset `off` (a multiple of the element size). */
  write(off: number, a: FloatArray): void {
    if (a instanceof Float64Array) this.f64.set(a, off / 8);
    else this.f32.set(a, off / 4);
  }

  /** Fills `out` from WebAssembly memory at byte offset `off` (nothing to do when `out` is that memory). */
  read(off: number, out: FloatArray): void {
    if (this.offsetOf(out) === off) return;
    if (out instanceof Float64Array) out.set(this.f64.subarray(off / 8, off / 8 + out.length));
    else out.set(this.f32.subarray(off / 4, off / 4 + out.length));
  }

  /** Byte address of thread t's scratch tile (t = 0 is the calling thread). */
  tile(t: number): number {
    return this.ctrlOffset + TILE_BASE + t * TILE_BYTES;
  }
}

export function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

export type WasmVariant = "relaxed-simd" | "simd128";

const bytesCache = new Map<WasmVariant, Uint8Array<ArrayBuffer>>();
/** A build's bytes, decoded once. */
export function wasmBytes(variant: WasmVariant = "simd128"): Uint8Array<ArrayBuffer> {
  let bytes = bytesCache.get(variant);
  if (!bytes) {
    bytes = Uint8Array.from(Buffer.from(variant === "simd128" ? WASM_BASE64 : WASM_FMA_BASE64, "base64"));
    bytesCache.set(variant, bytes);
  }
  return bytes;
}

/**
 * Whether the relaxed-SIMD build can run. Node 20's V8 (11.3) implements relaxed SIMD but keeps it
 * behind --experimental-wasm-relaxed-simd; the flag only admits the new instructions, so it is
 * turned on here unless CNNLAB_WASM_FMA=0 asks for the plain build.
 */
function relaxedSimdUsable(): boolean {
  if (process.env.CNNLAB_WASM_FMA === "0") return false;
  const bytes = wasmBytes("relaxed-simd");
  if (WebAssembly.validate(bytes)) return true;
  try {
    setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

let state: { rt: WasmRuntime | null; reason: string } | undefined;
let disabled = false;
let compiled: { variant: WasmVariant; module: WebAssembly.Module } | undefined;

/**
 * Drops the runtime (its memory and control block); the next runtime() makes a fresh one from the
 * same compiled module. For a thread pool whose job was cut short (see threads.ts).
 */
export function discardRuntime(): void {
  if (state?.rt) compiled = { variant: state.rt.variant, module: state.rt.module };
  state = undefined;
}

/**
 * The runtime, created (synchronously) on first use; null when this JavaScript engine cannot run
 * the module (no SIMD128, no shared memory). `unavailableReason()` then says why.
 */
export function runtime(): WasmRuntime | null {
  if (disabled) return null;
  if (state) return state.rt;
  state = { rt: null, reason: "" };
  try {
    if (typeof WebAssembly !== "object") state.reason = "WebAssembly is not available";
    else if (typeof SharedArrayBuffer !== "function") state.reason = "SharedArrayBuffer is not available";
    else if (!WebAssembly.validate(wasmBytes()))
      state.reason = "this engine does not validate the SIMD128 + shared-memory module";
    else {
      const variant: WasmVariant = compiled?.variant ?? (relaxedSimdUsable() ? "relaxed-simd" : "simd128");
      state.rt = new WasmRuntime(compiled?.module ?? new WebAssembly.Module(wasmBytes(variant)), variant);
    }
  } catch (e) {
    state.reason = `the WebAssembly module failed to load: ${(e as Error).message}`;
    state.rt = null;
  }
  return state.rt;
}

/** Why `runtime()` is null ("" when it is not). */
export function unavailableReason(): string {
  if (disabled) return "disabled by forceUnavailable(true)";
  runtime();
  return state?.reason ?? "";
}

/** Test hook: pretend (or stop pretending) that WebAssembly SIMD is unavailable. */
export function forceUnavailable(on: boolean): void {
  disabled = on;
}
