/**
 * Run submissions in local cnnlab kernels. Each submission gets a fresh kernel process (the
 * kernel's own zeromq client, kernel/client.ts) started in the submission's temporary folder with
 * CNNLAB_NUM_THREADS and, with --memory, `--max-old-space-size`. Cells are sent one at a time as
 * execute requests: the merged notebook with the hidden tests never touches the disk.
 *
 * The kernel client is loaded at run time, so importing the grading library does not load
 * zeromq, and grading never becomes a static dependency of the kernel or the other way round.
 */
import {
  DEFAULT_START_TIMEOUT_SECONDS,
  appendOutput,
  outputFromMessage,
  runCellsInSession,
  type ExecuteOptions,
  type ExecutionResult,
  type KernelSession,
  type NotebookExecutor,
  type RunOutcome,
} from "../executor.js";
import type { Notebook, Output } from "../notebook.js";

/** The parts of kernel/client.ts that grading uses. */
interface WireMessage {
  header: { msg_type: string; msg_id?: string };
  parent_header: { msg_id?: string; msg_type?: string };
  content: Record<string, unknown>;
}
interface KernelClientLike {
  onIopub: ((msg: WireMessage) => void) | undefined;
  request(
    msgType: string,
    content: Record<string, unknown>,
    options?: { timeoutMs?: number; waitIdle?: boolean },
  ): Promise<{ reply: WireMessage; outputs: WireMessage[] }>;
  interrupt(): void;
  exited(): Promise<number | null>;
  shutdown(restart?: boolean, timeoutMs?: number): Promise<unknown>;
  close(timeoutMs?: number): Promise<number | null>;
}
export interface KernelClientModule {
  KernelClient: {
    start(options: {
      cwd?: string;
      env?: Record<string, string>;
      nodeArgs?: string[];
      argv?: string[];
      startTimeoutMs?: number;
    }): Promise<KernelClientLike>;
  };
}

async function loadKernelClient(): Promise<KernelClientModule> {
  const errors: string[] = [];
  // dist/src/grading/executors/local.js → dist/kernel/client.js; from the sources (tests, tsx)
  // the TypeScript file is found instead.
  for (const rel of ["../../../kernel/client.js", "../../../kernel/client.ts"]) {
    try {
      return (await import(new URL(rel, import.meta.url).href)) as KernelClientModule;
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(
    `the local cnnlab kernel could not be loaded (${errors[0]}); build cnnlab (npm run build) or grade on a Jupyter server with --server URL --token T`,
  );
}

export interface LocalExecutorOptions {
  /** how long to wait for a kernel to answer after an interrupt, in ms (default 10 s) */
  interruptGraceMs?: number;
  /** start this command instead of the cnnlab kernel ("{connection_file}" is replaced) */
  argv?: string[];
  /** load the kernel client from elsewhere (tests) */
  loadClient?: () => Promise<KernelClientModule>;
}

function delay<T extends string>(ms: number, value: T): Promise<T> & { cancel(): void } {
  let t: NodeJS.Timeout | undefined;
  const p = new Promise<T>((resolve) => {
    t = setTimeout(() => resolve(value), ms);
  }) as Promise<T> & { cancel(): void };
  p.cancel = () => clearTimeout(t);
  return p;
}

const OUTPUT_TYPES = new Set(["stream", "display_data", "execute_result", "error", "clear_output"]);

class LocalKernelSession implements KernelSession {
  private current: { outputs: Output[]; executionCount: number | null } | undefined;
  private readonly died: Promise<"died">;
  private dead = false;

  constructor(
    private readonly client: KernelClientLike,
    private readonly graceMs: number,
  ) {
    this.died = client.exited().then(() => {
      this.dead = true;
      return "died" as const;
    });
    client.onIopub = (msg) => {
      const cur = this.current;
      if (!cur) return;
      const type = msg.header.msg_type;
      if (type === "execute_input") {
        cur.executionCount = (msg.content.execution_count as number | undefined) ?? null;
        return;
      }
      if (!OUTPUT_TYPES.has(type)) return;
      if (type === "clear_output") {
        cur.outputs.length = 0;
        return;
      }
      const out = outputFromMessage(type, msg.content);
      if (out) appendOutput(cur.outputs, out);
    };
  }

  async run(code: string, timeoutMs: number, options: { storeHistory?: boolean } = {}): Promise<RunOutcome> {
    if (this.dead) {
      return { status: "kernel-died", outputs: [], executionCount: null, message: "the kernel is dead" };
    }
    const cur = { outputs: [] as Output[], executionCount: null as number | null };
    this.current = cur;
    const reply = this.client
      .request("execute_request", {
        code,
        silent: false,
        store_history: options.storeHistory !== false,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: false,
      })
      .then(
        (r) => r.reply,
        () => undefined,
      );
    const timer = delay(timeoutMs, "timeout");
    const first = await Promise.race([reply, timer, this.died]);
    timer.cancel();
    try {
      if (first === "died") {
        return {
          status: "kernel-died",
          outputs: cur.outputs,
          executionCount: cur.executionCount,
          message: "the kernel process ended while running this cell",
        };
      }
      if (first === "timeout") {
        this.client.interrupt();
        const grace = delay(this.graceMs, "timeout");
        const after = await Promise.race([reply, grace, this.died]);
        grace.cancel();
        const recovered = after !== "timeout" && after !== "died";
        return {
          status: "timeout",
          outputs: cur.outputs,
          executionCount: cur.executionCount,
          recovered,
          message: recovered
            ? `interrupted after ${timeoutMs / 1000} s`
            : `interrupted after ${timeoutMs / 1000} s; the kernel did not recover`,
        };
      }
      const status = first?.content.status;
      const count = first?.content.execution_count;
      return {
        status: status === "ok" ? "ok" : "error",
        outputs: cur.outputs,
        executionCount: typeof count === "number" ? count : cur.executionCount,
        message: status === "abort" ? "the execution was aborted" : undefined,
      };
    } finally {
      this.current = undefined;
    }
  }

  async shutdown(): Promise<void> {
    if (this.dead) {
      await this.client.close(0);
      return;
    }
    await this.client.shutdown(false, 5000).catch(() => this.client.close(0));
  }
}

export class LocalExecutor implements NotebookExecutor {
  readonly name = "local";

  constructor(private readonly opts: LocalExecutorOptions = {}) {}

  async execute(nb: Notebook, options: ExecuteOptions): Promise<ExecutionResult> {
    const mod = await (this.opts.loadClient ?? loadKernelClient)();
    const nodeArgs = options.memoryMb ? [`--max-old-space-size=${options.memoryMb}`] : [];
    const client = await mod.KernelClient.start({
      cwd: options.cwd,
      env: options.env,
      nodeArgs,
      argv: this.opts.argv,
    });
    const session = new LocalKernelSession(client, this.opts.interruptGraceMs ?? 10_000);
    try {
      return await runCellsInSession(
        session,
        nb,
        options.timeoutSeconds,
        options.startTimeoutSeconds ?? DEFAULT_START_TIMEOUT_SECONDS,
      );
    } finally {
      await session.shutdown();
    }
  }
}
