import { describe, expect, it } from "vitest";
import { releaseNotebook } from "../../src/grading/assign.js";
import { mergeSubmission } from "../../src/grading/merge.js";
import { sourceText, type Notebook } from "../../src/grading/notebook.js";
import { partialCredit, scoreCell, scoreNotebook } from "../../src/grading/score.js";
import { runCellsInSession, type RunOutcome } from "../../src/grading/executor.js";
import type { MergedCell } from "../../src/grading/merge.js";
import { fakeKernel, makeNotebook } from "./helpers.js";

function source(): Notebook {
  return makeNotebook([
    { type: "markdown", id: "intro", locked: true, source: "Intro" },
    {
      id: "sol",
      solution: true,
      source: "function f() {\n  // BEGIN SOLUTION\n  return 1;\n  // END SOLUTION\n}",
    },
    {
      id: "test_f",
      grade: true,
      points: 2,
      source: "check(f())\n// BEGIN HIDDEN TESTS\nhidden(f)\n// END HIDDEN TESTS",
    },
    {
      type: "markdown",
      id: "essay",
      grade: true,
      solution: true,
      points: 3,
      source: "BEGIN SOLUTION\nx\nEND SOLUTION",
    },
  ]);
}

function student(edit: (nb: Notebook) => void): { src: Notebook; rel: Notebook; sub: Notebook } {
  const src = source();
  const rel = releaseNotebook(src);
  const sub = structuredClone(rel);
  edit(sub);
  return { src, rel, sub };
}

const byId = (nb: Notebook, id: string) => nb.cells.find((c) => c.metadata.nbgrader?.grade_id === id)!;

describe("merge", () => {
  it("takes solution cells from the submission and tests (with hidden parts) from the source", () => {
    const { src, rel, sub } = student((nb) => {
      byId(nb, "sol").source = "function f() { return 2; }";
      byId(nb, "essay").source = "Because.";
    });
    const m = mergeSubmission(src, rel, sub);
    expect(m.notebook.cells.map(sourceText)).toEqual([
      "Intro",
      "function f() { return 2; }",
      "check(f())\n// BEGIN HIDDEN TESTS\nhidden(f)\n// END HIDDEN TESTS",
      "Because.",
    ]);
    expect(m.cells.map((c) => [c.kind, c.tampered, c.missing, c.unanswered])).toEqual([
      ["locked", false, false, false],
      ["solution", false, false, false],
      ["test", false, false, false],
      ["manual", false, false, false],
    ]);
  });

  it("restores and flags an edited test cell", () => {
    const { src, rel, sub } = student((nb) => {
      byId(nb, "test_f").source = "// all good";
    });
    const m = mergeSubmission(src, rel, sub);
    expect(sourceText(m.notebook.cells[2]!)).toContain("hidden(f)");
    expect(m.cells[2]!.tampered).toBe(true);
    expect(m.cells[2]!.notes.join()).toMatch(/restored from the source/);
  });

  it("flags a test cell whose points were changed", () => {
    const { src, rel, sub } = student((nb) => {
      byId(nb, "test_f").metadata.nbgrader!.points = 200;
    });
    const m = mergeSubmission(src, rel, sub);
    expect(m.cells[2]!.tampered).toBe(true);
    expect(m.cells[2]!.maxPoints).toBe(2);
  });

  it("marks deleted and renamed graded cells as missing and keeps the student's own cells", () => {
    const { src, rel, sub } = student((nb) => {
      byId(nb, "test_f").metadata.nbgrader!.grade_id = "my_test";
      nb.cells.splice(1, 1); // the solution cell is deleted
      nb.cells.splice(1, 0, {
        cell_type: "code",
        source: "const helper = 1;",
        metadata: {},
        outputs: [],
        execution_count: 3,
      });
    });
    const m = mergeSubmission(src, rel, sub);
    // As nbgrader: the renamed cell runs as the student's own, no stub replaces the solution.
    expect(m.notebook.cells.map(sourceText)).toEqual([
      "Intro",
      "const helper = 1;",
      "check(f())",
      "check(f())\n// BEGIN HIDDEN TESTS\nhidden(f)\n// END HIDDEN TESTS",
      "YOUR ANSWER HERE",
    ]);
    expect(m.cells.map((c) => c.kind)).toEqual(["locked", "student", "student", "test", "manual"]);
    expect(m.cells[3]!.missing).toBe(true);
    expect(m.notes).toEqual([
      expect.stringMatching(/grade_id "my_test" is not in the assignment; the cell was kept/),
      expect.stringMatching(/solution cell "sol" is not in the submission .* nothing was put in its place/),
    ]);
    const c = m.notebook.cells[1]!;
    expect(c.cell_type === "code" && c.execution_count).toBe(null);
  });

  it("keeps a second cell with the same id as an ordinary cell after the first", () => {
    const { src, rel, sub } = student((nb) => {
      const copy = structuredClone(byId(nb, "sol"));
      copy.source = "second";
      byId(nb, "sol").source = "first";
      nb.cells.push(copy);
    });
    const m = mergeSubmission(src, rel, sub);
    expect(sourceText(m.notebook.cells[1]!)).toBe("first");
    expect(m.notebook.cells.map(sourceText)).toContain("second");
    expect(m.cells.find((c) => c.index === m.notebook.cells.map(sourceText).indexOf("second"))!.kind).toBe(
      "student",
    );
    expect(m.notes.join()).toMatch(/second cell with grade_id "sol" was kept as an ordinary cell/);
  });
});

