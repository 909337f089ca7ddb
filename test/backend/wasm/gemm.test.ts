import { afterAll, afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { wasmBackend } from "../../../src/backend/dispatch.js";
import {
  getNumThreads,
  PARALLEL_MIN_FLOPS,
  setNumThreads,
  setWasmDisabled,
  shutdownThreads,
  wasmAvailable,
  wasmGemm,
  wasmMemoryBytes,
  wasmUnavailableReason,
  wasmVariant,
  workerCount,
} from "../../../src/backend/wasm/index.js";
import type { GemmArgs } from "../../../src/backend/backend.js";
import { filled } from "../../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Straightforward triple loop in float64, plus the bound sum |a||b| + |c0| used for the tolerance. */
function reference(args: GemmArgs, c0: ArrayLike<number>): { value: Float64Array; scale: Float64Array } {
  const { transA, transB, m, n, k, a, b, accumulate } = args;
  const value = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = accumulate ? c0[i * n + j] : 0;
      let t = accumulate ? Math.abs(c0[i * n + j]) : 0;
      for (let p = 0; p < k; p++) {
        const x = transA ? a[p * m + i] : a[i * k + p];
        const y = transB ? b[j * k + p] : b[p * n + j];
        s += x * y;
        t += Math.abs(x * y);
      }
      value[i * n + j] = s;
      scale[i * n + j] = t;
    }
  }
  return { value, scale };
}

function makeArgs(
  T: Ctor,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  accumulate: boolean,
  seed = 1,
) {
  const args: GemmArgs = {
    transA,
    transB,
    m,
    n,
    k,
    a: filled(T, m * k, seed),
    b: filled(T, k * n, seed + 7),
    c: filled(T, m * n, seed + 13),
    accumulate,
  };
  return args;
}

/** Largest |c - ref| / (scale + tiny) over all elements. */
function worst(c: ArrayLike<number>, ref: { value: Float64Array; scale: Float64Array }): number {
  let w = 0;
  for (let i = 0; i < c.length; i++) {
    const e = Math.abs(c[i] - ref.value[i]) / (ref.scale[i] + 1e-300);
    if (!(e <= w)) w = Number.isNaN(e) ? Infinity : Math.max(w, e);
  }
  return w;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 17, 3],
  [3, 1, 17],
  [17, 3, 1],
  [1, 63, 129],
  [129, 1, 63],
  [63, 129, 1],
  [17, 63, 129],
  [129, 17, 63],
  [63, 129, 17],
  [3, 129, 3],
  [129, 129, 129],
  [33, 70, 600], // several k-blocks
  [5, 2100, 7], // several column blocks
  [140, 9, 260], // row blocks + k-blocks
];
const TOL = { Float32Array: 1e-5, Float64Array: 1e-12 } as const;
const DTYPES: Ctor[] = [Float32Array, Float64Array];
const TRANS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

afterEach(() => {
  setWasmDisabled(false);
  setNumThreads(1);
});
afterAll(async () => {
  await shutdownThreads();
});

describe("wasm backend availability", () => {
  it("compiles the SIMD module on this Node", () => {
    expect(wasmUnavailableReason()).toBe("");
    expect(wasmAvailable()).toBe(true);
  });
});

describe.each(DTYPES)("wasmGemm %o", (T) => {
  const tol = TOL[T.name as keyof typeof TOL];
  describe.each(TRANS)("transA=%s transB=%s", (transA, transB) => {
    it.each(SHAPES)("m=%i n=%i k=%i matches the triple loop (assign and accumulate)", (m, n, k) => {
      setNumThreads(1);
      for (const accumulate of [false, true]) {
        const args = makeArgs(T, m, n, k, transA, transB, accumulate, m * 31 + n * 7 + k);
        const c0 = Float64Array.from(args.c);
        const ref = reference(args, c0);
        wasmGemm(args);
        expect(worst(args.c, ref), `accumulate=${accumulate}`).toBeLessThanOrEqual(tol);
      }
    });
  });

  it("handles k = 0 (C = 0, or unchanged when accumulating) and empty outputs", () => {
    const args = makeArgs(T, 3, 4, 0, false, false, false);
    wasmGemm(args);
    expect(Array.from(args.c)).toEqual(new Array(12).fill(0));
    const acc = makeArgs(T, 3, 4, 0, true, true, true);
    const before = Array.from(acc.c);
    wasmGemm(acc);
    expect(Array.from(acc.c)).toEqual(before);
    const empty = makeArgs(T, 0, 5, 3, false, false, false);
    expect(() => wasmGemm(empty)).not.toThrow();
    expect(empty.c.length).toBe(0);
  });

  it("works on subarray views with a non-zero byte offset", () => {
    const m = 9;
    const n = 11;
    const k = 13;
    const base = makeArgs(T, m, n, k, false, true, false, 5);
    const pad = (x: Float32Array | Float64Array) => {
      const big = new T(x.length + 3);
      big.set(x, 3);
      return big.subarray(3);
    };
    const args: GemmArgs = { ...base, a: pad(base.a), b: pad(base.b), c: pad(base.c) };
    const ref = reference(args, args.c);
    wasmGemm(args);
    expect(worst(args.c, ref)).toBeLessThanOrEqual(tol);
  });
});

