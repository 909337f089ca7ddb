/**
 * How the grader runs a notebook. An executor gets the merged notebook (hidden tests included) as
 * an object — it must feed the cells to the kernel, never write them into the submission's folder —
 * and returns, for every code cell, its outputs and how its execution ended.
 */
import type { Notebook, Output } from "./notebook.js";

export type CellStatus =
  /** ran to the end */
  | "ok"
  /** raised (an `error` output) */
  | "error"
  /** exceeded the per-cell timeout and was interrupted */
  | "timeout"
  /** the kernel process ended while the cell ran (process.exit, out of memory, crash) */
  | "kernel-died"
  /** never executed because the kernel was gone */
  | "not-run";

export interface CellExecution {
  /** index of the cell in the executed notebook */
  index: number;
  status: CellStatus;
  outputs: Output[];
  executionCount: number | null;
  /** a short explanation for statuses other than ok/error */
  message?: string;
}

export interface ExecuteOptions {
  /** working directory of the kernel: a fresh folder holding only the submission */
  cwd: string;
  /** per-cell timeout in seconds */
  timeoutSeconds: number;
  /** extra environment for the kernel process (e.g. CNNLAB_NUM_THREADS) */
  env: Record<string, string>;
  /** heap cap for the kernel process in MB (`--max-old-space-size`), if any */
  memoryMb?: number;
  /** kernelspec name, e.g. "cnnlab" */
  kernelName: string;
  /**
   * Time allowed for the kernel's first, trivial cell (start-up and compiler warm-up, which the
   * per-cell timeout should not charge to the student's first cell). Default 120 s.
   */
  startTimeoutSeconds?: number;
}

export interface ExecutionResult {
  /** one entry per code cell, in notebook order */
  cells: CellExecution[];
}

export interface NotebookExecutor {
  readonly name: string;
  execute(nb: Notebook, opts: ExecuteOptions): Promise<ExecutionResult>;
  /** release shared resources (connections); optional */
  close?(): Promise<void>;
}

/** The outcome of running one piece of code in a live kernel. */
export interface RunOutcome {
  status: "ok" | "error" | "timeout" | "kernel-died";
  outputs: Output[];
  executionCount: number | null;
  /** after a timeout: whether the interrupt brought the kernel back to idle */
  recovered?: boolean;
  message?: string;
}

/** A live kernel, for executors that drive cells one at a time (Jupyter server, local kernel). */
export interface KernelSession {
  run(code: string, timeoutMs: number, options?: { storeHistory?: boolean }): Promise<RunOutcome>;
  shutdown(): Promise<void>;
}

/** Code that every kernel language accepts and that does nothing: a number literal. */
export const WARM_UP_CODE = "0";
export const DEFAULT_START_TIMEOUT_SECONDS = 120;

/**
 * Run a trivial cell (not stored in the history) so that kernel start-up and compiler warm-up are
 * not charged to the first cell's timeout. Throws when the kernel cannot run even that.
 */
export async function warmUp(session: KernelSession, startTimeoutSeconds: number): Promise<void> {
  const r = await session.run(WARM_UP_CODE, startTimeoutSeconds * 1000, { storeHistory: false });
  if (r.status === "kernel-died") throw new Error("the kernel died while starting");
  if (r.status === "timeout") {
    throw new Error(`the kernel did not run a first trivial cell within ${startTimeoutSeconds} s`);
  }
}

/**
 * Run a notebook's code cells one by one in a session. Errors do not stop the run (like
 * nbgrader's autograde). After a timeout the kernel is interrupted; if it does not come back, or
 * after the kernel died, the remaining cells are "not-run".
 */
export async function runCellsInSession(
  session: KernelSession,
  nb: Notebook,
  timeoutSeconds: number,
  startTimeoutSeconds?: number,
): Promise<ExecutionResult> {
  if (startTimeoutSeconds !== undefined) await warmUp(session, startTimeoutSeconds);
  const cells: CellExecution[] = [];
  let stopped: string | undefined;
  for (let index = 0; index < nb.cells.length; index++) {
    const cell = nb.cells[index]!;
    if (cell.cell_type !== "code") continue;
    if (stopped !== undefined) {
      cells.push({ index, status: "not-run", outputs: [], executionCount: null, message: stopped });
      continue;
    }
    const code = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    const r = await session.run(code, timeoutSeconds * 1000);
    cells.push({
      index,
      status: r.status,
      outputs: r.outputs,
      executionCount: r.executionCount,
      message: r.message,
    });
    if (r.status === "kernel-died") {
      stopped = `not run: the kernel died in cell ${index}`;
    } else if (r.status === "timeout" && r.recovered === false) {
      stopped = `not run: the kernel did not recover from the timeout in cell ${index}`;
    }
  }
  return { cells };
}

/** Jupyter message content → nbformat output (undefined for messages that are not outputs). */
export function outputFromMessage(msgType: string, content: Record<string, unknown>): Output | undefined {
  switch (msgType) {
    case "stream":
      return {
        output_type: "stream",
        name: content.name === "stderr" ? "stderr" : "stdout",
        text: String(content.text ?? ""),
      };
    case "display_data":
      return {
        output_type: "display_data",
        data: (content.data as Record<string, unknown>) ?? {},
        metadata: (content.metadata as Record<string, unknown>) ?? {},
      };
    case "execute_result":
      return {
        output_type: "execute_result",
        data: (content.data as Record<string, unknown>) ?? {},
        metadata: (content.metadata as Record<string, unknown>) ?? {},
        execution_count: (content.execution_count as number | null) ?? null,
      };
    case "error":
      return {
        output_type: "error",
        ename: String(content.ename ?? "Error"),
        evalue: String(content.evalue ?? ""),
        traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
      };
    default:
      return undefined;
  }
}

/** Most characters of stream text kept per cell; beyond it the text is cut (runaway printing). */
export const MAX_STREAM_CHARS = 1_000_000;
const CUT_MARK = "\n[... output truncated by the grader ...]\n";

const streamText = (t: string | string[]): string => (Array.isArray(t) ? t.join("") : t);

/**
 * Append an output, joining consecutive stream outputs of the same stream (as Jupyter does) and
 * keeping at most MAX_STREAM_CHARS characters of stream text per cell.
 */
export function appendOutput(outputs: Output[], out: Output): void {
  if (out.output_type === "stream") {
    let used = 0;
    for (const o of outputs) if (o.output_type === "stream") used += streamText(o.text).length;
    if (used >= MAX_STREAM_CHARS) return;
    let text = streamText(out.text);
    if (used + text.length > MAX_STREAM_CHARS) text = text.slice(0, MAX_STREAM_CHARS - used) + CUT_MARK;
    const last = outputs[outputs.length - 1];
    if (last !== undefined && last.output_type === "stream" && last.name === out.name) {
      last.text = streamText(last.text) + text;
      return;
    }
    outputs.push({ ...out, text });
    return;
  }
  outputs.push(out);
}
