import { describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, readdir, writeFile, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  autograde,
  feedback,
  studentName,
  threadsPerKernel,
  uniqueNames,
} from "../../src/grading/autograde.js";
import { releaseNotebook } from "../../src/grading/assign.js";
import { FakeExecutor } from "../../src/grading/executors/fake.js";
import type { NotebookExecutor, RunOutcome } from "../../src/grading/executor.js";
import { serializeNotebook, sourceText, type Notebook } from "../../src/grading/notebook.js";
import type { GradescopeResults, SubmissionResult } from "../../src/grading/report.js";
import { fakeKernel, makeNotebook } from "./helpers.js";

const SOURCE = makeNotebook([
  { type: "markdown", id: "intro", locked: true, source: "Implement f." },
  { id: "f", solution: true, source: "// BEGIN SOLUTION\nFAKE_PRINT(f defined)\n// END SOLUTION" },
  {
    id: "test_f",
    grade: true,
    points: 3,
    source: "FAKE_PRINT(visible test)\n// BEGIN HIDDEN TESTS\nSECRET_HIDDEN_CHECK\n// END HIDDEN TESTS",
  },
  { id: "g", solution: true, source: "// BEGIN SOLUTION\nFAKE_PRINT(g defined)\n// END SOLUTION" },
  { id: "test_g", grade: true, points: 2, source: "FAKE_VALUE(2)" },
  {
    type: "markdown",
    id: "essay",
    grade: true,
    solution: true,
    points: 5,
    source: "BEGIN SOLUTION\nyes\nEND SOLUTION",
  },
]);

/** Fill a student copy's solution cells. */
function submission(answers: Record<string, string>, edit?: (nb: Notebook) => void): Notebook {
  const nb = releaseNotebook(SOURCE);
  for (const c of nb.cells) {
    const id = c.metadata.nbgrader?.grade_id;
    if (id !== undefined && answers[id] !== undefined) c.source = answers[id]!;
  }
  edit?.(nb);
  return nb;
}

async function setup(): Promise<{ dir: string; source: string; out: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-autograde-"));
  const source = path.join(dir, "source", "hw1.ipynb");
  await mkdir(path.dirname(source), { recursive: true });
  await writeFile(source, serializeNotebook(SOURCE));
  return { dir, source, out: path.join(dir, "out") };
}

async function put(dir: string, rel: string, content: string | Notebook): Promise<string> {
  const file = path.join(dir, "subs", rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof content === "string" ? content : serializeNotebook(content));
  return file;
}

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, "utf8")) as T;

describe("student names", () => {
  it("uses the file name, or the folder when the file is named like the assignment", () => {
    expect(studentName("/x/subs/alice.ipynb", "/src/hw1.ipynb")).toBe("alice");
    expect(studentName("/x/subs/bob/hw1.ipynb", "/src/hw1.ipynb")).toBe("bob");
    expect(studentName("/x/subs/bob/other.ipynb", "/src/hw1.ipynb")).toBe("other");
  });
  it("shares the cores between kernels", () => {
    expect([threadsPerKernel(8, 1), threadsPerKernel(8, 3), threadsPerKernel(2, 4)]).toEqual([8, 2, 1]);
  });
});

