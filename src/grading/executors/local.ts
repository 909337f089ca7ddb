/**
 * Run submissions in local kernels, one fresh kernel per submission, each sealed off in a
 * bubblewrap sandbox when the machine has one (../sandbox.ts, ./kernel-process.ts): it sees only
 * its own submission, its own processes and its own IPC sockets, has no network, and everything
 * it starts is killed when the submission ends. Cells are sent one at a time as execute requests
 * (the merged notebook with the hidden tests never touches the disk), and every output is charged
 * to the cell whose request it answers (its parent header), never to whichever cell runs when it
 * arrives.
 *
 * With --memory MB, the resident memory of all of the kernel's processes is watched; above the
 * limit they are all killed and the cell fails saying so (the heap is also capped with
 * `--max-old-space-size`, so a plain heap overflow fails the same way, sooner).
 */
import {
  DEFAULT_START_TIMEOUT_SECONDS,
  OutputBudget,
  outputFromMessage,
  runCellsInSession,
  type CellOutputs,
  type ExecuteOptions,
  type ExecutionResult,
  type KernelSession,
  type NotebookExecutor,
  type RunOptions,
  type RunOutcome,
} from "../executor.js";
import type { Notebook } from "../notebook.js";
import { findSandbox } from "../sandbox.js";
import { KernelChannels, type KernelMessage } from "./channels.js";
import { KernelProcess } from "./kernel-process.js";

export interface LocalExecutorOptions {
  /** how long to wait for a kernel to answer after an interrupt, in ms (default 10 s) */
  interruptGraceMs?: number;
  /** start this command instead of the cnnlab kernel ("{connection_file}" is replaced) */
  argv?: string[];
  /**
   * Run kernels in a bubblewrap sandbox: "auto" (default) when bwrap works here, true to require
   * it (an error otherwise), false never.
   */
  sandbox?: boolean | "auto";
  /** how often the memory watchdog looks, in ms (default 200) */
  memoryCheckMs?: number;
  /** output limits (characters) per cell and per notebook */
  cellOutputLimit?: number;
  notebookOutputLimit?: number;
}

const OUTPUT_TYPES = new Set(["stream", "display_data", "execute_result", "error", "clear_output"]);

interface Waiter {
  outputs: CellOutputs;
  executionCount: number | null;
  reply?: KernelMessage;
  idle: boolean;
  wake: () => void;
}

class LocalKernelSession implements KernelSession {
  readonly #waiters = new Map<string, Waiter>();
  readonly #died: Promise<"died">;
  #dead = false;
  #memoryExceeded: string | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  private readonly memoryLimitMb: number | undefined;

