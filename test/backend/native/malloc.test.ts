/**
 * The malloc tuning the native backend applies (backend/native/malloc.ts): glibc's mmap threshold
 * raised, so a freed multi-megabyte block is reused from the heap instead of unmapped and mapped
 * again. Checked through glibc's own count of mmapped blocks (mallinfo2's hblks).
 */
import { describe, expect, it } from "vitest";
import { koffi } from "../../../src/backend/native/blas.js";
import { applyMallocTuning, MMAP_THRESHOLD_BYTES, tuneMalloc } from "../../../src/backend/native/malloc.js";

const ffi = koffi();
const glibc = (() => {
  if (process.platform !== "linux" || ffi === null) return null;
  try {
    const lib = ffi.load("libc.so.6");
    const info = ffi.struct("cnnlab_mallinfo2", {
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
    return {
      mallinfo2: lib.func("mallinfo2", info, []) as () => { hblks: number | bigint },
      malloc: lib.func("void *malloc(size_t)") as (n: number) => unknown,
      free: lib.func("void free(void *)") as (p: unknown) => void,
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
      const mapped = () => Number(glibc.mallinfo2().hblks);
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
});
