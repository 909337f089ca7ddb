/**
 * `autograde`: grade many submissions against the assignment source, `jobs` at a time, each in a
 * fresh kernel whose working folder is a new temporary directory holding only the submission.
 * Every submission gets a result — a broken file is an "error" result, never a stopped batch.
 */
import { promises as fs, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { releaseNotebook } from "./assign.js";
import type { CellExecution, ExecuteOptions, NotebookExecutor } from "./executor.js";
import { gradeId, isGrade, isSolution, isTask, validateMetadata } from "./metadata.js";
import { mergeSubmission } from "./merge.js";
import { parseNotebook, readNotebook, writeFileAtomic, writeNotebook, type Notebook } from "./notebook.js";
import {
  RESULT_FORMAT,
  feedbackHtml,
  gradesCsv,
  rescore,
  toGradescope,
  type SubmissionResult,
} from "./report.js";
import { executedNotebook, scoreNotebook } from "./score.js";

export interface AutogradeOptions {
  /** submitted notebooks */
  submissions: string[];
  /** the assignment source (with solutions and hidden tests) */
  source: string;
  /** output folder: DIR/<student>/... and DIR/grades.csv */
  out: string;
  /** per-cell timeout in seconds (default 120) */
  timeoutSeconds?: number;
  /** kernels running at once (default 1) */
  jobs?: number;
  /** heap cap per kernel in MB */
  memoryMb?: number;
  /** time allowed for a kernel to start and run a first trivial cell (default 120 s) */
  startTimeoutSeconds?: number;
  /** Jupyter server base URL; when set (and no executor is given) cells run there */
  server?: string;
  token?: string;
  /** kernelspec name (default "cnnlab") */
  kernelName?: string;
  /** how notebooks are executed; default: local kernel, or the server when `server` is set */
  executor?: NotebookExecutor;
  /** number of cores to share between kernels (default: os.availableParallelism()) */
  cores?: number;
  /** called after each submission is graded */
  onResult?: (r: SubmissionResult) => void;
  /** called with warnings (no sandbox); default: none */
  onWarning?: (message: string) => void;
  /** allow --jobs > 1 with local kernels that are not sandboxed */
  unsafeParallel?: boolean;
  /** local kernels: require the sandbox (true), never use it (false), or use it when present */
  sandbox?: boolean | "auto";
  /** keep the results of students already graded from the same file (after an interrupted run) */
  resume?: boolean;
}

export interface AutogradeSummary {
  results: SubmissionResult[];
  /** path of grades.csv */
  csv: string;
}

export const DEFAULT_TIMEOUT_SECONDS = 120;

/**
 * The student's name for a submission: its file name without .ipynb, or the name of its folder
 * when the file is named like the assignment (`alice/conv-layers.ipynb` → `alice`).
 */
export function studentName(submission: string, sourcePath: string): string {
  const base = path.basename(submission);
  const stem = base.replace(/\.ipynb$/i, "");
  if (base === path.basename(sourcePath)) {
    const dir = path.basename(path.dirname(path.resolve(submission)));
    if (dir !== "" && dir !== path.sep) return dir;
  }
  return stem;
}

/** Names the output folder uses for itself. */
const RESERVED = new Set(["grades.csv"]);

/**
 * Names that are unique within the batch and safe as folder names: the first submission with a
 * name keeps it; a repeat gets the first free suffix (-2, -3, ...), free meaning used by no other
 * submission's name either (so `x`, `x-2`, `x` become `x`, `x-2`, `x-3`).
 */
export function uniqueNames(names: string[]): string[] {
  const safe = names.map((n) => (n === "" || /^\.+$/.test(n) ? "submission" : n));
  const taken = new Set<string>(RESERVED);
  const firsts = new Set<string>();
  const first = safe.map((n) => {
    if (taken.has(n) || firsts.has(n)) return false;
    firsts.add(n);
    return true;
  });
  for (const n of firsts) taken.add(n);
  return safe.map((n, i) => {
    if (first[i]) return n;
    let k = 2;
    while (taken.has(`${n}-${k}`) || firsts.has(`${n}-${k}`)) k++;
    taken.add(`${n}-${k}`);
    return `${n}-${k}`;
  });
}

/** Threads per kernel when `jobs` kernels share `cores` cores. */
export function threadsPerKernel(cores: number, jobs: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, jobs)));
}