  constructor(
    private readonly kernel: KernelProcess,
    private readonly channels: KernelChannels,
    private readonly budget: OutputBudget,
    private readonly graceMs: number,
    memory?: { limitBytes: number; everyMs: number },
  ) {
    this.memoryLimitMb = memory ? Math.round(memory.limitBytes / 2 ** 20) : undefined;
    this.#died = kernel.exited.then(() => {
      this.#dead = true;
      return "died" as const;
    });
    channels.onMessage = (channel, msg) => this.#receive(channel, msg);
    if (memory) {
      this.#watchdog = setInterval(() => {
        if (this.#memoryExceeded !== undefined) return;
        const rss = kernel.residentBytes();
        if (rss > memory.limitBytes) {
          this.#memoryExceeded = `the kernel's processes used ${Math.round(rss / 2 ** 20)} MB of memory, more than the --memory limit of ${Math.round(memory.limitBytes / 2 ** 20)} MB; they were stopped`;
          kernel.killNow();
        }
      }, memory.everyMs);
      this.#watchdog.unref();
    }
  }

  #receive(channel: "shell" | "control" | "iopub", msg: KernelMessage): void {
    // Only messages answering a request of ours count: a message's parent names its cell.
    const w = this.#waiters.get(msg.parentId);
    if (!w) return;
    if (channel !== "iopub") {
      if (msg.msgType.endsWith("_reply")) {
        w.reply = msg;
        w.wake();
      }
      return;
    }
    const type = msg.msgType;
    if (msg.oversizedBytes !== undefined) {
      if (OUTPUT_TYPES.has(type)) w.outputs.addOversized(msg.oversizedBytes);
      return;
    }
    if (type === "status") {
      if (msg.content.execution_state === "idle") {
        w.idle = true;
        w.wake();
      }
      return;
    }
    if (type === "execute_input") {
      const n = msg.content.execution_count;
      w.executionCount = typeof n === "number" ? n : null;
      return;
    }
    if (type === "clear_output") {
      w.outputs.clear();
      return;
    }
    const out = outputFromMessage(type, msg.content);
    if (out) w.outputs.add(out);
  }

  /** Send a request; resolves when its reply and its idle status have come (or never). */
  #request(
    channel: "shell" | "control",
    msgType: string,
    content: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ): { waiter: Waiter; done: Promise<"done">; forget(): void } {
    let wake = (): void => undefined;
    const done = new Promise<"done">((resolve) => {
      wake = () => {
        if (waiter.reply !== undefined && waiter.idle) resolve("done");
      };
    });
    const waiter: Waiter = {
      outputs: this.budget.cell(),
      executionCount: null,
      idle: false,
      wake: () => wake(),
    };
    const id = this.channels.send(channel, msgType, content, metadata);
    this.#waiters.set(id, waiter);
    return { waiter, done, forget: () => this.#waiters.delete(id) };
  }

  /** Ask kernel_info until the kernel answers on shell and iopub (zeromq's slow joiner). */
  async ready(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.#dead) throw new Error(`the kernel exited before answering${this.#stderr()}`);
      const r = this.#request("shell", "kernel_info_request", {});
      const t = delay(500, "timeout");
      const first = await Promise.race([r.done, t, this.#died]);
      t.cancel();
      r.forget();
      if (first === "done") return;
    }
    throw new Error(`the kernel did not answer kernel_info within ${timeoutMs / 1000} s${this.#stderr()}`);
  }

  #stderr(): string {
    const e = this.kernel.stderr.trim();
    return e ? `:\n${e}` : "";
  }

  #diedMessage(): string {
    if (
      this.#memoryExceeded === undefined &&
      this.memoryLimitMb !== undefined &&
      this.kernel.memoryCgroupOom()
    ) {
      this.#memoryExceeded = `the kernel's processes needed more than the --memory limit of ${this.memoryLimitMb} MB; they were stopped`;
    }
    return this.#memoryExceeded ?? "the kernel process ended while running this cell";
  }

  async run(code: string, timeoutMs: number, options: RunOptions = {}): Promise<RunOutcome> {
    if (this.#dead) {
      return { status: "kernel-died", outputs: [], executionCount: null, message: "the kernel is dead" };
    }
    const r = this.#request(
      "shell",
      "execute_request",
      {
        code,
        silent: false,
        store_history: options.storeHistory !== false,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: false,
      },
      options.metadata,
    );
    const w = r.waiter;
    const result = (status: RunOutcome["status"], extra: Partial<RunOutcome> = {}): RunOutcome => ({
      status: status === "ok" && w.outputs.overflowed ? "error" : status,
      outputs: w.outputs.final(),
      executionCount: w.executionCount,
      ...extra,
    });
    try {
      const timer = delay(timeoutMs, "timeout");
      const first = await Promise.race([r.done, timer, this.#died]);
      timer.cancel();
      if (first === "died") return result("kernel-died", { message: this.#diedMessage() });
      if (first === "timeout") {
        this.kernel.interrupt();
        const grace = delay(this.graceMs, "timeout");
        const after = await Promise.race([r.done, grace, this.#died]);
        grace.cancel();
        if (after === "died") return result("kernel-died", { message: this.#diedMessage() });
        const recovered = after === "done";
        return result("timeout", {
          recovered,
          message: recovered
            ? `interrupted after ${timeoutMs / 1000} s`
            : `interrupted after ${timeoutMs / 1000} s; the kernel did not recover`,
        });
      }
      const status = w.reply?.content.status;
      const count = w.reply?.content.execution_count;
      return result(status === "ok" ? "ok" : "error", {
        executionCount: typeof count === "number" ? count : w.executionCount,
        message: status === "abort" ? "the execution was aborted" : undefined,
      });
    } finally {
      r.forget();
    }
  }

  /** Kill the kernel and everything it started, and wait until all of it is gone. */
  async shutdown(): Promise<void> {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.channels.close();
    await this.kernel.kill();
  }
}

function delay<T extends string>(ms: number, value: T): Promise<T> & { cancel(): void } {
  let t: NodeJS.Timeout | undefined;
  const p = new Promise<T>((resolve) => {
    t = setTimeout(() => resolve(value), ms);
  }) as Promise<T> & { cancel(): void };
  p.cancel = () => clearTimeout(t);
  return p;
}

export class LocalExecutor implements NotebookExecutor {
  readonly name = "local";
  /** the bwrap executable kernels run in, or undefined without a sandbox */
  readonly bwrap: string | undefined;
  /** why there is no sandbox (when there is none) */
  readonly sandboxProblem: string | undefined;

  constructor(private readonly opts: LocalExecutorOptions = {}) {
    const want = opts.sandbox ?? "auto";
    if (want === false) {
      this.sandboxProblem = "the sandbox was turned off";
    } else {
      const found = findSandbox();
      if (want === true && found.bwrap === undefined) {
        throw new Error(`grading: no sandbox: ${found.problem ?? "unknown reason"}`);
      }
      this.bwrap = found.bwrap;
      this.sandboxProblem = found.problem;
    }
  }

  get sandboxed(): boolean {
    return this.bwrap !== undefined;
  }

  async execute(nb: Notebook, options: ExecuteOptions): Promise<ExecutionResult> {
    const nodeArgs = options.memoryMb ? [`--max-old-space-size=${options.memoryMb}`] : [];
    const kernel = await KernelProcess.start({
      workDir: options.cwd,
      env: options.env,
      nodeArgs,
      argv: this.opts.argv,
      bwrap: this.bwrap,
      hide: options.hide ?? [],
      memoryLimitBytes: options.memoryMb ? options.memoryMb * 2 ** 20 : undefined,
    });
    const budget = new OutputBudget(this.opts.cellOutputLimit, this.opts.notebookOutputLimit);
    let session: LocalKernelSession | undefined;
    try {
      const channels = await KernelChannels.connect(kernel.connection, budget.cellLimit + 100_000);
      session = new LocalKernelSession(
        kernel,
        channels,
        budget,
        this.opts.interruptGraceMs ?? 10_000,
        options.memoryMb
          ? { limitBytes: options.memoryMb * 2 ** 20, everyMs: this.opts.memoryCheckMs ?? 200 }
          : undefined,
      );
      const startSeconds = options.startTimeoutSeconds ?? DEFAULT_START_TIMEOUT_SECONDS;
      await session.ready(startSeconds * 1000);
      kernel.sealConnection();
      return await runCellsInSession(session, nb, options.timeoutSeconds, startSeconds);
    } finally {
      if (session) await session.shutdown();
      else await kernel.kill();
    }
  }
}
