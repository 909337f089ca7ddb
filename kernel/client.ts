/**
 * A small Jupyter client on zeromq: starts a kernel process (ours by default) with a fresh
 * connection file and talks to it. Used by the headless runner and by the tests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { kernelArgv, kernelMainJs, requireBuilt } from "./paths.js";
import {
  deserialize,
  endpoint,
  makeHeader,
  serialize,
  Signer,
  type ConnectionInfo,
  type IncomingMessage,
  type JupyterMessage,
} from "./wire.js";

export interface StartOptions {
  /** Working directory of the kernel process. */
  cwd?: string;
  /** Extra environment for the kernel. */
  env?: Record<string, string>;
  /** Extra node arguments, e.g. ["--max-old-space-size=2048"]. */
  nodeArgs?: string[];
  /** Full command to start instead of our kernel; "{connection_file}" is replaced. */
  argv?: string[];
  /** Signing key ("" for unsigned). Default: random. */
  key?: string;
  /** How long to wait for the kernel to answer (ms, default 60 000). */
  startTimeoutMs?: number;
}

export interface ExecuteResult {
  reply: IncomingMessage;
  /** iopub messages for the request between busy and idle (status and execute_input excluded). */
  outputs: IncomingMessage[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function makeConnection(key = randomBytes(16).toString("hex")): Promise<ConnectionInfo> {
  const ports: number[] = [];
  while (ports.length < 5) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return {
    transport: "tcp",
    ip: "127.0.0.1",
    shell_port: ports[0],
    control_port: ports[1],
    iopub_port: ports[2],
    stdin_port: ports[3],
    hb_port: ports[4],
    key,
    signature_scheme: "hmac-sha256",
    kernel_name: "cnnlab",
  };
}

interface Collector {
  outputs: IncomingMessage[];
  idle: () => void;
  gotIdle: boolean;
}

export class KernelClient {
  readonly session = randomUUID();
  readonly signer: Signer;
  // The kernel sends input requests to the identity of the shell socket that sent the
  // execute_request, on the stdin socket: both carry the session id as identity (as jupyter_client).
  readonly shell = new zmq.Dealer({ routingId: this.session });
  readonly control = new zmq.Dealer();
  readonly iopub = new zmq.Subscriber();
  readonly stdin = new zmq.Dealer({ routingId: this.session });
  /**
   * Answers input requests (execute with allowStdin): its result is sent as the input_reply;
   * `undefined` sends nothing (the request stays unanswered, e.g. to interrupt it).
   */
  onInputRequest: ((msg: IncomingMessage) => string | undefined | Promise<string | undefined>) | undefined;
  /** Every input_request received, in order. */
  readonly inputRequests: IncomingMessage[] = [];
  process: ChildProcess | undefined;
  /** Date.now() when the kernel process was spawned. */
  startedAt: number | undefined;
  /** Date.now() when the first kernel_info reply arrived (set by start/waitForReady). */
  firstKernelInfoAt: number | undefined;
  /** Called with every iopub message. */
  onIopub: ((msg: IncomingMessage) => void) | undefined;
  #replies = new Map<string, (m: IncomingMessage) => void>();
  #collectors = new Map<string, Collector>();
  #tmpDir: string | undefined;
  #closed = false;
  #exit: Promise<number | null> | undefined;

  constructor(readonly connection: ConnectionInfo) {
    this.signer = new Signer(connection.key, connection.signature_scheme);
    for (const s of [this.shell, this.control, this.iopub, this.stdin]) s.linger = 0;
  }

  /** Start a kernel process and connect to it. */
  static async start(options: StartOptions = {}): Promise<KernelClient> {
    const connection = await makeConnection(options.key);
    const dir = mkdtempSync(join(tmpdir(), "cnnlab-kernel-"));
    const file = join(dir, "connection.json");
    writeFileSync(file, JSON.stringify(connection));
    const argv = options.argv
      ? options.argv.map((a) => a.replace("{connection_file}", file))
      : (requireBuilt(kernelMainJs, "the compiled kernel"), kernelArgv(options.nodeArgs, file));
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const client = new KernelClient(connection);
    client.startedAt = Date.now();
    client.process = child;
    client.#tmpDir = dir;
    client.#exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += String(d)));
    child.stdout?.resume();
    await client.connect();
    try {
      await client.waitForReady(options.startTimeoutMs ?? 60_000);
    } catch (e) {
      await client.close();
      throw new Error(`${(e as Error).message}${stderr ? `\nkernel stderr:\n${stderr}` : ""}`);
    }
    return client;
  }

  async connect(): Promise<void> {
    const c = this.connection;
    this.shell.connect(endpoint(c, "shell"));
    this.control.connect(endpoint(c, "control"));
    this.iopub.connect(endpoint(c, "iopub"));
    this.iopub.subscribe();
    this.stdin.connect(endpoint(c, "stdin"));
    void this.#stdinLoop();
    void this.#loop(this.shell);
    void this.#loop(this.control);
    void this.#iopubLoop();
  }

  async #loop(sock: zmq.Dealer): Promise<void> {
    try {
      for await (const frames of sock) {
        let msg: IncomingMessage;
        try {
          msg = deserialize(frames, this.signer);
        } catch {
          continue;
        }
        const id = msg.parent_header.msg_id;
        const r = id ? this.#replies.get(id) : undefined;
        if (r && id) {
          this.#replies.delete(id);
          r(msg);
        }
      }
    } catch {
      // closed
    }
  }

  async #stdinLoop(): Promise<void> {
    try {
      for await (const frames of this.stdin) {
        let msg: IncomingMessage;
        try {
          msg = deserialize(frames, this.signer);
        } catch {
          continue;
        }
        if (msg.header.msg_type !== "input_request") continue;
        this.inputRequests.push(msg);
        const value = await this.onInputRequest?.(msg);
        if (value !== undefined) await this.inputReply(value, msg.header);
      }
    } catch {
      // closed
    }
  }

