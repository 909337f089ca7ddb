import type { FloatArray } from "../tensor/dtype.js";

/**
 * Row-major GEMM on exact-length views of one dtype:
 * C[m,n] (+)= op(A)[m,k] · op(B)[k,n], where op transposes when `transA`/`transB`.
 */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: FloatArray;
  b: FloatArray;
  c: FloatArray;
  accumulate: boolean;
}

/** The hot kernels a backend can take over; every one has a JS reference in backend/js. */
export interface Backend {
  readonly name: string;
  gemm(args: GemmArgs): void;
}