describe("threads", () => {
  const cases: [string, Ctor, number, number, number, boolean, boolean][] = [
    ["f32 rows split", Float32Array, 301, 97, 150, false, false],
    ["f32 columns split, transposed", Float32Array, 13, 700, 300, true, true],
    ["f64 rows split", Float64Array, 257, 65, 290, false, true],
    ["f64 columns split", Float64Array, 9, 515, 400, true, false],
  ];
  it.each(cases)("%s: 1, 2 and 3 threads give bit-identical results", (_name, T, m, n, k, transA, transB) => {
    expect(2 * m * n * k).toBeGreaterThanOrEqual(PARALLEL_MIN_FLOPS);
    for (const accumulate of [false, true]) {
      const results: (Float32Array | Float64Array)[] = [];
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        expect(getNumThreads()).toBe(threads);
        const args = makeArgs(T, m, n, k, transA, transB, accumulate, 99);
        wasmGemm(args);
        results.push(args.c);
      }
      expect(workerCount()).toBeGreaterThanOrEqual(2);
      const ref = reference(makeArgs(T, m, n, k, transA, transB, accumulate, 99), filled(T, m * n, 99 + 13));
      expect(worst(results[0], ref)).toBeLessThanOrEqual(TOL[T.name as keyof typeof TOL]);
      expect(Buffer.from(results[1].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
      expect(Buffer.from(results[2].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
    }
  });

  it("stays correct over many back-to-back parallel jobs with changing thread counts", () => {
    const m = 64;
    const n = 72;
    const k = 300;
    expect(2 * m * n * k).toBeGreaterThanOrEqual(PARALLEL_MIN_FLOPS);
    setNumThreads(1);
    const want = makeArgs(Float32Array, m, n, k, false, true, false, 42);
    wasmGemm(want);
    let mismatches = 0;
    for (let i = 0; i < 150; i++) {
      setNumThreads(2 + (i % 3));
      const args = makeArgs(Float32Array, m, n, k, false, true, false, 42);
      wasmGemm(args);
      if (!Buffer.from(args.c.buffer).equals(Buffer.from(want.c.buffer))) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it("keeps working after shutdownThreads() (new workers start on demand)", async () => {
    setNumThreads(2);
    const first = makeArgs(Float32Array, 200, 200, 100, false, false, false, 3);
    wasmGemm(first);
    await shutdownThreads();
    expect(workerCount()).toBe(0);
    const second = makeArgs(Float32Array, 200, 200, 100, false, false, false, 3);
    wasmGemm(second);
    expect(workerCount()).toBe(1);
    expect(Buffer.from(second.c.buffer).equals(Buffer.from(first.c.buffer))).toBe(true);
  });

  it("rejects a bad thread count", () => {
    expect(() => setNumThreads(0)).toThrow(/setNumThreads: n must be a positive integer, got 0/);
    expect(() => setNumThreads(1.5)).toThrow(/positive integer/);
  });

  it("worker threads do not keep the process alive", () => {
    const entry = fileURLToPath(new URL("../../../src/backend/wasm/index.ts", import.meta.url));
    const code = `
      const w = await import(${JSON.stringify(entry)});
      w.setNumThreads(2);
      const n = 256, a = new Float32Array(n * n).fill(1), c = new Float32Array(n * n);
      w.wasmGemm({ transA: false, transB: false, m: n, n, k: n, a, b: a, c, accumulate: false });
      console.log(c[0], w.workerCount());
    `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("256 1");
  });
});

describe("memory arena", () => {
  it("does not grow when the same products repeat", () => {
    const run = () => {
      wasmGemm(makeArgs(Float32Array, 150, 140, 130, false, false, false, 1));
      wasmGemm(makeArgs(Float64Array, 60, 70, 80, true, true, true, 2));
    };
    run();
    const size = wasmMemoryBytes();
    for (let i = 0; i < 50; i++) run();
    expect(wasmMemoryBytes()).toBe(size);
  });

  it("grows for a large product, is reused by smaller ones and stays correct", () => {
    const big = makeArgs(Float64Array, 300, 310, 320, false, false, false, 8);
    const bigRef = reference(big, big.c);
    wasmGemm(big);
    expect(worst(big.c, bigRef)).toBeLessThanOrEqual(1e-12);
    const small = makeArgs(Float32Array, 7, 5, 3, true, false, true, 9);
    const smallRef = reference(small, small.c);
    wasmGemm(small);
    expect(worst(small.c, smallRef)).toBeLessThanOrEqual(1e-5);
  });
});

describe("argument checks", () => {
  it("names the op, the argument and the shape", () => {
    const args = makeArgs(Float32Array, 2, 3, 4, false, false, false);
    expect(() => wasmGemm({ ...args, a: new Float32Array(7) })).toThrow(
      "gemm: a has 7 elements, expected 8 for shape [2, 4]",
    );
    expect(() => wasmGemm({ ...args, transB: true, b: new Float32Array(5) })).toThrow(
      "gemm: b has 5 elements, expected 12 for shape [3, 4]",
    );
    expect(() => wasmGemm({ ...args, c: new Float64Array(6) })).toThrow(
      /one dtype.*Float32Array.*Float64Array/,
    );
    expect(() => wasmGemm({ ...args, m: -1 })).toThrow(/m must be a non-negative integer/);
  });
});

describe("fallback to JavaScript", () => {
  it("the wasm backend's gemm runs the JS reference kernel when WebAssembly SIMD is unavailable", () => {
    setWasmDisabled(true);
    expect(wasmAvailable()).toBe(false);
    expect(wasmUnavailableReason()).toMatch(/disabled/);
    expect(() => wasmGemm(makeArgs(Float32Array, 2, 2, 2, false, false, false))).toThrow(/not available/);
    for (const T of DTYPES) {
      const args = makeArgs(T, 17, 3, 63, true, false, true, 4);
      const ref = reference(args, args.c);
      wasmBackend.gemm(args);
      expect(worst(args.c, ref)).toBeLessThanOrEqual(TOL[T.name as keyof typeof TOL]);
    }
    setWasmDisabled(false);
    expect(wasmAvailable()).toBe(true);
  });
});

describe("the two builds of the kernels", () => {
  // CNNLAB_WASM_FMA=0 selects the plain SIMD128 build; the test suite runs the WebAssembly tests
  // once with each (see vitest.config.ts).
  const expected = process.env.CNNLAB_WASM_FMA === "0" ? "simd128" : "relaxed-simd";

  it(`runs the ${expected} build here, and says so from the top-level API too`, async () => {
    expect(wasmVariant()).toBe(expected);
    const lib = await import("../../../src/index.js");
    expect(lib.wasmVariant()).toBe(expected);
    expect(lib.wasmAvailable()).toBe(true);
    const before = lib.getNumThreads();
    lib.setNumThreads(1);
    expect(lib.getNumThreads()).toBe(1);
    lib.setNumThreads(before);
  });

  it("fuses the multiply-add exactly when the relaxed-SIMD build runs", () => {
    // Two products summed in float32: -(1 + 2^-11) * 1, then (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24.
    // Rounded on its own the second product loses its 2^-24 (a tie, to even), so the sum is 0;
    // fused into the running sum it keeps it, and the sum is exactly 2^-24.
    const a = new Float32Array([-(1 + 2 ** -11), 1 + 2 ** -12]);
    const b = new Float32Array([1, 1 + 2 ** -12]);
    const c = new Float32Array(1);
    wasmGemm({ transA: false, transB: false, m: 1, n: 1, k: 2, a, b, c, accumulate: false });
    expect(c[0]).toBe(expected === "relaxed-simd" ? 2 ** -24 : 0);
  });
});
