/**
 * The socket thread: owns the five zeromq sockets (shell, control, iopub, stdin, heartbeat), so
 * the heartbeat answers and messages flow while the main thread runs a cell synchronously.
 *
 * Incoming shell/control/stdin messages are checked (signature, framing, JSON) here; bad ones are
 * dropped and logged. Good ones are posted to the main thread as {kind: "msg", channel, msg, receivedAt}:
 * every request is answered by the handler (handler.ts) on the main thread, except kernel_info on
 * control, which a handler of its own answers here (same code, so it works while a cell runs).
 * This thread implements no protocol itself. The main thread posts {kind: "send", channel, msg, idents} and {kind: "close"};
 * the sockets are closed before the thread ends (terminating a thread with open sockets aborts the
 * process).
 *
 * Interrupts (interrupt.ts): an interrupt_request, or SIGINT (this thread listens for it, so it is
 * seen while the main thread is busy), marks the running execution as asked to stop in the shared
 * control block. If it is still running PREEMPT_AFTER_MS later, this thread pauses the main thread
 * through the inspector; when a cell's frame is on the stack (and no kernel frame above it), it
 * terminates the JavaScript that runs and tells the main thread, which restores the library's state.
 * A shutdown_request the main thread does not answer within 1.5 s is handled the same way, then (8 s on) by
 * closing the sockets and killing the process.
 */
import { appendFileSync } from "node:fs";
import { Session } from "node:inspector";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import type { Engine } from "./engine.js";
import { KernelHandler } from "./handler.js";
import { languageInfo } from "./info.js";
import {
  CELL_SCRIPT,
  isRequested,
  PREEMPT_AFTER_MS,
  RECEIVED,
  REQUEST,
  RUNNING,
  STARTED,
} from "./interrupt.js";
import {
  deserialize,
  endpoint,
  serialize,
  Signer,
  type ConnectionInfo,
  type JupyterMessage,
} from "./wire.js";

export interface WorkerInit {
  connection: ConnectionInfo;
  /** The session id of the main thread's handler. */
  session: string;
  implementationVersion: string;
  banner: string;
  logFile?: string;
  /** The interrupt control block (interrupt.ts). */
  control: SharedArrayBuffer;
}

export type ToMain =
  | { kind: "ready"; signals: boolean }
  | {
      kind: "msg";
      channel: "shell" | "control" | "stdin";
      msg: ReturnType<typeof deserialize>;
      receivedAt: number;
    }
  /** SIGINT arrived: the running execution was asked to stop (fail it if it is only awaiting). */
  | { kind: "interrupt" }
  /** Execution `seq` had its JavaScript terminated. */
  | { kind: "terminated"; seq: number }
  /** SIGTERM arrived or the Jupyter parent process is gone: exit (the running cell was interrupted). */
  | { kind: "terminate"; why: string }
  | { kind: "closed" }
  | { kind: "fatal"; error: string };

export type ToWorker =
  | {
      kind: "send";
      channel: "shell" | "control" | "iopub" | "stdin";
      msg: JupyterMessage;
      idents?: Uint8Array[];
    }
  | { kind: "close" };

const init = workerData as WorkerInit;
const port = parentPort!;
const signer = new Signer(init.connection.key ?? "", init.connection.signature_scheme || "hmac-sha256");
const ctl = new Int32Array(init.control);
const KERNEL_URL = pathToFileURL(dirname(fileURLToPath(import.meta.url))).href + "/";
process.emitWarning = (() => undefined) as typeof process.emitWarning;

function log(line: string): void {
  if (!init.logFile) return;
  try {
    appendFileSync(init.logFile, `${new Date().toISOString()} [sockets] ${line}\n`);
  } catch {
    // logging must never break the kernel
  }
}

/** zeromq 6 allows one pending send per socket: queue them. */
class SendQueue {
  #chain: Promise<void> = Promise.resolve();
  constructor(
    readonly socket: zmq.Writable & zmq.Socket,
    readonly name: string,
  ) {}
  send(frames: Buffer[]): void {
    this.#chain = this.#chain.then(async () => {
      if (this.socket.closed) return;
      try {
        await this.socket.send(frames);
      } catch (e) {
        log(`send on ${this.name} failed: ${(e as Error).message}`);
      }
    });
  }
  flushed(): Promise<void> {
    return this.#chain;
  }
}

