import type { Backend } from "./backend.js";
import {
  getNumThreads,
  setNumThreads as setWasmThreads,
  wasmAvailable,
  wasmUnavailableReason,
  wasmVariant,
} from "./wasm/index.js";
import { describeTable, jsBackend, makeBackend, nativeTable, wasmBackend, type Table } from "./dispatch.js";
import { blasCandidates, findBlas, type BlasSearch } from "./native/blas.js";
import { tuneMalloc } from "./native/malloc.js";
import { chooseBackend, type BackendChoice, type BackendName } from "./select.js";

export type { Backend, GemmArgs, Kernels, KernelName } from "./backend.js";
export {
  makeBackend,
  describeTable,
  jsTable,
  wasmTable,
  WASM_ELEMENTWISE_MIN,
  type Table,
  type Rule,
  type KernelQuery,
} from "./dispatch.js";
export type { BackendName, BackendChoice } from "./select.js";
export {
  getNumThreads,
  wasmAvailable,
  wasmUnavailableReason,
  wasmVariant,
  type WasmVariant,
} from "./wasm/index.js";

const backends = new Map<string, Backend & { readonly table?: Table }>([
  ["js", jsBackend],
  ["wasm", wasmBackend],
]);

let search: BlasSearch | undefined;

/** Looks for the system's CBLAS once per process; registers the native backend when one loads. */
function blasSearch(): BlasSearch {
  if (!search) {
    search = findBlas(blasCandidates(process.env, process.platform));
    if (search.blas) {
      tuneMalloc();
      search.blas.setThreads(getNumThreads());
      backends.set("native", makeBackend("native", nativeTable(search.blas)));
    }
  }
  return search;
}

let choice: BackendChoice | undefined;
let active: Backend | undefined;

/** The backend chosen from CNNLAB_BACKEND and what loads (see backend/select.ts); made on first use. */
function chosen(): BackendChoice {
  if (!choice) {
    choice = chooseBackend({
      env: process.env,
      platform: process.platform,
      wasm: { available: wasmAvailable(), reason: wasmUnavailableReason() },
      find: blasSearch,
    });
    active = backends.get(choice.name);
  }
  return choice;
}

const threadsFromEnv = Number(process.env.CNNLAB_NUM_THREADS);
if (Number.isInteger(threadsFromEnv) && threadsFromEnv > 0) setWasmThreads(threadsFromEnv);

/** The backend that runs hot kernels now. */
export function backend(): Backend {
  if (active) return active;
  chosen();
  return active!;
}

/**
 * Adds a backend (or replaces one of the same name). Build it from a table, e.g.
 * `makeBackend("mine", { ...wasmTable, gemm: [{ impl: "my GEMM", run: myGemm }] })`, so that every
 * kernel has an implementation.
 */
export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

/** Selects a backend by name ("js", "wasm", and "native" where a BLAS loads); returns the previous one's name. */
export function setBackend(name: string): string {
  const previous = backend().name;
  if (name === "native") blasSearch();
  const b = backends.get(name);
  if (!b) {
    const why =
      name === "native"
        ? ` (no CBLAS loads: ${blasSearch()
            .attempts.map((a) => `${a.path}: ${a.error}`)
            .join("; ")})`
        : "";
    throw new Error(`setBackend: unknown backend "${name}"${why}; available: ${listBackends().join(", ")}`);
  }
  active = b;
  return previous;
}

/** The backends that run on this machine: "js", "wasm" where WebAssembly SIMD runs, "native" where a BLAS loads. */
export function listBackends(): string[] {
  blasSearch();
  return [...backends.keys()].filter((n) => n !== "wasm" || wasmAvailable());
}

/**
 * Sets how many threads large kernels use (the caller included): cnnlab's WebAssembly pool and the
 * BLAS's own threads together, so that the two never run more threads than asked for.
 */
export function setNumThreads(n: number): void {
  setWasmThreads(n);
  search?.blas?.setThreads(getNumThreads());
}

export interface BackendInfo {
  /** The backend running hot kernels now. */
  name: BackendName | string;
  /** The CBLAS the native backend runs on, e.g. "OpenBLAS 0.3.21 Zen (libopenblas.so.0)"; null when none loads. */
  blas: string | null;
  threads: number;
  /** The WebAssembly kernels' build ("relaxed-simd", "simd128") or "none". */
  simd: string;
  /** Why this backend was chosen (what was tried before it). */
  reason: string;
  /** Its dispatch table: per kernel, which implementation runs when ("relu: WebAssembly SIMD (...), else JS loops"). */
  kernels: string[];
}

/** Which backend runs, on which BLAS, with how many threads, and why. */
export function backendInfo(): BackendInfo {
  const c = chosen();
  const name = backend().name;
  const blas = blasSearch().blas?.description ?? null;
  const reason = name === c.name ? c.reason : `setBackend("${name}") (default: ${c.name}, ${c.reason})`;
  const table = backends.get(name)?.table;
  const kernels = table ? describeTable(table) : [];
  return { name, blas, threads: getNumThreads(), simd: wasmVariant() ?? "none", reason, kernels };
}

/** backendInfo() as one line, for banners and `cnnlab --version`. */
export function backendSummary(): string {
  try {
    const i = backendInfo();
    const on = i.blas && i.name === "native" ? ` on ${i.blas}` : "";
    return `backend ${i.name}${on}, ${i.threads} thread${i.threads === 1 ? "" : "s"}, WebAssembly ${i.simd}`;
  } catch (e) {
    return `backend error: ${(e as Error).message}`;
  }
}
