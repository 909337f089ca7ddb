import { describe, expect, it } from "vitest";
import { Command } from "commander";
import { mkdtemp, readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { addGradeCommand, summaryLine } from "../../src/grading/cli.js";
import type { AutogradeOptions, AutogradeSummary } from "../../src/grading/autograde.js";
import type { SubmissionResult } from "../../src/grading/report.js";

function program(deps: Parameters<typeof addGradeCommand>[1]): Command {
  const p = new Command().name("cnnlab").exitOverride();
  addGradeCommand(p, deps);
  p.commands.forEach((c) => c.exitOverride());
  p.commands[0]!.commands.forEach((c) =>
    c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} }),
  );
  return p;
}

const result = (over: Partial<SubmissionResult>): SubmissionResult => ({
  format: "cnnlab-grade-result/1",
  student: "alice",
  submission: "/s/alice.ipynb",
  assignment: "hw",
  status: "graded",
  score: 7,
  maxScore: 10,
  manualMax: 0,
  cells: [],
  problems: [],
  notes: [],
  executor: "fake",
  timeoutSeconds: 1,
  gradedAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

describe("cnnlab grade", () => {
  it("passes autograde's options through", async () => {
    const lines: string[] = [];
    let got: AutogradeOptions | undefined;
    const autograde = async (o: AutogradeOptions): Promise<AutogradeSummary> => {
      got = o;
      const rs = [result({}), result({ student: "bob", status: "error", error: "not valid JSON" })];
      rs.forEach((r) => o.onResult?.(r));
      return { results: rs, csv: "out/grades.csv" };
    };
    const p = program({ autograde, say: (l) => lines.push(l) });
    const saved = process.exitCode;
    await p.parseAsync(
      [
        "grade",
        "autograde",
        "a.ipynb",
        "b.ipynb",
        "--source",
        "src.ipynb",
        "--out",
        "out",
        "--timeout",
        "30",
        "--jobs",
        "2",
        "--memory",
        "2048",
        "--server",
        "http://127.0.0.1:8888/",
        "--token",
        "abc",
        "--kernel-name",
        "k",
        "--resume",
        "--unsafe-parallel",
      ],
      { from: "user" },
    );
    const code = process.exitCode;
    process.exitCode = saved;
    expect(got).toMatchObject({
      submissions: ["a.ipynb", "b.ipynb"],
      source: "src.ipynb",
      out: "out",
      timeoutSeconds: 30,
      jobs: 2,
      memoryMb: 2048,
      startTimeoutSeconds: 120,
      server: "http://127.0.0.1:8888/",
      token: "abc",
      kernelName: "k",
      resume: true,
      unsafeParallel: true,
    });
    expect(lines).toEqual([
      "note: --memory applies to local kernels; on a server, set the cap in its kernelspec",
      "alice: 7 / 10",
      "bob: NOT GRADED: not valid JSON",
      "graded 1 of 2 submissions; wrote out/grades.csv",
    ]);
    expect(code).toBe(1);
  });

  it("uses the defaults and rejects bad numbers", async () => {
    let got: AutogradeOptions | undefined;
    const autograde = async (o: AutogradeOptions): Promise<AutogradeSummary> => {
      got = o;
      return { results: [], csv: "x" };
    };
    await program({ autograde, say: () => {} }).parseAsync(
      ["grade", "autograde", "a.ipynb", "--source", "s.ipynb", "--out", "o"],
      { from: "user" },
    );
    expect(got).toMatchObject({
      timeoutSeconds: 120,
      jobs: 1,
      memoryMb: undefined,
      kernelName: "cnnlab",
      server: undefined,
    });
    await expect(
      program({ autograde, say: () => {} }).parseAsync(
        ["grade", "autograde", "a.ipynb", "--source", "s.ipynb", "--out", "o", "--jobs", "1.5"],
        { from: "user" },
      ),
    ).rejects.toThrow(/--jobs must be a positive whole number, got "1.5"/);
  });

  it("assign writes the student version", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "cnnlab-cli-assign-"));
    const lines: string[] = [];
    await program({ say: (l) => lines.push(l) }).parseAsync(
      ["grade", "assign", "notebooks/assignments/conv-layers/conv-layers.ipynb", "--out", out],
      { from: "user" },
    );
    expect(lines).toEqual([`wrote ${path.join(out, "conv-layers.ipynb")} (6 graded cells, 14 points)`]);
    expect(await readFile(path.join(out, "conv-layers.ipynb"), "utf8")).not.toContain("BEGIN SOLUTION");
  });

  it("summarises flags", () => {
    expect(
      summaryLine(
        result({
          manualMax: 2,
          cells: [
            {
              id: "t",
              index: 1,
              kind: "test",
              points: 0,
              max: 1,
              status: "failed",
              execution: "ok",
              output: "",
              reason: "",
              tampered: true,
              missing: false,
            },
          ],
        }),
      ),
    ).toBe("alice: 7 / 10 (2 points to grade by hand; edited read-only cells restored)");
  });
});
