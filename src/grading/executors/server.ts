/**
 * Run submissions on a Jupyter server (jupyter_server, JupyterHub's single-user servers, Enterprise
 * Gateway) through @jupyterlab/services. For each submission a fresh folder is made on the server
 * through the contents API, the files of the local working folder (the submission only) are
 * uploaded there, and a session started on it gives a fresh kernel whose working directory is that
 * folder. Cells are sent over the kernel's WebSocket; hidden tests are never written to disk.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import {
  ContentsManager,
  KernelManager,
  ServerConnection,
  SessionManager,
  type Kernel,
  type KernelMessage,
  type Session,
} from "@jupyterlab/services";
import {
  DEFAULT_START_TIMEOUT_SECONDS,
  OutputBudget,
  outputFromMessage,
  runCellsInSession,
  type ExecuteOptions,
  type ExecutionResult,
  type KernelSession,
  type NotebookExecutor,
  type RunOptions,
  type RunOutcome,
} from "../executor.js";
import type { Notebook } from "../notebook.js";

export interface JupyterServerOptions {
  /** e.g. http://127.0.0.1:8888/ (JupyterHub: https://hub.example.org/user/NAME/) */
  baseUrl: string;
  token: string;
  /** WebSocket URL; derived from baseUrl when omitted */
  wsUrl?: string;
  /** how long to wait for a kernel to answer after an interrupt, in ms (default 10 s) */
  interruptGraceMs?: number;
  /** how long to wait for a new kernel to become ready, in ms (default 60 s) */
  startTimeoutMs?: number;
}

/**
 * @jupyterlab/services reports its connection life cycle with console.debug/console.warn
 * ("Starting WebSocket: ...", "Kernel: restarting (...)", "Connection lost, reconnecting ...").
 * While an executor is open those lines are dropped; everything else passes through.
 */
const LIBRARY_NOISE = /^(Starting WebSocket: |Kernel: \w+ \(|Connection lost, reconnecting in )/;
let quietCount = 0;
let restoreConsole: (() => void) | undefined;
function quietLibraryLogs(): () => void {
  if (quietCount++ === 0) {
    const { debug, warn } = console;
    const filter =
      (orig: (...a: unknown[]) => void) =>
      (...args: unknown[]): void => {
        if (typeof args[0] === "string" && LIBRARY_NOISE.test(args[0])) return;
        orig.apply(console, args);
      };
    console.debug = filter(debug);
    console.warn = filter(warn);
    restoreConsole = () => {
      console.debug = debug;
      console.warn = warn;
    };
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--quietCount === 0) restoreConsole?.();
  };
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : url + "/";
}

const DEAD_STATES = new Set<Kernel.Status>(["dead", "autorestarting", "restarting"]);

function delay(ms: number): Promise<"timeout"> & { cancel(): void } {
  let t: NodeJS.Timeout | undefined;
  const p = new Promise<"timeout">((resolve) => {
    t = setTimeout(() => resolve("timeout"), ms);
  }) as Promise<"timeout"> & { cancel(): void };
  p.cancel = () => clearTimeout(t);
  return p;
}

/** One kernel on the server, driven cell by cell. */
class ServerKernelSession implements KernelSession {
  private died = false;
  private readonly diedWaiters: Array<() => void> = [];

  constructor(
    private readonly session: Session.ISessionConnection,
    private readonly kernel: Kernel.IKernelConnection,
    private readonly interruptGraceMs: number,
    private readonly budget: OutputBudget,
  ) {
    kernel.statusChanged.connect((_k, status) => {
      if (DEAD_STATES.has(status)) this.markDead();
    });
  }

  private markDead(): void {
    if (this.died) return;
    this.died = true;
    for (const w of this.diedWaiters.splice(0)) w();
  }

  private whenDead(): Promise<"died"> {
    return new Promise((resolve) => {
      if (this.died) resolve("died");
      else this.diedWaiters.push(() => resolve("died"));
    });
  }

  async run(code: string, timeoutMs: number, options: RunOptions = {}): Promise<RunOutcome> {
    if (this.died) {
      return { status: "kernel-died", outputs: [], executionCount: null, message: "the kernel is dead" };
    }
    const cellOutputs = this.budget.cell();
    let executionCount: number | null = null;
    const future = this.kernel.requestExecute(
      {
        code,
        silent: false,
        store_history: options.storeHistory !== false,
        allow_stdin: false,
        stop_on_error: false,
      },
      true,
      (options.metadata ?? {}) as Parameters<Kernel.IKernelConnection["requestExecute"]>[2],
    );
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      const type = msg.header.msg_type;
      if (type === "clear_output") {
        cellOutputs.clear();
        return;
      }
      if (type === "execute_input") {
        executionCount = (msg.content as { execution_count?: number }).execution_count ?? null;
        return;
      }
      const out = outputFromMessage(type, msg.content as Record<string, unknown>);
      if (out) cellOutputs.add(out);
    };

