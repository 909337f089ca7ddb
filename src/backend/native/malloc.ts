/**
 * glibc's malloc gives every large block (from 128 KB, raised as blocks are freed up to 32 MB) its
 * own mmap and unmaps it on free, and trims the heap's free top beyond twice that. An eager training
 * step makes tens of MB of new activation and gradient arrays, freed only when V8 collects them, so
 * each new array's memory came fresh from the kernel: a page fault and a page of zeros for every
 * 4 KB on first touch. With both thresholds fixed high, freed arrays stay in the heap and the next
 * step's arrays reuse them (1–4 ms off a W5 eager step at 1T, 3–5 ms at 2T).
 *
 * Memory freed in the middle of the heap then stays with the process, so while the process is idle
 * (less than 1 MB allocated or freed between two looks a second apart, more than 64 MB free)
 * malloc_trim gives it back. A synchronous training loop never sees the timer run; between cells it
 * does. Linux with glibc only (found through the FFI); CNNLAB_MALLOC_TUNING=0 leaves malloc as it is.
 */
import { koffi } from "./blas.js";
import { registerGlobalState } from "../../runtime/state.js";

/** mallopt's parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's largest mmap threshold on 64-bit systems (larger values are refused). */
export const MMAP_THRESHOLD_BYTES = 32 * 2 ** 20;
/** Free memory at the heap's top kept for reuse before it is given back to the system. */
export const TRIM_THRESHOLD_BYTES = 256 * 2 ** 20;
/** Free heap memory below which an idle process keeps it (giving it back costs a pass over it). */
export const IDLE_TRIM_MIN_BYTES = 64 * 2 ** 20;
const IDLE_CHECK_MS = 1000;
/** What the free amount may move by between two looks of an idle process (its own small allocations). */
const IDLE_CHANGE_BYTES = 2 ** 20;

/** Counts from glibc's mallinfo2 (bytes, except hblks). */
export interface MallocInfo {
  /** Blocks that have an mmap of their own. */
  hblks: number;
  /** Bytes free in malloc's heaps. */
  fordblks: number;
}

interface Glibc {
  mallopt(param: number, value: number): number;
  info(): MallocInfo;
  trim(): void;
}

let glibc: Glibc | null | undefined;

function loadGlibc(): Glibc | null {
  if (glibc !== undefined) return glibc;
  glibc = null;
  const ffi = koffi();
  if (ffi === null || process.platform !== "linux") return null;
  try {
    const lib = ffi.load("libc.so.6");
    const info = ffi.struct("cnnlab_malloc_info", {
      arena: "size_t",
      ordblks: "size_t",
      smblks: "size_t",
      hblks: "size_t",
      hblkhd: "size_t",
      usmblks: "size_t",
      fsmblks: "size_t",
      uordblks: "size_t",
      fordblks: "size_t",
      keepcost: "size_t",
    });
    const mallinfo2 = lib.func("mallinfo2", info, []) as () => Record<keyof MallocInfo, number | bigint>;
    const mallocTrim = lib.func("int malloc_trim(size_t)") as (pad: number) => number;
    glibc = {
      mallopt: lib.func("int mallopt(int, int)") as Glibc["mallopt"],
      info: () => {
        const m = mallinfo2();
        return { hblks: Number(m.hblks), fordblks: Number(m.fordblks) };
      },
      trim: () => void mallocTrim(0),
    };
  } catch {
    glibc = null;
  }
  return glibc;
}

/** glibc's malloc counts, or null without glibc and the FFI. */
export function mallocInfo(): MallocInfo | null {
  return loadGlibc()?.info() ?? null;
}

let tuned: string | undefined;

/**
 * Raises glibc's mmap and trim thresholds once per process and starts the idle trim; returns what
 * was done, in words.
 */
export function tuneMalloc(env: NodeJS.ProcessEnv = process.env): string {
  if (tuned !== undefined) return tuned;
  tuned = applyMallocTuning(env);
  if (tuned.startsWith("glibc")) setInterval(trimIfIdle, IDLE_CHECK_MS).unref();
  return tuned;
}

/** What tuneMalloc does, uncached and without the idle trim. */
export function applyMallocTuning(env: NodeJS.ProcessEnv): string {
  if (env.CNNLAB_MALLOC_TUNING === "0") return "left as it is (CNNLAB_MALLOC_TUNING=0)";
  if (process.platform !== "linux") return `left as it is (${process.platform})`;
  if (koffi() === null) return "left as it is (no FFI)";
  const c = loadGlibc();
  if (c === null) return "left as it is (no glibc mallopt)";
  const mmap = c.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
  const trim = c.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
  if (mmap !== 1 || trim !== 1) return "left as it is (mallopt refused)";
  return `glibc malloc keeps freed blocks up to ${MMAP_THRESHOLD_BYTES / 2 ** 20} MB (trim at ${TRIM_THRESHOLD_BYTES / 2 ** 20} MB)`;
}

let lastFree = -1;
let activeSinceTrim = true;

// A look cut off half-way leaves any pair of values; starting the looks afresh is always valid.
registerGlobalState({
  name: "backend/native/malloc: idle trim's last look",
  save: () => null,
  restore: () => {
    lastFree = -1;
    activeSinceTrim = true;
  },
});

/**
 * One look of the idle trim: gives free heap memory back to the system when more than
 * IDLE_TRIM_MIN_BYTES is free, the amount moved by less than 1 MB since the previous look, and
 * memory was allocated or freed since the last trim. Returns whether it trimmed.
 */
export function trimIfIdle(): boolean {
  const c = loadGlibc();
  if (c === null) return false;
  const free = c.info().fordblks;
  const moved = Math.abs(free - lastFree) >= IDLE_CHANGE_BYTES;
  lastFree = free;
  if (moved) activeSinceTrim = true;
  if (moved || !activeSinceTrim || free <= IDLE_TRIM_MIN_BYTES) return false;
  c.trim();
  activeSinceTrim = false;
  return true;
}
