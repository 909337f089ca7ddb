/**
 * cnnlab's native backend: every GEMM (matmul, linear, the convolutions' im2col products) runs in
 * the system's CBLAS through the FFI, on the caller's typed arrays (conv2d: see conv.ts); the
 * memory-bound kernels (ReLU, pooling) stay on the WebAssembly backend's kernels, the fastest cnnlab
 * has for them (backend/dispatch.ts, nativeTable).
 */

export { blasGemm } from "./gemm.js";
export { blasConvKernels } from "./conv.js";
export {
  blasCandidates,
  findBlas,
  loadBlas,
  platformCandidates,
  koffi,
  REFERENCE_GFLOPS,
  type Blas,
  type BlasAttempt,
  type BlasKind,
  type BlasSearch,
} from "./blas.js";