    const done = future.done.then(
      (reply) => reply,
      () => undefined,
    );
    const timer = delay(timeoutMs);
    const first = await Promise.race([done, timer, this.whenDead()]);
    timer.cancel();
    if (first === "died") {
      future.dispose();
      return {
        status: "kernel-died",
        outputs: cellOutputs.final(),
        executionCount,
        message: "the kernel died while running this cell",
      };
    }
    if (first === "timeout") {
      try {
        await this.kernel.interrupt();
      } catch {
        // an interrupt that cannot be sent is handled like one that does not work
      }
      const grace = delay(this.interruptGraceMs);
      const after = await Promise.race([done, grace, this.whenDead()]);
      grace.cancel();
      const recovered = after !== "timeout" && after !== "died";
      if (!recovered) future.dispose();
      return {
        status: "timeout",
        outputs: cellOutputs.final(),
        executionCount,
        recovered,
        message: recovered
          ? `interrupted after ${timeoutMs / 1000} s`
          : `interrupted after ${timeoutMs / 1000} s; the kernel did not recover`,
      };
    }
    const status = first?.content.status;
    if (first && first.content.execution_count !== undefined) {
      executionCount = (first.content as { execution_count: number }).execution_count;
    }
    return {
      status: status === "ok" && !cellOutputs.overflowed ? "ok" : "error",
      outputs: cellOutputs.final(),
      executionCount,
      message: status === "abort" ? "the execution was aborted" : undefined,
    };
  }

  async shutdown(): Promise<void> {
    if (this.died && this.kernel.connectionStatus !== "connected") {
      // After a death the server restarts the kernel and the client reconnects on its own;
      // disposing in the middle of that reconnect leaves a rejected promise behind.
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 10_000);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.kernel.connectionStatusChanged.connect((_k, s) => {
          if (s !== "connecting") done();
        });
      });
    }
    try {
      await this.session.shutdown();
    } catch {
      // the kernel may already be gone
    }
    this.session.dispose();
  }
}

export class JupyterServerExecutor implements NotebookExecutor {
  readonly name = "jupyter-server";
  private readonly settings: ServerConnection.ISettings;
  private readonly kernels: KernelManager;
  private readonly sessions: SessionManager;
  private readonly contents: ContentsManager;
  private readonly releaseConsole = quietLibraryLogs();

  constructor(private readonly opts: JupyterServerOptions) {
    const baseUrl = withSlash(opts.baseUrl);
    const wsUrl = opts.wsUrl ?? baseUrl.replace(/^http/, "ws");
    this.settings = ServerConnection.makeSettings({
      baseUrl,
      wsUrl,
      token: opts.token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    this.kernels = new KernelManager({ serverSettings: this.settings });
    this.sessions = new SessionManager({ kernelManager: this.kernels, serverSettings: this.settings });
    this.contents = new ContentsManager({ serverSettings: this.settings });
  }

  async execute(nb: Notebook, options: ExecuteOptions): Promise<ExecutionResult> {
    // A fresh folder on the server holding what the local working folder holds (the submission).
    const dir = `cnnlab-grade-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    await this.contents.save(dir, { type: "directory" });
    const files = (await fs.readdir(options.cwd, { withFileTypes: true })).filter((f) => f.isFile());
    const uploaded: string[] = [];
    let kernelSession: ServerKernelSession | undefined;
    try {
      for (const f of files) {
        const content = await fs.readFile(path.join(options.cwd, f.name), "utf8");
        const remote = `${dir}/${f.name}`;
        await this.contents.save(remote, { type: "file", format: "text", content });
        uploaded.push(remote);
      }
      const anchor = uploaded[0] ?? `${dir}/submission.ipynb`;
      const session = await this.sessions.startNew({
        path: anchor,
        name: path.posix.basename(anchor),
        type: "notebook",
        kernel: { name: options.kernelName },
      });
      const kernel = session.kernel;
      if (!kernel) throw new Error(`the server started no kernel "${options.kernelName}"`);
      kernelSession = new ServerKernelSession(
        session,
        kernel,
        this.opts.interruptGraceMs ?? 10_000,
        new OutputBudget(),
      );
      const ready = delay(this.opts.startTimeoutMs ?? 60_000);
      const info = await Promise.race([kernel.info.then(() => "ok" as const), ready]);
      ready.cancel();
      if (info === "timeout") throw new Error(`kernel "${options.kernelName}" did not become ready`);
      return await runCellsInSession(
        kernelSession,
        nb,
        options.timeoutSeconds,
        options.startTimeoutSeconds ?? DEFAULT_START_TIMEOUT_SECONDS,
      );
    } finally {
      await kernelSession?.shutdown();
      for (const f of uploaded) await this.contents.delete(f).catch(() => undefined);
      await this.contents.delete(dir).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.sessions.dispose();
    this.kernels.dispose();
    this.contents.dispose();
    this.releaseConsole();
  }
}