describe("autograde with a fake kernel", () => {
  it("grades every submission, whatever it is, and writes all outputs", async () => {
    const { dir, source, out } = await setup();
    const files = [
      await put(
        dir,
        "alice.ipynb",
        submission({ f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)", essay: "Because." }),
      ),
      await put(dir, "bob/hw1.ipynb", submission({ f: "FAKE_ERROR(SyntaxError: ';' expected)" })),
      await put(
        dir,
        "carol.ipynb",
        submission({ f: "FAKE_PRINT(f)", g: "FAKE_DIE" }, (nb) => {
          const t = nb.cells.find((c) => c.metadata.nbgrader?.grade_id === "test_f")!;
          t.source = "// trust me";
        }),
      ),
      await put(dir, "dan.ipynb", '{"nbformat": 4, "cells": [ {"cell_t'),
      await put(dir, "erin.ipynb", "[1, 2, 3]"),
      await put(
        dir,
        "frank.ipynb",
        submission({ f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" }, (nb) => {
          nb.cells = nb.cells.filter((c) => c.metadata.nbgrader?.grade_id !== "test_g");
        }),
      ),
    ];
    const executor = new FakeExecutor((code) => fakeKernel(code));
    const seen: string[] = [];
    const summary = await autograde({
      submissions: files,
      source,
      out,
      timeoutSeconds: 9,
      executor,
      onResult: (r) => seen.push(r.student),
    });
    const by = Object.fromEntries(summary.results.map((r) => [r.student, r]));
    expect(Object.keys(by).sort()).toEqual(["alice", "bob", "carol", "dan", "erin", "frank"]);
    expect(seen.sort()).toEqual(["alice", "bob", "carol", "dan", "erin", "frank"]);

    // alice: 3 + 2 (test_g's value is 2 of 2); the essay awaits manual grading.
    expect([by.alice!.status, by.alice!.score, by.alice!.maxScore, by.alice!.manualMax]).toEqual([
      "graded",
      5,
      10,
      5,
    ]);
    // bob: f raised, but the fake tests do not depend on it; g is the stub (raises); essay unanswered.
    expect(by.bob!.score).toBe(5);
    expect(by.bob!.cells.find((c) => c.id === "essay")).toMatchObject({ points: 0, status: "failed" });
    expect(by.bob!.problems.map((p) => [p.id, p.execution])).toEqual([
      ["f", "error"],
      ["g", "error"],
    ]);
    // carol: tampered test restored (and passes here), kernel died in g, test_g not run.
    const carolF = by.carol!.cells.find((c) => c.id === "test_f")!;
    expect([carolF.points, carolF.tampered, carolF.reason]).toEqual([
      3,
      true,
      expect.stringMatching(/restored/),
    ]);
    expect(by.carol!.cells.find((c) => c.id === "test_g")).toMatchObject({
      points: 0,
      execution: "not-run",
      reason: "not run: the kernel died in cell 3",
    });
    // dan and erin: not notebooks.
    expect(by.dan).toMatchObject({
      status: "error",
      score: 0,
      maxScore: 10,
      error: expect.stringMatching(/not valid JSON/),
    });
    expect(by.erin).toMatchObject({ status: "error", error: expect.stringMatching(/not a notebook/) });
    // frank deleted test_g: 0 for it with the reason.
    expect(by.frank!.cells.find((c) => c.id === "test_g")).toMatchObject({
      points: 0,
      missing: true,
      reason: expect.stringMatching(/missing from the submission/),
    });
    expect(by.frank!.score).toBe(3);

    // Files.
    expect((await readdir(out)).sort()).toEqual([
      "alice",
      "bob",
      "carol",
      "dan",
      "erin",
      "frank",
      "grades.csv",
    ]);
    expect((await readdir(path.join(out, "alice"))).sort()).toEqual([
      "feedback.html",
      "hw1.ipynb",
      "result.json",
      "results.json",
    ]);
    expect((await readdir(path.join(out, "dan"))).sort()).toEqual([
      "feedback.html",
      "result.json",
      "results.json",
    ]);
    const executed = await readJson<Notebook>(path.join(out, "alice", "hw1.ipynb"));
    const t = executed.cells[2]!;
    expect(sourceText(t)).toContain("SECRET_HIDDEN_CHECK");
    expect(t.cell_type === "code" && t.outputs).toEqual([
      { output_type: "stream", name: "stdout", text: "visible test\n" },
    ]);
    const gs = await readJson<GradescopeResults>(path.join(out, "carol", "results.json"));
    expect(gs.score).toBe(3);
    expect(gs.tests.map((x) => [x.name, x.score, x.max_score])).toEqual([
      ["test_f", 3, 3],
      ["test_g", 0, 2],
      ["essay", 0, 5], // unanswered: the release text is unchanged
    ]);
    const gsAlice = await readJson<GradescopeResults>(path.join(out, "alice", "results.json"));
    expect(gsAlice.tests.map((x) => x.name)).toEqual(["test_f", "test_g"]);
    expect(gsAlice.output).toMatch(/Needs manual grading \(5 points, not included here\): essay/);
    const csv = (await readFile(summary.csv, "utf8")).trim().split("\n");
    expect(csv[0]).toBe("student,status,score,max_score,manual_pending,test_f,test_g,essay,flags,error");
    expect(csv[1]).toBe("alice,graded,5,10,5,3,2,manual,,");
    expect(csv[3]).toBe("carol,graded,3,10,0,3,0,0,tampered:test_f,");
    expect(csv[4]).toMatch(/^dan,error,0,10,0,,,,,"?dan.ipynb: not valid JSON/);
    expect(csv[6]).toBe("frank,graded,3,10,0,3,0,0,missing:test_g,");
    const html = await readFile(path.join(out, "carol", "feedback.html"), "utf8");
    expect(html).toContain("Score: <strong>3</strong> / 10");
    expect(html).toContain("restored");

    // The kernel's folder held the submission only; the hidden test went in memory.
    expect(executor.calls.map((c) => c.cwdFiles)).toEqual(
      expect.arrayContaining([["alice.ipynb"], ["hw1.ipynb"], ["carol.ipynb"], ["frank.ipynb"]]),
    );
    for (const call of executor.calls) {
      expect(call.notebook.cells.map(sourceText).join()).toContain("SECRET_HIDDEN_CHECK");
      expect(call.options.kernelName).toBe("cnnlab");
      expect(call.options.timeoutSeconds).toBe(9);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("regenerates feedback from result.json", async () => {
    const { dir, source, out } = await setup();
    const file = await put(dir, "alice.ipynb", submission({ f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" }));
    await autograde({ submissions: [file], source, out, executor: new FakeExecutor(fakeKernel) });
    const resultFile = path.join(out, "alice", "result.json");
    const r = await readJson<SubmissionResult>(resultFile);
    r.student = "Alice <Liddell>";
    await writeFile(resultFile, JSON.stringify(r));
    await rm(path.join(out, "alice", "feedback.html"));
    const html = await readFile(await feedback(path.join(out, "alice")), "utf8");
    expect(html).toContain("Alice &lt;Liddell&gt;");
    await expect(feedback(path.join(out, "nobody"))).rejects.toThrow(/cannot read .*result\.json/);
    await rm(dir, { recursive: true, force: true });
  });

  it("runs --jobs kernels at once with the cores shared and the memory cap passed on", async () => {
    const { dir, source, out } = await setup();
    const files = await Promise.all(
      ["a", "b", "c", "d", "e"].map((n) => put(dir, `${n}.ipynb`, submission({ f: "FAKE_PRINT(f)" }))),
    );
    let running = 0;
    let peak = 0;
    const executor = new FakeExecutor(async (code): Promise<RunOutcome> => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return fakeKernel(code);
    });
    // Each fake execute runs its cells one at a time, so at most `jobs` cells run at once.
    await autograde({ submissions: files, source, out, executor, jobs: 2, cores: 4, memoryMb: 512 });
    expect(peak).toBe(2);
    expect(executor.calls.length).toBe(5);
    for (const c of executor.calls) {
      expect(c.options.env.CNNLAB_NUM_THREADS).toBe("2");
      expect(c.options.memoryMb).toBe(512);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("records an executor failure as an error result and goes on", async () => {
    const { dir, source, out } = await setup();
    const files = [await put(dir, "a.ipynb", submission({})), await put(dir, "b.ipynb", submission({}))];
    let n = 0;
    const flaky: NotebookExecutor = {
      name: "flaky",
      execute: async (nb, opts) => {
        if (n++ === 0) throw new Error("kernel cnnlab not found");
        return new FakeExecutor(fakeKernel).execute(nb, opts);
      },
    };
    const s = await autograde({ submissions: files, source, out, executor: flaky });
    expect(s.results.map((r) => r.status)).toEqual(["error", "graded"]);
    expect(s.results[0]!.error).toMatch(/could not be executed: kernel cnnlab not found/);
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a source with invalid metadata, naming the cell", async () => {
    const { dir, out } = await setup();
    const bad = makeNotebook([{ id: "t", grade: true, source: "x" }]);
    const file = await put(dir, "bad-source.ipynb", bad);
    await expect(
      autograde({ submissions: [], source: file, out, executor: new FakeExecutor(fakeKernel) }),
    ).rejects.toThrow(/cell 0 "t" .*grade cell has no "points"/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe("names, formats, feedback and resume (issue observations 9–11)", () => {
  it("never gives two submissions the same name, nor one the output folder uses", async () => {
    expect(uniqueNames(["x", "x-2", "x"])).toEqual(["x", "x-2", "x-3"]);
    expect(uniqueNames(["x", "x", "x-2", "x"])).toEqual(["x", "x-3", "x-2", "x-4"]);
    expect(uniqueNames(["grades.csv", "..", ""])).toEqual(["grades.csv-2", "submission", "submission-2"]);
    const { dir, source, out } = await setup();
    const answers = { f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" };
    const files = [
      await put(dir, "a/x.ipynb", submission(answers)),
      await put(dir, "b/x-2.ipynb", submission(answers)),
      await put(dir, "c/x.ipynb", submission(answers)),
      await put(dir, "grades.csv.ipynb", submission(answers)),
    ];
    const s = await autograde({ submissions: files, source, out, executor: new FakeExecutor(fakeKernel) });
    expect(s.results.map((r) => r.student)).toEqual(["x", "x-2", "x-3", "grades.csv-2"]);
    expect((await readdir(out)).sort()).toEqual(["grades.csv", "grades.csv-2", "x", "x-2", "x-3"]);
    const rows = (await readFile(s.csv, "utf8")).trim().split("\n");
    expect(rows.slice(1).map((r) => r.split(",")[0])).toEqual(["grades.csv-2", "x", "x-2", "x-3"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("converts an nbformat 3 submission, as nbgrader does", async () => {
    const { dir, source, out } = await setup();
    const v4 = submission({ f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" });
    const v3 = {
      nbformat: 3,
      nbformat_minor: 0,
      metadata: { name: "hw1" },
      worksheets: [
        {
          cells: v4.cells.map((c) =>
            c.cell_type === "code"
              ? {
                  cell_type: "code",
                  input: c.source,
                  metadata: c.metadata,
                  outputs: [],
                  language: "typescript",
                }
              : { cell_type: c.cell_type, source: c.source, metadata: c.metadata },
          ),
        },
      ],
    };
    v3.worksheets[0]!.cells.unshift({
      cell_type: "heading",
      source: "Homework",
      metadata: {},
      level: 2,
    } as never);
    const file = await put(dir, "old.ipynb", JSON.stringify(v3));
    const s = await autograde({ submissions: [file], source, out, executor: new FakeExecutor(fakeKernel) });
    expect([s.results[0]!.status, s.results[0]!.score]).toEqual(["graded", 5]);
    const { parseNotebook } = await import("../../src/grading/notebook.js");
    expect(parseNotebook(JSON.stringify(v3), "old.ipynb").cells[0]).toMatchObject({
      cell_type: "markdown",
      source: "## Homework",
    });
    await rm(dir, { recursive: true, force: true });
  });

  it("feedback recomputes the total, results.json and grades.csv after points are entered by hand", async () => {
    const { dir, source, out } = await setup();
    const answers = { f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)", essay: "my essay" };
    const files = [
      await put(dir, "alice.ipynb", submission(answers)),
      await put(dir, "bob.ipynb", submission(answers)),
    ];
    await autograde({ submissions: files, source, out, executor: new FakeExecutor(fakeKernel) });
    const resultFile = path.join(out, "alice", "result.json");
    const r = await readJson<SubmissionResult>(resultFile);
    expect([r.score, r.manualMax]).toEqual([5, 5]);
    r.cells.find((c) => c.id === "essay")!.points = 4;
    await writeFile(resultFile, JSON.stringify(r));
    await feedback(path.join(out, "alice"));
    const after = await readJson<SubmissionResult>(resultFile);
    expect([after.score, after.manualMax]).toEqual([9, 0]);
    expect(after.cells.find((c) => c.id === "essay")).toMatchObject({
      status: "partial",
      reason: "graded by hand",
    });
    expect((await readJson<GradescopeResults>(path.join(out, "alice", "results.json"))).score).toBe(9);
    expect(await readFile(path.join(out, "alice", "feedback.html"), "utf8")).toMatch(
      /<strong>9<\/strong> \/ 10/,
    );
    const csv = (await readFile(path.join(out, "grades.csv"), "utf8")).trim().split("\n");
    expect(csv[0]).toBe("student,status,score,max_score,manual_pending,test_f,test_g,essay,flags,error");
    expect(csv.slice(1)).toEqual(["alice,graded,9,10,0,3,2,4,,", "bob,graded,5,10,5,3,2,manual,,"]);
    r.cells[0]!.points = "lots" as never;
    await writeFile(resultFile, JSON.stringify(r));
    await expect(feedback(path.join(out, "alice"))).rejects.toThrow(/cell "test_f" has points "lots"/);
    await rm(dir, { recursive: true, force: true });
  });

  it("--resume keeps complete results of unchanged files and grades the rest", async () => {
    const { dir, source, out } = await setup();
    const answers = { f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" };
    const files = [
      await put(dir, "alice.ipynb", submission(answers)),
      await put(dir, "bob.ipynb", submission(answers)),
      await put(dir, "carol.ipynb", submission(answers)),
    ];
    await autograde({ submissions: files.slice(0, 2), source, out, executor: new FakeExecutor(fakeKernel) });
    // bob's result was cut short (no feedback page), alice's file did not change, carol is new
    await rm(path.join(out, "bob", "feedback.html"));
    const second = new FakeExecutor(fakeKernel);
    const s = await autograde({ submissions: files, source, out, executor: second, resume: true });
    expect(second.calls.length).toBe(2);
    expect(s.results.map((r) => [r.student, r.score])).toEqual([
      ["alice", 5],
      ["bob", 5],
      ["carol", 5],
    ]);
    // a changed file is graded again
    await writeFile(files[0]!, serializeNotebook(submission({ f: "FAKE_PRINT(f)", g: "FAKE_STDERR(g)" })));
    const third = new FakeExecutor(fakeKernel);
    const s3 = await autograde({ submissions: files, source, out, executor: third, resume: true });
    expect(third.calls.length).toBe(1);
    expect(third.calls.map((c) => sourceText(c.notebook.cells[3]!))).toEqual(["FAKE_STDERR(g)"]);
    expect((await readFile(s3.csv, "utf8")).trim().split("\n")).toHaveLength(4);
    await rm(dir, { recursive: true, force: true });
  });
});

describe("without a sandbox", () => {
  it("warns loudly, and refuses --jobs > 1 unless --unsafe-parallel", async () => {
    const { dir, source, out } = await setup();
    const file = await put(dir, "alice.ipynb", submission({ f: "FAKE_PRINT(f)", g: "FAKE_PRINT(g)" }));
    const unsandboxed = (): FakeExecutor =>
      Object.assign(new FakeExecutor(fakeKernel), { sandboxed: false, sandboxProblem: "bwrap is missing" });
    await expect(
      autograde({ submissions: [file], source, out, jobs: 2, executor: unsandboxed() }),
    ).rejects.toThrow(/cannot be sealed off here \(bwrap is missing\), so --jobs 2 .* --unsafe-parallel/);
    const warnings: string[] = [];
    const s = await autograde({
      submissions: [file],
      source,
      out,
      jobs: 2,
      unsafeParallel: true,
      executor: unsandboxed(),
      onWarning: (w) => warnings.push(w),
    });
    expect(s.results[0]!.score).toBe(5);
    expect(warnings).toEqual([
      expect.stringMatching(/^WARNING: submissions are NOT isolated \(bwrap is missing\)/),
    ]);
    await rm(dir, { recursive: true, force: true });
  });
});