const shell = new zmq.Router();
const control = new zmq.Router();
const stdin = new zmq.Router();
const iopub = new zmq.Publisher();
const hb = new zmq.Reply();
const sockets = [shell, control, stdin, iopub, hb];
for (const s of sockets) s.linger = 1000;

const queues = {
  shell: new SendQueue(shell, "shell"),
  control: new SendQueue(control, "control"),
  stdin: new SendQueue(stdin, "stdin"),
  iopub: new SendQueue(iopub, "iopub"),
};

async function receiveLoop(sock: zmq.Router, channel: "shell" | "control"): Promise<void> {
  try {
    for await (const frames of sock) {
      const receivedAt = performance.timeOrigin + performance.now();
      try {
        const msg = deserialize(frames, signer);
        if (channel === "control") {
          if (msg.header.msg_type === "kernel_info_request") {
            infoHandler.receive("control", msg, receivedAt);
            continue;
          }
          onControl(msg.header.msg_type);
        }
        if (channel === "shell" && msg.header.msg_type === "execute_request") forwardedExecutes++;
        port.postMessage({ kind: "msg", channel, msg, receivedAt } satisfies ToMain);
      } catch (e) {
        log(`dropped a message on ${channel}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    if (!sock.closed) log(`${channel} receive loop ended: ${(e as Error).message}`);
  }
}

async function heartbeat(): Promise<void> {
  try {
    for await (const frames of hb) await hb.send(frames);
  } catch (e) {
    if (!hb.closed) log(`heartbeat ended: ${(e as Error).message}`);
  }
}

/** input_reply messages (stdin.ts) go to the main thread at once, like shell and control ones. */
async function stdinLoop(): Promise<void> {
  try {
    for await (const frames of stdin) {
      const receivedAt = performance.timeOrigin + performance.now();
      try {
        const msg = deserialize(frames, signer);
        port.postMessage({ kind: "msg", channel: "stdin", msg, receivedAt } satisfies ToMain);
      } catch (e) {
        log(`dropped a message on stdin: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    if (!stdin.closed) log(`stdin receive loop ended: ${(e as Error).message}`);
  }
}

/** Answers kernel_info on control; it runs no code (its engine only describes the language). */
const infoEngine: Engine = {
  languageInfo,
  banner: init.banner,
  ready: () => Promise.resolve(),
  setIO: () => undefined,
  execute: () => Promise.reject(new Error("the socket thread runs no code")),
  complete: () => Promise.reject(new Error("the socket thread completes nothing")),
  inspect: () => Promise.reject(new Error("the socket thread inspects nothing")),
  isComplete: () => Promise.resolve({ status: "unknown" }),
  interrupt: () => undefined,
};
const infoHandler = new KernelHandler({
  engine: infoEngine,
  session: init.session,
  implementationVersion: init.implementationVersion,
  log,
  out: {
    send: (channel, msg, idents) => {
      if (closing) return;
      const topic = channel === "iopub" ? [Buffer.from(`kernel.${msg.header.msg_type}`)] : (idents ?? []);
      queues[channel].send(serialize(msg, signer, topic));
    },
  },
});

// ---------------------------------------------------------------- interrupts

let preemptTimer: ReturnType<typeof setTimeout> | undefined;
let forwardedExecutes = 0;

/** An interrupt is pending: for the running execution, or for requests main has not received yet. */
function interruptPending(): boolean {
  const r = Atomics.load(ctl, REQUEST);
  return isRequested(ctl) || (r < 0 && -r > Atomics.load(ctl, RECEIVED));
}
let pendingShutdown: ReturnType<typeof setTimeout> | undefined;

/** Asks the running execution to stop; terminates it later if it does not. */
function interruptMain(why: string): void {
  const seq = Atomics.load(ctl, RUNNING);
  const received = Atomics.load(ctl, RECEIVED);
  log(`${why}: execution ${seq || "(none)"} is running, ${forwardedExecutes - received} not yet received`);
  if (seq !== 0) Atomics.store(ctl, REQUEST, seq);
  else if (forwardedExecutes > received) Atomics.store(ctl, REQUEST, -forwardedExecutes);
  else return;
  schedulePreempt(seq, PREEMPT_AFTER_MS, false);
}

function schedulePreempt(seq: number, delay: number, force: boolean): void {
  clearTimeout(preemptTimer);
  preemptTimer = setTimeout(() => void preempt(seq, force), delay);
}

async function preempt(seq: number, force: boolean): Promise<void> {
  if (!force && !interruptPending()) return;
  seq = Atomics.load(ctl, RUNNING);
  if (!force && (seq === 0 || Atomics.load(ctl, STARTED) !== seq)) {
    // The cell's code has not started (kernel code runs: type checking, start-up): it will not start.
    schedulePreempt(seq, 100, false);
    return;
  }
  let outcome: string;
  try {
    outcome = await pauseAndTerminate(force);
  } catch (e) {
    outcome = `failed: ${(e as Error).message}`;
  }
  log(`preemptive interrupt of execution ${seq}: ${outcome}`);
  if (outcome === "terminated" && seq !== 0) port.postMessage({ kind: "terminated", seq } satisfies ToMain);
  else if (!force) schedulePreempt(seq, 200, false); // retry until the cell ends or reaches a cell frame
}

interface CallFrame {
  url?: string;
  functionName: string;
  location: { scriptId: string };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * Pauses the main thread; when a cell's frame is on its stack with no kernel frame above it (or
 * `force`), terminates the running JavaScript. Returns what was done.
 */
async function pauseAndTerminate(force: boolean): Promise<string> {
  const session = new Session();
  session.connectToMainThread();
  const post = (method: string, params?: object) =>
    withTimeout(
      new Promise<unknown>((resolve, reject) =>
        session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
      ),
      2000,
      method,
    );
  // Call frames name their script by id; Debugger.enable reports every script's url first.
  const urls = new Map<string, string>();
  session.on("Debugger.scriptParsed", (m) => {
    const p = m.params as { scriptId: string; url: string };
    urls.set(p.scriptId, p.url);
  });
  try {
    const paused = new Promise<CallFrame[]>((resolve) =>
      session.once("Debugger.paused", (m) =>
        resolve((m.params as { callFrames: CallFrame[] }).callFrames ?? []),
      ),
    );
    await post("Debugger.enable");
    await post("Debugger.pause");
    let frames: CallFrame[];
    try {
      frames = await withTimeout(paused, 1000, "Debugger.pause");
    } catch {
      await post("Debugger.disable").catch(() => undefined);
      return "the main thread ran no JavaScript";
    }
    const url = (fr: CallFrame) => fr.url || urls.get(fr.location.scriptId) || "";
    const cell = frames.findIndex((fr) => CELL_SCRIPT.test(url(fr)));
    const kernelAbove = frames.slice(0, cell < 0 ? 0 : cell).some((fr) => url(fr).startsWith(KERNEL_URL));
    if (cell < 0) log(`stack: ${frames.map((fr) => `${fr.functionName}@${url(fr)}`).join(" < ")}`);
    const terminate = force || (cell >= 0 && !kernelAbove);
    if (terminate) session.post("Runtime.terminateExecution");
    await post("Debugger.resume");
    await post("Debugger.disable").catch(() => undefined);
    if (terminate) return "terminated";
    return cell < 0 ? "no cell frame on the stack" : "kernel code is running";
  } finally {
    session.disconnect();
  }
}

/** Control requests that need this thread's help while the main thread may be busy. */
function onControl(type: string): void {
  if (type === "interrupt_request") interruptMain("interrupt_request");
  if (type === "shutdown_request" && !pendingShutdown) {
    pendingShutdown = setTimeout(() => {
      log("main thread busy 1.5 s after shutdown_request: terminating what it runs");
      void preempt(Atomics.load(ctl, RUNNING), true);
      // A main thread busy in the kernel's own code (loading the checker on a loaded machine) is
      // given time to finish and exit cleanly; the kill is for a main thread that never answers.
      pendingShutdown = setTimeout(() => {
        log("main thread did not answer shutdown_request: closing the sockets and killing the process");
        void close().then(() => process.kill(process.pid, "SIGKILL"));
      }, 8000);
    }, 1500);
  }
}

/**
 * SIGINT seen by this thread: Node delivers signals only to the main thread's event loop (which a
 * busy cell blocks), so this thread starts its own libuv signal watcher. Returns false when this
 * Node has no such binding (the main thread then handles SIGINT when it is free).
 */
function listenForSigint(): boolean {
  return watchSignal(2, "SIGINT", () => {
    interruptMain("SIGINT");
    port.postMessage({ kind: "interrupt" } satisfies ToMain);
  });
}

function watchSignal(signum: number, name: string, onSignal: () => void): boolean {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding(
      "signal_wrap",
    );
    const SignalWrap = binding.Signal as new () => {
      onsignal: (signum: number) => void;
      start(signum: number): number;
      unref(): void;
    };
    const watcher = new SignalWrap();
    watcher.onsignal = onSignal;
    if (watcher.start(signum) !== 0) return false;
    watcher.unref();
    return true;
  } catch (e) {
    log(`no ${name} watcher in the socket thread: ${(e as Error).message}`);
    return false;
  }
}

/** How long the main thread has to exit after SIGTERM before this thread kills the process. */
const TERMINATE_GRACE_MS = 3000;
let terminating = false;

/**
 * SIGTERM, or the exit of the Jupyter process that started the kernel (JPY_PARENT_PID), seen by
 * this thread: the main thread's listeners cannot run while a cell keeps it busy. The running
 * cell is interrupted and the main thread asked to exit; if it has not TERMINATE_GRACE_MS later,
 * this thread closes the sockets and kills the process.
 */
function terminateKernel(why: string): void {
  if (terminating) return;
  terminating = true;
  log(`${why}: the kernel exits`);
  interruptMain(why);
  port.postMessage({ kind: "terminate", why } satisfies ToMain);
  setTimeout(() => {
    log(`the main thread did not exit ${TERMINATE_GRACE_MS} ms after ${why}: killing the process`);
    void close().then(() => process.kill(process.pid, "SIGKILL"));
  }, TERMINATE_GRACE_MS).unref();
}

function watchTermination(): void {
  watchSignal(15, "SIGTERM", () => terminateKernel("SIGTERM"));
  const parentPid = Number(process.env.JPY_PARENT_PID);
  if (parentPid > 1) {
    setInterval(() => {
      try {
        process.kill(parentPid, 0);
      } catch {
        terminateKernel(`the parent process ${parentPid} is gone`);
      }
    }, 1000).unref();
  }
}

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  await Promise.all(Object.values(queues).map((q) => q.flushed()));
  for (const s of sockets) if (!s.closed) s.close();
  log("sockets closed");
  port.postMessage({ kind: "closed" } satisfies ToMain);
}

port.on("message", (m: ToWorker) => {
  if (m.kind === "send") {
    if (closing) return;
    const topic = m.channel === "iopub" ? [Buffer.from(`kernel.${m.msg.header.msg_type}`)] : (m.idents ?? []);
    queues[m.channel].send(serialize(m.msg, signer, topic));
  } else if (m.kind === "close") {
    if (pendingShutdown) clearTimeout(pendingShutdown);
    clearTimeout(preemptTimer);
    void close();
  }
});

async function main(): Promise<void> {
  const c = init.connection;
  try {
    await Promise.all([
      shell.bind(endpoint(c, "shell")),
      control.bind(endpoint(c, "control")),
      stdin.bind(endpoint(c, "stdin")),
      iopub.bind(endpoint(c, "iopub")),
      hb.bind(endpoint(c, "hb")),
    ]);
  } catch (e) {
    log(`bind failed: ${(e as Error).message}`);
    for (const s of sockets) if (!s.closed) s.close();
    port.postMessage({
      kind: "fatal",
      error: `cannot bind the kernel's sockets: ${(e as Error).message}`,
    } satisfies ToMain);
    return;
  }
  log(
    `listening on ${c.transport}://${c.ip} shell=${c.shell_port} control=${c.control_port} iopub=${c.iopub_port} stdin=${c.stdin_port} hb=${c.hb_port}`,
  );
  port.postMessage({ kind: "ready", signals: listenForSigint() } satisfies ToMain);
  watchTermination();
  void receiveLoop(shell, "shell");
  void receiveLoop(control, "control");
  void heartbeat();
  void stdinLoop();
}

void main();