async function defaultExecutor(opts: AutogradeOptions): Promise<NotebookExecutor> {
  if (opts.server !== undefined) {
    const { JupyterServerExecutor } = await import("./executors/server.js");
    return new JupyterServerExecutor({ baseUrl: opts.server, token: opts.token ?? "" });
  }
  const { LocalExecutor } = await import("./executors/local.js");
  return new LocalExecutor({ sandbox: opts.sandbox });
}

/** Local executors say whether their kernels are sealed off; others (servers) isolate themselves. */
function unsandboxedReason(executor: NotebookExecutor): string | undefined {
  const e = executor as { sandboxed?: boolean; sandboxProblem?: string };
  if (e.sandboxed === false) return e.sandboxProblem ?? "no sandbox";
  return undefined;
}

/**
 * While a batch runs, an interrupt (Ctrl-C, SIGTERM, SIGHUP) or the grader's exit kills every
 * kernel and removes the temporary folders before the grader goes; then the signal is re-raised.
 */
function guardBatch(tempDirs: Set<string>, killAll: () => void): () => void {
  const cleanUp = (): void => {
    killAll();
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort while exiting
      }
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanUp();
    release();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  process.on("exit", cleanUp);
  const release = (): void => {
    for (const s of signals) process.off(s, onSignal);
    process.off("exit", cleanUp);
  };
  return release;
}

interface Context {
  source: Notebook;
  release: Notebook;
  assignment: string;
  sourceBase: string;
  executor: NotebookExecutor;
  timeoutSeconds: number;
  execOptions: Omit<ExecuteOptions, "cwd">;
  out: string;
  tempDirs: Set<string>;
}

async function writeResultFiles(dir: string, r: SubmissionResult): Promise<void> {
  await writeFileAtomic(path.join(dir, "results.json"), JSON.stringify(toGradescope(r), null, 2) + "\n");
  await writeFileAtomic(path.join(dir, "feedback.html"), feedbackHtml(r));
  // last: a complete result.json means the other files are written (see --resume)
  await writeFileAtomic(path.join(dir, "result.json"), JSON.stringify(r, null, 2) + "\n");
}

async function writeOutputs(dir: string, r: SubmissionResult, executed?: Notebook): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  if (executed) await writeNotebook(path.join(dir, r.assignment + ".ipynb"), executed);
  await writeResultFiles(dir, r);
}

/** A result with nothing graded yet. */
function emptyResult(ctx: Context, file: string, student: string): SubmissionResult {
  return {
    format: RESULT_FORMAT,
    student,
    submission: path.resolve(file),
    assignment: ctx.assignment,
    status: "graded",
    score: 0,
    maxScore: 0,
    manualMax: 0,
    cells: [],
    problems: [],
    notes: [],
    executor: ctx.executor.name,
    timeoutSeconds: ctx.timeoutSeconds,
    gradedAt: new Date().toISOString(),
  };
}

async function gradeOne(ctx: Context, file: string, student: string): Promise<SubmissionResult> {
  const base = emptyResult(ctx, file, student);
  const dir = path.join(ctx.out, student);
  const maxScore = ctx.source.cells
    .filter((c) => isGrade(c))
    .reduce((s, c) => s + Number(c.metadata.nbgrader?.points ?? 0), 0);

  let text: string;
  let submission: Notebook;
  try {
    const bytes = await fs.readFile(file);
    base.submissionSha256 = createHash("sha256").update(bytes).digest("hex");
    text = bytes.toString("utf8");
    submission = parseNotebook(text, path.basename(file));
  } catch (e) {
    const r: SubmissionResult = {
      ...base,
      status: "error",
      error: (e as Error).message,
      maxScore,
    };
    await writeOutputs(dir, r);
    return r;
  }

  const merged = mergeSubmission(ctx.source, ctx.release, submission);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "cnnlab-grade-"));
  ctx.tempDirs.add(work);
  let executions: CellExecution[];
  let failure: string | undefined;
  try {
    // The kernel's folder holds the submission only; the merged notebook (with hidden tests) is
    // handed to the executor in memory. The executor returns once the kernel and everything it
    // started are gone, so nothing of the submission runs while its results are written.
    await fs.writeFile(path.join(work, path.basename(file)), text, "utf8");
    const result = await ctx.executor.execute(merged.notebook, { ...ctx.execOptions, cwd: work });
    executions = result.cells;
  } catch (e) {
    failure = `the notebook could not be executed: ${(e as Error).message}`;
    executions = [];
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    ctx.tempDirs.delete(work);
  }
  const scored = scoreNotebook(merged.cells, executions, ctx.timeoutSeconds);
  const r: SubmissionResult = {
    ...base,
    status: failure ? "error" : "graded",
    error: failure,
    score: scored.score,
    maxScore: scored.maxScore,
    manualMax: scored.manualMax,
    cells: scored.cells,
    problems: scored.problems,
    notes: [
      ...merged.notes,
      ...merged.cells
        .filter((c) => c.kind !== "test" && c.notes.length > 0)
        .flatMap((c) => c.notes.map((n) => `${c.gradeId ?? `cell ${c.index}`}: ${n}`)),
    ],
  };
  await writeOutputs(dir, r, executedNotebook(merged.notebook, executions));
  return r;
}

