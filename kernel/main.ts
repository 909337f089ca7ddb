#!/usr/bin/env node
/**
 * The kernel process: `node dist/kernel/main.js <connection_file>`.
 *
 * Sockets live in a worker thread (transport-worker.ts); this thread runs the request handler and
 * the user's code. The TypeScript engine loads in the background after start, so kernel_info is
 * answered at once. This file also owns what is process-wide: the capture of console and
 * process.stdout/stderr, SIGINT (one permanent listener: Node's default handler never runs), the
 * interrupt control block shared with the socket thread (interrupt.ts), and `process.exit` in a
 * cell (the cell gets a SystemExit error reply, then the kernel closes its sockets and exits with
 * that code, which the client's restarter sees), and the globals that reach outside a cell:
 * `input`/`prompt`/`process.stdin` (stdin.ts) and `require` (cell-require.ts). Debug log: set CNNLAB_KERNEL_LOG=/path/to/file.
 * Nothing is written to the process's stderr.
 */
import { Console } from "node:console";
import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { Worker } from "node:worker_threads";
import type {
  CompleteResult,
  Engine,
  EngineIO,
  ExecuteOptions,
  ExecuteOutcome,
  InspectResult,
  IsCompleteResult,
} from "./engine.js";
import { KernelHandler } from "./handler.js";
import { kernelBanner, languageInfo } from "./info.js";
import { InterruptControl, KeyboardInterrupt } from "./interrupt.js";
import { cellFilename, makeCellModule, makeCellRequire } from "./cell-require.js";
import { packageVersion } from "./paths.js";
import { installStdinGlobals, StdinNotImplementedError } from "./stdin.js";
import { loadTypeScript, saveTypeScriptCache } from "./ts-code-cache.js";
import { adoptSnapshotTypeScript, consoleClass, requestSnapshot, startedFromSnapshot } from "./snapshot.js";
import { backendSummary } from "../src/backend/index.js";
import type { ToMain, ToWorker, WorkerInit } from "./transport-worker.js";
import type { TsEngine } from "./ts-engine.js";
import type { ConnectionInfo } from "./wire.js";

const logFile = process.env.CNNLAB_KERNEL_LOG || undefined;
function log(line: string): void {
  if (!logFile) return;
  try {
    appendFileSync(logFile, `${new Date().toISOString()} [kernel] ${line}\n`);
  } catch {
    // never fail because of logging
  }
}

const control = new InterruptControl();
/** msg_id of each execute_request received → its execution number (interrupt.ts). */
const executionNumbers = new Map<string, number>();

