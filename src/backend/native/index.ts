/**
 * cnnlab's native backend: every GEMM (matmul, linear, the convolutions' im2col products) runs in
 * the system's CBLAS through the FFI, on the caller's typed arrays (conv2d: see conv.ts); the
 * memory-bound kernels (ReLU, pooling) stay on the WebAssembly backend's kernels, the fastest cnnlab
 * has for them.
 */
import type { Backend, GemmArgs } from "../backend.js";
import { wasmBackend } from "../wasm/index.js";
import type { Blas } from "./blas.js";
import { blasGemm } from "./gemm.js";
import { blasConvBackward, blasConvForward } from "./conv.js";
import { runtime } from "../wasm/runtime.js";

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
    convAnyGroups: true,
    // the convolutions unfold images with the WebAssembly module; without it the op runs its
    // im2col + GEMM path (JavaScript im2col, BLAS GEMM)
    get conv2dForward(): Backend["conv2dForward"] {
      const rt = runtime();
      return rt ? (x, w, b, out, g) => blasConvForward(blas, rt, x, w, b, out, g) : undefined;
    },
    get conv2dBackward(): Backend["conv2dBackward"] {
      const rt = runtime();
      return rt
        ? (x, w, gOut, dx, dw, db, g) => blasConvBackward(blas, rt, x, w, gOut, dx, dw, db, g)
        : undefined;
    },
  };
}