/**
 * For --resume: the student's result from an earlier run if it is complete (all files written,
 * graded, and from a file with the same content), else undefined.
 */
async function finishedResult(
  ctx: Context,
  file: string,
  student: string,
): Promise<SubmissionResult | undefined> {
  const dir = path.join(ctx.out, student);
  try {
    const r = JSON.parse(await fs.readFile(path.join(dir, "result.json"), "utf8")) as SubmissionResult;
    const hash = createHash("sha256")
      .update(await fs.readFile(file))
      .digest("hex");
    if (r.format !== RESULT_FORMAT || r.status !== "graded" || r.student !== student) return undefined;
    if (r.submissionSha256 !== hash || r.assignment !== ctx.assignment) return undefined;
    for (const f of ["results.json", "feedback.html", `${ctx.assignment}.ipynb`])
      await fs.access(path.join(dir, f));
    return r;
  } catch {
    return undefined;
  }
}

/** The row of a submission whose grading failed in the grader itself: every student gets one. */
function errorResult(ctx: Context, file: string, student: string, e: unknown): SubmissionResult {
  const error = `grading failed: ${e instanceof Error ? e.message : String(e)}`;
  return { ...emptyResult(ctx, file, student), status: "error", error };
}

/** Grade submissions; writes DIR/<student>/ for each and DIR/grades.csv. */
export async function autograde(opts: AutogradeOptions): Promise<AutogradeSummary> {
  const source = await readNotebook(opts.source);
  validateMetadata(source, opts.source);
  const release = releaseNotebook(source, { file: opts.source });
  const jobs = Math.max(1, Math.floor(opts.jobs ?? 1));
  const cores = opts.cores ?? os.availableParallelism();
  const timeoutSeconds = opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!(timeoutSeconds > 0)) throw new Error(`autograde: --timeout must be > 0, got ${timeoutSeconds}`);
  const executor = opts.executor ?? (await defaultExecutor(opts));
  const unsandboxed = unsandboxedReason(executor);
  if (unsandboxed !== undefined) {
    if (jobs > 1 && !opts.unsafeParallel) {
      if (opts.executor === undefined) await executor.close?.();
      throw new Error(
        `autograde: kernels cannot be sealed off here (${unsandboxed}), so --jobs ${jobs} would let submissions reach each other; install bubblewrap, use --jobs 1, or pass --unsafe-parallel`,
      );
    }
    opts.onWarning?.(
      `WARNING: submissions are NOT isolated (${unsandboxed}): student code can read the grader's files and environment and outlive its kernel. Install bubblewrap (Debian: apt install bubblewrap).`,
    );
  }
  const out = path.resolve(opts.out);
  const hide = [
    ...new Set([
      path.resolve(opts.source),
      path.dirname(path.resolve(opts.source)),
      out,
      ...opts.submissions.flatMap((s) => [path.resolve(s), path.dirname(path.resolve(s))]),
    ]),
  ];
  const ctx: Context = {
    source,
    release,
    assignment: path.basename(opts.source).replace(/\.ipynb$/i, ""),
    sourceBase: path.basename(opts.source),
    executor,
    timeoutSeconds,
    out: opts.out,
    tempDirs: new Set(),
    execOptions: {
      timeoutSeconds,
      env: { CNNLAB_NUM_THREADS: String(threadsPerKernel(cores, jobs)), CNNLAB_GRADING: "1" },
      hide,
      memoryMb: opts.memoryMb,
      startTimeoutSeconds: opts.startTimeoutSeconds,
      kernelName: opts.kernelName ?? "cnnlab",
    },
  };
  const names = uniqueNames(opts.submissions.map((s) => studentName(s, opts.source)));
  const results: SubmissionResult[] = new Array(opts.submissions.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= opts.submissions.length) return;
      const kept = opts.resume ? await finishedResult(ctx, opts.submissions[i]!, names[i]!) : undefined;
      const r =
        kept ??
        (await gradeOne(ctx, opts.submissions[i]!, names[i]!).catch((e: unknown): SubmissionResult =>
          errorResult(ctx, opts.submissions[i]!, names[i]!, e),
        ));
      results[i] = r;
      opts.onResult?.(r);
    }
  };
  const { killAllKernels } = await import("./executors/kernel-process.js");
  const unguard = guardBatch(ctx.tempDirs, killAllKernels);
  try {
    await fs.mkdir(opts.out, { recursive: true });
    await Promise.all(Array.from({ length: Math.min(jobs, opts.submissions.length) }, worker));
  } finally {
    unguard();
    if (opts.executor === undefined) await executor.close?.();
  }
  const ids = source.cells
    .filter((c) => isGrade(c) || (isTask(c) && isSolution(c)))
    .map((c) => gradeId(c))
    .filter((id): id is string => id !== undefined);
  const csv = path.join(opts.out, "grades.csv");
  await writeFileAtomic(csv, gradesCsv(results, ids));
  return { results, csv };
}

