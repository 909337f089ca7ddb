/**
 * The request handler: a plain object that turns incoming Jupyter requests into replies and iopub
 * messages. It knows nothing of sockets (the transport calls `receive` and gives it an `Outbound`)
 * and evaluates code only through an `Engine`, so it is tested with a fake engine.
 */
import { randomUUID } from "node:crypto";
import type { DisplayPayload } from "./display.js";
import type { Engine, EngineIO, ErrorInfo, ExecuteOutcome } from "./engine.js";
import { KeyboardInterrupt } from "./interrupt.js";
import { STDIN_ALTERNATIVE, StdinNotImplementedError, type InputSource } from "./stdin.js";
import {
  makeHeader,
  PROTOCOL_VERSION,
  type IncomingMessage,
  type JupyterMessage,
  type MessageHeader,
} from "./wire.js";

export type OutChannel = "shell" | "control" | "iopub" | "stdin";

export interface Outbound {
  send(channel: OutChannel, msg: JupyterMessage, idents?: Uint8Array[]): void;
}

export interface HandlerOptions {
  engine: Engine;
  out: Outbound;
  /** Called after the shutdown reply has been handed to the transport. */
  onShutdown?: (restart: boolean) => void;
  log?: (line: string) => void;
  implementationVersion?: string;
  /** The session id of the kernel's messages (default: a new one). */
  session?: string;
  /** Clock for the "abort only already-queued requests" rule (ms, same clock as receivedAt). */
  now?: () => number;
  /** Stream output is sent at the latest after this many ms (default 50). */
  streamFlushMs?: number;
  /** Stream output is sent at once when this many characters are pending (default 64 Ki). */
  streamFlushChars?: number;
}

export interface HistoryEntry {
  session: number;
  line: number;
  input: string;
  output: string | null;
}

const SESSION_NUMBER = 1;

/** A cursor position (code points) within [0, length]; the end when missing or not a number. */
function clampCursor(pos: unknown, length: number): number {
  const n = Number(pos);
  if (pos === undefined || pos === null || !Number.isFinite(n)) return length;
  return Math.max(0, Math.min(length, Math.trunc(n)));
}

function isHeader(x: unknown): x is MessageHeader {
  return typeof x === "object" && x !== null && typeof (x as { msg_id?: unknown }).msg_id === "string";
}

export class KernelHandler {
  readonly session: string;
  executionCount = 0;
  readonly history: HistoryEntry[] = [];

  readonly #engine: Engine;
  readonly #out: Outbound;
  readonly #opts: HandlerOptions;
  #shellQueue: Promise<void> = Promise.resolve();
  #controlQueue: Promise<void> = Promise.resolve();
  #pending = 0;
  #abortBefore = -Infinity;
  #outputParent: Partial<MessageHeader> = {};
  #streams: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  #streamOrder: ("stdout" | "stderr")[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #lastOutputText = "";
  #lastFlush = -Infinity;
  /** Where input requests of the running execute_request go (undefined while none runs). */
  #stdinTarget: { parent: MessageHeader; idents: Uint8Array[]; allowed: boolean } | undefined;
  #pendingInput:
    { id: string; source: InputSource; resolve: (v: string) => void; reject: (e: Error) => void } | undefined;

  constructor(options: HandlerOptions) {
    this.#opts = options;
    this.session = options.session ?? randomUUID();
    this.#engine = options.engine;
    this.#out = options.out;
    this.#engine.setIO(this.#makeIO());
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  #now(): number {
    return this.#opts.now ? this.#opts.now() : performance.timeOrigin + performance.now();
  }

  /** Entry point for the transport. `receivedAt` is when the socket thread got the message. */
  receive(channel: "shell" | "control", msg: IncomingMessage, receivedAt: number = this.#now()): void {
    this.#pending++;
    const run = async () => {
      try {
        await this.#handle(channel, msg, receivedAt);
      } catch (e) {
        this.#log(`error handling ${msg.header.msg_type}: ${(e as Error)?.stack ?? String(e)}`);
      } finally {
        this.#pending--;
      }
    };
    if (channel === "control") this.#controlQueue = this.#controlQueue.then(run);
    else this.#shellQueue = this.#shellQueue.then(run);
  }

  /**
   * A message from the stdin channel (the transport passes it at once: the shell queue is busy
   * with the cell that waits for it). An input_reply answers the waiting input request.
   */
  receiveStdin(msg: IncomingMessage): void {
    if (msg.header.msg_type !== "input_reply") {
      this.#log(`ignoring ${msg.header.msg_type} on stdin: only input_reply is expected there`);
      return;
    }
    const p = this.#pendingInput;
    const parent = msg.parent_header?.msg_id;
    if (!p) {
      this.#log("input_reply while no input request waits: ignored");
      return;
    }
    if (parent !== undefined && parent !== p.id) {
      this.#log(`input_reply to ${String(parent)} while ${p.id} waits: ignored`);
      return;
    }
    this.#pendingInput = undefined;
    p.resolve(String(msg.content.value ?? ""));
  }

