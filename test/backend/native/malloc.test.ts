/**
 * The malloc tuning the native backend applies (backend/native/malloc.ts): glibc's mmap threshold
 * raised, so a freed multi-megabyte block is reused from the heap instead of unmapped and mapped
 * again. Checked through glibc's own count of mmapped blocks (mallinfo2's hblks).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { koffi } from "../../../src/backend/native/blas.js";
import {
  applyMallocTuning,
  IDLE_TRIM_MIN_BYTES,
  mallocInfo,
  MMAP_THRESHOLD_BYTES,
  trimIfIdle,
  tuneMalloc,
} from "../../../src/backend/native/malloc.js";

const ffi = koffi();
const glibc = (() => {
  if (process.platform !== "linux" || ffi === null || mallocInfo() === null) return null;
  try {
    const lib = ffi.load("libc.so.6");
    return {
      malloc: lib.func("void *malloc(size_t)") as (n: number) => unknown,
      free: lib.func("void free(void *)") as (p: unknown) => void,
      memset: lib.func("void *memset(void *, int, size_t)") as (p: unknown, c: number, n: number) => unknown,
    };
  } catch {
    return null;
  }
})();
const why = glibc ? "" : "needs Linux with glibc and the koffi FFI";
if (why && process.env.CI !== "true") console.warn(`SKIPPED malloc tuning tests: ${why}`);

describe("malloc tuning", () => {
  it("CNNLAB_MALLOC_TUNING=0 leaves malloc as it is", () => {
    expect(applyMallocTuning({ CNNLAB_MALLOC_TUNING: "0" })).toBe("left as it is (CNNLAB_MALLOC_TUNING=0)");
  });

  it.skipIf(why !== "" && process.env.CI !== "true")(
    "a block below the raised threshold comes from the heap, not from its own mmap",
    () => {
      if (!glibc) throw new Error(`malloc tuning: ${why} (required in CI)`);
      expect(tuneMalloc({})).toMatch(/^glibc malloc keeps freed blocks up to 32 MB/);
      const mapped = () => mallocInfo()!.hblks;
      const before = mapped();
      const blocks = [8, 16, 30].map((mb) => glibc.malloc(mb * 2 ** 20));
      expect(mapped()).toBe(before);
      // above the threshold (and with no free heap to serve it) a block is still mapped on its own
      const big = glibc.malloc(MMAP_THRESHOLD_BYTES + 2 ** 20);
      expect(mapped()).toBe(before + 1);
      glibc.free(big);
      blocks.forEach((b) => glibc.free(b));
    },
  );

  it.skipIf(why !== "" && process.env.CI !== "true")(
    "an idle process gives freed heap memory back: on the second look with nothing allocated or freed",
    () => {
      if (!glibc) throw new Error(`malloc tuning: ${why} (required in CI)`);
      tuneMalloc({});
      const rssMb = () => (Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4096) / 2 ** 20;
      const mb = 2 ** 20;
      const blocks = Array.from({ length: 160 }, () => glibc.malloc(mb));
      // a block allocated after them pins the heap's top, so only malloc_trim can give their pages back
      const pin = glibc.malloc(256 * 1024);
      blocks.forEach((b) => glibc.memset(b, 1, mb));
      blocks.forEach((b) => glibc.free(b));
      expect(160 * mb).toBeGreaterThan(IDLE_TRIM_MIN_BYTES);
      const before = rssMb();
      expect(trimIfIdle()).toBe(false); // the first look only records what is free
      expect(trimIfIdle()).toBe(true);
      expect(before - rssMb()).toBeGreaterThan(100);
      expect(trimIfIdle()).toBe(false); // nothing left to give back
      glibc.free(pin);
    },
  );
});
