import type { Backend } from "./backend.js";
import { jsBackend } from "./js/index.js";
import { setNumThreads, wasmBackend } from "./wasm/index.js";

export type { Backend, GemmArgs } from "./backend.js";
export {
  setNumThreads,
  getNumThreads,
  wasmAvailable,
  wasmUnavailableReason,
  wasmVariant,
  type WasmVariant,
} from "./wasm/index.js";

const backends = new Map<string, Backend>([
  ["js", jsBackend],
  ["wasm", wasmBackend],
]);

/**
 * WebAssembly is the default (its kernels fall back to JavaScript by themselves where SIMD or
 * shared memory is missing); CNNLAB_BACKEND=js selects the reference kernels.
 */
let active: Backend = backends.get(process.env.CNNLAB_BACKEND ?? "wasm") ?? wasmBackend;

const threadsFromEnv = Number(process.env.CNNLAB_NUM_THREADS);
if (Number.isInteger(threadsFromEnv) && threadsFromEnv > 0) setNumThreads(threadsFromEnv);

/** The backend that runs hot kernels now. */
export function backend(): Backend {
  return active;
}

export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

/** Selects a backend by name ("js" and "wasm" are built in); returns the previous one's name. */
export function setBackend(name: string): string {
  const b = backends.get(name);
  if (!b)
    throw new Error(`setBackend: unknown backend "${name}"; available: ${[...backends.keys()].join(", ")}`);
  const previous = active.name;
  active = b;
  return previous;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}
