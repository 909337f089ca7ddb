/**
 * The Jupyter-server executor against a real `jupyter server` with Debian's python3 kernel: the
 * protocol paths (timeout and interrupt, kernel death, stderr, partial credit, working folder) do
 * not depend on the kernel's language. The cnnlab kernel is exercised in e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { autograde } from "../../src/grading/autograde.js";
import { releaseNotebook } from "../../src/grading/assign.js";
import { serializeNotebook, type Notebook } from "../../src/grading/notebook.js";
import { makeNotebook } from "./helpers.js";
import { jupyterAvailable, requireOrSkip, startJupyterServer, type RunningServer } from "./jupyter-server.js";

const available = requireOrSkip(jupyterAvailable(), "jupyter server (Debian: python3-jupyter-server)");

const SOURCE = makeNotebook(
  [
    { id: "setup", locked: true, source: "import os, sys\nstarted_in = sorted(os.listdir('.'))" },
    {
      id: "answer",
      solution: true,
      source: "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
    },
    {
      id: "test_answer",
      grade: true,
      points: 2,
      source:
        "assert answer() == 42\n### BEGIN HIDDEN TESTS\nassert answer() + 1 == 43\n### END HIDDEN TESTS",
    },
    { id: "test_folder", grade: true, points: 1, source: "assert started_in == ['hw.ipynb'], started_in" },
    { id: "test_partial", grade: true, points: 4, source: "1.5 if answer() == 42 else 0" },
    { id: "test_quiet", grade: true, points: 1, source: "print('fine')" },
    { id: "test_last", grade: true, points: 1, source: "assert answer() == 42" },
  ],
  "python",
);
SOURCE.metadata.kernelspec = { name: "python3", display_name: "Python 3", language: "python" };

function sub(answer: string): Notebook {
  const nb = releaseNotebook(SOURCE);
  nb.cells[1]!.source = answer;
  return nb;
}

describe.runIf(available)("grading on a Jupyter server (python3 kernel)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startJupyterServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("grades correct, stderr, infinite loop and crashing submissions", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-server-grade-"));
    const source = path.join(dir, "hw.ipynb");
    await writeFile(source, serializeNotebook(SOURCE));
    const files: string[] = [];
    const subs: Record<string, Notebook> = {
      good: sub("def answer():\n    return 42"),
      noisy: sub("def answer():\n    sys.stderr.write('debug\\n')\n    return 42"),
      loop: sub("def answer():\n    while True:\n        pass"),
      crash: sub("def answer():\n    os._exit(1)"),
    };
    for (const [name, nb] of Object.entries(subs)) {
      const f = path.join(dir, "subs", name, "hw.ipynb");
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, serializeNotebook(nb));
      files.push(f);
    }
    const s = await autograde({
      submissions: files,
      source,
      out: path.join(dir, "out"),
      server: server.url,
      token: server.token,
      kernelName: "python3",
      timeoutSeconds: 3,
      jobs: 2,
    });
    const by = Object.fromEntries(s.results.map((r) => [r.student, r]));
    expect(s.results.map((r) => [r.student, r.status, r.error])).toEqual([
      ["good", "graded", undefined],
      ["noisy", "graded", undefined],
      ["loop", "graded", undefined],
      ["crash", "graded", undefined],
    ]);
    const pts = (name: string) => Object.fromEntries(by[name]!.cells.map((c) => [c.id, c.points]));
    // Full marks: 2 + 1 + 1.5 (the partial-credit cell's value) + 1 + 1.
    expect(pts("good")).toEqual({
      test_answer: 2,
      test_folder: 1,
      test_partial: 1.5,
      test_quiet: 1,
      test_last: 1,
    });
    expect(by.good!.score).toBe(6.5);
    // Writing to stderr zeroes every test that calls answer().
    expect(pts("noisy")).toEqual({
      test_answer: 0,
      test_folder: 1,
      test_partial: 0,
      test_quiet: 1,
      test_last: 0,
    });
    expect(by.noisy!.cells[0]!.reason).toMatch(/stderr/);
    // Each call times out after 3 s, is interrupted, and the kernel goes on.
    expect(pts("loop")).toEqual({
      test_answer: 0,
      test_folder: 1,
      test_partial: 0,
      test_quiet: 1,
      test_last: 0,
    });
    expect(by.loop!.cells[0]!).toMatchObject({
      execution: "timeout",
      reason: "timed out after 3 s and was interrupted",
    });
    expect(by.loop!.cells[0]!.output).toMatch(/KeyboardInterrupt/);
    // The kernel dies in test_answer; nothing after it runs.
    expect(pts("crash")).toEqual({
      test_answer: 0,
      test_folder: 0,
      test_partial: 0,
      test_quiet: 0,
      test_last: 0,
    });
    expect(by.crash!.cells.map((c) => c.execution)).toEqual([
      "kernel-died",
      "not-run",
      "not-run",
      "not-run",
      "not-run",
    ]);
    // The server's folder is left clean.
    expect((await readdir(server.rootDir)).filter((f) => f.startsWith("cnnlab-grade-"))).toEqual([]);
  }, 120_000);
});