  /**
   * Asks the client of the running execute_request for a line (input_request on stdin, parent:
   * the execute_request). Fails at once with StdinNotImplementedError when that request did not
   * allow stdin or no cell runs.
   */
  requestInput(prompt: string, password: boolean, source: InputSource = "input"): Promise<string> {
    const what = source === "stdin" ? "process.stdin was read" : "input() was called";
    const target = this.#stdinTarget;
    if (!target)
      return Promise.reject(
        new StdinNotImplementedError(`${what} while no cell is running (input requests belong to a cell)`),
      );
    if (!target.allowed)
      return Promise.reject(
        new StdinNotImplementedError(
          `${what} but this frontend does not support input requests (its execute_request has allow_stdin false, as nbconvert and jupyter execute send)`,
        ),
      );
    if (this.#pendingInput)
      return Promise.reject(
        new Error(`${what} while another input request still waits for its reply: await the first one`),
      );
    this.flushStreams(); // what the cell printed before asking comes first
    const msg = this.#message("input_request", { prompt, password }, target.parent);
    return new Promise<string>((resolve, reject) => {
      this.#pendingInput = { id: msg.header.msg_id, source, resolve, reject };
      this.#out.send("stdin", msg, target.idents);
    });
  }

  /** An interrupt (interrupt_request or SIGINT): a waiting input request fails with KeyboardInterrupt. */
  interruptInput(): void {
    const p = this.#pendingInput;
    if (!p) return;
    this.#pendingInput = undefined;
    p.reject(new KeyboardInterrupt("interrupted by the user while waiting for input"));
  }

  /** The execute_request ended: a request still waiting is withdrawn (its reply will be ignored). */
  #endInput(): void {
    this.#stdinTarget = undefined;
    const p = this.#pendingInput;
    if (!p) return;
    this.#pendingInput = undefined;
    if (p.source === "stdin")
      this.#write(
        "stderr",
        `process.stdin: the cell ended while a read was waiting for input; the request was withdrawn. ${STDIN_ALTERNATIVE}.\n`,
      );
    p.reject(new Error("the cell ended before its input request was answered"));
  }

  /** Resolves once every received request has been handled (for tests). */
  async drain(): Promise<void> {
    while (this.#pending > 0) {
      await Promise.all([this.#shellQueue, this.#controlQueue]);
    }
  }

  #message(
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<MessageHeader>,
    metadata: Record<string, unknown> = {},
  ): JupyterMessage {
    return { header: makeHeader(msgType, this.session), parent_header: parent, metadata, content };
  }

  #publish(
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<MessageHeader> = this.#outputParent,
    metadata: Record<string, unknown> = {},
  ): void {
    if (msgType !== "stream") this.flushStreams();
    this.#out.send("iopub", this.#message(msgType, content, parent, metadata));
  }

  #reply(
    channel: OutChannel,
    req: IncomingMessage,
    content: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ): void {
    const type = req.header.msg_type.replace(/_request$/, "_reply");
    this.#out.send(channel, this.#message(type, content, req.header, metadata), req.idents);
  }

  #status(state: "busy" | "idle" | "starting", parent: Partial<MessageHeader>): void {
    this.#publish("status", { execution_state: state }, parent);
  }

  /** Send pending stream text now. */
  flushStreams(): void {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const order = this.#streamOrder;
    this.#streamOrder = [];
    if (order.length) this.#lastFlush = performance.now();
    for (const name of order) {
      const text = this.#streams[name];
      if (!text) continue;
      this.#streams[name] = "";
      this.#out.send("iopub", this.#message("stream", { name, text }, this.#outputParent));
    }
  }

  #write(name: "stdout" | "stderr", text: string): void {
    if (!text) return;
    const other = name === "stdout" ? "stderr" : "stdout";
    if (this.#streams[other]) this.flushStreams(); // keep stdout/stderr interleaving order
    if (!this.#streamOrder.includes(name)) this.#streamOrder.push(name);
    this.#streams[name] += text;
    if (name === "stdout" && this.#lastOutputText.length < 10_000) this.#lastOutputText += text;
    const flushMs = this.#opts.streamFlushMs ?? 50;
    // The first text after a quiet spell goes out at once (a cell may print, then compute for long
    // without giving the event loop a chance to run the timer); more text within flushMs is batched.
    if (this.#streams[name].length >= (this.#opts.streamFlushChars ?? 65536)) this.flushStreams();
    else if (!this.#flushTimer && performance.now() - this.#lastFlush >= flushMs) this.flushStreams();
    else if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => this.flushStreams(), flushMs);
      this.#flushTimer.unref?.();
    }
  }

  #makeIO(): EngineIO {
    return {
      stdout: (t) => this.#write("stdout", t),
      stderr: (t) => this.#write("stderr", t),
      display: (payload: DisplayPayload, displayId, update) => {
        const content: Record<string, unknown> = {
          data: payload.data,
          metadata: payload.metadata,
          transient: displayId ? { display_id: displayId } : {},
        };
        this.#publish(update ? "update_display_data" : "display_data", content);
      },
      clearOutput: (wait) => this.#publish("clear_output", { wait }),
      input: (prompt, password, source) => this.requestInput(prompt, password, source),
      lateError: (err: ErrorInfo, origin?: unknown) => {
        // Charged to the request that caused it (clients match outputs by parent), not the running one.
        const parent = isHeader(origin) ? origin : this.#outputParent;
        this.#publish("error", { ...err }, parent);
      },
    };
  }

  async #handle(channel: "shell" | "control", req: IncomingMessage, receivedAt: number): Promise<void> {
    const type = req.header.msg_type;
    this.#status("busy", req.header);
    try {
      switch (type) {
        case "kernel_info_request":
          this.#reply(channel, req, this.kernelInfo());
          break;
        case "execute_request":
          await this.#execute(channel, req, receivedAt);
          break;
        case "complete_request": {
          await this.#engine.ready();
          const code = String(req.content.code ?? "");
          const length = [...code].length;
          const pos = clampCursor(req.content.cursor_pos, length);
          const r = await this.#engine.complete(code, pos);
          this.#reply(channel, req, {
            status: "ok",
            matches: r.matches,
            cursor_start: clampCursor(r.cursorStart, length),
            cursor_end: clampCursor(r.cursorEnd, length),
            metadata: r.metadata ?? {},
          });
          break;
        }
        case "inspect_request": {
          await this.#engine.ready();
          const code = String(req.content.code ?? "");
          const detail = Number(req.content.detail_level) === 1 ? 1 : 0;
          const r = await this.#engine.inspect(
            code,
            clampCursor(req.content.cursor_pos, [...code].length),
            detail,
          );
          this.#reply(channel, req, {
            status: "ok",
            found: r.found,
            data: r.found ? r.data : {},
            metadata: {},
          });
          break;
        }
        case "is_complete_request": {
          const r = await this.#engine.isComplete(String(req.content.code ?? ""));
          this.#reply(channel, req, { ...r });
          break;
        }
        case "history_request":
          this.#reply(channel, req, { status: "ok", history: this.#historyQuery(req.content) });
          break;
        case "comm_info_request": {
          // No comm target is registered, so no comm is ever open (comm_open is answered with comm_close).
          this.#reply(channel, req, { status: "ok", comms: {} });
          break;
        }
        case "interrupt_request":
          this.#engine.interrupt();
          this.interruptInput();
          this.#reply(channel, req, { status: "ok" });
          break;
        case "shutdown_request": {
          const restart = !!req.content.restart;
          this.#reply(channel, req, { status: "ok", restart });
          this.#status("idle", req.header);
          this.flushStreams();
          this.#opts.onShutdown?.(restart);
          return;
        }
        case "comm_open": {
          // The spec: a comm_open to an unknown target is answered with a comm_close.
          const commId = String(req.content.comm_id ?? "");
          this.#log(`comm_open to unknown target ${String(req.content.target_name)}: closing ${commId}`);
          this.#publish("comm_close", { comm_id: commId, data: {} }, req.header);
          break;
        }
        case "comm_msg":
        case "comm_close":
          this.#log(`ignoring ${type}: no comm is open`);
          break;
        default:
          if (type.endsWith("_request")) {
            this.#log(`unknown request type ${type}: answered with an error reply`);
            this.#reply(channel, req, {
              status: "error",
              ename: "UnknownMessageType",
              evalue: `cnnlab does not handle ${type}`,
              traceback: [],
            });
          } else {
            this.#log(`unknown message type ${type}: ignored`);
          }
      }
    } finally {
      if (type !== "shutdown_request") {
        this.flushStreams();
        this.#status("idle", req.header);
      }
    }
  }

  kernelInfo(): Record<string, unknown> {
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "cnnlab",
      implementation_version: this.#opts.implementationVersion ?? "0.0.0",
      language_info: this.#engine.languageInfo,
      banner: this.#engine.banner,
      debugger: false,
      help_links: [
        { text: "cnnlab README", url: "https://www.npmjs.com/package/cnnlab" },
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
        { text: "CS231n ConvNet notes", url: "https://cs231n.github.io/convolutional-networks/" },
      ],
    };
  }

  async #execute(channel: "shell" | "control", req: IncomingMessage, receivedAt: number): Promise<void> {
    const c = req.content;
    const code = String(c.code ?? "");
    const silent = !!c.silent;
    const storeHistory = silent ? false : c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;

    if (receivedAt < this.#abortBefore) {
      this.#log(`aborting execute_request ${req.header.msg_id} queued before an error`);
      this.#reply(channel, req, { status: "aborted", execution_count: this.executionCount });
      return;
    }
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    this.#outputParent = req.header;
    this.#lastOutputText = "";
    if (!silent) this.#publish("execute_input", { code, execution_count: count });
    this.#stdinTarget = { parent: req.header, idents: req.idents, allowed: c.allow_stdin === true };

    let outcome: ExecuteOutcome;
    try {
      outcome = await this.#engine.execute(code, {
        executionCount: count,
        silent,
        origin: req.header,
        metadata: req.metadata,
      });
    } catch (e) {
      const err = e as Error;
      outcome = {
        status: "error",
        ename: err?.name ?? "Error",
        evalue: err?.message ?? String(e),
        traceback: [String(err?.stack ?? e)],
      };
    }
    this.#endInput();
    this.flushStreams();
    let outputText: string | null = this.#lastOutputText || null;
    if (outcome.status === "ok") {
      if (outcome.result && !silent) {
        this.#publish("execute_result", {
          execution_count: count,
          data: outcome.result.data,
          metadata: outcome.result.metadata,
        });
        const plain = outcome.result.data["text/plain"];
        if (typeof plain === "string") outputText = plain;
      }
      const userExpressions = await this.#userExpressions(c.user_expressions, count);
      this.#reply(channel, req, {
        status: "ok",
        execution_count: count,
        payload: outcome.payload ?? [],
        user_expressions: userExpressions,
      });
    } else {
      const { ename, evalue, traceback } = outcome;
      if (!silent) this.#publish("error", { ename, evalue, traceback });
      this.#reply(channel, req, { status: "error", execution_count: count, ename, evalue, traceback });
      if (stopOnError) this.#abortBefore = this.#now();
    }
    if (storeHistory)
      this.history.push({ session: SESSION_NUMBER, line: count, input: code, output: outputText });
  }

  /** Evaluates each user expression after the cell (silently), as the spec asks. */
  async #userExpressions(expressions: unknown, count: number): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    if (!expressions || typeof expressions !== "object") return out;
    for (const [name, expr] of Object.entries(expressions as Record<string, unknown>)) {
      let r: ExecuteOutcome;
      try {
        r = await this.#engine.execute(String(expr), { executionCount: count, silent: true });
      } catch (e) {
        r = { status: "error", ename: "Error", evalue: String((e as Error)?.message ?? e), traceback: [] };
      }
      out[name] =
        r.status === "ok"
          ? {
              status: "ok",
              data: r.result?.data ?? { "text/plain": "undefined" },
              metadata: r.result?.metadata ?? {},
            }
          : { status: "error", ename: r.ename, evalue: r.evalue, traceback: r.traceback };
    }
    return out;
  }

  #historyQuery(content: Record<string, any>): unknown[] {
    const output = !!content.output;
    const fmt = (h: HistoryEntry) => [h.session, h.line, output ? [h.input, h.output] : h.input];
    let items = this.history;
    switch (content.hist_access_type) {
      case "range": {
        const session = Number(content.session ?? 0);
        if (session !== 0 && session !== SESSION_NUMBER) return [];
        const start = Number(content.start ?? 1);
        const stop = content.stop == null ? Infinity : Number(content.stop);
        items = items.filter((h) => h.line >= start && h.line < stop);
        break;
      }
      case "search": {
        const pattern = String(content.pattern ?? "*");
        const re = new RegExp(
          "^" +
            pattern
              .split("")
              .map((ch) =>
                ch === "*"
                  ? "[\\s\\S]*"
                  : ch === "?"
                    ? "[\\s\\S]"
                    : ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
              )
              .join("") +
            "$",
        );
        items = items.filter((h) => re.test(h.input));
        if (content.unique) {
          const seen = new Set<string>();
          const kept: HistoryEntry[] = [];
          for (let i = items.length - 1; i >= 0; i--) {
            if (seen.has(items[i].input)) continue;
            seen.add(items[i].input);
            kept.unshift(items[i]);
          }
          items = kept;
        }
        const n = content.n == null ? 0 : Number(content.n);
        if (n > 0) items = items.slice(-n);
        break;
      }
      default: {
        // "tail"
        const n = content.n == null ? 10 : Number(content.n);
        items = n > 0 ? items.slice(-n) : [];
      }
    }
    return items.map(fmt);
  }
}
