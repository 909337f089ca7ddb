// The WebAssembly sum over dims (assembly/reduce.as through wasm/reduce.ts) against the JS
// reference kernel (backend/js/reduce.ts) on random shapes, strided views and dim sets, in float32
// and float64; and the dispatch: sum() on the wasm backend against the js backend, keepdim and
// empty dims included.
import { describe, expect, it } from "vitest";
import * as cn from "../../../src/index.js";
import { sumDims } from "../../../src/backend/js/reduce.js";
import type { StridedView } from "../../../src/backend/js/strided.js";
import { wasmSumDims } from "../../../src/backend/wasm/reduce.js";
import { wasmAvailable, wasmUnavailableReason } from "../../../src/backend/wasm/index.js";
import { filled } from "../../helpers/filled.js";

const ci = process.env.CI === "true";
const run = wasmAvailable() || ci;
if (!run) console.warn(`skipping the WebAssembly reduction tests: ${wasmUnavailableReason()}`);

/** Deterministic integers in [0, n) (a small LCG), so failures reproduce. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/**
 * A random strided view: a contiguous buffer of a random shape (rank 1-4, sizes 0-9, some 1),
 * its dims permuted, one dim maybe taken every other element, at a random offset.
 */
function randomView(T: Ctor, seed: number, maxSize = 9): StridedView {
  const r = rng(seed);
  const rank = 1 + r(4);
  const base = Array.from({ length: rank }, () => (r(12) === 0 ? 0 : r(4) === 0 ? 1 : 1 + r(maxSize)));
  const strides = new Array<number>(rank);
  for (let d = rank - 1, st = 1; d >= 0; d--) {
    strides[d] = st;
    st *= base[d];
  }
  const pad = r(5);
  const n = base.reduce((a, b) => a * b, 1);
  const data = filled(T, n + pad, seed + 1);
  const order = Array.from({ length: rank }, (_, i) => i).sort(() => r(3) - 1);
  let shape = order.map((d) => base[d]);
  let st = order.map((d) => strides[d]);
  const every = r(3) === 0 ? r(rank) : -1;
  if (every >= 0) {
    shape = shape.map((s, d) => (d === every ? Math.ceil(s / 2) : s));
    st = st.map((s, d) => (d === every ? 2 * s : s));
  }
  return { data, shape, strides: st, offset: pad };
}

function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1e-30 + Math.abs(want[i]) + 1e-6);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst;
}

/** Sums `x` over a random dim set (from `seed`) both ways; returns how many outputs were compared. */
function compareOnRandomDims(T: Ctor, x: StridedView, seed: number, tol: number): number {
  const r = rng(seed);
  const reduced = x.shape.map(() => r(2) === 0);
  const outLen = x.shape.reduce((a, s, d) => (reduced[d] ? a : a * s), 1);
  const want = new T(outLen);
  sumDims(x, reduced, want);
  const got = new T(outLen).fill(NaN);
  wasmSumDims(x, reduced, got);
  const label = `shape [${x.shape.join(",")}] strides [${x.strides.join(",")}] reduced [${reduced.join(",")}]`;
  expect(maxRelError(got, want), label).toBeLessThanOrEqual(tol);
  return outLen;
}

