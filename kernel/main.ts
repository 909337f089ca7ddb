#!/usr/bin/env node
/**
 * The kernel process: `node dist/kernel/main.js <connection_file>`.
 *
 * Sockets live in a worker thread (transport-worker.ts); this thread runs the request handler and
 * the user's code. The TypeScript engine loads in the background after start, so kernel_info is
 * answered at once. Debug log: set CNNLAB_KERNEL_LOG=/path/to/file. Nothing is written to the
 * process's stderr.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type {
  CompleteResult,
  Engine,
  EngineIO,
  ExecuteOutcome,
  InspectResult,
  IsCompleteResult,
  LanguageInfo,
} from "./engine.js";
import { KernelHandler } from "./handler.js";
import { packageVersion } from "./paths.js";
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

const tsVersion = (() => {
  try {
    return String(createRequire(import.meta.url)("typescript/package.json").version);
  } catch {
    return "5";
  }
})();

/** Defers loading TypeScript and the library until after the kernel is reachable. */
class LazyEngine implements Engine {
  readonly languageInfo: LanguageInfo = {
    name: "typescript",
    version: tsVersion,
    mimetype: "text/typescript",
    file_extension: ".ts",
    pygments_lexer: "typescript",
    codemirror_mode: { name: "javascript", typescript: true },
    nbconvert_exporter: "script",
  };
  #banner: string | undefined;
  /** Built on the first kernel_info: it names the backend, which loads the BLAS (a few ms). */
  get banner(): string {
    this.#banner ??= `cnnlab ${packageVersion()} — a TypeScript kernel (TypeScript ${tsVersion}, Node ${process.version}); ${backendSummary()}.\nThe cnnlab library is preloaded: tensor, randn, nn, F, optim, ... (also as \`cnnlab\`).`;
    return this.#banner;
  }
  #engine: Promise<TsEngine> | undefined;
  #io: EngineIO | undefined;
  #loaded: TsEngine | undefined;

  #get(): Promise<TsEngine> {
    this.#engine ??= import("./ts-engine.js").then(async ({ TsEngine }) => {
      const e = new TsEngine({ cwd: process.cwd(), captureProcessOutput: true, log });
      if (this.#io) e.setIO(this.#io);
      await e.ready();
      this.#loaded = e;
      log("engine ready");
      return e;
    });
    return this.#engine;
  }
  async ready(): Promise<void> {
    await this.#get();
  }
  setIO(io: EngineIO): void {
    this.#io = io;
  }
  async execute(code: string, o: { executionCount: number; silent: boolean }): Promise<ExecuteOutcome> {
    return (await this.#get()).execute(code, o);
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
}

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

  const worker = new Worker(new URL("./transport-worker.js", import.meta.url), {
    workerData: { connection, logFile } satisfies WorkerInit,
    stdout: true,
    stderr: true,
  });
  worker.stdout.resume();
  worker.stderr.resume();
  const post = (m: ToWorker) => worker.postMessage(m);
  const engine = new LazyEngine();
  let shuttingDown = false;
  const handler = new KernelHandler({
    engine,
    log,
    implementationVersion: packageVersion(),
    out: { send: (channel, msg, idents) => post({ kind: "send", channel, msg, idents }) },
    onShutdown: (restart) => {
      shuttingDown = true;
      log(`shutdown requested (restart=${restart})`);
      post({ kind: "close" });
      setTimeout(() => process.exit(0), 3000).unref();
    },
  });
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
        log("sockets ready");
        post({ kind: "kernelInfo", content: handler.kernelInfo(), session: handler.session });
        // Load TypeScript and the library once the first kernel_info is answered (or after 300 ms).
        engineTimer = setTimeout(loadEngine, 300);
        break;
      case "msg":
        if (shuttingDown) return;
        handler.receive(m.channel, m.msg, m.receivedAt);
        if (m.msg.header.msg_type === "kernel_info_request") {
          clearTimeout(engineTimer);
          engineTimer = setTimeout(loadEngine, 30);
        }
        break;
      case "closed":
        void worker.terminate().then(() => process.exit(0));
        break;
      case "fatal":
        log(m.error);
        process.exit(1);
    }
  });
  worker.on("error", (e) => {
    log(`socket thread error: ${e.stack}`);
    process.exit(1);
  });
  process.on("SIGINT", () => {
    log("SIGINT");
    engine.interrupt();
  });
  // Exit with the Jupyter process that started us (it sets JPY_PARENT_PID), like ipykernel.
  const parentPid = Number(process.env.JPY_PARENT_PID);
  if (parentPid > 1) {
    setInterval(() => {
      try {
        process.kill(parentPid, 0);
      } catch {
        log(`parent process ${parentPid} is gone: exiting`);
        post({ kind: "close" });
        setTimeout(() => process.exit(0), 1000).unref();
      }
    }, 3000).unref();
  }
  process.on("SIGTERM", () => {
    log("SIGTERM");
    post({ kind: "close" });
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

main();
