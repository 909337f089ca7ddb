import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decode } from "fast-png";
import { jupyterSysPrefix, kernelsDir } from "../../kernel/kernelspec.js";
import { kernelMainJs, launchSh, packageRoot } from "../../kernel/paths.js";
import { start } from "../../src/cli/start.js";
import { codeCell, errorInMiddle, writeNotebook } from "../kernel/fixtures.js";
import { assertBuilt, command, PYTHON } from "../kernel/integration.js";

const cli = join(packageRoot, "dist", "src", "cli", "main.js");
const dir = mkdtempSync(join(tmpdir(), "cnnlab-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cnnlab(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
}

describe("cnnlab CLI", () => {
  it("the built entry starts with a node shebang", () => {
    assertBuilt();
    expect(readFileSync(cli, "utf8").startsWith("#!/usr/bin/env node")).toBe(true);
  });

  it("install --prefix writes kernel.json and both logos; uninstall removes them", () => {
    const prefix = join(dir, "prefix");
    const r = cnnlab(["install", "--prefix", prefix]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const specDir = join(prefix, "share", "jupyter", "kernels", "cnnlab");
    const spec = JSON.parse(readFileSync(join(specDir, "kernel.json"), "utf8"));
    expect(spec).toMatchObject({
      display_name: "cnnlab (TypeScript)",
      language: "typescript",
      interrupt_mode: "message",
    });
    // Through launch.sh (the start-up snapshot), which execs this Node on the compiled kernel.
    expect(spec.argv).toEqual(["/bin/sh", launchSh, kernelMainJs, "{connection_file}", process.execPath]);
    expect(existsSync(spec.argv[1]) && existsSync(spec.argv[2])).toBe(true);
    for (const size of [32, 64]) {
      const png = decode(readFileSync(join(specDir, `logo-${size}x${size}.png`)));
      expect([png.width, png.height]).toEqual([size, size]);
    }
    const u = cnnlab(["uninstall", "--prefix", prefix]);
    expect(u.status).toBe(0);
    expect(existsSync(specDir)).toBe(false);
  });

  it("install defaults to the user's Jupyter data dir (JUPYTER_DATA_DIR) and takes node args", () => {
    const data = join(dir, "userdata");
    const r = cnnlab(["install", "--node-arg=--max-old-space-size=4096"], { JUPYTER_DATA_DIR: data });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const spec = JSON.parse(readFileSync(join(data, "kernels", "cnnlab", "kernel.json"), "utf8"));
    expect(spec.argv.slice(2)).toEqual([
      kernelMainJs,
      "{connection_file}",
      process.execPath,
      "--max-old-space-size=4096",
    ]);
    expect(cnnlab(["install", "--user", "--prefix", "x"]).status).not.toBe(0);
  });

  it.skipIf(!command("jupyter").ok())("--sys-prefix resolves to the prefix of the jupyter on PATH", () => {
    const prefix = spawnSync(PYTHON, ["-c", "import sys; print(sys.prefix)"], {
      encoding: "utf8",
    }).stdout.trim();
    const jupyterPython = readFileSync(
      spawnSync("sh", ["-c", "command -v jupyter"], { encoding: "utf8" }).stdout.trim(),
      "utf8",
    ).split("\n")[0];
    if (jupyterPython.includes(PYTHON)) expect(jupyterSysPrefix()).toBe(prefix);
    expect(kernelsDir({ sysPrefix: true })).toBe(join(jupyterSysPrefix(), "share", "jupyter", "kernels"));
  });

  it("run: exit code 1 when a cell errors (stops there), 0 for a clean notebook; --html writes the page", () => {
    const bad = join(dir, "bad.ipynb");
    errorInMiddle(bad);
    const good = join(dir, "good.ipynb");
    writeNotebook(good, [codeCell("const x = 3", "a"), codeCell("x * x", "b")]);
    const r1 = cnnlab(["run", bad, "--out", "results"]);
    expect(r1.status, r1.stdout).toBe(1);
    expect(r1.stdout).toMatch(/\[2\/4\].*error \(Error: middle cell fails\)/);
    const out = JSON.parse(readFileSync(join(dir, "results", "bad.ipynb"), "utf8"));
    expect(out.cells[3].execution_count).toBeNull();
    const r2 = cnnlab(["run", good, "--out", "results", "--html", "--timeout", "60"]);
    expect(r2.status, r2.stdout).toBe(0);
    expect(readFileSync(join(dir, "results", "good.html"), "utf8")).toContain("9");
    const r3 = cnnlab(["run", bad, "--out", "results2", "--allow-errors", "-q"]);
    expect(r3.status).toBe(1);
    expect(
      JSON.parse(readFileSync(join(dir, "results2", "bad.ipynb"), "utf8")).cells[4].execution_count,
    ).toBe(4);
  }, 600_000);

  it("start without Jupyter registers the kernel locally, runs chapter 01 headless and says how to run the rest", async () => {
    const root = join(dir, "project");
    mkdirSync(join(root, "notebooks"), { recursive: true });
    writeNotebook(join(root, "notebooks", "01-first.ipynb"), [codeCell("1 + 1", "a")]);
    writeNotebook(join(root, "notebooks", "02-second.ipynb"), [codeCell("2", "a")]);
    const lines: string[] = [];
    const code = await start({
      root,
      headless: true,
      outDir: join(dir, "start-out"),
      out: (l) => lines.push(l),
    });
    const text = lines.join("\n");
    expect(code).toBe(0);
    expect(existsSync(join(root, ".jupyter-local", "kernels", "cnnlab", "kernel.json"))).toBe(true);
    expect(text).toMatch(/Jupyter is not installed/);
    expect(text).toMatch(/pip install jupyterlab/);
    expect(text).toMatch(/\[1\/1\] 1 \+ 1 {2}… ok/);
    expect(text).toMatch(/cnnlab run notebooks\/02-second\.ipynb/);
    expect(existsSync(join(dir, "start-out", "01-first.ipynb"))).toBe(true);
    expect(existsSync(join(dir, "start-out", "01-first.html"))).toBe(true);
  }, 300_000);

  it("start with Jupyter prints the 127.0.0.1 URL with a token (dry run)", async () => {
    const root = join(dir, "project2");
    mkdirSync(join(root, "notebooks"), { recursive: true });
    const lines: string[] = [];
    const code = await start({ root, dryRun: true, out: (l) => lines.push(l) });
    expect(code).toBe(0);
    const text = lines.join("\n");
    // Either a front end is installed (URL printed) or the headless path explains how to get one.
    if (/Open http/.test(text)) {
      expect(text).toMatch(/Open http:\/\/127\.0\.0\.1:\d+\/(lab|tree)\?token=[0-9a-f]{48}/);
      expect(text).toMatch(/--ip=127\.0\.0\.1/);
    } else {
      expect(text).toMatch(/Jupyter is not installed/);
    }
  });
});
