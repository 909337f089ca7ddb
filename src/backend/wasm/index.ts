/**
 * cnnlab's WebAssembly SIMD backend: GEMM in float32 (f32x4) and float64 (f64x2) with packing,
 * register tiling, a reused scratch arena in WebAssembly memory and worker threads over a shared
 * memory. The module is compiled synchronously on first use.
 */
import type { Backend, GemmArgs } from "../backend.js";
import { gemm as jsGemm } from "../js/gemm.js";
import { runtime, unavailableReason, forceUnavailable, type WasmVariant } from "./runtime.js";
import { wasmGemm, PARALLEL_MIN_FLOPS } from "./gemm.js";
import { wasmConvForwardKernel, wasmConvBackwardKernel } from "./conv.js";
import { wasmMaxPool2d, wasmMaxPool2dBackward } from "./pool.js";
import { wasmRelu, wasmReluBackward } from "./activation.js";
import { maxPool2d as jsMaxPool2d, maxPool2dBackward as jsMaxPool2dBackward } from "../js/pool.js";
import { reluBackward as jsReluBackward, reluForward as jsRelu } from "../js/activation.js";
import type { FloatArray } from "../../tensor/dtype.js";
import type { MaxPool2dArgs } from "../backend.js";

export { wasmGemm, wasmMaxPool2d, wasmMaxPool2dBackward, wasmRelu, wasmReluBackward, PARALLEL_MIN_FLOPS };
export type { WasmVariant };
export { setNumThreads, getNumThreads, shutdownThreads, workerCount } from "./threads.js";
export {
  wasmConv2dForward,
  wasmConv2dBackward,
  wasmConvForwardKernel,
  wasmConvBackwardKernel,
  conv2dOutputSize,
} from "./conv.js";
export type { Conv2dShape, Conv2dForwardArgs, Conv2dBackwardArgs } from "./conv.js";

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

/** GEMM on the WebAssembly kernels when available, else on the JavaScript reference kernel. */
export function gemm(args: GemmArgs): void {
  if (runtime() !== null) wasmGemm(args);
  else jsGemm(args);
}

/** Max pooling forward on the WebAssembly kernel when available, else on the JavaScript reference. */
export function maxPool2d(args: MaxPool2dArgs): void {
  if (runtime() !== null) wasmMaxPool2d(args);
  else jsMaxPool2d(args);
}

/**
 * Below this many elements a memory-bound kernel stays in JavaScript: copying into WebAssembly
 * memory and back would cost more than the SIMD loop saves.
 */
export const WASM_ELEMENTWISE_MIN = 1 << 16;

/** Max pooling backward on the WebAssembly kernel for large inputs, else on the JavaScript reference. */
export function maxPool2dBackward(args: MaxPool2dArgs): void {
  if (runtime() !== null && args.x.length >= WASM_ELEMENTWISE_MIN) wasmMaxPool2dBackward(args);
  else jsMaxPool2dBackward(args);
}

/** ReLU on the WebAssembly kernel for large inputs, else on the JavaScript reference. */
export function relu(x: FloatArray, out: FloatArray): void {
  if (runtime() !== null && x.length >= WASM_ELEMENTWISE_MIN) wasmRelu(x, out);
  else jsRelu(x, out);
}

/**
 * ReLU backward on the WebAssembly kernel for large float32 inputs, else on the JavaScript reference
 * (in float64, copying two inputs in and the result out costs more than the SIMD loop saves).
 */
export function reluBackward(g: FloatArray, x: FloatArray, out: FloatArray): void {
  if (runtime() !== null && g instanceof Float32Array && g.length >= WASM_ELEMENTWISE_MIN)
    wasmReluBackward(g, x, out);
  else jsReluBackward(g, x, out);
}

/** The WebAssembly backend ("wasm"); its kernels fall back to JavaScript when WebAssembly SIMD is missing. */
export const wasmBackend: Backend = {
  name: "wasm",
  gemm,
  maxPool2d,
  maxPool2dBackward,
  relu,
  reluBackward,
  // the fused convolution exists only where the module runs; otherwise the op uses im2col + gemm
  get conv2dForward() {
    return runtime() !== null ? wasmConvForwardKernel : undefined;
  },
  get conv2dBackward() {
    return runtime() !== null ? wasmConvBackwardKernel : undefined;
  },
};
