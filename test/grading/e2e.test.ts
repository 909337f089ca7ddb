/**
 * End to end with the real cnnlab kernel: the conv-layers assignment and the submissions written
 * for it (test/fixtures/grading/submissions, made by tools/make_assignment.py, where each
 * expected score is explained), graded locally with --jobs 2 and through a real `jupyter server`.
 * Needs the compiled kernel and library (npm run build); skips loudly without them, fails on CI.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { assign } from "../../src/grading/assign.js";
import { autograde } from "../../src/grading/autograde.js";
import type { SubmissionResult } from "../../src/grading/report.js";
import { jupyterAvailable, requireOrSkip, startJupyterServer, type RunningServer } from "./jupyter-server.js";

const ROOT = path.resolve(".");
const SOURCE = path.join(ROOT, "notebooks/assignments/conv-layers/conv-layers.ipynb");
const SUBS = path.join(ROOT, "test/fixtures/grading/submissions");
const KERNEL_MAIN = path.join(ROOT, "dist/kernel/main.js");
const LIBRARY = path.join(ROOT, "dist/src/index.js");

const built = requireOrSkip(
  existsSync(KERNEL_MAIN) && existsSync(LIBRARY),
  "the compiled cnnlab kernel and library (dist/kernel/main.js, dist/src/index.js; run npm run build)",
);

/** Expected automatic points of each submission (out of 12; 2 more are graded by hand). */
const EXPECTED: Record<string, number> = {
  alice: 12, // all correct
  bob: 5, // padding ignored: caught by the hidden tests; 2 of 4 conv cases
  carol: 10, // infinite loop in max pool backward: that test times out
  dave: 8, // process.exit in max pool forward: kernel dies, the last test is not run
  erin: 9, // syntax error in conv backward
  frank: 4, // tampered conv forward tests, restored: conv forward returns zeros
  grace: 10, // deleted test_maxpool_forward
  heidi: 12, // correct, submitted as heidi/conv-layers.ipynb
};

function submissionFiles(): string[] {
  return [
    ...Object.keys(EXPECTED)
      .filter((n) => n !== "heidi")
      .map((n) => path.join(SUBS, `${n}.ipynb`)),
    path.join(SUBS, "heidi", "conv-layers.ipynb"),
    path.join(SUBS, "ivan.ipynb"),
  ];
}

function checkResults(results: SubmissionResult[], names = Object.keys(EXPECTED)): void {
  const by = Object.fromEntries(results.map((r) => [r.student, r]));
  for (const name of names) {
    const r = by[name]!;
    expect({ name, status: r.status, error: r.error, score: r.score }).toEqual({
      name,
      status: "graded",
      error: undefined,
      score: EXPECTED[name],
    });
    expect([r.maxScore, r.manualMax]).toEqual([14, 2]);
  }
}

