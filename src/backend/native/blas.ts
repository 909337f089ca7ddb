/**
 * Finding and loading the system's CBLAS through the `koffi` FFI (prebuilt in its npm package, so
 * nothing is compiled at install). Which library it is comes from its own version call (OpenBLAS,
 * MKL, BLIS, Accelerate); a library that has none is timed on a small GEMM, so that a reference
 * (netlib) BLAS, slower than cnnlab's WebAssembly kernels, is recognised and not preferred.
 */
import { createRequire } from "node:module";
import { basename } from "node:path";

type Koffi = typeof import("koffi");
type Fn = (...args: unknown[]) => unknown;

/** cblas_?gemm with the CBLAS enums as numbers (CblasRowMajor = 101, NoTrans = 111, Trans = 112). */
export type CblasGemm<T extends Float32Array | Float64Array> = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: T,
  lda: number,
  b: T,
  ldb: number,
  beta: number,
  c: T,
  ldc: number,
) => void;

/** cblas_?gemv: y = alpha·op(A)·x + beta·y (CBLAS enums as numbers, as CblasGemm). */
export type CblasGemv<T extends Float32Array | Float64Array> = (
  order: number,
  transA: number,
  m: number,
  n: number,
  alpha: number,
  a: T,
  lda: number,
  x: T,
  incx: number,
  beta: number,
  y: T,
  incy: number,
) => void;

/** cblas_?axpy: y += alpha·x. */
export type CblasAxpy<T extends Float32Array | Float64Array> = (
  n: number,
  alpha: number,
  x: T,
  incx: number,
  y: T,
  incy: number,
) => void;

export type BlasKind = "openblas" | "mkl" | "blis" | "accelerate" | "reference" | "unknown";

export interface Blas {
  /** The path or name it was loaded from. */
  path: string;
  kind: BlasKind;
  /** e.g. "OpenBLAS 0.3.21 Zen (libopenblas.so.0)". */
  description: string;
  sgemm: CblasGemm<Float32Array>;
  dgemm: CblasGemm<Float64Array>;
  /** Matrix-vector products, where the library has them (every CBLAS does; fakes in tests may not). */
  sgemv?: CblasGemv<Float32Array>;
  dgemv?: CblasGemv<Float64Array>;
  /** y += alpha·x, where the library has it (plain SGD's update). */
  saxpy?: CblasAxpy<Float32Array>;
  daxpy?: CblasAxpy<Float64Array>;
  /** Sets the library's own thread count (a no-op where the library has no such call). */
  setThreads(n: number): void;
  /** GF/s of the identification probe, when one ran. */
  probeGflops?: number;
}

/** One candidate that did not load, and why. */
export interface BlasAttempt {
  path: string;
  error: string;
}

/** Below this many GF/s on the probe a BLAS counts as the reference implementation. */
export const REFERENCE_GFLOPS = 6;

let koffiModule: Koffi | null | undefined;
let koffiError = "";

/** The FFI module, or null (with koffiLoadError() saying why) where its binary does not load. */
export function koffi(): Koffi | null {
  if (koffiModule === undefined) {
    try {
      koffiModule = createRequire(import.meta.url)("koffi") as Koffi;
    } catch (e) {
      koffiModule = null;
      koffiError = `the koffi FFI module does not load: ${(e as Error).message.split("\n")[0]}`;
    }
  }
  return koffiModule;
}

/** The FFI module's resolved path (what worker threads load), or null where it does not resolve. */
export function koffiPath(): string | null {
  try {
    return createRequire(import.meta.url).resolve("koffi");
  } catch {
    return null;
  }
}

export function koffiLoadError(): string {
  return koffiError;
}

/** The usual names of a CBLAS on a platform, best first; `libblas.so.3` last (often netlib). */
export function platformCandidates(platform: NodeJS.Platform): string[] {
  if (platform === "darwin") return ["/System/Library/Frameworks/Accelerate.framework/Accelerate"];
  if (platform === "win32") return ["libopenblas.dll", "openblas.dll"];
  return ["libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libmkl_rt.so", "libblas.so.3"];
}

