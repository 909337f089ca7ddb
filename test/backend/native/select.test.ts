// How cnnlab picks its backend: the search order, fake library paths (missing, not a CBLAS, the
// netlib reference BLAS of Debian's libblas3), CNNLAB_BACKEND forcing each backend, and what
// backendInfo() reports in a fresh process.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { backendInfo, listBackends } from "../../../src/index.js";
import {
  blasCandidates,
  findBlas,
  loadBlas,
  platformCandidates,
  type Blas,
  type BlasSearch,
} from "../../../src/backend/native/blas.js";
import { chooseBackend, forcedBackend } from "../../../src/backend/select.js";

const CI = process.env.CI === "true";
const NETLIB = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
const NOT_CBLAS = "/lib/x86_64-linux-gnu/libz.so.1";
const MISSING = "/nonexistent/libopenblas.so.0";
const root = fileURLToPath(new URL("../../..", import.meta.url));

const wasmOk = { available: true, reason: "" };
const noWasm = { available: false, reason: "no SIMD in this engine" };

function fakeBlas(kind: Blas["kind"], path = "/fake/libcblas.so"): Blas {
  const fail = () => {
    throw new Error("not called");
  };
  return { path, kind, description: `${kind} (fake)`, sgemm: fail, dgemm: fail, setThreads: () => {} };
}
const found =
  (b: Blas | null, errors: [string, string][] = []): (() => BlasSearch) =>
  () => ({
    blas: b,
    attempts: errors.map(([path, error]) => ({ path, error })),
  });

describe("the search list", () => {
  it("is the platform's usual names, best first, with libblas.so.3 last on Linux", () => {
    expect(platformCandidates("linux")).toEqual([
      "libopenblas.so.0",
      "libopenblas.so",
      "libblis.so.4",
      "libmkl_rt.so",
      "libblas.so.3",
    ]);
    expect(platformCandidates("darwin")[0]).toMatch(/Accelerate\.framework/);
    expect(platformCandidates("win32")[0]).toBe("libopenblas.dll");
  });

  it("is only CNNLAB_BLAS when it is set", () => {
    expect(blasCandidates({ CNNLAB_BLAS: "/opt/mkl/libmkl_rt.so" }, "linux")).toEqual([
      "/opt/mkl/libmkl_rt.so",
    ]);
    expect(blasCandidates({ CNNLAB_BLAS: " " }, "linux")).toEqual(platformCandidates("linux"));
  });
});

