/**
 * `cnnlab grade assign | autograde | feedback`, as a commander sub-command that src/cli adds with
 * `addGradeCommand(program)`. Everything it prints goes to stdout (nothing to stderr).
 */
import { Command, Option } from "commander";
import { assign as assignFn } from "./assign.js";
import { DEFAULT_TIMEOUT_SECONDS, autograde as autogradeFn, feedback as feedbackFn } from "./autograde.js";
import type { SubmissionResult } from "./report.js";

export interface GradeCommandDeps {
  say?: (line: string) => void;
  assign?: typeof assignFn;
  autograde?: typeof autogradeFn;
  feedback?: typeof feedbackFn;
}

function positiveNumber(name: string, integer: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new Error(`${name} must be a positive ${integer ? "whole number" : "number"}, got "${v}"`);
    }
    return n;
  };
}

/** One line per graded submission. */
export function summaryLine(r: SubmissionResult): string {
  if (r.status === "error") return `${r.student}: NOT GRADED: ${r.error ?? "unknown error"}`;
  const flags = [
    r.manualMax > 0 ? `${r.manualMax} points to grade by hand` : "",
    r.cells.some((c) => c.tampered) ? "edited read-only cells restored" : "",
    r.cells.some((c) => c.missing) ? "graded cells missing" : "",
  ].filter(Boolean);
  return `${r.student}: ${r.score} / ${r.maxScore}${flags.length ? ` (${flags.join("; ")})` : ""}`;
}

/** Add the `grade` command (with assign, autograde, feedback) to a commander program. */
export function addGradeCommand(program: Command, deps: GradeCommandDeps = {}): Command {
  const say = deps.say ?? ((line: string) => void process.stdout.write(line + "\n"));
  const grade = program
    .command("grade")
    .description("nbgrader-compatible grading: release an assignment, autograde submissions, feedback");

  grade
    .command("assign")
    .description(
      "write the student version: solutions replaced by a stub, hidden tests removed, metadata checked, checksums added",
    )
    .argument("<source>", "the assignment source notebook (.ipynb)")
    .requiredOption("--out <dir>", "folder for the student version")
    .action(async (source: string, opts: { out: string }) => {
      const r = await (deps.assign ?? assignFn)(source, opts.out);
      say(`wrote ${r.output} (${r.gradedCells} graded cells, ${r.totalPoints} points)`);
    });

  grade
    .command("autograde")
    .description(
      "grade submissions in fresh kernels; writes OUT/<student>/ (executed notebook, result.json, Gradescope results.json, feedback.html) and OUT/grades.csv",
    )
    .argument("<submissions...>", "submitted notebooks")
    .requiredOption("--source <file>", "the assignment source notebook (with solutions and hidden tests)")
    .requiredOption("--out <dir>", "output folder")
    .addOption(
      new Option("--timeout <seconds>", "per-cell timeout")
        .default(DEFAULT_TIMEOUT_SECONDS)
        .argParser(positiveNumber("--timeout", false)),
    )
    .addOption(
      new Option("--jobs <n>", "submissions graded in parallel, each kernel with max(1, cores/N) threads")
        .default(1)
        .argParser(positiveNumber("--jobs", true)),
    )
    .addOption(
      new Option("--memory <mb>", "heap cap per kernel in MB (--max-old-space-size)").argParser(
        positiveNumber("--memory", true),
      ),
    )
    .addOption(
      new Option("--start-timeout <seconds>", "time for a kernel to start and warm up")
        .default(120)
        .argParser(positiveNumber("--start-timeout", false)),
    )
    .option(
      "--server <url>",
      "run the kernels on this Jupyter server (jupyter server, JupyterHub, Enterprise Gateway)",
    )
    .addOption(
      new Option("--token <token>", "the Jupyter server's token (used with --server)").env("JUPYTER_TOKEN"),
    )
    .option("--kernel-name <name>", "kernelspec to start", "cnnlab")
    .option(
      "--unsafe-parallel",
      "allow --jobs > 1 when local kernels cannot be sandboxed (submissions could reach each other)",
    )
    .option(
      "--resume",
      "keep the results of students already graded from the same file (after an interrupted run)",
    )
    .option("-q, --quiet", "no line per submission")
    .action(
      async (
        submissions: string[],
        opts: {
          source: string;
          out: string;
          timeout: number;
          jobs: number;
          memory?: number;
          startTimeout: number;
          server?: string;
          token?: string;
          kernelName: string;
          unsafeParallel?: boolean;
          resume?: boolean;
          quiet?: boolean;
        },
      ) => {
        if (opts.server !== undefined && opts.memory !== undefined) {
          say("note: --memory applies to local kernels; on a server, set the cap in its kernelspec");
        }
        const summary = await (deps.autograde ?? autogradeFn)({
          submissions,
          source: opts.source,
          out: opts.out,
          timeoutSeconds: opts.timeout,
          jobs: opts.jobs,
          memoryMb: opts.memory,
          startTimeoutSeconds: opts.startTimeout,
          server: opts.server,
          token: opts.token,
          kernelName: opts.kernelName,
          unsafeParallel: opts.unsafeParallel,
          resume: opts.resume,
          onWarning: say,
          onResult: opts.quiet ? undefined : (r) => say(summaryLine(r)),
        });
        const failed = summary.results.filter((r) => r.status === "error").length;
        say(
          `graded ${summary.results.length - failed} of ${summary.results.length} submissions; wrote ${summary.csv}`,
        );
        if (failed > 0) process.exitCode = 1;
      },
    );

  grade
    .command("feedback")
    .description(
      "after editing points in OUT/<student>/result.json: recompute the total, rewrite result.json, results.json, feedback.html and OUT/grades.csv",
    )
    .argument("<dirs...>", "graded folders, OUT/<student>")
    .action(async (dirs: string[]) => {
      for (const d of dirs) say(`wrote ${await (deps.feedback ?? feedbackFn)(d)}`);
    });

  return grade;
}