describe("scoring (nbgrader's rules)", () => {
  const info: MergedCell = {
    index: 0,
    kind: "test",
    gradeId: "t",
    maxPoints: 4,
    missing: false,
    tampered: false,
    unanswered: false,
    notes: [],
  };
  const run = (outcome: RunOutcome) => ({ index: 0, ...outcome });

  it("gives full points to a clean cell", () => {
    const r = scoreCell(info, run(fakeKernel("FAKE_PRINT(ok)")), 10);
    expect([r.points, r.status, r.output]).toEqual([4, "passed", "ok"]);
  });
  it("gives 0 for an error, naming it", () => {
    const r = scoreCell(info, run(fakeKernel("FAKE_ERROR(bad shape)")), 10);
    expect([r.points, r.status, r.reason]).toEqual([0, "failed", "raised Error: bad shape"]);
  });
  it("gives 0 for any stderr output", () => {
    const r = scoreCell(info, run(fakeKernel("FAKE_STDERR(warning) FAKE_VALUE(4)")), 10);
    expect([r.points, r.reason]).toEqual([0, expect.stringMatching(/stderr/)]);
  });
  it("gives partial credit for a numeric value, capped to the cell's points", () => {
    expect(scoreCell(info, run(fakeKernel("FAKE_VALUE(1.5)")), 10)).toMatchObject({
      points: 1.5,
      status: "partial",
    });
    expect(scoreCell(info, run(fakeKernel("FAKE_VALUE(9)")), 10)).toMatchObject({
      points: 4,
      status: "passed",
      reason: expect.stringMatching(/capped from 9/),
    });
    expect(scoreCell(info, run(fakeKernel("FAKE_VALUE(-1)")), 10).points).toBe(0);
    expect(scoreCell(info, run(fakeKernel("FAKE_VALUE(0)")), 10).status).toBe("failed");
    expect(scoreCell(info, run(fakeKernel("FAKE_VALUE('done')")), 10).points).toBe(4);
  });
  it("reads numbers from text/plain only", () => {
    const out = (t: string) => [
      { output_type: "execute_result" as const, data: { "text/plain": t }, metadata: {}, execution_count: 1 },
    ];
    expect(partialCredit(out("2.5e-1"))).toBe(0.25);
    expect(partialCredit(out("\u001b[33m3\u001b[39m"))).toBe(3);
    expect(partialCredit(out("[ 1, 2 ]"))).toBe(undefined);
    expect(partialCredit(out("NaN"))).toBe(undefined);
  });
  it("explains timeouts, kernel deaths and cells that did not run", () => {
    expect(scoreCell(info, run(fakeKernel("FAKE_HANG")), 7).reason).toBe(
      "timed out after 7 s and was interrupted",
    );
    expect(scoreCell(info, run(fakeKernel("FAKE_DIE")), 7).reason).toMatch(/kernel died/);
    expect(
      scoreCell(
        info,
        { index: 0, status: "not-run", outputs: [], executionCount: null, message: "not run: x" },
        7,
      ).reason,
    ).toBe("not run: x");
  });
  it("lists manually graded answers, and gives 0 to an unchanged one", () => {
    const manual = { ...info, kind: "manual" as const };
    expect(scoreCell(manual, undefined, 1)).toMatchObject({ points: null, status: "needs-manual-grading" });
    expect(scoreCell({ ...manual, unanswered: true }, undefined, 1)).toMatchObject({ points: 0 });
  });
  it("gives 0 to a missing cell even though it ran", () => {
    const r = scoreCell({ ...info, missing: true, notes: ["cell is missing"] }, run(fakeKernel("")), 1);
    expect([r.points, r.reason]).toEqual([0, "cell is missing"]);
  });
});