/** The graded-cell columns of an existing grades.csv (between manual_pending and flags). */
function csvColumns(csv: string): string[] | undefined {
  const header = csv.split("\n")[0]?.split(",") ?? [];
  const a = header.indexOf("manual_pending");
  const b = header.indexOf("flags");
  return a >= 0 && b > a ? header.slice(a + 1, b) : undefined;
}

/** Rewrite DIR/grades.csv from every DIR/<student>/result.json. */
async function rewriteGradesCsv(out: string): Promise<string | undefined> {
  const csv = path.join(out, "grades.csv");
  let old: string;
  try {
    old = await fs.readFile(csv, "utf8");
  } catch {
    return undefined;
  }
  const results: SubmissionResult[] = [];
  for (const e of await fs.readdir(out, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    try {
      const r = JSON.parse(
        await fs.readFile(path.join(out, e.name, "result.json"), "utf8"),
      ) as SubmissionResult;
      if (r.format === RESULT_FORMAT) results.push(r);
    } catch {
      // not a student folder
    }
  }
  const ids = csvColumns(old) ?? [...new Set(results.flatMap((r) => r.cells.map((c) => c.id)))];
  await writeFileAtomic(csv, gradesCsv(results, ids));
  return csv;
}

/**
 * `feedback DIR/<student>`: after points were entered in result.json (a manually graded cell's
 * `points`), recompute the totals and write result.json, results.json and feedback.html again,
 * and DIR/grades.csv when there is one. Returns the feedback page's path.
 */
export async function feedback(studentDir: string): Promise<string> {
  const file = path.join(studentDir, "result.json");
  let r: SubmissionResult;
  try {
    r = JSON.parse(await fs.readFile(file, "utf8")) as SubmissionResult;
  } catch (e) {
    throw new Error(`feedback: cannot read ${file}: ${(e as Error).message}`);
  }
  if (r.format !== RESULT_FORMAT) {
    throw new Error(`feedback: ${file} is not a cnnlab grading result (format ${JSON.stringify(r.format)})`);
  }
  if (!Array.isArray(r.cells)) throw new Error(`feedback: ${file} has no "cells" list`);
  for (const c of r.cells) {
    if (c.points !== null && (typeof c.points !== "number" || !Number.isFinite(c.points))) {
      throw new Error(
        `feedback: ${file}: cell "${c.id}" has points ${JSON.stringify(c.points)} (a number or null)`,
      );
    }
  }
  const updated = rescore(r);
  await writeResultFiles(studentDir, updated);
  await rewriteGradesCsv(path.dirname(path.resolve(studentDir)));
  return path.join(studentDir, "feedback.html");
}
