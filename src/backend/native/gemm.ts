import type { GemmArgs } from "../backend.js";
import { checkGemmArgs } from "../wasm/gemm.js";
import type { Blas } from "./blas.js";

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

/**
 * Row-major C = op(A)·op(B) (+ C when accumulate) through the library's cblas_sgemm/cblas_dgemm; the
 * typed arrays (views included) are passed as pointers, without a copy.
 */
export function blasGemm(blas: Blas, args: GemmArgs): void {
  checkGemmArgs(args);
  const { transA, transB, m, n, k, a, b, c, accumulate } = args;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) c.fill(0);
    return;
  }
  const ta = transA ? TRANS : NO_TRANS;
  const tb = transB ? TRANS : NO_TRANS;
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const beta = accumulate ? 1 : 0;
  if (a instanceof Float64Array)
    blas.dgemm(ROW_MAJOR, ta, tb, m, n, k, 1, a, lda, b as Float64Array, ldb, beta, c as Float64Array, n);
  else blas.sgemm(ROW_MAJOR, ta, tb, m, n, k, 1, a, lda, b as Float32Array, ldb, beta, c as Float32Array, n);
}
