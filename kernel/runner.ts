/**
 * Headless notebook runner (no Python needed): starts a kernel through our zeromq client,
 * executes every code cell and writes a valid nbformat-4 executed notebook (and optionally a
 * self-contained HTML page). Used by `cnnlab run`, `npm start` without Jupyter, and grading.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { KernelClient, type StartOptions } from "./client.js";
import { notebookToHtml } from "./nbhtml.js";
import type { IncomingMessage } from "./wire.js";

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Record<string, unknown>[];
  execution_count?: number | null;
  attachments?: Record<string, unknown>;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, any>;
  cells: NotebookCell[];
}

export type ProgressEvent =
  | { kind: "start"; notebook: string; cells: number }
  | {
      kind: "cell-start";
      notebook: string;
      index: number;
      codeIndex: number;
      codeCells: number;
      source: string;
    }
  | {
      kind: "cell-end";
      notebook: string;
      index: number;
      status: "ok" | "error" | "timeout";
      seconds: number;
      error?: { ename: string; evalue: string };
    }
  | { kind: "output"; notebook: string; index: number; output: Record<string, unknown> }
  | { kind: "end"; notebook: string; result: RunResult };

export interface RunOptions {
  /** Folder for the executed notebook (default "./out"). */
  outDir?: string;
  /** Exact output path (overrides outDir). */
  outPath?: string;
  /** Per-cell timeout in seconds (default 600; 0 = none). */
  timeoutSec?: number;
  /** Keep executing after a cell errors (default false: stop at the first error). */
  allowErrors?: boolean;
  /** Also write <name>.html next to the executed notebook. */
  html?: boolean;
  /** Kernel working directory (default: the notebook's folder). */
  cwd?: string;
  /** Extra environment for the kernel process. */
  env?: Record<string, string>;
  /** Extra node arguments for the kernel process, e.g. ["--max-old-space-size=2048"]. */
  nodeArgs?: string[];
  /** Start this command instead of our kernel ("{connection_file}" is replaced). */
  kernelArgv?: string[];
  onProgress?: (event: ProgressEvent) => void;
}

export interface CellError {
  index: number;
  ename: string;
  evalue: string;
}

export interface RunResult {
  notebookPath: string;
  outPath: string;
  htmlPath?: string;
  codeCells: number;
  executed: number;
  errors: CellError[];
  /** true when no cell errored or timed out. */
  ok: boolean;
  seconds: number;
}

export function sourceText(source: string | string[]): string {
  return Array.isArray(source) ? source.join("") : source;
}

export function readNotebook(path: string): Notebook {
  const nb = JSON.parse(readFileSync(path, "utf8")) as Notebook;
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) throw new Error(`${path}: not an nbformat 4 notebook`);
  return nb;
}

/** Turns iopub messages into nbformat outputs, with clear_output and display updates. */
class OutputCollector {
  outputs: Record<string, unknown>[] = [];
  #clearPending = false;
  /** display_id → outputs showing it (in any cell). */
  constructor(private readonly displays: Map<string, Record<string, unknown>[]>) {}

  add(msg: IncomingMessage): Record<string, unknown> | undefined {
    const c = msg.content;
    const type = msg.header.msg_type;
    if (type === "clear_output") {
      if (c.wait) this.#clearPending = true;
      else this.outputs = [];
      return undefined;
    }
    if (type === "update_display_data") {
      const id = c.transient?.display_id;
      for (const out of (id && this.displays.get(id)) || []) {
        out.data = c.data;
        out.metadata = c.metadata ?? {};
      }
      return undefined;
    }
    let out: Record<string, unknown> | undefined;
    if (type === "stream") out = { output_type: "stream", name: c.name, text: c.text };
    else if (type === "display_data")
      out = { output_type: "display_data", data: c.data, metadata: c.metadata ?? {} };
    else if (type === "execute_result")
      out = {
        output_type: "execute_result",
        execution_count: c.execution_count ?? null,
        data: c.data,
        metadata: c.metadata ?? {},
      };
    else if (type === "error")
      out = { output_type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] };
    if (!out) return undefined;
    if (this.#clearPending) {
      this.outputs = [];
      this.#clearPending = false;
    }
    const last = this.outputs[this.outputs.length - 1];
    if (out.output_type === "stream" && last?.output_type === "stream" && last.name === out.name) {
      last.text = String(last.text) + String(out.text);
    } else {
      this.outputs.push(out);
    }
    const id = c.transient?.display_id;
    if (type === "display_data" && id) {
      const list = this.displays.get(id) ?? [];
      list.push(out);
      this.displays.set(id, list);
    }
    return out;
  }
}

