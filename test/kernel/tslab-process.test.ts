/**
 * The built-in tslab module through the real kernel and zeromq sockets (each display method's
 * display_data, newDisplay's update_display_data, versions, require("tslab")), and a tslab-style
 * notebook (test/fixtures/notebooks/tslab-style.ipynb) run by `jupyter nbconvert --execute`.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { assertBuilt, command, missing, pythonModule, skipTitle } from "./integration.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const notebook = join(here, "..", "fixtures", "notebooks", "tslab-style.ipynb");
const PNG_1x1 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const cnnlabVersion = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;

let k: KernelClient;
const cwd = mkdtempSync(join(tmpdir(), "cnnlab-tslab-test-"));
const displays = (r: ExecuteResult) =>
  r.outputs
    .filter((o) => o.header.msg_type === "display_data" || o.header.msg_type === "update_display_data")
    .map((o) => ({ type: o.header.msg_type, data: o.content.data, id: o.content.transient?.display_id }));
const run = async (code: string) => {
  const r = await k.execute(code, { timeoutMs: 60_000 });
  expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
  return r;
};

beforeAll(async () => {
  assertBuilt();
  k = await KernelClient.start({ cwd });
  await k.execute("1", { timeoutMs: 180_000 });
}, 240_000);

afterAll(async () => {
  await k?.shutdown();
  rmSync(cwd, { recursive: true, force: true });
});

describe("tslab module in the kernel", () => {
  it("import * as tslab from 'tslab': each display method sends display_data with its one MIME type", async () => {
    const r = await run(
      [
        'import * as tslab from "tslab";',
        'tslab.display.html("<b>h</b>");',
        'tslab.display.markdown("*m*");',
        'tslab.display.latex("$x$");',
        'tslab.display.svg("<svg/>");',
        'tslab.display.javascript("void 0");',
        'tslab.display.text("t");',
        `const bytes = Buffer.from("${PNG_1x1}", "base64");`,
        "tslab.display.png(bytes);",
        "tslab.display.jpeg(new Uint8Array([1, 2, 3]));",
        "tslab.display.gif(new Uint8Array([4, 5]));",
        "tslab.display.pdf(new Uint8Array([37, 80, 68, 70]));",
        'tslab.display.raw("application/vnd.custom+json", \'{"k": 1}\');',
        'tslab.display.raw("image/png", "' + PNG_1x1 + '");',
      ].join("\n"),
    );
    expect(displays(r)).toEqual([
      { type: "display_data", data: { "text/html": "<b>h</b>" }, id: undefined },
      { type: "display_data", data: { "text/markdown": "*m*" }, id: undefined },
      { type: "display_data", data: { "text/latex": "$x$" }, id: undefined },
      { type: "display_data", data: { "image/svg+xml": "<svg/>" }, id: undefined },
      { type: "display_data", data: { "text/javascript": "void 0" }, id: undefined },
      { type: "display_data", data: { "text/plain": "t" }, id: undefined },
      { type: "display_data", data: { "image/png": PNG_1x1 }, id: undefined },
      { type: "display_data", data: { "image/jpeg": "AQID" }, id: undefined },
      { type: "display_data", data: { "image/gif": "BAU=" }, id: undefined },
      { type: "display_data", data: { "application/pdf": "JVBERg==" }, id: undefined },
      { type: "display_data", data: { "application/vnd.custom+json": { k: 1 } }, id: undefined },
      { type: "display_data", data: { "image/png": PNG_1x1 }, id: undefined },
    ]);
  });

  it("newDisplay(): the first call is display_data with a display_id, later calls update_display_data", async () => {
    const r = await run(
      [
        'import * as tslab from "tslab";',
        "const d = tslab.newDisplay();",
        'd.text("one");',
        'd.html("<i>two</i>");',
        "const other = tslab.newDisplay();",
        'other.text("x");',
        'd.text("three");',
      ].join("\n"),
    );
    const shown = displays(r);
    const id = shown[0].id;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(shown).toEqual([
      { type: "display_data", data: { "text/plain": "one" }, id },
      { type: "update_display_data", data: { "text/html": "<i>two</i>" }, id },
      { type: "display_data", data: { "text/plain": "x" }, id: shown[2].id },
      { type: "update_display_data", data: { "text/plain": "three" }, id },
    ]);
    expect(shown[2].id).not.toBe(id);
  });

  it("tslab.versions is typed and says which tslab API level cnnlab provides; require('tslab') is the same module", async () => {
    const r = await run(
      [
        'import * as tslab from "tslab";',
        "const v: { tslab: string; typescript: string; node: string } = tslab.versions;",
        'console.log(JSON.stringify({ ...v, same: require("tslab") === tslab, node: v.node === process.version }));',
      ].join("\n"),
    );
    const printed = r.outputs.find((o) => o.header.msg_type === "stream")!.content.text;
    const v = JSON.parse(printed);
    expect(v).toEqual({
      tslab: `1.0.22+cnnlab.${cnnlabVersion}`,
      typescript: (createRequire(import.meta.url)("typescript/package.json") as { version: string }).version,
      node: true,
      cnnlab: cnnlabVersion,
      same: true,
    });
  });

  it("the default import (tslab's CommonJS form) and named imports are the same module", async () => {
    const r = await run(
      [
        'import tslabDefault from "tslab";',
        'import * as tslabNs from "tslab";',
        'import { display as tslabDisplay, newDisplay } from "tslab";',
        'tslabDefault.display.html("<p>d</p>");',
        'tslabDisplay.text("named");',
        "[tslabDefault.display === tslabNs.display, tslabDisplay === tslabNs.display, newDisplay === tslabNs.newDisplay].join()",
      ].join("\n"),
    );
    expect(displays(r)).toEqual([
      { type: "display_data", data: { "text/html": "<p>d</p>" }, id: undefined },
      { type: "display_data", data: { "text/plain": "named" }, id: undefined },
    ]);
    expect(r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"]).toBe(
      "'true,true,true'",
    );
  });

  it("a wrong call is a type error, as in tslab", async () => {
    const r = await k.execute('import * as tslab from "tslab";\ntslab.display.png("not bytes");', {
      timeoutMs: 60_000,
    });
    expect(r.reply.content.ename).toBe("TypeScriptError");
    expect(r.reply.content.evalue).toMatch(/not assignable to parameter of type 'Uint8Array/);
  });
});

const nbReason = missing([command("jupyter-nbconvert"), pythonModule("nbclient")]);

describe.skipIf(!!nbReason)(
  skipTitle("a tslab-style notebook through jupyter nbconvert --execute", nbReason),
  () => {
    const dir = mkdtempSync(join(tmpdir(), "cnnlab-tslab-nb-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("runs unchanged: every cell's outputs have tslab's MIME types and the expected values", () => {
      assertBuilt();
      installKernelSpec({ prefix: dir });
      copyFileSync(notebook, join(dir, "tslab-style.ipynb"));
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
          "--ExecutePreprocessor.timeout=300",
          "--ExecutePreprocessor.startup_timeout=180",
          "--output",
          "executed.ipynb",
          join(dir, "tslab-style.ipynb"),
        ],
        { cwd: dir, env, encoding: "utf8", timeout: 600_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(readFileSync(join(dir, "executed.ipynb"), "utf8"));
      const joined = (v: string | string[]) => (Array.isArray(v) ? v.join("") : v);
      const byId = new Map<string, { outputs: any[]; execution_count: number }>(
        out.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map((c: any) => [c.id, c]),
      );
      const shape = (id: string) =>
        byId.get(id)!.outputs.map((o) => ({
          type: o.output_type,
          ...(o.data
            ? { data: Object.fromEntries(Object.entries(o.data).map(([m, v]) => [m, joined(v as string[])])) }
            : {}),
          ...(o.text !== undefined ? { text: joined(o.text) } : {}),
        }));
      expect([...byId.values()].map((c) => c.execution_count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(shape("html")).toEqual([
        { type: "display_data", data: { "text/html": "<h3>Hello from <em>tslab</em></h3>" } },
      ]);
      expect(shape("markdown-latex")).toEqual([
        { type: "display_data", data: { "text/markdown": "**Markdown** works, and so does _LaTeX_:" } },
        { type: "display_data", data: { "text/latex": "$$e^{i\\pi} + 1 = 0$$" } },
      ]);
      expect(shape("svg")).toEqual([
        {
          type: "display_data",
          data: {
            "image/svg+xml":
              '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><circle cx="10" cy="10" r="8" fill="teal"/></svg>',
          },
        },
      ]);
      expect(shape("png")).toEqual([{ type: "display_data", data: { "image/png": PNG_1x1 } }]);
      // nbclient applies update_display_data to the output with that display_id: one output, the last step.
      expect(shape("new-display")).toEqual([{ type: "display_data", data: { "text/plain": "step 3 of 3" } }]);
      expect(shape("interface")).toEqual([{ type: "execute_result", data: { "text/plain": "5" } }]);
      expect(shape("optional-chaining")).toEqual([{ type: "stream", text: "undefined\n" }]);
      // d(sum(2t))/dt = 2 for each of the 3 elements
      expect(shape("no-strict-null")).toEqual([{ type: "execute_result", data: { "text/plain": "6" } }]);
      expect(shape("versions")).toEqual([{ type: "stream", text: "1.0.22 string true\n" }]);
    }, 600_000);
  },
);
