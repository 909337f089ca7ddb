/**
 * The local executor's per-cell loop (timeout → interrupt, kernel death, stderr, working folder)
 * through the kernel's zeromq client, driving Debian's python3 kernel (ipykernel) so that it runs
 * without the compiled cnnlab kernel. The cnnlab kernel itself is exercised in e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { autograde } from "../../src/grading/autograde.js";
import { releaseNotebook } from "../../src/grading/assign.js";
import { LocalExecutor } from "../../src/grading/executors/local.js";
import { serializeNotebook, type Notebook } from "../../src/grading/notebook.js";
import { makeNotebook } from "./helpers.js";
import { requireOrSkip } from "./jupyter-server.js";

const clientPresent = existsSync(path.resolve("kernel/client.ts"));
const ipykernel = spawnSync("/usr/bin/python3", ["-c", "import ipykernel"]).status === 0;
const available =
  requireOrSkip(clientPresent, "kernel/client.ts (the kernel's zeromq client)") &&
  requireOrSkip(ipykernel, "python3 ipykernel (Debian: python3-ipykernel)");

const SOURCE = makeNotebook(
  [
    {
      id: "setup",
      locked: true,
      source:
        "import os, sys\nstarted_in = sorted(os.listdir('.'))\nthreads = os.environ.get('CNNLAB_NUM_THREADS')",
    },
    {
      id: "answer",
      solution: true,
      source: "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
    },
    { id: "test_answer", grade: true, points: 2, source: "assert answer() == 42" },
    {
      id: "test_env",
      grade: true,
      points: 1,
      source: "assert started_in == ['hw.ipynb'] and threads == '1', (started_in, threads)",
    },
    { id: "test_partial", grade: true, points: 4, source: "1.5 if answer() == 42 else 0" },
    { id: "test_last", grade: true, points: 1, source: "assert answer() == 42" },
  ],
  "python",
);

function sub(answer: string): Notebook {
  const nb = releaseNotebook(SOURCE);
  nb.cells[1]!.source = answer;
  return nb;
}

describe.runIf(available)("local executor through the kernel client (python3 kernel)", () => {
  it("grades correct, stderr, infinite loop and crashing submissions with --jobs 2", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-local-grade-"));
    const source = path.join(dir, "hw.ipynb");
    await writeFile(source, serializeNotebook(SOURCE));
    const subs: Record<string, Notebook> = {
      good: sub("def answer():\n    return 42"),
      noisy: sub("def answer():\n    sys.stderr.write('debug\\n')\n    return 42"),
      loop: sub("def answer():\n    while True:\n        pass"),
      crash: sub("def answer():\n    os._exit(1)"),
    };
    const files: string[] = [];
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
      executor: new LocalExecutor({
        argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      }),
      timeoutSeconds: 3,
      jobs: 2,
      cores: 2,
    });
    const by = Object.fromEntries(s.results.map((r) => [r.student, r]));
    expect(s.results.map((r) => [r.student, r.status])).toEqual([
      ["good", "graded"],
      ["noisy", "graded"],
      ["loop", "graded"],
      ["crash", "graded"],
    ]);
    const pts = (name: string) => Object.fromEntries(by[name]!.cells.map((c) => [c.id, c.points]));
    expect(pts("good")).toEqual({ test_answer: 2, test_env: 1, test_partial: 1.5, test_last: 1 });
    expect(pts("noisy")).toEqual({ test_answer: 0, test_env: 1, test_partial: 0, test_last: 0 });
    expect(pts("loop")).toEqual({ test_answer: 0, test_env: 1, test_partial: 0, test_last: 0 });
    expect(by.loop!.cells[0]!).toMatchObject({
      execution: "timeout",
      output: expect.stringMatching(/KeyboardInterrupt/),
    });
    expect(by.crash!.cells.map((c) => [c.execution, c.points])).toEqual([
      ["kernel-died", 0],
      ["not-run", 0],
      ["not-run", 0],
      ["not-run", 0],
    ]);
  }, 120_000);
});
