/**
 * An executor for tests: each code cell's outcome comes from a function, cells run through the same
 * per-cell loop as real kernels (errors continue, a dead kernel stops the rest).
 */
import {
  runCellsInSession,
  type ExecuteOptions,
  type ExecutionResult,
  type NotebookExecutor,
  type RunOutcome,
} from "../executor.js";
import type { Notebook } from "../notebook.js";

export interface FakeCall {
  notebook: Notebook;
  options: ExecuteOptions;
  /** files present in the working folder when execution started */
  cwdFiles: string[];
}

export type FakeBehaviour = (
  code: string,
  context: { options: ExecuteOptions; timeoutMs: number },
) => RunOutcome | Promise<RunOutcome>;

export class FakeExecutor implements NotebookExecutor {
  readonly name = "fake";
  readonly calls: FakeCall[] = [];

  constructor(private readonly behaviour: FakeBehaviour) {}

  async execute(nb: Notebook, options: ExecuteOptions): Promise<ExecutionResult> {
    const { readdir } = await import("node:fs/promises");
    this.calls.push({ notebook: nb, options, cwdFiles: await readdir(options.cwd) });
    const session = {
      run: async (code: string, timeoutMs: number): Promise<RunOutcome> =>
        this.behaviour(code, { options, timeoutMs }),
      shutdown: async (): Promise<void> => {},
    };
    return runCellsInSession(session, nb, options.timeoutSeconds);
  }
}
