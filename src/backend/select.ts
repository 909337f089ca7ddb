/**
 * Which backend runs by default: `native` when an optimised CBLAS loads, else `wasm` when the engine
 * has WebAssembly SIMD, else `js`. CNNLAB_BACKEND=native|wasm|js forces one; a forced backend that
 * cannot run is an error naming everything that was tried. Pure apart from the loader it is given,
 * so the rules are tested with fake library paths.
 */
import { blasCandidates, findBlas, type Blas, type BlasSearch } from "./native/blas.js";

export type BackendName = "native" | "wasm" | "js";
export const BACKEND_NAMES: readonly BackendName[] = ["native", "wasm", "js"];

export interface BackendChoice {
  name: BackendName;
  /** The BLAS the native backend runs on (also when another backend was chosen over it). */
  blas: Blas | null;
  /** Why this backend: the forcing variable, or what was tried before it. */
  reason: string;
}

export interface ChoiceInputs {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** Whether the WebAssembly SIMD module runs, and why not. */
  wasm: { available: boolean; reason: string };
  /** Searches candidates for a BLAS (default: findBlas, loading each through the FFI). */
  find?: (candidates: string[]) => BlasSearch;
}

function tried(search: BlasSearch): string {
  return search.attempts.map((a) => `${a.path}: ${a.error}`).join("; ");
}

/** Reads CNNLAB_BACKEND; throws on a value that names no backend. */
export function forcedBackend(env: NodeJS.ProcessEnv): BackendName | null {
  const v = env.CNNLAB_BACKEND?.trim().toLowerCase();
  if (!v) return null;
  if (!(BACKEND_NAMES as readonly string[]).includes(v))
    throw new Error(`CNNLAB_BACKEND must be one of ${BACKEND_NAMES.join(", ")}, got "${env.CNNLAB_BACKEND}"`);
  return v as BackendName;
}

export function chooseBackend({ env, platform, wasm, find = findBlas }: ChoiceInputs): BackendChoice {
  const forced = forcedBackend(env);
  if (forced === "js") return { name: "js", blas: null, reason: "CNNLAB_BACKEND=js" };
  if (forced === "wasm") {
    if (!wasm.available)
      throw new Error(`CNNLAB_BACKEND=wasm, but WebAssembly SIMD is not available: ${wasm.reason}`);
    return { name: "wasm", blas: null, reason: "CNNLAB_BACKEND=wasm" };
  }
  const candidates = blasCandidates(env, platform);
  const search = find(candidates);
  if (forced === "native") {
    if (!search.blas) {
      throw new Error(
        `CNNLAB_BACKEND=native, but no CBLAS loads. Tried ${tried(search)}. ` +
          "Install one (Debian/Ubuntu: apt-get install libopenblas0; Fedora: dnf install openblas) " +
          "or point CNNLAB_BLAS at a CBLAS library.",
      );
    }
    return { name: "native", blas: search.blas, reason: "CNNLAB_BACKEND=native" };
  }
  if (search.blas && search.blas.kind !== "reference") {
    const skipped = search.attempts.length ? ` (skipped ${tried(search)})` : "";
    return { name: "native", blas: search.blas, reason: `found ${search.blas.path}${skipped}` };
  }
  const why = search.blas
    ? `only a reference BLAS was found (${tried(search)})`
    : `no CBLAS found (tried ${tried(search)})`;
  if (wasm.available) return { name: "wasm", blas: search.blas, reason: why };
  return {
    name: "js",
    blas: search.blas,
    reason: `${why}; WebAssembly SIMD is not available either: ${wasm.reason}`,
  };
}