/** Execute a notebook; never throws for cell errors (see RunResult.ok), throws if the kernel cannot start. */
export async function runNotebook(notebookPath: string, options: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  const path = resolve(notebookPath);
  const nb = readNotebook(path);
  const name = basename(path).replace(/\.ipynb$/, "");
  const outPath = options.outPath
    ? resolve(options.outPath)
    : join(resolve(options.outDir ?? "out"), `${name}.ipynb`);
  const progress = options.onProgress ?? (() => undefined);
  const codeCells = nb.cells.filter((c) => c.cell_type === "code");
  progress({ kind: "start", notebook: path, cells: codeCells.length });
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    cell.outputs = [];
    cell.execution_count = null;
  }
  const start: StartOptions = {
    cwd: options.cwd ?? dirname(path),
    // The kernel exits when this process does, even killed while a cell runs (JPY_PARENT_PID, as
    // Jupyter sets it), and knows its notebook (`__filename` in cells).
    env: { JPY_PARENT_PID: String(process.pid), JPY_SESSION_NAME: path, ...options.env },
    nodeArgs: options.nodeArgs,
    argv: options.kernelArgv,
  };
  const client = await KernelClient.start(start);
  const errors: CellError[] = [];
  let executed = 0;
  const displays = new Map<string, Record<string, unknown>[]>();
  try {
    const info = await client.request("kernel_info_request", {}, { timeoutMs: 60_000 });
    nb.metadata.kernelspec ??= {
      name: "cnnlab",
      display_name: "cnnlab (TypeScript)",
      language: "typescript",
    };
    nb.metadata.language_info = info.reply.content.language_info;
    // Wait for the engine (TypeScript, the library) outside any cell's timeout.
    await client.execute("", { silent: true, storeHistory: false, timeoutMs: 300_000 });
    const timeoutMs = (options.timeoutSec ?? 600) * 1000;
    let codeIndex = 0;
    for (let index = 0; index < nb.cells.length; index++) {
      const cell = nb.cells[index];
      if (cell.cell_type !== "code") continue;
      const source = sourceText(cell.source);
      progress({
        kind: "cell-start",
        notebook: path,
        index,
        codeIndex: codeIndex++,
        codeCells: codeCells.length,
        source,
      });
      const collector = new OutputCollector(displays);
      const cellStart = Date.now();
      const currentId = randomUUID();
      client.onIopub = (msg) => {
        if (msg.parent_header.msg_id !== currentId) {
          // Late display updates from earlier cells still apply.
          if (msg.header.msg_type === "update_display_data") collector.add(msg);
          return;
        }
        const out = collector.add(msg);
        if (out) progress({ kind: "output", notebook: path, index, output: out });
      };
      const pending = client.execute(source, { stopOnError: !options.allowErrors, msgId: currentId });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        if (timeoutMs > 0) timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      let result = await Promise.race([pending, timedOut]);
      let status: "ok" | "error" | "timeout" = "ok";
      if (result === "timeout") {
        status = "timeout";
        client.interrupt();
        const grace = await Promise.race([
          pending,
          new Promise<"gone">((r) => setTimeout(() => r("gone"), 10_000)),
        ]);
        const err = {
          output_type: "error",
          ename: "CellTimeoutError",
          evalue: `the cell did not finish within ${options.timeoutSec ?? 600} s and was interrupted`,
          traceback: [],
        };
        collector.outputs.push(err);
        cell.outputs = collector.outputs;
        errors.push({ index, ename: err.ename, evalue: err.evalue });
        executed++;
        if (grace !== "gone") cell.execution_count = grace.reply.content.execution_count ?? null;
        progress({
          kind: "cell-end",
          notebook: path,
          index,
          status,
          seconds: (Date.now() - cellStart) / 1000,
          error: { ename: err.ename, evalue: err.evalue },
        });
        if (grace === "gone" || !options.allowErrors) break;
        continue;
      }
      if (timer) clearTimeout(timer);
      result = result as Awaited<typeof pending>;
      executed++;
      cell.execution_count = result.reply.content.execution_count ?? null;
      cell.outputs = collector.outputs;
      let error: { ename: string; evalue: string } | undefined;
      if (result.reply.content.status !== "ok") {
        status = "error";
        error = {
          ename: String(result.reply.content.ename ?? "Error"),
          evalue: String(result.reply.content.evalue ?? result.reply.content.status),
        };
        errors.push({ index, ...error });
      }
      progress({
        kind: "cell-end",
        notebook: path,
        index,
        status,
        seconds: (Date.now() - cellStart) / 1000,
        error,
      });
      if (status === "error" && !options.allowErrors) break;
    }
  } finally {
    client.onIopub = undefined;
    await client.shutdown();
  }
  if ((nb.nbformat_minor ?? 0) >= 5) {
    nb.cells.forEach((c, i) => (c.id ??= `cell-${i}`));
  }
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify(nb, null, 1) + "\n");
  let htmlPath: string | undefined;
  if (options.html) {
    htmlPath = outPath.replace(/\.ipynb$/, "") + ".html";
    writeFileSync(htmlPath, notebookToHtml(nb, name));
  }
  const result: RunResult = {
    notebookPath: path,
    outPath,
    htmlPath,
    codeCells: codeCells.length,
    executed,
    errors,
    ok: errors.length === 0,
    seconds: (Date.now() - t0) / 1000,
  };
  progress({ kind: "end", notebook: path, result });
  return result;
}