describe("running cells in a session", () => {
  const nb = makeNotebook([
    { source: "FAKE_PRINT(a)" },
    { source: "FAKE_ERROR(x)" },
    { type: "markdown", source: "text" },
    { source: "FAKE_HANG" },
    { source: "FAKE_PRINT(after hang)" },
    { source: "FAKE_DIE" },
    { source: "FAKE_PRINT(never)" },
  ]);
  const session = { run: async (code: string) => fakeKernel(code), shutdown: async () => {} };

  it("continues after errors and recovered timeouts and stops after a kernel death", async () => {
    const r = await runCellsInSession(session, nb, 5);
    expect(r.cells.map((c) => [c.index, c.status])).toEqual([
      [0, "ok"],
      [1, "error"],
      [3, "timeout"],
      [4, "ok"],
      [5, "kernel-died"],
      [6, "not-run"],
    ]);
    expect(r.cells[5]!.message).toBe("not run: the kernel died in cell 5");
  });

  it("stops after a timeout the kernel does not recover from", async () => {
    const stuck = makeNotebook([{ source: "FAKE_STUCK" }, { source: "FAKE_PRINT(x)" }]);
    const r = await runCellsInSession(session, stuck, 5);
    expect(r.cells.map((c) => c.status)).toEqual(["timeout", "not-run"]);
    expect(r.cells[1]!.message).toMatch(/did not recover from the timeout in cell 0/);
  });

  it("scores a notebook: graded cells and problems in other cells", async () => {
    const src = makeNotebook([
      { id: "sol", solution: true, source: "FAKE_ERROR(SyntaxError)" },
      { id: "t1", grade: true, points: 1, source: "FAKE_PRINT(ok)" },
      { id: "t2", grade: true, points: 2, source: "FAKE_VALUE(0.5)" },
    ]);
    const m = mergeSubmission(src, releaseNotebook(src), src);
    const ex = await runCellsInSession(session, m.notebook, 5);
    const s = scoreNotebook(m.cells, ex.cells, 5);
    expect([s.score, s.maxScore, s.manualMax]).toEqual([1.5, 3, 0]);
    expect(s.problems).toEqual([expect.objectContaining({ index: 0, id: "sol", execution: "error" })]);
  });
});

describe("collecting outputs", () => {
  it("joins stream chunks", async () => {
    const { appendOutput } = await import("../../src/grading/executor.js");
    const outs: Parameters<typeof appendOutput>[0] = [];
    appendOutput(outs, { output_type: "stream", name: "stdout", text: "a" });
    appendOutput(outs, { output_type: "stream", name: "stdout", text: "b" });
    appendOutput(outs, { output_type: "stream", name: "stderr", text: "c" });
    expect(outs).toEqual([
      { output_type: "stream", name: "stdout", text: "ab" },
      { output_type: "stream", name: "stderr", text: "c" },
    ]);
  });

  it("caps a cell's and a notebook's output with an error in the cell, not a crash", async () => {
    const { OutputBudget } = await import("../../src/grading/executor.js");
    const budget = new OutputBudget(1000, 2500);
    const flood = budget.cell();
    for (let i = 0; i < 10; i++) flood.add({ output_type: "stream", name: "stdout", text: "x".repeat(300) });
    const out = flood.final();
    expect(out[0]).toEqual({ output_type: "stream", name: "stdout", text: "x".repeat(900) });
    expect(out[1]).toMatchObject({ output_type: "error", ename: "OutputLimitError" });
    expect(String((out[1] as { evalue: string }).evalue)).toMatch(
      /cell's output exceeded .* 1000 characters/,
    );
    const fine = budget.cell();
    fine.add({ output_type: "stream", name: "stdout", text: "y".repeat(900) });
    expect(fine.final()).toHaveLength(1);
    const late = budget.cell();
    late.addOversized(800);
    expect(late.final()[0]).toMatchObject({ ename: "OutputLimitError" });
    expect(String((late.final()[0] as { evalue: string }).evalue)).toMatch(/notebook's output exceeded/);
  });
});
