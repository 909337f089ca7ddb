/**
 * Run submissions in a local cnnlab kernel through the kernel's headless runner
 * (kernel/runner.ts). The runner is loaded at run time so that the grading library does not
 * depend on the kernel at import time (and the kernel never depends on grading).
 */
import type {
  CellExecution,
  CellStatus,
  ExecuteOptions,
  ExecutionResult,
  NotebookExecutor,
} from "../executor.js";
import type { Notebook, Output } from "../notebook.js";

/** The part of the kernel runner's API that grading uses. */
export interface RunnerModule {
  runNotebook(
    notebook: Notebook,
    options: {
      timeout: number;
      allowErrors: boolean;
      cwd: string;
      env: Record<string, string>;
      nodeArgs: string[];
    },
  ): Promise<unknown>;
}

interface RunnerCell {
  index?: number;
  status?: string;
  outputs?: Output[];
  executionCount?: number | null;
  execution_count?: number | null;
  message?: string;
}

const STATUSES = new Set<CellStatus>(["ok", "error", "timeout", "kernel-died", "not-run"]);

function mapStatus(s: string | undefined, outputs: Output[]): CellStatus {
  if (s !== undefined) {
    const norm = s.replace(/_/g, "-").toLowerCase();
    if (STATUSES.has(norm as CellStatus)) return norm as CellStatus;
    if (norm === "died" || norm === "dead" || norm === "crashed") return "kernel-died";
    if (norm === "skipped" || norm === "notrun") return "not-run";
  }
  return outputs.some((o) => o.output_type === "error") ? "error" : "ok";
}

/** Turn whatever the runner returns into per-cell executions for the grader. */
export function executionFromRunner(nb: Notebook, raw: unknown): ExecutionResult {
  const r = (raw ?? {}) as { cells?: RunnerCell[]; notebook?: Notebook };
  const cells: CellExecution[] = [];
  if (Array.isArray(r.cells)) {
    r.cells.forEach((c, i) => {
      const index = c.index ?? i;
      if (nb.cells[index]?.cell_type !== "code") return;
      const outputs = c.outputs ?? [];
      cells.push({
        index,
        status: mapStatus(c.status, outputs),
        outputs,
        executionCount: c.executionCount ?? c.execution_count ?? null,
        message: c.message,
      });
    });
    return { cells };
  }
  const executed = r.notebook ?? (raw as Notebook);
  executed.cells.forEach((c, index) => {
    if (c.cell_type !== "code") return;
    cells.push({
      index,
      status: mapStatus(undefined, c.outputs),
      outputs: c.outputs,
      executionCount: c.execution_count,
    });
  });
  return { cells };
}

export class LocalExecutor implements NotebookExecutor {
  readonly name = "local";

  constructor(private readonly loadRunner?: () => Promise<RunnerModule>) {}

  private async runner(): Promise<RunnerModule> {
    if (this.loadRunner) return this.loadRunner();
    // A computed specifier: resolved at run time, relative to this file (src/ or dist/src/).
    const spec = new URL("../../../kernel/runner.js", import.meta.url).href;
    try {
      return (await import(spec)) as RunnerModule;
    } catch (e) {
      throw new Error(
        `the local kernel runner could not be loaded (${(e as Error).message}); build cnnlab (npm run build) or grade with --server URL --token T`,
      );
    }
  }

  async execute(nb: Notebook, options: ExecuteOptions): Promise<ExecutionResult> {
    const runner = await this.runner();
    const nodeArgs = options.memoryMb ? [`--max-old-space-size=${options.memoryMb}`] : [];
    const raw = await runner.runNotebook(nb, {
      timeout: options.timeoutSeconds,
      allowErrors: true,
      cwd: options.cwd,
      env: options.env,
      nodeArgs,
    });
    return executionFromRunner(nb, raw);
  }
}