describe("choosing a backend (fake search results)", () => {
  it("native on an optimised BLAS, naming the candidates skipped before it", () => {
    const c = chooseBackend({
      env: {},
      platform: "linux",
      wasm: wasmOk,
      find: found(fakeBlas("openblas"), [["libopenblas.so.0", "cannot load: missing"]]),
    });
    expect(c.name).toBe("native");
    expect(c.reason).toMatch(/found \/fake\/libcblas\.so \(skipped libopenblas\.so\.0: cannot load/);
  });

  it("wasm over a reference BLAS, and js when WebAssembly SIMD is missing too", () => {
    const ref = found(fakeBlas("reference"), [[NETLIB, "slower than WebAssembly"]]);
    const c = chooseBackend({ env: {}, platform: "linux", wasm: wasmOk, find: ref });
    expect(c).toMatchObject({ name: "wasm", reason: expect.stringMatching(/only a reference BLAS/) });
    const j = chooseBackend({ env: {}, platform: "linux", wasm: noWasm, find: ref });
    expect(j.name).toBe("js");
    expect(j.reason).toMatch(/no SIMD in this engine/);
  });

  it("wasm with no BLAS at all, saying what was tried", () => {
    const c = chooseBackend({
      env: {},
      platform: "linux",
      wasm: wasmOk,
      find: found(null, [[MISSING, "cannot load"]]),
    });
    expect(c.name).toBe("wasm");
    expect(c.reason).toBe(`no CBLAS found (tried ${MISSING}: cannot load)`);
  });

  it("CNNLAB_BACKEND forces each backend; native even on a reference BLAS", () => {
    const ref = found(fakeBlas("reference"));
    expect(
      chooseBackend({ env: { CNNLAB_BACKEND: "js" }, platform: "linux", wasm: wasmOk, find: ref }).name,
    ).toBe("js");
    expect(
      chooseBackend({ env: { CNNLAB_BACKEND: "wasm" }, platform: "linux", wasm: wasmOk, find: ref }).name,
    ).toBe("wasm");
    expect(
      chooseBackend({ env: { CNNLAB_BACKEND: "native" }, platform: "linux", wasm: wasmOk, find: ref }).name,
    ).toBe("native");
  });

  it("a forced backend that cannot run is an error naming what was tried", () => {
    const none = found(null, [
      [MISSING, "cannot load: No such file"],
      [NOT_CBLAS, "not a CBLAS"],
    ]);
    expect(() =>
      chooseBackend({ env: { CNNLAB_BACKEND: "native" }, platform: "linux", wasm: wasmOk, find: none }),
    ).toThrow(
      `CNNLAB_BACKEND=native, but no CBLAS loads. Tried ${MISSING}: cannot load: No such file; ${NOT_CBLAS}: not a CBLAS.`,
    );
    expect(() =>
      chooseBackend({ env: { CNNLAB_BACKEND: "wasm" }, platform: "linux", wasm: noWasm, find: none }),
    ).toThrow("CNNLAB_BACKEND=wasm, but WebAssembly SIMD is not available: no SIMD in this engine");
    expect(() => forcedBackend({ CNNLAB_BACKEND: "cuda" })).toThrow(
      'CNNLAB_BACKEND must be one of native, wasm, js, got "cuda"',
    );
  });
});

describe.runIf(process.platform === "linux")("loading real and fake libraries", () => {
  it("a missing path and a library without CBLAS symbols are refused with the reason", () => {
    const s = findBlas([MISSING, NOT_CBLAS]);
    expect(s.blas).toBeNull();
    expect(s.attempts[0]).toMatchObject({ path: MISSING, error: expect.stringMatching(/^cannot load: /) });
    expect(s.attempts[1]).toEqual({
      path: NOT_CBLAS,
      error: "not a CBLAS (no cblas_sgemm/cblas_dgemm symbols)",
    });
  });

  const netlib = existsSync(NETLIB);
  if (!netlib && !CI)
    console.warn(`SKIPPING the netlib detection test: ${NETLIB} is missing (Debian: libblas3)`);
  it.runIf(netlib || CI)(
    "recognises Debian's netlib libblas3 as a reference BLAS, kept only when nothing better follows",
    () => {
      const b = loadBlas(NETLIB);
      expect(b.kind).toBe("reference");
      expect(b.description).toMatch(/^reference BLAS, [\d.]+ GF\/s on a probe \(libblas\.so\.3\)$/);
      const s = findBlas([NETLIB, MISSING]);
      expect(s.blas?.kind).toBe("reference");
      expect(s.attempts[0].error).toMatch(/slower than cnnlab's WebAssembly kernels/);
    },
  );

  const openblas = existsSync("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
  if (!openblas && !CI)
    console.warn("SKIPPING the OpenBLAS test: libopenblas.so.0 is missing (Debian: libopenblas0)");
  it.runIf(openblas || CI)(
    "identifies OpenBLAS by its own config call, after the reference BLAS in the list",
    () => {
      const s = findBlas([NETLIB, "libopenblas.so.0"]);
      expect(s.blas?.kind).toBe("openblas");
      expect(s.blas?.description).toMatch(/^OpenBLAS \d+\.\d+\.\d+ \S+ \(libopenblas\.so\.0\)$/);
    },
  );
});

describe("the backends of this machine", () => {
  it("js, wasm and native load (required with CI=true; elsewhere a missing one is reported)", () => {
    const names = listBackends();
    const missing = ["js", "wasm", "native"].filter((n) => !names.includes(n));
    if (!CI && missing.length) {
      console.warn(`SKIPPING: backends ${missing.join(", ")} do not load here: ${backendInfo().reason}`);
      return;
    }
    expect(missing).toEqual([]);
    expect(backendInfo()).toMatchObject({ name: "native", blas: expect.stringMatching(/^OpenBLAS /) });
  });

  /** backendInfo() of a fresh process with `env`. */
  function infoIn(env: Record<string, string>): { ok: boolean; out: string } {
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "-e",
        'import("./src/index.ts").then((m) => { try { console.log(JSON.stringify(m.backendInfo())) } catch (e) { console.log("ERROR " + e.message) } })',
      ],
      {
        cwd: root,
        env: { ...process.env, CNNLAB_BACKEND: "", CNNLAB_BLAS: "", ...env },
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    return { ok: r.status === 0, out: r.stdout.trim() + r.stderr.trim() };
  }

  it.runIf(process.platform === "linux")(
    "CNNLAB_BACKEND and CNNLAB_BLAS take effect in a fresh process",
    () => {
      const js = infoIn({ CNNLAB_BACKEND: "js" });
      expect(JSON.parse(js.out)).toMatchObject({ name: "js", reason: "CNNLAB_BACKEND=js" });
      const forced = infoIn({ CNNLAB_BACKEND: "native", CNNLAB_BLAS: MISSING });
      expect(forced.out).toMatch(
        new RegExp(`^ERROR CNNLAB_BACKEND=native, but no CBLAS loads\\. Tried ${MISSING}: cannot load`),
      );
      if (existsSync(NETLIB) || CI) {
        const ref = JSON.parse(infoIn({ CNNLAB_BLAS: NETLIB }).out) as { name: string; reason: string };
        expect(ref.name).toBe("wasm");
        expect(ref.reason).toMatch(/only a reference BLAS was found/);
      }
    },
  );

  const openblasHere = existsSync("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
  it.runIf(openblasHere || CI)(
    "OPENBLAS_THREAD_TIMEOUT is set for OpenBLAS's load only: programs started later do not inherit it, a user's own value stays",
    () => {
      const envOf = (extra: Record<string, string>) => {
        const env: Record<string, string | undefined> = {
          ...process.env,
          CNNLAB_BACKEND: "native",
          ...extra,
        };
        if (!("OPENBLAS_THREAD_TIMEOUT" in extra)) delete env.OPENBLAS_THREAD_TIMEOUT;
        return env;
      };
      const script =
        'import("./src/index.ts").then(async (m) => { const cp = await import("node:child_process"); ' +
        "console.log(m.backendInfo().name, String(process.env.OPENBLAS_THREAD_TIMEOUT), " +
        'cp.execFileSync("sh", ["-c", "echo ${OPENBLAS_THREAD_TIMEOUT-unset}"]).toString().trim()) })';
      const run = (extra: Record<string, string>) =>
        spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
          cwd: root,
          env: envOf(extra),
          encoding: "utf8",
          timeout: 60_000,
        }).stdout.trim();
      expect(run({})).toBe("native undefined unset");
      expect(run({ OPENBLAS_THREAD_TIMEOUT: "7" })).toBe("native 7 7");
    },
  );

  it("`cnnlab --version` names the backend", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "--version"], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
    });
    const info = backendInfo();
    expect(r.stdout).toMatch(
      new RegExp(
        `^\\d+\\.\\d+\\.\\d+\\nbackend ${info.name}\\b.*${info.threads} threads?, WebAssembly ${info.simd}\\n$`,
      ),
    );
  });
});
