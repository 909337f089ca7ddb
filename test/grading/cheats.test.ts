/**
 * Tests that one line cannot subvert (issue observation 4) and library state after an interrupted
 * test (observation 5), with the real cnnlab kernel in grading mode (CNNLAB_GRADING=1, which the
 * grader sets, with each cell's nbgrader flags in its execute_request's metadata): each cheat,
 * next to an empty stub, must score 0; honest code keeps full marks.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { autograde } from "../../src/grading/autograde.js";
import { makeNotebook } from "./helpers.js";
import { kernelBuilt, submission, writeBatch } from "./tiny-assignment.js";

const CHECK =
  'const check = (ok: boolean, what: string): void => {\n  if (!ok) throw new Error("failed: " + what);\n};';

const CHEAT_SOURCE = makeNotebook([
  { id: "setup", locked: true, source: CHECK },
  {
    id: "double",
    solution: true,
    source:
      "function double(x: number): number {\n  // BEGIN SOLUTION\n  return 2 * x;\n  // END SOLUTION\n}",
  },
  { id: "test_plain", grade: true, points: 1, source: 'check(double(2) === 4, "double(2)");' },
  { id: "test_abs", grade: true, points: 1, source: 'check(Math.abs(double(3) - 6) < 1e-9, "double(3)");' },
  {
    id: "test_rel",
    grade: true,
    points: 1,
    source: 'check(relError([double(1)], [2]) < 1e-9, "double(1)");',
  },
  {
    id: "test_relu",
    grade: true,
    points: 1,
    source:
      'const y = F.relu(tensor([double(-1), double(1)])).toArray() as number[];\ncheck(y[0] === 0 && y[1] === 2, "relu of double");',
  },
  {
    id: "test_async",
    grade: true,
    points: 1,
    source: 'await new Promise((r) => setTimeout(r, 10));\ncheck(double(5) === 10, "double(5)");',
  },
]);

const STUB = "function double(x: number): number {\n  return 0;\n}";
const HONEST = "function double(x: number): number {\n  return 2 * x;\n}";

/** The one-line cheats of the issue, each next to an empty stub. */
const CHEATS: Record<string, string> = {
  race: "Promise.race = ((ps: unknown) => Promise.resolve()) as never;",
  vmhook:
    'import * as vm from "node:vm";\nconst Orig = vm.Script;\n(vm as any).Script = function (code: string, o: any) { return new Orig(String(code).replace(/check\\(/g, "void ("), o); };',
  relerror: "(globalThis as any).relError = () => 0;",
  mathabs: "Math.abs = () => 0;",
  helper: "const check = (ok: boolean, what: string): void => {};",
  globalhelper: "(globalThis as any).check = () => {};",
  functional: "(globalThis as any).F = { ...F, relu: () => tensor([0, 2]) };",
};

describe.runIf(kernelBuilt)("grading mode: one-line cheats", () => {
  let scores: Record<string, number> = {};
  beforeAll(async () => {
    const subs = Object.fromEntries([
      ["honest", submission(HONEST, [], CHEAT_SOURCE)],
      ...Object.entries(CHEATS).map(([name, cheat]) => [name, submission(STUB, [cheat], CHEAT_SOURCE)]),
    ]);
    // A cell of the student's own, before the setup cell, claiming to be locked in its metadata:
    // the grader tells the kernel only the nbgrader flags of the assignment's cells.
    const fake = submission(STUB, [], CHEAT_SOURCE);
    fake.cells.unshift({
      cell_type: "code",
      source: "const check = (ok: boolean, what: string): void => {};",
      metadata: { cnnlab: { locked: true } },
      outputs: [],
      execution_count: null,
    });
    subs.fakelocked = fake;
    const b = await writeBatch(subs, undefined, CHEAT_SOURCE);
    const s = await autograde({
      submissions: b.files,
      source: b.source,
      out: b.out,
      jobs: 2,
      cores: 2,
      timeoutSeconds: 30,
    });
    scores = Object.fromEntries(s.results.map((r) => [r.student, r.score]));
  }, 300_000);

  it("honest code keeps full marks in grading mode", () => {
    expect(scores.honest).toBe(5);
  });

  for (const name of [...Object.keys(CHEATS), "fakelocked"]) {
    it(`${name}: the cheat on an empty stub scores 0`, () => {
      expect(scores[name]).toBe(0);
    });
  }
});

const STATE_SOURCE = makeNotebook([
  { id: "setup", locked: true, source: CHECK },
  {
    id: "f",
    solution: true,
    source: "function f(x: any): any {\n  // BEGIN SOLUTION\n  return x.mul(2);\n  // END SOLUTION\n}",
  },
  {
    id: "test_numerical",
    grade: true,
    points: 1,
    source:
      'const g = numericalGradientArray(f, tensor([1, 2], { dtype: "float64" }), tensor([1, 1], { dtype: "float64" }));\ncheck(Math.abs((g.toArray() as number[])[0]! - 2) < 1e-6, "numerical gradient");',
  },
  {
    id: "test_autograd",
    grade: true,
    points: 1,
    source:
      'const t = tensor([1, 2], { dtype: "float64", requiresGrad: true });\nf(t).sum().backward();\ncheck(t.grad !== null && Math.abs((t.grad.toArray() as number[])[0]! - 2) < 1e-9, "autograd after f");',
  },
]);

describe.runIf(kernelBuilt)("library state after an interrupted test", () => {
  it("a test that times out inside numericalGradientArray leaves autograd on for the next one", async () => {
    // f hangs when called without gradients (inside numericalGradientArray's noGrad), so the
    // first test times out there; the second must then pass, as it does after a thrown error.
    const hang = "function f(x: any): any {\n  if (!x.requiresGrad) for (;;) {}\n  return x.mul(2);\n}";
    const thrown =
      'function f(x: any): any {\n  if (!x.requiresGrad) throw new Error("no");\n  return x.mul(2);\n}';
    const subs = {
      hang: submission(hang, [], STATE_SOURCE, "f"),
      thrown: submission(thrown, [], STATE_SOURCE, "f"),
    };
    const b = await writeBatch(subs, undefined, STATE_SOURCE);
    const s = await autograde({
      submissions: b.files,
      source: b.source,
      out: b.out,
      jobs: 2,
      cores: 2,
      timeoutSeconds: 5,
    });
    const by = Object.fromEntries(s.results.map((r) => [r.student, r]));
    expect(by.hang!.cells.map((c) => [c.id, c.execution, c.points])).toEqual([
      ["test_numerical", "timeout", 0],
      ["test_autograd", "ok", 1],
    ]);
    expect(by.thrown!.score).toBe(1);
  }, 120_000);
});
