/**
 * cnnlab's native backend: every GEMM (matmul, linear, the convolutions' im2col products) runs in
 * the system's CBLAS through the FFI, on the caller's typed arrays; the memory-bound kernels (ReLU,
 * pooling) stay on the WebAssembly backend's kernels, which are the fastest cnnlab has for them.
 */
import type { Backend, GemmArgs } from "../backend.js";
import { wasmBackend } from "../wasm/index.js";
import type { Blas } from "./blas.js";
import { blasGemm } from "./gemm.js";

export { blasGemm } from "./gemm.js";
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

/** The native backend on one loaded BLAS. */
export function createNativeBackend(blas: Blas): Backend {
  return {
    name: "native",
    gemm: (args: GemmArgs) => blasGemm(blas, args),
    maxPool2d: wasmBackend.maxPool2d,
    maxPool2dBackward: wasmBackend.maxPool2dBackward,
    relu: wasmBackend.relu,
    reluBackward: wasmBackend.reluBackward,
  };
}
