import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runNotebook, type ProgressEvent } from "../../kernel/runner.js";
import { codeCell, errorInMiddle, writeNotebook } from "./fixtures.js";
import { assertBuilt, PYTHON, pythonModule } from "./integration.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-runner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const canValidate = pythonModule("nbformat").ok();

function validate(path: string): void {
  if (!canValidate) return;
  const r = spawnSync(
    PYTHON,
    ["-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], 4))", path],
    { encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
}

describe("runNotebook (headless runner)", () => {
  it("stops at the first error by default and reports it", async () => {
    assertBuilt();
    const nb = join(dir, "err.ipynb");
    errorInMiddle(nb);
    const events: ProgressEvent[] = [];
    const r = await runNotebook(nb, { outDir: join(dir, "out"), onProgress: (e) => events.push(e) });
    expect(r.ok).toBe(false);
    expect(r.executed).toBe(2);
    expect(r.errors).toEqual([{ index: 2, ename: "Error", evalue: "middle cell fails" }]);
    const out = JSON.parse(readFileSync(r.outPath, "utf8"));
    expect(out.cells[1].execution_count).toBe(1);
    expect(out.cells[1].outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "first\n" },
      { output_type: "execute_result", execution_count: 1, data: { "text/plain": "21" }, metadata: {} },
    ]);
    expect(out.cells[2].outputs[0].output_type).toBe("error");
    expect(out.cells[3].execution_count).toBeNull();
    expect(out.cells[3].outputs).toEqual([]);
    expect(events.filter((e) => e.kind === "cell-end").map((e) => (e as { status: string }).status)).toEqual([
      "ok",
      "error",
    ]);
    validate(r.outPath);
  }, 180_000);

  it("with allowErrors runs every cell, counts stay right, writes HTML", async () => {
    const nb = join(dir, "err2.ipynb");
    errorInMiddle(nb);
    const r = await runNotebook(nb, { outDir: join(dir, "out"), allowErrors: true, html: true });
    expect(r.ok).toBe(false);
    expect(r.executed).toBe(4);
    const out = JSON.parse(readFileSync(r.outPath, "utf8"));
    expect(out.cells.slice(1).map((c: { execution_count: number }) => c.execution_count)).toEqual([
      1, 2, 3, 4,
    ]);
    expect(out.cells[3].outputs[0].data["text/plain"]).toBe("40");
    expect(out.metadata.language_info.name).toBe("typescript");
    const html = readFileSync(r.htmlPath!, "utf8");
    expect(html).toContain("<i>last</i>");
    expect(html).toContain("middle cell fails");
    expect(html).toContain("<h1>Error in the middle</h1>");
    validate(r.outPath);
  }, 180_000);

  it("times out a cell, interrupts it, runs the kernel in the notebook's folder with extra node args", async () => {
    const nb = join(dir, "timeout.ipynb");
    writeNotebook(nb, [
      codeCell("process.cwd()", "a"),
      codeCell('(await import("node:v8")).getHeapStatistics().heap_size_limit < 400 * 2 ** 20', "b"),
      codeCell("while (true) {}", "c"),
      codeCell('"after the timeout"', "d"),
    ]);
    const r = await runNotebook(nb, {
      outPath: join(dir, "timeout-out.ipynb"),
      timeoutSec: 3,
      allowErrors: true,
      nodeArgs: ["--max-old-space-size=256"],
    });
    const out = JSON.parse(readFileSync(r.outPath, "utf8"));
    expect(out.cells[0].outputs[0].data["text/plain"]).toBe(`'${dir}'`);
    expect(out.cells[1].outputs[0].data["text/plain"]).toBe("true");
    expect(out.cells[2].outputs.some((o: { ename?: string }) => o.ename === "CellTimeoutError")).toBe(true);
    expect(out.cells[3].outputs[0].data["text/plain"]).toBe("'after the timeout'");
    expect(r.errors.map((e) => e.ename)).toEqual(["CellTimeoutError"]);
    expect(existsSync(join(dir, "timeout-out.html"))).toBe(false);
  }, 180_000);

  it("returns ok for a clean notebook", async () => {
    const nb = join(dir, "clean.ipynb");
    writeNotebook(nb, [codeCell("let n = 1", "a"), codeCell("n + 1", "b")]);
    const r = await runNotebook(nb, { outDir: join(dir, "out") });
    expect(r).toMatchObject({ ok: true, executed: 2, codeCells: 2, errors: [] });
  }, 180_000);
});
