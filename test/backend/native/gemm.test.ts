// The native backend's GEMM (the system CBLAS through the FFI) against the JavaScript reference
// kernel, on views with offsets and on views of a shared WebAssembly.Memory, plus PyTorch's values
// for matmul and linear on every backend that loads.
import { describe, expect, it } from "vitest";
import * as cn from "../../../src/index.js";
import type { Tensor } from "../../../src/index.js";
import type { GemmArgs } from "../../../src/backend/backend.js";
import { gemm as jsGemm } from "../../../src/backend/js/gemm.js";
import { blasGemm } from "../../../src/backend/native/gemm.js";
import { findBlas, blasCandidates } from "../../../src/backend/native/blas.js";
import { checkOp } from "../../helpers/harness.js";
import { backendLoads } from "../../helpers/backends.js";
import { filled } from "../../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

const blas = backendLoads("native") ? findBlas(blasCandidates(process.env, process.platform)).blas : null;
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 17, 3],
  [17, 3, 1],
  [63, 129, 17],
  [129, 17, 63],
  [120, 90, 150],
];
const TOL = { Float32Array: 1e-5, Float64Array: 1e-13 } as const;

describe.runIf(blas)("blasGemm against the JavaScript reference", () => {
  describe.each([Float32Array, Float64Array] as Ctor[])("%o", (T) => {
    it.each(SHAPES)("m=%i n=%i k=%i, every transpose, assign and accumulate", (m, n, k) => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            const seed = m * 31 + n * 7 + k + (transA ? 1 : 0) + (transB ? 2 : 0);
            const args = (c: Float32Array | Float64Array): GemmArgs => ({
              transA,
              transB,
              m,
              n,
              k,
              a: filled(T, m * k, seed),
              b: filled(T, k * n, seed + 5),
              c,
              accumulate,
            });
            const ours = filled(T, m * n, seed + 9);
            const ref = ours.slice();
            blasGemm(blas!, args(ours));
            jsGemm(args(ref));
            let worst = 0;
            for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]));
            // entries are sums of k products of values in [-1, 1)
            expect(worst, `transA=${transA} transB=${transB} acc=${accumulate}`).toBeLessThan(
              TOL[T.name as keyof typeof TOL] * (k + 1),
            );
          }
        }
      }
    });
  });

  it("reads and writes views at an offset (subarrays) without touching their neighbours", () => {
    const buf = filled(Float32Array, 1000, 3) as Float32Array;
    const a = buf.subarray(7, 7 + 6 * 4);
    const b = buf.subarray(101, 101 + 4 * 5);
    const before = buf.slice();
    const c = buf.subarray(503, 503 + 6 * 5);
    const expected = new Float32Array(30);
    jsGemm({
      transA: false,
      transB: false,
      m: 6,
      n: 5,
      k: 4,
      a: a.slice(),
      b: b.slice(),
      c: expected,
      accumulate: false,
    });
    blasGemm(blas!, { transA: false, transB: false, m: 6, n: 5, k: 4, a, b, c, accumulate: false });
    for (let i = 0; i < 30; i++) expect(c[i]).toBeCloseTo(expected[i], 5);
    for (let i = 0; i < buf.length; i++) if (i < 503 || i >= 533) expect(buf[i]).toBe(before[i]);
  });

  it("takes views of a shared WebAssembly.Memory as operands", () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const f = new Float64Array(mem.buffer);
    f.set([1, 2, 3, 4], 0);
    f.set([5, 6, 7, 8], 8);
    const c = f.subarray(16, 20);
    blasGemm(blas!, {
      transA: false,
      transB: true,
      m: 2,
      n: 2,
      k: 2,
      a: f.subarray(0, 4),
      b: f.subarray(8, 12),
      c,
      accumulate: false,
    });
    // [[1,2],[3,4]] · [[5,6],[7,8]]^T
    expect([...c]).toEqual([17, 23, 39, 53]);
  });

  it("zero-sized products: k = 0 clears C (or leaves it when accumulating), m = 0 does nothing", () => {
    const c = new Float32Array([1, 2, 3, 4]);
    blasGemm(blas!, {
      transA: false,
      transB: false,
      m: 2,
      n: 2,
      k: 0,
      a: new Float32Array(0),
      b: new Float32Array(0),
      c,
      accumulate: true,
    });
    expect([...c]).toEqual([1, 2, 3, 4]);
    blasGemm(blas!, {
      transA: false,
      transB: false,
      m: 2,
      n: 2,
      k: 0,
      a: new Float32Array(0),
      b: new Float32Array(0),
      c,
      accumulate: false,
    });
    expect([...c]).toEqual([0, 0, 0, 0]);
  });

  it("rejects mismatched lengths and dtypes naming the operand and its shape", () => {
    const a = new Float32Array(6);
    expect(() =>
      blasGemm(blas!, {
        transA: true,
        transB: false,
        m: 2,
        n: 2,
        k: 3,
        a,
        b: new Float32Array(5),
        c: new Float32Array(4),
        accumulate: false,
      }),
    ).toThrow(/b has 5 elements, expected 6 for shape \[3, 2\]/);
    expect(() =>
      blasGemm(blas!, {
        transA: false,
        transB: false,
        m: 2,
        n: 2,
        k: 3,
        a,
        b: new Float64Array(6),
        c: new Float32Array(4),
        accumulate: false,
      }),
    ).toThrow(/one dtype/);
  });
});

describe.each(cn.listBackends())("GEMM shapes against PyTorch (%s backend)", (name) => {
  const run = (c: string, fn: (...args: any[]) => unknown) =>
    it(c, () => {
      const previous = cn.setBackend(name);
      try {
        checkOp("gemm", c, fn, { gradcheck: false });
      } finally {
        cn.setBackend(previous);
      }
    });
  for (const t of ["f32", "f64"]) {
    run(`mm_${t}`, (a: Tensor, b: Tensor) => a.matmul(b));
    run(`mm_at_${t}`, (a: Tensor, b: Tensor) => a.t().matmul(b));
    run(`mm_bt_${t}`, (a: Tensor, b: Tensor) => a.matmul(b.t()));
    run(`bmm_${t}`, (a: Tensor, b: Tensor) => cn.matmul(a, b));
    run(`linear_${t}`, (x: Tensor, w: Tensor, b: Tensor) => cn.F.linear(x, w, b));
  }
});
