/**
 * No lost code and nothing left behind (issue observations 8 and 10), with the real cnnlab kernel:
 * solution cells whose tracking changed keep the student's code (nbgrader's rules), and an
 * interrupted grader leaves no kernel, child process or temporary folder behind.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtemp, readdir } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { autograde } from "../../src/grading/autograde.js";
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

describe.runIf(kernelBuilt)("a solution cell that lost its tracking keeps the student's code", () => {
  it("changed grade_id, removed metadata, answer in a duplicated cell: full marks each", async () => {
    const solutionCell = (nb: ReturnType<typeof submission>) =>
      nb.cells.find((c) => c.metadata.nbgrader?.grade_id === "double")!;
    const renamed = submission(HONEST);
    solutionCell(renamed).metadata.nbgrader!.grade_id = "my_double";
    const untracked = submission(HONEST);
    delete solutionCell(untracked).metadata.nbgrader;
    const duplicated = submission(HONEST);
    const copy = structuredClone(solutionCell(duplicated));
    solutionCell(duplicated).source =
      'function double(x: number): number {\n  throw new Error("not implemented");\n}';
    duplicated.cells.splice(duplicated.cells.indexOf(solutionCell(duplicated)) + 1, 0, copy);
    const b = await writeBatch({ renamed, untracked, duplicated });
    const s = await autograde({ submissions: b.files, source: b.source, out: b.out, jobs: 2, cores: 2 });
    expect(s.results.map((r) => [r.student, r.score])).toEqual([
      ["renamed", FULL_MARKS],
      ["untracked", FULL_MARKS],
      ["duplicated", FULL_MARKS],
    ]);
    expect(s.results[0]!.notes.join("\n")).toMatch(/"my_double" is not in the assignment; the cell was kept/);
  }, 120_000);
});

describe.runIf(kernelBuilt && sandboxAvailable)("an interrupted or killed grader", () => {
  it.each(["SIGINT", "SIGKILL"] as const)(
    "%s: every kernel and what it started is killed",
    async (signal) => {
      // A kernel that ignores SIGTERM and spins, with a detached child spinning too.
      const busy = `import { spawn } from "node:child_process";
process.on("SIGTERM", () => {});
spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); for (;;) {}", "cnnlab-busy-marker"], { detached: true, stdio: "ignore" }).unref();
for (;;) {}`;
      const b = await writeBatch({ busy1: submission(HONEST, [busy]), busy2: submission(HONEST, [busy]) });
      const tmp = await mkdtemp(path.join(os.tmpdir(), "cnnlab-sigint-"));
      const cli = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "grade",
          "autograde",
          ...b.files,
          "--source",
          b.source,
          "--out",
          b.out,
          "--jobs",
          "2",
        ],
        { env: { ...process.env, TMPDIR: tmp }, stdio: ["ignore", "pipe", "pipe"] },
      );
      const exited = new Promise<NodeJS.Signals | number | null>((r) =>
        cli.once("exit", (c, s) => r(s ?? c)),
      );
      const deadline = Date.now() + 90_000;
      while ((await processesWith("cnnlab-busy-marker")).length < 2) {
        if (Date.now() > deadline) throw new Error("the busy submissions did not start");
        await sleep(200);
      }
      cli.kill(signal);
      expect(await exited).toBe(signal);
      // After SIGKILL the sandboxes go by themselves (bwrap --die-with-parent): give them a moment.
      for (let i = 0; i < 50 && (await processesWith("cnnlab-busy-marker")).length > 0; i++) await sleep(100);
      expect(await processesWith("cnnlab-busy-marker")).toEqual([]);
      expect(await processesWith(tmp)).toEqual([]); // no kernel or sandbox of this run
      if (signal === "SIGINT") {
        // an interrupted grader also removes its temporary folders (tsx keeps a cache here)
        expect((await readdir(tmp)).filter((f) => f.startsWith("cnnlab-"))).toEqual([]);
      }
    },
    150_000,
  );
});
