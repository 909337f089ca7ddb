/**
 * The socket thread: owns the five zeromq sockets (shell, control, iopub, stdin, heartbeat), so
 * the heartbeat answers and messages flow while the main thread runs a cell synchronously.
 *
 * Incoming shell/control messages are checked (signature, framing, JSON) here; bad ones are dropped
 * and logged. Good ones are posted to the main thread as {kind: "msg", channel, msg, receivedAt}.
 * The main thread posts {kind: "send", channel, msg, idents} and {kind: "close"}; the sockets are
 * closed before the thread ends (terminating a thread with open sockets aborts the process).
 */
import { appendFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import * as zmq from "zeromq";
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

export interface WorkerInit {
  connection: ConnectionInfo;
  logFile?: string;
}

export type ToMain =
  | { kind: "ready" }
  | { kind: "msg"; channel: "shell" | "control"; msg: ReturnType<typeof deserialize>; receivedAt: number }
  | { kind: "closed" }
  | { kind: "fatal"; error: string };

export type ToWorker =
  | {
      kind: "send";
      channel: "shell" | "control" | "iopub" | "stdin";
      msg: JupyterMessage;
      idents?: Uint8Array[];
    }
  | { kind: "close" }
  /** Lets this thread answer control requests itself while the main thread is busy. */
  | { kind: "kernelInfo"; content: Record<string, unknown>; session: string };

const init = workerData as WorkerInit;
const port = parentPort!;
const signer = new Signer(init.connection.key ?? "", init.connection.signature_scheme || "hmac-sha256");

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
        if (channel === "control" && answerControl(msg)) continue;
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

async function drainStdin(): Promise<void> {
  try {
    for await (const frames of stdin) {
      log(`ignored a stdin message (${frames.length} frames): input requests are not supported`);
    }
  } catch {
    // closed
  }
}

let kernelInfo: { content: Record<string, unknown>; session: string } | undefined;
let pendingShutdown: ReturnType<typeof setTimeout> | undefined;

function sendFromHere(
  channel: "control" | "iopub",
  req: IncomingMessage,
  msgType: string,
  content: Record<string, unknown>,
): void {
  const msg: JupyterMessage = {
    header: makeHeader(msgType, kernelInfo?.session ?? "cnnlab"),
    parent_header: req.header,
    metadata: {},
    content,
  };
  queues[channel].send(
    serialize(msg, signer, channel === "iopub" ? [Buffer.from(`kernel.${msgType}`)] : req.idents),
  );
}

/**
 * Control requests this thread answers itself, so they work while a cell runs synchronously:
 * kernel_info (static content), interrupt (SIGINT to this process, which breaks the running cell)
 * and, when the main thread does not answer a shutdown within 1.5 s, shutdown.
 */
function answerControl(req: IncomingMessage): boolean {
  const type = req.header.msg_type;
  if (type === "kernel_info_request" && kernelInfo) {
    sendFromHere("iopub", req, "status", { execution_state: "busy" });
    sendFromHere("control", req, "kernel_info_reply", kernelInfo.content);
    sendFromHere("iopub", req, "status", { execution_state: "idle" });
    return true;
  }
  if (type === "interrupt_request") {
    sendFromHere("iopub", req, "status", { execution_state: "busy" });
    log("interrupt_request: sending SIGINT to the kernel process");
    process.kill(process.pid, "SIGINT");
    sendFromHere("control", req, "interrupt_reply", { status: "ok" });
    sendFromHere("iopub", req, "status", { execution_state: "idle" });
    return true;
  }
  if (type === "shutdown_request") {
    pendingShutdown = setTimeout(() => {
      log("main thread busy: answering shutdown_request from the socket thread and killing the process");
      sendFromHere("control", req, "shutdown_reply", { status: "ok", restart: !!req.content.restart });
      void close().then(() => process.kill(process.pid, "SIGKILL"));
    }, 1500);
  }
  return false;
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
    void close();
  } else if (m.kind === "kernelInfo") {
    kernelInfo = { content: m.content, session: m.session };
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
  port.postMessage({ kind: "ready" } satisfies ToMain);
  void receiveLoop(shell, "shell");
  void receiveLoop(control, "control");
  void heartbeat();
  void drainStdin();
}

void main();
