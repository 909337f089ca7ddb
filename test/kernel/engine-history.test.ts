/**
 * How cells see earlier cells' names now that each cell imports only the names it mentions, and
 * that the start-up warm-up never gets between a cell's check and its commit.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ExecuteOutcome } from "../../kernel/engine.js";
import { TsEngine } from "../../kernel/ts-engine.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(): { engine: TsEngine; run: (code: string) => Promise<ExecuteOutcome> } {
  const engine = new TsEngine({ cwd: dir, library: null, registerTsHooks: false });
  engine.setIO({
    stdout: () => undefined,
    stderr: () => undefined,
    display: () => undefined,
    clearOutput: () => undefined,
    lateError: () => undefined,
  });
  let count = 0;
  return { engine, run: (code) => engine.execute(code, { executionCount: ++count, silent: false }) };
}
const value = (r: ExecuteOutcome) =>
  r.status === "ok" ? r.result?.data["text/plain"] : `ERROR ${r.ename}: ${r.evalue}`;

describe("cell history", () => {
  it("the start-up warm-up leaves nothing behind: its cells are neither names nor cell numbers", async () => {
    const { engine, run } = start();
    await engine.ready();
    await new Promise((r) => setTimeout(r, 500)); // the warm-up's steps run meanwhile
    expect(value(await run("const first: { n: number } = { n: 41 };"))).toBeUndefined();
    expect(value(await run("first.n + 1"))).toBe("42");
    expect(value(await run("__cnnlab_warm"))).toMatch(
      /^ERROR TypeScriptError: 1 error: Cannot find name '__cnnlab_warm'/,
    );
    const bad = await run("const bad: string = first.n;");
    expect(bad.status === "error" && bad.traceback[0]).toMatch(/^cell\[4\]:1:7 - error TS2322/);
  }, 120_000);

  it("a chain of cells, each using the previous one's name, keeps every type", async () => {
    const { run } = start();
    expect(value(await run("const c0 = { v: 0 };"))).toBeUndefined();
    for (let i = 1; i <= 40; i++) {
      const r = await run(`const c${i} = { v: c${i - 1}.v + 1 };`);
      expect(r.status, JSON.stringify(r)).toBe("ok");
    }
    expect(value(await run("c40.v"))).toBe("40");
    // a name from long ago is still there, with its type
    expect(value(await run("c0.v + c20.v"))).toBe("20");
    expect(value(await run("c3.w"))).toMatch(/^ERROR TypeScriptError: 1 error: Property 'w' does not exist/);
  }, 120_000);

  it("non-ASCII names, names mentioned only inside a type, and a later cell redefining a name", async () => {
    const { run } = start();
    expect(value(await run("const π = 3;\ninterface Pt { x: number }"))).toBeUndefined();
    expect(value(await run("π * 2"))).toBe("6");
    expect(value(await run("const p = { x: 2 } as Pt;\np.x"))).toBe("2");
    expect(value(await run("const q: Pt = { x: 'no' };"))).toMatch(/^ERROR TypeScriptError/);
    expect(value(await run("const π = 'pi';"))).toBeUndefined();
    expect(value(await run("π.length"))).toBe("2");
  }, 120_000);
});
