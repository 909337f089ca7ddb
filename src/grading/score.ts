/**
 * Scoring, with nbgrader's rules: a test cell earns its points unless it has an `error` output or
 * any stderr output; a test cell whose value (execute_result) is a number earns that many points,
 * capped to [0, points]; manually graded answers are listed, not scored.
 */
import { multilineText, type Notebook, type Output } from "./notebook.js";
import type { CellExecution, CellStatus } from "./executor.js";
import type { MergedCell } from "./merge.js";

export type GradeStatus = "passed" | "partial" | "failed" | "needs-manual-grading";

export interface CellResult {
  /** grade_id */
  id: string;
  /** index of the cell in the executed notebook */
  index: number;
  kind: MergedCell["kind"];
  /** points earned; null while a manually graded cell awaits grading */
  points: number | null;
  max: number;
  status: GradeStatus;
  /** how the cell's execution ended ("not-executed" for markdown) */
  execution: CellStatus | "not-executed";
  /** excerpt of the cell's outputs */
  output: string;
  /** why the cell got the points it got */
  reason: string;
  /** the submission's copy was edited and restored from the source */
  tampered: boolean;
  /** the cell was missing from the submission */
  missing: boolean;
}

/** A code cell that is not graded but did not run cleanly (shown in the feedback). */
export interface CellProblem {
  index: number;
  id?: string;
  kind: MergedCell["kind"];
  execution: CellStatus;
  output: string;
  message?: string;
}

const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;?]*[A-Za-z]", "g");
export function stripAnsi(s: string): string {
  return s.replace(ANSI, "");
}

/** A readable excerpt of a cell's outputs, at most `limit` characters (head and tail kept). */
export function outputExcerpt(outputs: Output[], limit = 2000): string {
  const parts: string[] = [];
  for (const o of outputs) {
    if (o.output_type === "stream") {
      parts.push((o.name === "stderr" ? "[stderr] " : "") + multilineText(o.text));
    } else if (o.output_type === "error") {
      const tb = o.traceback.map(stripAnsi).join("\n").trim();
      parts.push(tb !== "" ? tb : `${o.ename}: ${o.evalue}`);
    } else {
      const plain = o.data["text/plain"];
      if (plain !== undefined) parts.push(stripAnsi(multilineText(plain as string | string[])));
      else parts.push(`[${Object.keys(o.data).join(", ")}]`);
    }
  }
  let text = parts
    .map((p) => p.replace(/\s+$/, ""))
    .filter((p) => p !== "")
    .join("\n");
  if (text.length > limit) {
    const head = Math.floor(limit * 0.6);
    const tail = limit - head;
    text = `${text.slice(0, head)}\n… (${text.length - limit} characters omitted) …\n${text.slice(-tail)}`;
  }
  return text;
}

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** The cell's value as a number, if its execute_result is one (nbgrader's partial credit). */
export function partialCredit(outputs: Output[]): number | undefined {
  for (const o of outputs) {
    if (o.output_type !== "execute_result") continue;
    const plain = o.data["text/plain"];
    if (plain === undefined) return undefined;
    const text = stripAnsi(multilineText(plain as string | string[])).trim();
    return NUMBER.test(text) ? Number(text) : undefined;
  }
  return undefined;
}

function firstError(outputs: Output[]): string | undefined {
  for (const o of outputs) {
    if (o.output_type === "error") {
      return o.evalue ? `${o.ename}: ${stripAnsi(o.evalue).split("\n")[0]}` : o.ename;
    }
  }
  return undefined;
}