describe.runIf(run)("wasmSumDims against the JS reference", () => {
  it.each([
    ["float32", Float32Array, 1e-6],
    ["float64", Float64Array, 1e-13],
  ] as const)("%s: 300 random views and dim sets", (_name, T, tol) => {
    let checked = 0;
    for (let seed = 1; seed <= 300; seed++)
      checked += compareOnRandomDims(T, randomView(T, seed), seed * 7 + 3, tol);
    expect(checked).toBeGreaterThan(1000);
  });

  it("large views (over 512 KiB of data), permuted and strided, in float32 and float64", () => {
    let large = 0;
    for (let seed = 1; large < 12; seed++) {
      const T = seed % 2 ? Float32Array : Float64Array;
      const x = randomView(T, 1000 + seed, 60);
      if (x.data.length * x.data.BYTES_PER_ELEMENT < 1 << 19) continue;
      large++;
      compareOnRandomDims(T, x, seed * 11 + 5, T === Float32Array ? 1e-6 : 1e-13);
    }
  });

  it("sums the batch-norm / bias-gradient pattern: dims (0, 2, 3) of [64, 32, 16, 16]", () => {
    const shape = [64, 32, 16, 16];
    const data = filled(Float32Array, 64 * 32 * 256, 9);
    const x: StridedView = { data, shape, strides: [8192, 256, 16, 1], offset: 0 };
    const reduced = [true, false, true, true];
    const want = new Float32Array(32);
    sumDims(x, reduced, want);
    const got = new Float32Array(32);
    wasmSumDims(x, reduced, got);
    expect(maxRelError(got, want)).toBeLessThanOrEqual(1e-6);
    expect(want.some((v) => v !== 0)).toBe(true);
  });

  it("rejects mixed or integer dtypes, naming the arrays", () => {
    const x: StridedView = { data: new Int32Array(4), shape: [4], strides: [1], offset: 0 };
    expect(() => wasmSumDims(x, [true], new Int32Array(1))).toThrow(
      /wasmSumDims: x and out must be one float dtype/,
    );
  });
});

describe.runIf(run)("sum() on the wasm backend (the dispatch table's WebAssembly rule)", () => {
  const withBackend = <T>(name: string, fn: () => T): T => {
    const previous = cn.setBackend(name);
    try {
      return fn();
    } finally {
      cn.setBackend(previous);
    }
  };

  it("runs the WebAssembly kernel for large float32 sums and the JS loops for float64", () => {
    const info = withBackend("wasm", () => cn.backendInfo().kernels.find((k) => k.startsWith("sumDims:")));
    expect(info).toMatch(/^sumDims: WebAssembly SIMD \(float32, .*\), else JS loops$/);
  });

  it.each([
    ["dims (0, 2, 3), keepdim", [0, 2, 3], true],
    ["dims (0, 2, 3)", [0, 2, 3], false],
    ["dim 1", [1], false],
    ["dims (-1, 0)", [-1, 0], true],
    ["all dims (undefined)", undefined, false],
    ["empty dim list", [], false],
  ] as const)("%s: float32 and float64 match the js backend", (_label, dims, keepdim) => {
    for (const dtype of ["float32", "float64"] as const) {
      const x = cn.Tensor.fromData(
        dtype === "float32"
          ? filled(Float32Array, 8 * 16 * 32 * 20, 5)
          : filled(Float64Array, 8 * 16 * 32 * 20, 5),
        [8, 16, 32, 20],
      );
      const d = dims === undefined ? undefined : [...dims];
      const want = withBackend("js", () => cn.sum(x, d, keepdim));
      const got = withBackend("wasm", () => cn.sum(x, d, keepdim));
      expect(got.shape).toEqual(want.shape);
      expect(got.dtype).toBe(dtype);
      expect(maxRelError(got.data, want.data), `${dtype}`).toBeLessThanOrEqual(
        dtype === "float32" ? 1e-6 : 1e-13,
      );
    }
  });

  it("a permuted (non-contiguous) view and a reduced dim of size 0", () => {
    const x = cn.permute(cn.Tensor.fromData(filled(Float32Array, 16 * 64 * 70, 6), [16, 64, 70]), [2, 0, 1]);
    for (const dims of [[0], [1, 2], [0, 2]]) {
      const want = withBackend("js", () => cn.sum(x, dims));
      const got = withBackend("wasm", () => cn.sum(x, dims));
      expect(maxRelError(got.data, want.data), `dims ${dims.join(",")}`).toBeLessThanOrEqual(1e-6);
    }
    const empty = cn.Tensor.fromData(new Float32Array(0), [0, 70000]);
    const zeros = withBackend("wasm", () => cn.sum(empty, [0]));
    expect(zeros.shape).toEqual([70000]);
    expect(zeros.data.every((v) => v === 0)).toBe(true);
  });
});