/** `process.exit(code)` inside a cell: the error that ends the cell before the kernel exits. */
class SystemExit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code}) was called: the kernel exits after this reply`);
    this.name = "SystemExit";
  }
}
let exitRequested: number | undefined;
/** Set once the kernel is on its way out: cells still queued never run (as when ipykernel exits). */
let exiting = false;
let exitKernel: (code: number) => void = (code) => process.exit(code);

/** Routes console and process.stdout/stderr writes of the whole process to the running request. */
function captureProcessOutput(io: EngineIO): void {
  const emit = (name: "stdout" | "stderr", text: string) =>
    name === "stdout" ? io.stdout(text) : io.stderr(text);
  const mk = (name: "stdout" | "stderr") =>
    new Writable({
      decodeStrings: false,
      write(chunk, _enc, cb) {
        emit(name, typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
        cb();
      },
    });
  const cons = new (consoleClass(Console))({ stdout: mk("stdout"), stderr: mk("stderr"), colorMode: false });
  Object.defineProperty(globalThis, "console", {
    value: cons,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  const patch = (stream: NodeJS.WriteStream, name: "stdout" | "stderr") => {
    stream.write = ((chunk: unknown, encOrCb?: unknown, cb?: unknown) => {
      emit(name, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      const done = typeof encOrCb === "function" ? encOrCb : cb;
      if (typeof done === "function") queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof stream.write;
  };
  patch(process.stdout, "stdout");
  patch(process.stderr, "stderr");
}

/** Writes TypeScript's code cache once (ts-code-cache.ts), when the kernel is idle. */
function saveCodeCache(): void {
  const saved = saveTypeScriptCache();
  if (saved) log(saved);
}

/** Defers loading TypeScript and the library until after the kernel is reachable. */
class LazyEngine implements Engine {
  readonly languageInfo = languageInfo;
  #banner: string | undefined;
  /** Built on the first kernel_info: it names the backend, which loads the BLAS (a few ms). */
  get banner(): string {
    this.#banner ??= kernelBanner(backendSummary());
    return this.#banner;
  }
  #engine: Promise<TsEngine> | undefined;
  #io: EngineIO | undefined;
  #loaded: TsEngine | undefined;

  #created: Promise<TsEngine> | undefined;
  /** The engine once made (prepareEarly may make it before the handler gives this its IO). */
  #made: TsEngine | undefined;
  /** TypeScript loaded and the engine made, its library not loaded yet. */
  #create(): Promise<TsEngine> {
    this.#created ??= Promise.resolve()
      .then(() => {
        const t = performance.now();
        const what = adoptSnapshotTypeScript() ?? loadTypeScript();
        log(`${what} (${Math.round(performance.now() - t)} ms)`);
      })
      .then(() => import("./ts-engine.js"))
      .then(({ TsEngine }) => {
        const e = new TsEngine({
          onWarm: () => {
            saveCodeCache();
            this.#requestSnapshotSoon();
          },
          cwd: process.cwd(),
          reportProcessErrors: true,
          control,
          log,
          grading: process.env.CNNLAB_GRADING === "1",
        });
        this.#made = e;
        if (this.#io) e.setIO(this.#io);
        return e;
      });
    return this.#created;
  }
  #get(): Promise<TsEngine> {
    this.#engine ??= this.#create().then(async (e) => {
      await e.ready();
      this.#loaded = e;
      log("engine ready");
      return e;
    });
    return this.#engine;
  }
  /**
   * Started from the start-up snapshot, the type side of the engine (TypeScript's program over the
   * snapshot's documents, 0.05-0.1 s) is prepared while the socket thread starts, when this thread
   * has nothing else to do; the library still loads once kernel_info is answered. Without the
   * snapshot, that would take seconds and hold kernel_info up, so nothing happens early.
   */
  prepareEarly(): void {
    if (!startedFromSnapshot()) return;
    this.#create()
      .then((e) => e.prepareTypes())
      .catch((e) => log(`early preparation failed: ${(e as Error).message}`));
  }
  async ready(): Promise<void> {
    await this.#get();
  }
  #snapshotRequested = false;
  /** Once per kernel, a while after it is warm (snapshot.ts); never in a grading sandbox. */
  #requestSnapshotSoon(): void {
    if (this.#snapshotRequested || process.env.CNNLAB_GRADING === "1") return;
    this.#snapshotRequested = true;
    setTimeout(() => {
      const engine = this.#loaded;
      if (!engine) return;
      try {
        log(requestSnapshot(engine.snapshotContents()));
      } catch (e) {
        log(`no start-up snapshot: ${(e as Error).message}`);
      }
    }, 1000).unref();
  }
  setIO(io: EngineIO): void {
    this.#io = io;
    this.#made?.setIO(io);
    captureProcessOutput(io);
    installStdinGlobals({
      request: (prompt, password, source) =>
        io.input
          ? io.input(prompt, password, source)
          : Promise.reject(new StdinNotImplementedError("this kernel has no stdin channel")),
      failCell: (e) => this.#loaded?.runner.failRunning(e),
    });
    // The same built-in modules (cnnlab, tslab) imports get (builtin-modules.ts).
    const cwd = process.cwd();
    const cellRequire = makeCellRequire(cwd, (name) => this.#loaded?.builtins.value(name));
    const filename = cellFilename(cwd);
    const cellModule = makeCellModule(filename, cwd, cellRequire);
    // @types/node declares these for every file; in a cell they are those of a CommonJS module in
    // the notebook's folder (the notebook itself when the kernel knows its name).
    for (const [name, value] of [
      ["require", cellRequire],
      ["__dirname", cwd],
      ["__filename", filename],
      ["module", cellModule],
      ["exports", cellModule.exports],
    ] as const)
      Object.defineProperty(globalThis, name, {
        value,
        writable: true,
        configurable: true,
        enumerable: false,
      });
  }
  async execute(code: string, o: ExecuteOptions): Promise<ExecuteOutcome> {
    if (exiting) return new Promise<never>(() => {});
    const id = (o.origin as { msg_id?: string } | undefined)?.msg_id;
    control.begin(id === undefined ? undefined : executionNumbers.get(id));
    if (id !== undefined) executionNumbers.delete(id);
    try {
      const engine = await this.#get();
      // Interrupted while TypeScript and the library were loading: the cell does not run.
      if (control.requested()) {
        const e = new KeyboardInterrupt(
          "interrupted before the cell started (the kernel was still starting)",
        );
        return { status: "error", ename: e.name, evalue: e.message, traceback: [`${e.name}: ${e.message}`] };
      }
      const outcome = await engine.execute(code, o);
      // A request stopped the warm-up before it ended: the code cache is written after this cell.
      setTimeout(saveCodeCache, 200).unref();
      this.#requestSnapshotSoon();
      if (outcome.status === "error" && outcome.ename === "SystemExit" && exitRequested !== undefined) {
        const code = exitRequested;
        exiting = true;
        setTimeout(() => exitKernel(code), 20);
      }
      exitRequested = undefined;
      return outcome;
    } finally {
      control.end();
    }
  }
  async complete(code: string, pos: number): Promise<CompleteResult> {
    return (await this.#get()).complete(code, pos);
  }
  async inspect(code: string, pos: number, detail: number): Promise<InspectResult> {
    return (await this.#get()).inspect(code, pos, detail);
  }
  async isComplete(code: string): Promise<IsCompleteResult> {
    return (await this.#get()).isComplete(code);
  }
  interrupt(): void {
    this.#loaded?.interrupt();
  }
  terminated(seq: number): void {
    this.#loaded?.terminated(seq);
  }
}

const reallyExit: (code: number) => never = process.exit.bind(process);

function main(): void {
  const file = process.argv.slice(2).find((a) => !a.startsWith("-"));
  if (!file) {
    process.stdout.write("usage: node dist/kernel/main.js <connection_file>\n");
    process.exit(2);
  }
  const connection = JSON.parse(readFileSync(file, "utf8")) as ConnectionInfo;
  log(`starting (pid ${process.pid}, cwd ${process.cwd()}, connection ${file})`);
  process.emitWarning = ((warning: string | Error) =>
    log(
      `warning: ${String(warning instanceof Error ? warning.message : warning)}`,
    )) as typeof process.emitWarning;

  const session = randomUUID();
  // Terminating a cell (interrupt.ts) can leave the async-id stack of a timer or immediate callback
  // unpopped; Node's consistency check would then abort the process. The kernel uses no async hooks,
  // so the check is switched off (what --no-force-async-hooks-checks does).
  try {
    const wrap = (process as unknown as { binding(n: string): Record<string, any> }).binding("async_wrap");
    wrap.async_hook_fields[wrap.constants.kCheck] = 0;
  } catch (e) {
    log(`async hooks checks stay on: ${(e as Error).message}`);
  }
  const engine = new LazyEngine();
  const worker = new Worker(new URL("./transport-worker.js", import.meta.url), {
    workerData: {
      connection,
      logFile,
      control: control.buffer,
      session,
      implementationVersion: packageVersion(),
      banner: engine.banner,
    } satisfies WorkerInit,
    stdout: true,
    stderr: true,
  });
  worker.stdout.resume();
  worker.stderr.resume();
  engine.prepareEarly();
  const post = (m: ToWorker) => worker.postMessage(m);
  let shuttingDown = false;
  const handler = new KernelHandler({
    engine,
    session,
    log,
    implementationVersion: packageVersion(),
    out: { send: (channel, msg, idents) => post({ kind: "send", channel, msg, idents }) },
    onShutdown: (restart) => {
      shuttingDown = true;
      log(`shutdown requested (restart=${restart})`);
      post({ kind: "close" });
      setTimeout(() => reallyExit(0), 3000).unref();
    },
  });
  let exitCode = 0;
  exitKernel = (code) => {
    log(`process.exit(${code}) in a cell: closing the sockets and exiting`);
    shuttingDown = true;
    exiting = true;
    exitCode = code;
    post({ kind: "close" });
    setTimeout(() => reallyExit(code), 3000).unref();
  };
  process.exit = ((code?: number | string | null) => {
    const n = Number(code ?? process.exitCode ?? 0) || 0;
    if (control.running !== 0) {
      exitRequested = n;
      throw new SystemExit(n);
    }
    exitKernel(n);
    return undefined as never;
  }) as typeof process.exit;
  let terminating = false;
  const terminate = (why: string) => {
    if (terminating) return;
    terminating = true;
    log(`${why}: exiting`);
    shuttingDown = true;
    exiting = true;
    post({ kind: "close" });
    setTimeout(() => reallyExit(0), 2000).unref();
  };
  let engineTimer: ReturnType<typeof setTimeout> | undefined;
  let engineStarted = false;
  const loadEngine = () => {
    if (engineStarted) return;
    engineStarted = true;
    engine.ready().catch((e) => log(`engine failed: ${(e as Error).stack}`));
  };
  worker.on("message", (m: ToMain) => {
    switch (m.kind) {
      case "ready":
        log(`sockets ready (SIGINT seen by the socket thread: ${m.signals})`);
        signalsInWorker = m.signals;
        // Load TypeScript and the library once the first kernel_info is answered (or after 300 ms).
        engineTimer = setTimeout(loadEngine, 300);
        break;
      case "msg":
        if (shuttingDown) return;
        if (m.channel === "stdin") {
          handler.receiveStdin(m.msg);
          break;
        }
        if (m.channel === "shell" && m.msg.header.msg_type === "execute_request")
          executionNumbers.set(m.msg.header.msg_id, control.received());
        handler.receive(m.channel, m.msg, m.receivedAt);
        if (m.msg.header.msg_type === "kernel_info_request") {
          clearTimeout(engineTimer);
          engineTimer = setTimeout(loadEngine, 0);
        }
        break;
      case "interrupt":
        engine.interrupt();
        handler.interruptInput();
        break;
      case "terminated":
        log(`the socket thread terminated execution ${m.seq}`);
        engine.terminated(m.seq);
        break;
      case "terminate":
        terminate(m.why);
        break;
      case "closed":
        void worker.terminate().then(() => reallyExit(exitCode));
        break;
      case "fatal":
        log(m.error);
        reallyExit(1);
    }
  });
  worker.on("error", (e) => {
    log(`socket thread error: ${e.stack}`);
    reallyExit(1);
  });
  // One permanent listener, so that Node's default handler (exit) never runs. The socket thread sees
  // the signal too (even while this thread is busy) and does the interrupting; without that, it
  // is done here when this thread is free (an awaiting cell).
  let signalsInWorker = false;
  process.on("SIGINT", () => {
    log("SIGINT");
    if (signalsInWorker) return;
    control.request();
    engine.interrupt();
    handler.interruptInput();
  });
  // SIGTERM, and the exit of the Jupyter process that started us (JPY_PARENT_PID, like ipykernel):
  // the socket thread sees both while a cell runs, interrupts it and sends "terminate"; this
  // listener covers a Node whose socket thread cannot watch signals.
  process.on("SIGTERM", () => terminate("SIGTERM"));
}

main();