describe.runIf(built)("grading the conv-layers assignment with the cnnlab kernel", () => {
  it("assign round-trips: the source gets full marks, the release version none", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-e2e-assign-"));
    const { output } = await assign(SOURCE, path.join(dir, "release"));
    const selfDir = path.join(dir, "self");
    await mkdir(selfDir);
    const self = path.join(selfDir, "instructor.ipynb");
    await writeFile(self, await readFile(SOURCE, "utf8"));
    const s = await autograde({
      submissions: [self, output],
      source: SOURCE,
      out: path.join(dir, "out"),
      timeoutSeconds: 60,
    });
    const [src, rel] = s.results;
    expect([src!.score, src!.manualMax, src!.problems]).toEqual([12, 2, []]);
    expect(src!.cells.filter((c) => c.points !== null).every((c) => c.status === "passed")).toBe(true);
    expect([rel!.status, rel!.score]).toEqual(["graded", 0]);
  }, 300_000);

  it("grades every test submission locally with --jobs 2", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "cnnlab-e2e-local-"));
    const s = await autograde({
      submissions: submissionFiles(),
      source: SOURCE,
      out,
      timeoutSeconds: 30,
      jobs: 2,
      memoryMb: 1024,
    });
    checkResults(s.results);
    const by = Object.fromEntries(s.results.map((r) => [r.student, r]));
    const cell = (name: string, id: string) => by[name]!.cells.find((c) => c.id === id)!;
    expect(cell("bob", "test_conv_forward_cases")).toMatchObject({ points: 1, status: "partial" });
    // the feedback counts only the cases the student can see, and describes no hidden one
    expect(cell("bob", "test_conv_forward_cases").output).toMatch(
      /^2 of 2 cases shown here pass; some hidden cases fail$/m,
    );
    expect(await readFile(path.join(out, "bob", "feedback.html"), "utf8")).not.toMatch(
      /of 4 cases|pad 1|5,5/,
    );
    expect(cell("carol", "test_maxpool_backward")).toMatchObject({ execution: "timeout", points: 0 });
    // process.exit: a SystemExit error, or the kernel gone at once; the next test cannot run
    expect(["error", "kernel-died"]).toContain(cell("dave", "test_maxpool_forward").execution);
    expect(["kernel-died", "not-run"]).toContain(cell("dave", "test_maxpool_backward").execution);
    expect(by.erin!.problems.map((p) => p.id)).toEqual(["conv_backward"]);
    expect(cell("frank", "test_conv_forward")).toMatchObject({ tampered: true, points: 0 });
    expect(cell("frank", "test_conv_forward_cases")).toMatchObject({ tampered: true, points: 0 });
    expect(cell("grace", "test_maxpool_forward")).toMatchObject({ missing: true, points: 0 });
    expect(by.ivan).toMatchObject({
      status: "error",
      score: 0,
      error: expect.stringMatching(/not valid JSON/),
    });
    expect((await readdir(path.join(out, "heidi"))).sort()).toEqual([
      "conv-layers.ipynb",
      "feedback.html",
      "result.json",
      "results.json",
    ]);
    const csv = await readFile(path.join(out, "grades.csv"), "utf8");
    expect(csv.trim().split("\n").length).toBe(1 + Object.keys(EXPECTED).length + 1);
  }, 600_000);

  it("an out-of-memory submission fails alone with --memory", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "cnnlab-e2e-oom-"));
    // judy fills the V8 heap inside max pool forward; the kernel dies at the --memory cap in
    // test_maxpool_forward and test_maxpool_backward is not run: 3 + 2 + 3 = 8.
    const s = await autograde({
      submissions: [path.join(SUBS, "judy.ipynb")],
      source: SOURCE,
      out,
      timeoutSeconds: 120,
      memoryMb: 768,
    });
    const r = s.results[0]!;
    expect([r.status, r.score]).toEqual(["graded", 8]);
    expect(r.cells.map((c) => [c.id, c.execution])).toEqual([
      ["test_conv_forward", "ok"],
      ["test_conv_forward_cases", "ok"],
      ["test_conv_backward", "ok"],
      ["test_maxpool_forward", "kernel-died"],
      ["test_maxpool_backward", "not-run"],
      ["pooling_answer", "not-executed"],
    ]);
  }, 600_000);

  describe.runIf(requireOrSkip(jupyterAvailable(), "jupyter server (Debian: python3-jupyter-server)"))(
    "through a Jupyter server",
    () => {
      let server: RunningServer;
      beforeAll(async () => {
        // A kernelspec for the compiled kernel, found by the server through JUPYTER_PATH.
        const data = await mkdtemp(path.join(os.tmpdir(), "cnnlab-e2e-jupyter-data-"));
        const spec = path.join(data, "kernels", "cnnlab");
        await mkdir(spec, { recursive: true });
        await writeFile(
          path.join(spec, "kernel.json"),
          JSON.stringify({
            argv: [process.execPath, KERNEL_MAIN, "{connection_file}"],
            display_name: "cnnlab (TypeScript)",
            language: "typescript",
            interrupt_mode: "signal",
          }),
        );
        server = await startJupyterServer({ JUPYTER_PATH: data });
      });
      afterAll(async () => {
        await server?.stop();
      });

      it("grades submissions with --server and --token", async () => {
        const out = await mkdtemp(path.join(os.tmpdir(), "cnnlab-e2e-server-"));
        const names = ["alice", "dave", "frank"];
        const s = await autograde({
          submissions: [...names.map((n) => path.join(SUBS, `${n}.ipynb`)), path.join(SUBS, "ivan.ipynb")],
          source: SOURCE,
          out,
          timeoutSeconds: 60,
          jobs: 2,
          server: server.url,
          token: server.token,
        });
        checkResults(s.results, names);
        expect(s.results.find((r) => r.student === "ivan")!.status).toBe("error");
      }, 600_000);
    },
  );
});
