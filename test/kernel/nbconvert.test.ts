import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { errorInMiddle } from "./fixtures.js";
import { assertBuilt, command, missing, pythonModule, skipTitle } from "./integration.js";

const reason = missing([command("jupyter-nbconvert"), pythonModule("nbclient")]);

describe.skipIf(!!reason)(skipTitle("jupyter nbconvert --execute with the cnnlab kernel", reason), () => {
  const dir = mkdtempSync(join(tmpdir(), "cnnlab-nbconvert-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--allow-errors: an error in the middle, all later cells run, execution counts 1..n", () => {
    assertBuilt();
    installKernelSpec({ prefix: dir });
    const nb = join(dir, "middle.ipynb");
    errorInMiddle(nb);
    const env = {
      ...process.env,
      JUPYTER_PATH: join(dir, "share", "jupyter"),
      JUPYTER_DATA_DIR: join(dir, "data"),
      JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
      JUPYTER_CONFIG_DIR: join(dir, "config"),
    };
    const r = spawnSync(
      "jupyter-nbconvert",
      [
        "--to",
        "notebook",
        "--execute",
        "--allow-errors",
        "--ExecutePreprocessor.timeout=300",
        "--ExecutePreprocessor.startup_timeout=180",
        "--output",
        "executed.ipynb",
        nb,
      ],
      { cwd: dir, env, encoding: "utf8", timeout: 600_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(join(dir, "executed.ipynb"), "utf8"));
    const code = out.cells.filter((c: { cell_type: string }) => c.cell_type === "code");
    expect(code.map((c: { execution_count: number }) => c.execution_count)).toEqual([1, 2, 3, 4]);
    expect(code[0].outputs.map((o: { output_type: string }) => o.output_type)).toEqual([
      "stream",
      "execute_result",
    ]);
    expect(code[1].outputs).toHaveLength(1);
    expect(code[1].outputs[0]).toMatchObject({
      output_type: "error",
      ename: "Error",
      evalue: "middle cell fails",
    });
    // nbformat stores multi-line strings as lists of lines
    const joined = (v: string | string[]) => (Array.isArray(v) ? v.join("") : v);
    expect(joined(code[2].outputs[0].data["text/plain"])).toBe("40");
    expect(code[3].outputs[0].output_type).toBe("display_data");
    expect(joined(code[3].outputs[0].data["text/html"])).toBe("<i>last</i>");
    expect(out.metadata.language_info.name).toBe("typescript");
  }, 600_000);
});
