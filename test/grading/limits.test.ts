/**
 * Limits (issue observations 6 and 7 and "every student gets a row"): output floods, memory held
 * outside the JavaScript heap or by a child process, and messages that arrive after their cell,
 * each with its own small submission, graded with the real cnnlab kernel.
 */
import { describe, expect, it } from "vitest";
import { readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { autograde } from "../../src/grading/autograde.js";
import { LocalExecutor } from "../../src/grading/executors/local.js";
import { FULL_MARKS, HONEST, kernelBuilt, processesWith, submission, writeBatch } from "./tiny-assignment.js";

describe.runIf(kernelBuilt)("grader limits", () => {
  it("caps output per cell, bounds the memory of the kernel's whole process tree, and always writes every row", async () => {
    // 20 MB printed by one cell: that cell fails saying so, the tests still run.
    const flood = `for (let i = 0; i < 200000; i++) console.log("flood " + i + " ".repeat(90));`;
    // 1.5 GB of typed arrays (outside the heap that --max-old-space-size caps).
    const arrays = `const keep: Float64Array[] = [];
for (let i = 0; i < 12; i++) { const a = new Float64Array(2 ** 24); a.fill(1); keep.push(a); }
console.log("allocated", keep.length);`;
    // A child process of the kernel that keeps allocating.
    const child = `import { spawn } from "node:child_process";
spawn(process.execPath, ["-e", "const k = []; setInterval(() => k.push(Buffer.alloc(64 << 20, 1)), 50);", "cnnlab-hog-marker"], { detached: true, stdio: "ignore" }).unref();
await new Promise((r) => setTimeout(r, 20000));`;
    const subs = {
      flooder: submission(HONEST, [flood]),
      arrays: submission(HONEST, [arrays]),
      hog: submission(HONEST, [child]),
      honest: submission(HONEST),
      broken: submission(HONEST),
    };
    const b = await writeBatch(subs);
    // a file that is not a notebook still gets its row
    const { writeFile } = await import("node:fs/promises");
    await writeFile(b.files[4]!, "{ not json");
    const s = await autograde({
      submissions: b.files,
      source: b.source,
      out: b.out,
      jobs: 2,
      cores: 2,
      timeoutSeconds: 60,
      memoryMb: 300,
      executor: new LocalExecutor({ memoryCheckMs: 100 }),
    });
    const by = Object.fromEntries(s.results.map((r) => [r.student, r]));

    expect(by.flooder!.score).toBe(FULL_MARKS);
    expect(by.flooder!.problems).toEqual([
      expect.objectContaining({
        kind: "student",
        execution: "error",
        output: expect.stringMatching(/OutputLimitError/),
      }),
    ]);
    expect((await stat(path.join(b.out, "flooder", "doubling.ipynb"))).size).toBeLessThan(3_000_000);

    for (const name of ["arrays", "hog"]) {
      const r = by[name]!;
      expect([name, r.status, r.score]).toEqual([name, "graded", 0]);
      expect(r.problems[0]).toMatchObject({ kind: "student", execution: "kernel-died" });
      expect(r.problems[0]!.message).toMatch(/more than the --memory limit of 300 MB/);
      expect(r.cells.map((c) => c.execution)).toEqual(["not-run", "not-run"]);
    }
    expect(await processesWith("cnnlab-hog-marker")).toEqual([]);

    expect(by.honest!.score).toBe(FULL_MARKS);
    expect(by.broken).toMatchObject({ status: "error", error: expect.stringMatching(/not valid JSON/) });
    const rows = (await readFile(s.csv, "utf8")).trim().split("\n").slice(1);
    expect(rows.map((r) => r.split(",")[0]).sort()).toEqual(Object.keys(subs).sort());
  }, 240_000);
});

describe("outputs are charged to the cell named by their parent header", () => {
  it("a message of an earlier cell arriving during a later one costs neither", async () => {
    const { mkdtemp, writeFile: write } = await import("node:fs/promises");
    const os = await import("node:os");
    const { makeNotebook } = await import("./helpers.js");
    const { releaseNotebook } = await import("../../src/grading/assign.js");
    const { serializeNotebook } = await import("../../src/grading/notebook.js");
    const source = makeNotebook(
      [
        { id: "answer", solution: true, source: "### BEGIN SOLUTION\nLATE\n### END SOLUTION" },
        { id: "test_slow", grade: true, points: 1, source: "SLOW" },
      ],
      "python",
    );
    const dir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-late-"));
    await write(path.join(dir, "late.ipynb"), serializeNotebook(source));
    const sub = releaseNotebook(source);
    sub.cells[0]!.source = "LATE";
    await write(path.join(dir, "student.ipynb"), serializeNotebook(sub));
    const kernel = path.resolve("test/fixtures/grading/late-kernel.mjs");
    const s = await autograde({
      submissions: [path.join(dir, "student.ipynb")],
      source: path.join(dir, "late.ipynb"),
      out: path.join(dir, "out"),
      timeoutSeconds: 20,
      executor: new LocalExecutor({ argv: [process.execPath, kernel, "{connection_file}"] }),
    });
    const r = s.results[0]!;
    expect(r.cells.map((c) => [c.id, c.points, c.output])).toEqual([["test_slow", 1, ""]]);
  }, 60_000);
});
