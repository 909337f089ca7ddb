import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { assertBuilt, missing, PYTHON, pythonModule, skipTitle } from "./integration.js";

const reason = missing([pythonModule("jupyter_kernel_test"), pythonModule("jupyter_client")]);
const here = fileURLToPath(new URL(".", import.meta.url));

describe.skipIf(!!reason)(skipTitle("jupyter_kernel_test conformance", reason), () => {
  const prefix = mkdtempSync(join(tmpdir(), "cnnlab-jkt-"));
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  it("passes every check of the suite", () => {
    assertBuilt();
    const dir = installKernelSpec({ prefix });
    expect(JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8")).interrupt_mode).toBe("message");
    const env = {
      ...process.env,
      JUPYTER_PATH: join(prefix, "share", "jupyter"),
      JUPYTER_DATA_DIR: join(prefix, "data"),
      JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
      JUPYTER_CONFIG_DIR: join(prefix, "config"),
      JUPYTER_PLATFORM_DIRS: "1",
    };
    const r = spawnSync(PYTHON, [join(here, "jupyter_kernel_test_cnnlab.py")], {
      cwd: prefix,
      env,
      encoding: "utf8",
      timeout: 600_000,
    });
    const report = `${r.stdout}\n${r.stderr}`;
    // Every test of the suite ran (none skipped) and all passed.
    expect(report, report).toMatch(/^OK\s*$/m);
    expect(report).not.toMatch(/skipped/i);
    const ran = /Ran (\d+) tests?/.exec(report);
    expect(Number(ran?.[1])).toBeGreaterThanOrEqual(12);
    expect(r.status, report).toBe(0);
  }, 600_000);
});