  /** Send an input_reply on the stdin socket (parent: the input_request's header, when given). */
  async inputReply(value: string, parent: Partial<JupyterMessage["header"]> = {}): Promise<void> {
    const msg: JupyterMessage = {
      header: makeHeader("input_reply", this.session, "client"),
      parent_header: parent,
      metadata: {},
      content: { value },
    };
    await this.stdin.send(serialize(msg, this.signer));
  }

  async #iopubLoop(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        let msg: IncomingMessage;
        try {
          msg = deserialize(frames, this.signer);
        } catch {
          continue;
        }
        this.#iopubSeen = true;
        for (const w of this.#iopubWaiters.splice(0)) w();
        this.onIopub?.(msg);
        const id = msg.parent_header.msg_id;
        const col = id ? this.#collectors.get(id) : undefined;
        if (!col) continue;
        if (msg.header.msg_type === "status") {
          if (msg.content.execution_state === "idle") {
            col.gotIdle = true;
            col.idle();
          }
        } else if (msg.header.msg_type !== "execute_input") {
          col.outputs.push(msg);
        }
      }
    } catch {
      // closed
    }
  }

  /** Send raw frames on the shell socket (for tests of bad input). */
  async sendRaw(frames: Buffer[], channel: "shell" | "control" = "shell"): Promise<void> {
    await (channel === "shell" ? this.shell : this.control).send(frames);
  }

  #sendQueue: Promise<unknown> = Promise.resolve();

  /** Send a request; resolves with the reply and the iopub outputs (after idle). */
  request(
    msgType: string,
    content: Record<string, unknown>,
    options: { channel?: "shell" | "control"; timeoutMs?: number; waitIdle?: boolean; msgId?: string } = {},
  ): Promise<ExecuteResult> {
    const msg: JupyterMessage = {
      header: makeHeader(msgType, this.session, "client"),
      parent_header: {},
      metadata: {},
      content,
    };
    if (options.msgId) msg.header.msg_id = options.msgId;
    const id = msg.header.msg_id;
    const sock = options.channel === "control" ? this.control : this.shell;
    const waitIdle = options.waitIdle !== false;
    return new Promise<ExecuteResult>((resolve, reject) => {
      let reply: IncomingMessage | undefined;
      const col: Collector = { outputs: [], gotIdle: false, idle: () => finish() };
      const timer =
        options.timeoutMs !== undefined
          ? setTimeout(() => {
              cleanup();
              reject(new Error(`timeout: no ${msgType} reply within ${options.timeoutMs} ms`));
            }, options.timeoutMs)
          : undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        this.#replies.delete(id);
        this.#collectors.delete(id);
      };
      const finish = () => {
        if (reply && (col.gotIdle || !waitIdle)) {
          cleanup();
          resolve({ reply, outputs: col.outputs });
        }
      };
      this.#replies.set(id, (m) => {
        reply = m;
        finish();
      });
      this.#collectors.set(id, col);
      const frames = serialize(msg, this.signer);
      this.#sendQueue = this.#sendQueue
        .then(() => sock.send(frames))
        .catch((e) => {
          cleanup();
          reject(e);
        });
    });
  }

  /** Execute code; resolves after the reply and the idle status. */
  execute(
    code: string,
    options: {
      timeoutMs?: number;
      silent?: boolean;
      storeHistory?: boolean;
      stopOnError?: boolean;
      msgId?: string;
      /** Let the kernel send input requests (answered by onInputRequest). */
      allowStdin?: boolean;
    } = {},
  ): Promise<ExecuteResult> {
    return this.request(
      "execute_request",
      {
        code,
        silent: !!options.silent,
        store_history: options.storeHistory !== false,
        user_expressions: {},
        allow_stdin: !!options.allowStdin,
        stop_on_error: options.stopOnError !== false,
      },
      { timeoutMs: options.timeoutMs, msgId: options.msgId },
    );
  }

  /** Ask kernel_info until the iopub subscription works (zeromq's slow-joiner problem). */
  async waitForReady(timeoutMs = 60_000): Promise<IncomingMessage> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.process && this.process.exitCode !== null)
        throw new Error(`the kernel exited with code ${this.process.exitCode} before answering`);
      try {
        const r = await this.request("kernel_info_request", {}, { timeoutMs: 1000, waitIdle: false });
        this.firstKernelInfoAt ??= Date.now();
        // The reply came; wait until iopub delivers too (the subscription may still be joining).
        if (this.#iopubSeen || (await this.#waitIopub(300))) return r.reply;
      } catch {
        // no reply yet
      }
      if (Date.now() > end) throw new Error(`the kernel did not answer kernel_info within ${timeoutMs} ms`);
    }
  }

  #iopubSeen = false;
  #iopubWaiters: (() => void)[] = [];
  #waitIopub(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.#iopubWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  interrupt(): void {
    this.process?.kill("SIGINT");
  }

  /** shutdown_request on control, then wait for the process to exit. */
  async shutdown(restart = false, timeoutMs = 10_000): Promise<IncomingMessage | undefined> {
    let reply: IncomingMessage | undefined;
    try {
      reply = (
        await this.request(
          "shutdown_request",
          { restart },
          { channel: "control", timeoutMs, waitIdle: false },
        )
      ).reply;
    } catch {
      // fall through to kill
    }
    await this.close(timeoutMs);
    return reply;
  }

  /** Close sockets; kill the process if it has not exited within timeoutMs. */
  async close(timeoutMs = 5000): Promise<number | null> {
    if (!this.#closed) {
      this.#closed = true;
      for (const s of [this.shell, this.control, this.iopub, this.stdin]) if (!s.closed) s.close();
    }
    let code: number | null = null;
    if (this.process && this.#exit) {
      const timer = setTimeout(() => this.process?.kill("SIGKILL"), timeoutMs);
      if (this.process.exitCode === null && this.process.signalCode === null && timeoutMs === 0)
        this.process.kill("SIGKILL");
      code = await this.#exit;
      clearTimeout(timer);
    }
    if (this.#tmpDir) rmSync(this.#tmpDir, { recursive: true, force: true });
    return code;
  }

  /** The exit code, once the process ended. */
  exited(): Promise<number | null> {
    return this.#exit ?? Promise.resolve(null);
  }
}