const hasStderr = (outputs: Output[]): boolean =>
  outputs.some((o) => o.output_type === "stream" && o.name === "stderr");

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Score one graded cell from its merge information and execution. */
export function scoreCell(
  info: MergedCell,
  exec: CellExecution | undefined,
  timeoutSeconds: number,
): CellResult {
  const base = {
    id: info.gradeId ?? `cell-${info.index}`,
    index: info.index,
    kind: info.kind,
    max: info.maxPoints,
    execution: exec?.status ?? ("not-executed" as const),
    output: exec ? outputExcerpt(exec.outputs) : "",
    tampered: info.tampered,
    missing: info.missing,
  };
  const note = info.notes.length > 0 ? ` (${info.notes.join("; ")})` : "";
  if (info.kind === "manual" || info.kind === "task") {
    if (info.unanswered) {
      return {
        ...base,
        points: 0,
        status: "failed",
        reason: `no answer given: the cell is unchanged from the release version${note}`,
      };
    }
    return { ...base, points: null, status: "needs-manual-grading", reason: "needs manual grading" };
  }
  const fail = (reason: string): CellResult => ({ ...base, points: 0, status: "failed", reason });
  if (info.missing) {
    return fail(info.notes[0] ?? "the cell is missing from the submission");
  }
  if (!exec) return fail("the cell was not executed");
  const restored = info.tampered ? " (the cell had been edited and was restored from the source)" : "";
  switch (exec.status) {
    case "not-run":
      return fail((exec.message ?? "not run") + restored);
    case "timeout":
      return fail(`timed out after ${timeoutSeconds} s and was interrupted${restored}`);
    case "kernel-died":
      return fail(
        exec.message !== undefined && /--memory/.test(exec.message)
          ? `${exec.message}${restored}`
          : `the kernel died while running this cell (process.exit, out of memory or a crash)${restored}`,
      );
    default:
      break;
  }
  const err = firstError(exec.outputs);
  if (exec.status === "error" || err !== undefined) {
    return fail(`raised ${err ?? "an error"}${restored}`);
  }
  if (hasStderr(exec.outputs)) {
    return fail(`wrote to stderr (any stderr output scores 0, as in nbgrader)${restored}`);
  }
  const value = partialCredit(exec.outputs);
  if (value !== undefined) {
    const pts = round(Math.min(Math.max(value, 0), info.maxPoints));
    const capped =
      value > info.maxPoints ? ` (capped from ${value})` : value < 0 ? ` (${value} raised to 0)` : "";
    return {
      ...base,
      points: pts,
      status: pts >= info.maxPoints ? "passed" : pts === 0 ? "failed" : "partial",
      reason: `partial credit: the cell's value is ${pts} of ${info.maxPoints}${capped}${restored}`,
    };
  }
  return { ...base, points: info.maxPoints, status: "passed", reason: `passed${restored}` };
}

export interface NotebookScore {
  cells: CellResult[];
  problems: CellProblem[];
  score: number;
  maxScore: number;
  /** points of cells that still need manual grading */
  manualMax: number;
}

/** Score every graded cell and collect the non-graded cells that failed to run. */
export function scoreNotebook(
  merged: MergedCell[],
  executions: CellExecution[],
  timeoutSeconds: number,
): NotebookScore {
  const byIndex = new Map(executions.map((e) => [e.index, e]));
  const cells: CellResult[] = [];
  const problems: CellProblem[] = [];
  for (const info of merged) {
    const exec = byIndex.get(info.index);
    const graded = info.kind === "test" || info.kind === "manual" || info.kind === "task";
    if (graded && (info.maxPoints > 0 || info.kind === "test")) {
      cells.push(scoreCell(info, exec, timeoutSeconds));
    } else if (exec && exec.status !== "ok" && exec.status !== "not-run") {
      problems.push({
        index: info.index,
        id: info.gradeId,
        kind: info.kind,
        execution: exec.status,
        output: outputExcerpt(exec.outputs),
        message: exec.message,
      });
    }
  }
  const score = round(cells.reduce((s, c) => s + (c.points ?? 0), 0));
  const maxScore = round(cells.reduce((s, c) => s + c.max, 0));
  const manualMax = round(cells.filter((c) => c.points === null).reduce((s, c) => s + c.max, 0));
  return { cells, problems, score, maxScore, manualMax };
}

/** Put the executions' outputs into (a copy of) the merged notebook. */
export function executedNotebook(nb: Notebook, executions: CellExecution[]): Notebook {
  const out = structuredClone(nb);
  for (const e of executions) {
    const cell = out.cells[e.index];
    if (cell?.cell_type !== "code") continue;
    cell.outputs = e.outputs;
    cell.execution_count = e.executionCount;
  }
  return out;
}
