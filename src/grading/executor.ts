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
  /** host paths a sandboxed kernel must not see (the source, other submissions, the output) */
  hide?: string[];
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
export interface RunOptions {
  storeHistory?: boolean;
  /** the execute_request's metadata (the kernel's grading mode reads `nbgrader` from it) */
  metadata?: Record<string, unknown>;
}

export interface KernelSession {
  run(code: string, timeoutMs: number, options?: RunOptions): Promise<RunOutcome>;
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
    const r = await session.run(code, timeoutSeconds * 1000, { metadata: trustedMetadata(cell) });
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

/**
 * What the kernel is told about a cell: only its nbgrader flags, which in the merged notebook come
 * from the assignment source (locked and test cells) or the release version (solution cells);
 * the student's own cells carry none. Nothing else of a cell's metadata is passed on, so a
 * student cannot mark a cell of theirs as locked.
 */
export function trustedMetadata(cell: Notebook["cells"][number]): Record<string, unknown> {
  const nb = cell.metadata.nbgrader;
  if (nb === undefined) return {};
  return {
    nbgrader: { locked: nb.locked === true, grade: nb.grade === true, solution: nb.solution === true },
  };
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

/** Output a cell may produce (characters of text and data) before the rest is dropped. */
export const CELL_OUTPUT_LIMIT = 2_000_000;
/** Output a whole notebook may produce; later cells keep none and fail saying so. */
export const NOTEBOOK_OUTPUT_LIMIT = 20_000_000;

const streamText = (t: string | string[]): string => (Array.isArray(t) ? t.join("") : t);

/** Append an output, joining consecutive stream outputs of the same stream (as Jupyter does). */
export function appendOutput(outputs: Output[], out: Output): void {
  if (out.output_type === "stream") {
    const last = outputs[outputs.length - 1];
    if (last !== undefined && last.output_type === "stream" && last.name === out.name) {
      last.text = streamText(last.text) + streamText(out.text);
      return;
    }
    outputs.push({ ...out, text: streamText(out.text) });
    return;
  }
  outputs.push(out);
}

function outputSize(out: Output): number {
  switch (out.output_type) {
    case "stream":
      return streamText(out.text).length;
    case "error":
      return out.ename.length + out.evalue.length + out.traceback.reduce((n, l) => n + l.length, 0);
    default:
      return JSON.stringify(out.data).length + JSON.stringify(out.metadata).length;
  }
}

/**
 * The outputs of one cell, kept within CELL_OUTPUT_LIMIT and the notebook's share of
 * NOTEBOOK_OUTPUT_LIMIT. Output beyond either limit is dropped, and the cell ends with an error
 * saying so (it then scores 0, and the batch goes on).
 */
export class CellOutputs {
  readonly outputs: Output[] = [];
  #used = 0;
  #overflow: string | undefined;

  constructor(private readonly budget: OutputBudget) {}

  add(out: Output): void {
    this.#charge(outputSize(out), () => appendOutput(this.outputs, out));
  }

  /** an output that was too large to be read at all */
  addOversized(bytes: number): void {
    this.#charge(bytes, () => undefined);
  }

  clear(): void {
    this.outputs.length = 0;
  }

  #charge(size: number, keep: () => void): void {
    if (this.#overflow !== undefined) return;
    if (this.#used + size > this.budget.cellLimit) {
      this.#overflow = `this cell's output exceeded the grader's limit of ${this.budget.cellLimit} characters; the rest was dropped`;
    } else if (this.budget.used + size > this.budget.notebookLimit) {
      this.#overflow = `the notebook's output exceeded the grader's limit of ${this.budget.notebookLimit} characters; this cell's output was dropped`;
    } else {
      this.#used += size;
      this.budget.used += size;
      keep();
    }
  }

  /** whether output was dropped */
  get overflowed(): boolean {
    return this.#overflow !== undefined;
  }

  /** The outputs, with the limit error at the end when output was dropped. */
  final(): Output[] {
    if (this.#overflow === undefined) return this.outputs;
    return [
      ...this.outputs,
      {
        output_type: "error",
        ename: "OutputLimitError",
        evalue: this.#overflow,
        traceback: [`OutputLimitError: ${this.#overflow}`],
      },
    ];
  }
}

/** The output allowance of one notebook run. */
export class OutputBudget {
  used = 0;
  constructor(
    readonly cellLimit = CELL_OUTPUT_LIMIT,
    readonly notebookLimit = NOTEBOOK_OUTPUT_LIMIT,
  ) {}

  cell(): CellOutputs {
    return new CellOutputs(this);
  }
}
