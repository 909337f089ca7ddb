/**
 * The kernel process's lifetime and its CommonJS-like globals, through the real kernel process:
 * SIGTERM ends a kernel whose cell is busy; `cnnlab run` killed while a cell runs takes its kernel
 * with it; `__filename`, `module` and `exports` exist in cells as in a CommonJS module.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { cellFilename } from "../../kernel/cell-require.js";
import { packageRoot } from "../../kernel/paths.js";
import { runNotebook } from "../../kernel/runner.js";
import { assertBuilt } from "./integration.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "cnnlab-lifetime-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function waitFor(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}
const result = (r: ExecuteResult) =>
  r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"];

describe("the kernel process ends when it is told to", () => {
  it("SIGTERM ends a kernel whose cell is in a busy loop", async () => {
    assertBuilt();
    const k = await KernelClient.start({ cwd: tempDir() });
    try {
      expect((await k.execute("1", { timeoutMs: 180_000 })).reply.content.status).toBe("ok");
      const proc = k.process!;
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        proc.once("exit", (code, signal) => resolve({ code, signal })),
      );
      void k
        .execute("let spins = 0;\nwhile (true) { spins++; }", { timeoutMs: 60_000 })
        .catch(() => undefined);
      await sleep(1500); // the loop runs
      proc.kill("SIGTERM");
      const how = await Promise.race([exited, sleep(15_000).then(() => "still running")]);
      // a clean exit: the loop was interrupted and the kernel closed its sockets
      expect(how).toEqual({ code: 0, signal: null });
    } finally {
      k.process?.kill("SIGKILL");
      await k.shutdown(false, 1000).catch(() => undefined);
    }
  }, 240_000);

  it("cnnlab run killed by SIGTERM while a cell runs: its kernel exits too", async () => {
    assertBuilt();
    const dir = tempDir();
    const nb = join(dir, "busy.ipynb");
    writeFileSync(
      nb,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          {
            cell_type: "code",
            id: "c1",
            metadata: {},
            source: "while (true) {}",
            outputs: [],
            execution_count: null,
          },
        ],
      }),
    );
    const log = join(dir, "kernel.log");
    const cli = spawn(
      process.execPath,
      [join(packageRoot, "dist", "src", "cli", "main.js"), "run", nb, "--out", join(dir, "out")],
      {
        cwd: dir,
        env: { ...process.env, CNNLAB_KERNEL_LOG: log },
        stdio: "ignore",
      },
    );
    const cliExit = new Promise((resolve) => cli.once("exit", resolve));
    let kernelPid = 0;
    await waitFor(
      "the kernel to start the busy cell",
      () => {
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        kernelPid = Number(/starting \(pid (\d+)/.exec(text)?.[1] ?? 0);
        return kernelPid > 0 && /engine ready/.test(text);
      },
      180_000,
    );
    await sleep(1500); // past the empty warm-up cell: the busy cell runs
    expect(alive(kernelPid)).toBe(true);
    cli.kill("SIGTERM");
    await cliExit;
    await waitFor("the kernel to exit after cnnlab run was killed", () => !alive(kernelPid), 20_000).finally(
      () => {
        if (alive(kernelPid)) process.kill(kernelPid, "SIGKILL");
      },
    );
  }, 240_000);
});

describe("__filename, module and exports in cells", () => {
  it("__filename is the notebook's path under cnnlab run; module and exports are a CommonJS module's", async () => {
    assertBuilt();
    const dir = tempDir();
    const nb = join(dir, "globals.ipynb");
    const src = [
      "console.log(JSON.stringify({ f: __filename, d: __dirname, mf: module.filename, same: exports === module.exports,",
      "  req: module.require === require, kind: typeof module.exports, paths: Array.isArray(module.paths) }))",
    ].join("\n");
    writeFileSync(
      nb,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          { cell_type: "code", id: "c1", metadata: {}, source: src, outputs: [], execution_count: null },
        ],
      }),
    );
    const r = await runNotebook(nb, { outDir: join(dir, "out") });
    expect(r.errors).toEqual([]);
    const out = JSON.parse(readFileSync(r.outPath, "utf8")) as {
      cells: { outputs: { name?: string; text?: string | string[] }[] }[];
    };
    const printed = out.cells[0].outputs.find((o) => o.name === "stdout")?.text ?? "";
    const text = Array.isArray(printed) ? printed.join("") : printed;
    expect(JSON.parse(text)).toEqual({
      f: nb,
      d: dir,
      mf: nb,
      same: true,
      req: true,
      kind: "object",
      paths: true,
    });
  }, 240_000);

  it("without a known notebook __filename is <cwd>/[cell]", async () => {
    assertBuilt();
    const dir = tempDir();
    expect(cellFilename(dir, undefined)).toBe(join(dir, "[cell]"));
    expect(cellFilename(dir, "missing.ipynb")).toBe(join(dir, "[cell]"));
    writeFileSync(join(dir, "nb.ipynb"), "{}");
    expect(cellFilename(dir, "some/server/path/nb.ipynb")).toBe(join(dir, "nb.ipynb"));
    const k = await KernelClient.start({ cwd: dir, env: { JPY_SESSION_NAME: "" } });
    try {
      const r = await k.execute("[__filename, module.filename === __filename, typeof exports].join(' ')", {
        timeoutMs: 180_000,
      });
      expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
      expect(result(r)).toBe(`'${join(dir, "[cell]")} true object'`);
    } finally {
      await k.shutdown();
    }
  }, 240_000);
});
