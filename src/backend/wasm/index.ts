/**
 * cnnlab's WebAssembly SIMD backend: GEMM in float32 (f32x4) and float64 (f64x2) with packing,
 * register tiling, a reused scratch arena in WebAssembly memory and worker threads over a shared
 * memory. The module is compiled synchronously on first use.
 */
import { runtime, unavailableReason, forceUnavailable, type WasmVariant } from "./runtime.js";
import { wasmGemm, PARALLEL_MIN_FLOPS } from "./gemm.js";
import { wasmMaxPool2d, wasmMaxPool2dBackward } from "./pool.js";
import { wasmRelu, wasmReluBackward } from "./activation.js";

export { wasmGemm, wasmMaxPool2d, wasmMaxPool2dBackward, wasmRelu, wasmReluBackward, PARALLEL_MIN_FLOPS };
export type { WasmVariant };
export { setNumThreads, getNumThreads, shutdownThreads, workerCount } from "./threads.js";
export { wasmConvForwardKernel, wasmConvBackwardKernel } from "./conv.js";

/** True when this engine runs the SIMD128 + shared-memory module (compiles it on first call). */
export function wasmAvailable(): boolean {
  return runtime() !== null;
}

/** Current size of the WebAssembly memory (the scratch arena grows on demand, never shrinks); 0 without WebAssembly. */
export function wasmMemoryBytes(): number {
  return runtime()?.memory.buffer.byteLength ?? 0;
}

/**
 * Which build of the kernels runs: "relaxed-simd" (fused multiply-add in the GEMM micro-kernels,
 * the default where the engine has relaxed SIMD), "simd128" (CNNLAB_WASM_FMA=0, or an engine
 * without relaxed SIMD), or null without WebAssembly SIMD.
 */
export function wasmVariant(): WasmVariant | null {
  return runtime()?.variant ?? null;
}

/** Why wasmAvailable() is false ("" when it is true). */
export function wasmUnavailableReason(): string {
  return unavailableReason();
}

/** Test hook: make wasmAvailable() false (true) to exercise the JavaScript fallback. */
export function setWasmDisabled(disabled: boolean): void {
  forceUnavailable(disabled);
}