/**
 * CNNLAB_BLAS (a path or library name) when set — then it is the only candidate, so that the library
 * a user named is never silently replaced by another — else the platform's names.
 */
export function blasCandidates(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const own = env.CNNLAB_BLAS?.trim();
  return own ? [own] : platformCandidates(platform);
}

function optionalFunc(lib: ReturnType<Koffi["load"]>, decl: string): Fn | null {
  try {
    return lib.func(decl) as Fn;
  } catch {
    return null;
  }
}

/** Best GF/s of a few float32 GEMMs of size n (a fraction of a millisecond on an optimised BLAS). */
function probe(sgemm: CblasGemm<Float32Array>, n = 96): number {
  const a = new Float32Array(n * n).fill(0.5);
  const b = new Float32Array(n * n).fill(0.25);
  const c = new Float32Array(n * n);
  let best = Infinity;
  for (let r = 0; r < 4; r++) {
    const t0 = performance.now();
    sgemm(101, 111, 111, n, n, n, 1, a, n, b, n, 0, c, n);
    best = Math.min(best, performance.now() - t0);
  }
  if (c[0] !== n * 0.125)
    throw new Error(`cblas_sgemm returned ${c[0]} for a known product (expected ${n * 0.125})`);
  return (2 * n * n * n) / Math.max(best, 1e-6) / 1e6;
}

/**
 * One mid-sized GEMM right after loading. Measured with OpenBLAS 0.3.21 (from cnnlab and from
 * PyTorch alike): when a process's first GEMM is small, every later GEMM of that size runs about
 * 3x slower than after a first GEMM of n >= 512; a few milliseconds once avoids that.
 */
function warmUp(sgemm: CblasGemm<Float32Array>, n = 512): void {
  const a = new Float32Array(n * n);
  sgemm(101, 111, 111, n, n, n, 1, a, n, a, n, 0, new Float32Array(n * n), n);
}

/**
 * Loads one library as a CBLAS; throws with the reason when it is missing or is not a CBLAS.
 * OpenBLAS's worker threads are told to sleep soon after a call (OPENBLAS_THREAD_TIMEOUT, when
 * unset, for the load only), so that they do not spin against cnnlab's own thread pool between GEMMs.
 */
