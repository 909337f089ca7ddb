/**
 * The batch case of the grading issue: twenty submissions, nasty ones mixed in, graded at
 * --jobs 2 with the real cnnlab kernel in its sandbox. Every honest student keeps full marks
 * (whatever the file is called or in which nbformat), every student has a row, and nothing of
 * any submission is left running or on disk afterwards.
 */
import { describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { autograde } from "../../src/grading/autograde.js";
import { liveKernelCount } from "../../src/grading/executors/kernel-process.js";
import { serializeNotebook } from "../../src/grading/notebook.js";
import type { SubmissionResult } from "../../src/grading/report.js";
import {
  FULL_MARKS,
  HONEST,
  kernelBuilt,
  processesWith,
  sandboxAvailable,
  submission,
  writeBatch,
} from "./tiny-assignment.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.runIf(kernelBuilt && sandboxAvailable)("a batch with nasty submissions at --jobs 2", () => {
  it("keeps every honest grade, writes every row and leaves nothing behind", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "cnnlab-batch-"));
    const out = path.join(root, "out");
    const nasty = {
      snooper: `import * as fs from "node:fs";
for (const p of fs.readdirSync("/proc").filter((n) => /^\\d+$/.test(n)).map(Number)) if (p !== process.pid) { try { process.kill(p, "SIGSTOP"); } catch {} }`,
      escaper: `import { spawn } from "node:child_process";
spawn(process.execPath, ["-e", 'setTimeout(() => { try { require("fs").writeFileSync(${JSON.stringify(path.join(out, "h02", "result.json"))}, "{}"); } catch {} }, 1500); for (;;) {}', "cnnlab-batch-marker"], { detached: true, stdio: "ignore" }).unref();`,
      hog: `const keep: Float64Array[] = [];
for (let i = 0; i < 12; i++) { const a = new Float64Array(2 ** 24); a.fill(1); keep.push(a); }`,
      flooder: `for (let i = 0; i < 100000; i++) console.log("flood " + i + " ".repeat(90));`,
      exiter: "process.exit(0);",
      looper: "for (;;) {}",
    };
    const subs: Record<string, ReturnType<typeof submission>> = {};
    for (let i = 1; i <= 10; i++) subs[`h${String(i).padStart(2, "0")}`] = submission(HONEST);
    for (const [name, cell] of Object.entries(nasty)) subs[name] = submission(HONEST, [cell]);
    const b = await writeBatch(subs, root);
    // three more honest students: a name already taken, a file named grades.csv.ipynb, nbformat 3;
    // and a file that is not a notebook
    const extra = async (rel: string, text: string): Promise<string> => {
      const f = path.join(root, "more", rel);
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, text);
      return f;
    };
    const v4 = submission(HONEST);
    const v3 = {
      nbformat: 3,
      nbformat_minor: 0,
      metadata: v4.metadata,
      worksheets: [
        {
          cells: v4.cells.map((c) =>
            c.cell_type === "code"
              ? { cell_type: "code", input: c.source, metadata: c.metadata, outputs: [] }
              : { cell_type: c.cell_type, source: c.source, metadata: c.metadata },
          ),
        },
      ],
    };
    const files = [
      ...b.files,
      await extra("again/h01.ipynb", serializeNotebook(submission(HONEST))),
      await extra("grades.csv.ipynb", serializeNotebook(submission(HONEST))),
      await extra("old.ipynb", JSON.stringify(v3)),
      await extra("broken.ipynb", '{"cells": ['),
    ];
    expect(files).toHaveLength(20);

    const tmp = await mkdtemp(path.join(os.tmpdir(), "cnnlab-batch-tmp-"));
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let results: SubmissionResult[];
    try {
      const s = await autograde({
        submissions: files,
        source: b.source,
        out,
        jobs: 2,
        cores: 2,
        timeoutSeconds: 8,
        memoryMb: 400,
      });
      results = s.results;
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }

    const score = Object.fromEntries(results.map((r) => [r.student, r.score]));
    const honest = [
      ...Array.from({ length: 10 }, (_, i) => `h${String(i + 1).padStart(2, "0")}`),
      "h01-2",
      "grades.csv-2",
      "old",
    ];
    for (const name of honest) expect({ name, score: score[name] }).toEqual({ name, score: FULL_MARKS });
    expect(score).toMatchObject({ hog: 0, broken: 0 });
    // process.exit ends the kernel (now or after the cell's reply): the cell is reported
    const exiter = results.find((r) => r.student === "exiter")!;
    expect(["error", "kernel-died"]).toContain(exiter.problems[0]?.execution);
    // the looping cell is interrupted and the kernel recovers: the tests after it still pass
    const looper = results.find((r) => r.student === "looper")!;
    expect([looper.score, looper.problems.map((p) => p.execution)]).toEqual([FULL_MARKS, ["timeout"]]);
    const flooder = results.find((r) => r.student === "flooder")!;
    expect([flooder.score, flooder.problems[0]?.output]).toEqual([
      FULL_MARKS,
      expect.stringMatching(/OutputLimitError/),
    ]);
    const rows = (await readFile(path.join(out, "grades.csv"), "utf8")).trim().split("\n").slice(1);
    expect(rows.map((r) => r.split(",")[0]).sort()).toEqual(results.map((r) => r.student).sort());
    expect(rows).toHaveLength(20);

    // Nothing left running or on disk, and nothing changes the results afterwards.
    expect(liveKernelCount()).toBe(0);
    expect(await processesWith("cnnlab-batch-marker")).toEqual([]);
    expect(await processesWith(tmp)).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
    await sleep(2000);
    const h02 = JSON.parse(await readFile(path.join(out, "h02", "result.json"), "utf8")) as SubmissionResult;
    expect(h02.score).toBe(FULL_MARKS);
  }, 300_000);
});
