/**
 * Grading mode (kernel/lockdown.ts), in-process with the real library: the one-line cheats of the
 * grading issue change nothing for locked cells (setup helpers, autograder tests), and honest code
 * that names its own variables like library exports still works.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecuteOutcome } from "../../kernel/engine.js";
import { TsEngine } from "../../kernel/ts-engine.js";
import { assertBuilt } from "./integration.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-grading-mode-"));
let engine: TsEngine;
let count = 0;

const student = (code: string) => engine.execute(code, { executionCount: ++count, silent: false });
const locked = (code: string) =>
  engine.execute(code, {
    executionCount: ++count,
    silent: false,
    metadata: { nbgrader: { grade: true, solution: false, locked: true } },
  });
const value = (r: ExecuteOutcome) =>
  r.status === "ok" ? r.result?.data["text/plain"] : `ERROR ${r.ename}: ${r.evalue}`;

beforeAll(async () => {
  assertBuilt();
  engine = new TsEngine({ cwd: dir, registerTsHooks: false, grading: true });
  engine.setIO({
    stdout: () => undefined,
    stderr: () => undefined,
    display: () => undefined,
    clearOutput: () => undefined,
    lateError: () => undefined,
  });
  await engine.ready();
  const setup = await locked(
    'const check = (ok: boolean, what: string): void => {\n  if (!ok) throw new Error("failed: " + what);\n};',
  );
  expect(setup.status).toBe("ok");
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("grading mode", () => {
  it("intrinsics: Math.abs and Promise.race cannot be replaced; the kernel still waits for cells", async () => {
    expect((await student("Math.abs = () => 0;")).status).toBe("ok");
    expect(value(await locked("Math.abs(-3)"))).toBe("3");
    await student("Promise.race = ((ps: unknown) => Promise.resolve()) as never;");
    expect(
      value(await locked("await new Promise((r) => setTimeout(r, 30)); check(1 + 1 === 2, 'ran'); 'waited'")),
    ).toBe("'waited'");
  });

  it("a vm.Script hook does not rewrite later cells", async () => {
    await student(
      'import vm from "node:vm";\nconst Orig = vm.Script;\n(vm as any).Script = function (code: string, o: any) { return new Orig(String(code).replace(/check\\(/g, "void ("), o); };',
    );
    const r = await locked("check(false, 'must fail')");
    expect(r.status).toBe("error");
    if (r.status === "error") expect(r.evalue).toBe("failed: must fail");
  });

  it("library exports: reassigning or shadowing relError and F does not reach the tests", async () => {
    await student("(globalThis as any).relError = () => 0;");
    await student("(globalThis as any).F = { ...F, relu: () => tensor([0, 2]) };");
    expect(value(await locked("relError([1], [2]) > 0.1"))).toBe("true");
    expect(value(await locked("F.relu(tensor([-1, 5])).toArray()"))).toBe("[ 0, 5 ]");
    // A declaration is honest code's right (names like sum or data); the tests keep the library's.
    expect(
      value(await student("const relError = (a: number[], b: number[]) => 0;\nrelError([1], [2])")),
    ).toBe("0");
    expect(value(await locked("relError([1], [2]) > 0.1"))).toBe("true");
    expect(value(await student("const sum = [1, 2, 3].reduce((a, b) => a + b, 0);\nsum"))).toBe("6");
  });

  it("a locked cell's helper can be neither redeclared nor reassigned", async () => {
    const r = await student("const check = (ok: boolean, what: string): void => {};");
    expect(r.status).toBe("error");
    if (r.status === "error") expect(r.ename).toBe("LockedNameError");
    await student("(globalThis as any).check = () => {};");
    expect((await locked("check(false, 'still checked')")).status).toBe("error");
  });

  it("the runner's runtime object cannot be replaced or changed", async () => {
    await student("(globalThis as any).__cnnlab_rt = { c() {}, a(_: number, v: unknown) { return v; } };");
    await student("try { (globalThis as any).__cnnlab_rt.c = () => {}; } catch {}");
    expect(value(await locked("[1, 2].map((x) => x * 2)"))).toBe("[ 2, 4 ]");
    expect(Object.isFrozen(engine.runner.rt)).toBe(true);
  });
});