export function loadBlas(path: string): Blas {
  const k = koffi();
  if (!k) throw new Error(koffiLoadError());
  // OpenBLAS reads its environment once, when the library is loaded; the variable is then taken
  // back, so that programs a cell starts do not inherit a setting cnnlab made for itself.
  const setTimeoutHere = process.env.OPENBLAS_THREAD_TIMEOUT === undefined;
  if (setTimeoutHere) process.env.OPENBLAS_THREAD_TIMEOUT = "4";
  let lib: ReturnType<Koffi["load"]>;
  try {
    lib = k.load(path);
  } catch (e) {
    throw new Error(`cannot load: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    if (setTimeoutHere) delete process.env.OPENBLAS_THREAD_TIMEOUT;
  }
  const gemmArgs = "int, int, int, int, int, int";
  const sgemm = optionalFunc(
    lib,
    `void cblas_sgemm(${gemmArgs}, float, float *, int, float *, int, float, float *, int)`,
  );
  const dgemm = optionalFunc(
    lib,
    `void cblas_dgemm(${gemmArgs}, double, double *, int, double *, int, double, double *, int)`,
  );
  if (!sgemm || !dgemm) {
    lib.unload();
    throw new Error("not a CBLAS (no cblas_sgemm/cblas_dgemm symbols)");
  }
  const name = basename(path);
  let kind: BlasKind = "unknown";
  let label = "";
  let setThreads: (n: number) => void = () => {};
  const openblasConfig = optionalFunc(lib, "const char *openblas_get_config(void)");
  const mklVersion = optionalFunc(lib, "int MKL_Get_Version_String(_Out_ char *buf, int len)");
  const blisVersion = optionalFunc(lib, "const char *bli_info_get_version_str(void)");
  if (openblasConfig) {
    kind = "openblas";
    const config = String(openblasConfig());
    const core = optionalFunc(lib, "const char *openblas_get_corename(void)");
    const version = /^OpenBLAS\s+\S+/.exec(config)?.[0] ?? "OpenBLAS";
    label = core ? `${version} ${String(core())}` : config;
    const set = optionalFunc(lib, "void openblas_set_num_threads(int)");
    if (set) setThreads = (n) => void set(n);
  } else if (mklVersion) {
    kind = "mkl";
    const buf = Buffer.alloc(256);
    mklVersion(buf, buf.length);
    label = buf.toString("latin1").replace(/\0.*$/s, "").trim() || "Intel MKL";
    const set = optionalFunc(lib, "void MKL_Set_Num_Threads(int)");
    if (set) setThreads = (n) => void set(n);
  } else if (blisVersion) {
    kind = "blis";
    label = `BLIS ${String(blisVersion())}`;
    const set = optionalFunc(lib, "void bli_thread_set_num_threads(int64_t)");
    if (set) setThreads = (n) => void set(n);
  } else if (/Accelerate/.test(path)) {
    kind = "accelerate";
    label = "Accelerate";
  }
  const gemvArgs = "int, int, int, int";
  const sgemv = optionalFunc(
    lib,
    `void cblas_sgemv(${gemvArgs}, float, float *, int, float *, int, float, float *, int)`,
  );
  const dgemv = optionalFunc(
    lib,
    `void cblas_dgemv(${gemvArgs}, double, double *, int, double *, int, double, double *, int)`,
  );
  const blas: Blas = {
    path,
    kind,
    description: "",
    sgemm: sgemm as CblasGemm<Float32Array>,
    dgemm: dgemm as CblasGemm<Float64Array>,
    setThreads,
  };
  if (sgemv && dgemv) {
    blas.sgemv = sgemv as CblasGemv<Float32Array>;
    blas.dgemv = dgemv as CblasGemv<Float64Array>;
  }
  const saxpy = optionalFunc(lib, "void cblas_saxpy(int, float, float *, int, float *, int)");
  const daxpy = optionalFunc(lib, "void cblas_daxpy(int, double, double *, int, double *, int)");
  if (saxpy && daxpy) {
    blas.saxpy = saxpy as CblasAxpy<Float32Array>;
    blas.daxpy = daxpy as CblasAxpy<Float64Array>;
  }
  if (kind === "unknown") {
    // no version call: time it; the reference BLAS runs a small GEMM far below an optimised one
    setThreads(1);
    const gf = probe(blas.sgemm);
    blas.probeGflops = +gf.toFixed(2);
    kind = blas.kind = gf < REFERENCE_GFLOPS ? "reference" : "unknown";
    label =
      kind === "reference"
        ? `reference BLAS, ${gf.toFixed(1)} GF/s on a probe`
        : `CBLAS, ${gf.toFixed(1)} GF/s on a probe`;
  }
  blas.description = `${label} (${name})`;
  if (kind !== "reference") warmUp(blas.sgemm);
  return blas;
}

export interface BlasSearch {
  blas: Blas | null;
  /** Every candidate that failed, in order. */
  attempts: BlasAttempt[];
}

/**
 * Tries the candidates in order and returns the first that loads as a CBLAS. A reference BLAS is
 * kept only when nothing better follows it (the caller decides whether to use it).
 */
export function findBlas(candidates: string[], load: (path: string) => Blas = loadBlas): BlasSearch {
  const attempts: BlasAttempt[] = [];
  let reference: Blas | null = null;
  for (const path of candidates) {
    try {
      const b = load(path);
      if (b.kind !== "reference") return { blas: b, attempts };
      attempts.push({ path, error: `${b.description}: slower than cnnlab's WebAssembly kernels` });
      reference ??= b;
    } catch (e) {
      attempts.push({ path, error: (e as Error).message });
    }
  }
  return { blas: reference, attempts };
}
