/**
 * glibc's malloc gives every large block (from 128 KB, raised as blocks are freed up to 32 MB) its
 * own mmap and unmaps it on free, and trims the heap's free top beyond twice that. An eager training
 * step makes tens of MB of new activation and gradient arrays, freed only when V8 collects them, so
 * each new array's memory comes fresh from the kernel: a page fault and a page of zeros for every
 * 4 KB on first touch. With both thresholds fixed high, freed arrays stay in the heap and the next
 * step's arrays reuse them (the W5 eager step's system time fell from 4–10 ms to under 0.5 ms).
 * PyTorch's CPU allocator keeps memory the same way. Linux with glibc only (found through the FFI);
 * CNNLAB_MALLOC_TUNING=0 leaves malloc as it is.
 */
import { koffi } from "./blas.js";

/** mallopt's parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's largest mmap threshold on 64-bit systems (larger values are refused). */
export const MMAP_THRESHOLD_BYTES = 32 * 2 ** 20;
/** Free memory at the heap's top kept for reuse before it is given back to the system. */
export const TRIM_THRESHOLD_BYTES = 256 * 2 ** 20;

let tuned: string | undefined;

/**
 * Raises glibc's mmap and trim thresholds once per process; returns what was done, in words
 * ("" until it has been tried).
 */
export function tuneMalloc(env: NodeJS.ProcessEnv = process.env): string {
  if (tuned !== undefined) return tuned;
  tuned = applyMallocTuning(env);
  return tuned;
}

/** What tuneMalloc does, uncached. */
export function applyMallocTuning(env: NodeJS.ProcessEnv): string {
  if (env.CNNLAB_MALLOC_TUNING === "0") return "left as it is (CNNLAB_MALLOC_TUNING=0)";
  if (process.platform !== "linux") return `left as it is (${process.platform})`;
  const ffi = koffi();
  if (ffi === null) return "left as it is (no FFI)";
  let mallopt: (param: number, value: number) => number;
  try {
    mallopt = ffi.load("libc.so.6").func("int mallopt(int, int)") as typeof mallopt;
  } catch {
    return "left as it is (no glibc mallopt)";
  }
  const mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
  const trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
  if (mmap !== 1 || trim !== 1) return "left as it is (mallopt refused)";
  return `glibc malloc keeps freed blocks up to ${MMAP_THRESHOLD_BYTES / 2 ** 20} MB (trim at ${TRIM_THRESHOLD_BYTES / 2 ** 20} MB)`;
}
