/**
 * The cell runner: runs compiled cells (cell-compiler.ts) with vm in the kernel's own realm, loads
 * their imports, interrupts them (interrupt.ts), restores the library's state after an interrupt,
 * and turns errors into tracebacks in the cell's own lines.
 *
 * Each cell starts from its own macrotask (setImmediate), so that a termination of its JavaScript
 * (the socket thread's last resort) unwinds only the cell's stack, never the kernel's: the kernel
 * waits for the cell's promise or for the termination notice, whichever comes first.
 */
import { statSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join, resolve as resolvePath } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import vm from "node:vm";
import type { CellPositions, CompiledCell } from "./cell-compiler.js";
import type { ErrorInfo } from "./engine.js";
import { KeyboardInterrupt, REQUEST, type InterruptControl } from "./interrupt.js";
import { packageRoot } from "./paths.js";

const KERNEL_DIR = dirname(fileURLToPath(import.meta.url));
// The runner's own references: a cell that replaces the globals or the vm module's exports does not
// change how later cells are run (grading mode, lockdown.ts).
const { Script } = vm;
const startLater = setImmediate;
const race = Promise.race.bind(Promise);

/** The library's state registry (src/runtime/state.ts), when a library is loaded. */
export interface StateRegistry {
  checkpointGlobalState(): unknown;
  restoreGlobalState(checkpoint: never): { name: string; error: unknown }[];
}

export interface RunnerOptions {
  cwd: string;
  control: InterruptControl;
  /** Global name of the runtime object the compiled cells call. */
  rtName: string;
  log?: (line: string) => void;
}

export type RunOutcome = { status: "ok"; value: unknown } | ({ status: "error" } & ErrorInfo);

export class CellRunner {
  readonly rt: Record<string, unknown>;
  #opts: RunnerOptions;
  #positions = new Map<string, CellPositions>();
  #killed = new Set<number>();
  #current: { seq: number; reject: (e: Error) => void } | undefined;
  /** Script label → the token of the execution that ran it (recent ones). */
  #tokens = new Map<string, unknown>();
  #builtins: { value(name: string): unknown } | undefined;
  state: StateRegistry | undefined;

  constructor(options: RunnerOptions) {
    this.#opts = options;
    const ints = options.control.ints;
    const killed = this.#killed;
    const control = options.control;
    const slow = (n: number) => {
      if (control.requested()) throw new KeyboardInterrupt();
      if (n !== 0 && killed.has(n))
        throw new KeyboardInterrupt("interrupted earlier: the rest of this cell does not run");
    };
    const check = (n: number) => {
      if (Atomics.load(ints, REQUEST) !== 0 || killed.size !== 0) slow(n);
    };
    this.rt = {
      g: globalThis,
      m: [] as unknown[],
      c: check,
      a: (n: number, value: unknown) => {
        check(n);
        return value;
      },
      dynImport: (spec: string) => this.load(spec),
    };
    Object.defineProperty(globalThis, options.rtName, {
      value: this.rt,
      configurable: true,
      enumerable: false,
      writable: false,
    });
  }

  /** Grading mode: the runtime object can be neither replaced nor changed by cells. */
  harden(): void {
    Object.freeze(this.rt);
    Object.defineProperty(globalThis, this.#opts.rtName, { configurable: false });
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  /** The kernel's built-in modules (builtin-modules.ts): `load` answers their names first. */
  setBuiltins(builtins: { value(name: string): unknown }): void {
    this.#builtins = builtins;
  }

  /**
   * The token (see run) of the execution whose code raised `error`: the innermost cell frame of its
   * stack (no async_hooks: they would make terminating a cell fatal, see main.ts). Undefined when
   * the error has no cell frame.
   */
  originOf(error: unknown): unknown {
    const stack = error instanceof Error ? String(error.stack ?? "") : "";
    const label = /\((cell\[\d+\]):\d+:\d+\)|at (cell\[\d+\]):\d+:\d+/.exec(stack);
    return label ? this.#tokens.get(label[1] ?? label[2]) : undefined;
  }

  /** Whether `token` belongs to the cell that is running now. */
  isRunning(token: unknown): boolean {
    return this.#current !== undefined && this.#currentToken === token;
  }
  #currentToken: unknown;

  /** Fails the running cell with `error` (an unhandled rejection it caused, say). */
  failRunning(error: Error): void {
    this.#current?.reject(error);
  }

  /**
   * Runs a compiled cell. `cell` is the compiler's cell number (the one in its interrupt checks);
   * `token` identifies the execution for late errors (originOf).
   */
  async run(compiled: CompiledCell, label: string, cell: number, token: unknown): Promise<RunOutcome> {
    this.#positions.set(label, compiled.positions);
    this.#tokens.set(label, token);
    if (this.#tokens.size > 1000) this.#tokens.delete(this.#tokens.keys().next().value!);
    const control = this.#opts.control;
    const seq = control.running;
    let reject!: (e: Error) => void;
    const interrupted = new Promise<never>((_, r) => {
      reject = r;
    });
    interrupted.catch(() => undefined);
    this.#current = { seq, reject };
    this.#currentToken = token;
    const checkpoint = this.state?.checkpointGlobalState();
    let settled = false;
    try {
      const mods: unknown[] = [];
      for (const s of compiled.modules) mods.push(await race([this.load(s), interrupted]));
      if (control.requested()) throw new KeyboardInterrupt();
      const m = this.rt.m as unknown[];
      m.length = 0;
      m.push(...mods);
      const script = new Script(compiled.script, { filename: label });
      control.started();
      const promise = new Promise<unknown>((resolve, rejectRun) => {
        startLater(() => {
          try {
            const p = script.runInThisContext({ displayErrors: false });
            (p as Promise<unknown>).then(resolve, rejectRun);
          } catch (e) {
            rejectRun(e);
          }
        });
      });
      let value = await race([promise, interrupted]);
      if (compiled.hasResult && value !== null && typeof value === "object" && "then" in value) {
        if (typeof value.then === "function") value = await race([value as Promise<unknown>, interrupted]);
      }
      settled = true;
      return { status: "ok", value };
    } catch (e) {
      const interrupt = e instanceof KeyboardInterrupt;
      if (interrupt) {
        if (!settled) this.#killed.add(cell);
        this.#restoreState(checkpoint);
      }
      return { status: "error", ...this.errorInfo(e) };
    } finally {
      this.#current = undefined;
      this.#currentToken = undefined;
    }
  }

  #restoreState(checkpoint: unknown): void {
    if (!this.state || checkpoint === undefined) return;
    for (const f of this.state.restoreGlobalState(checkpoint as never))
      this.#log(`restoring ${f.name} after an interrupt failed: ${String(f.error)}`);
  }

  /** The main thread was asked to interrupt (interrupt_request or SIGINT): fail an awaiting cell now. */
  interrupt(): void {
    const c = this.#current;
    if (c && this.#opts.control.requested() && this.#opts.control.running === c.seq) {
      c.reject(new KeyboardInterrupt());
    }
  }

  /** The socket thread terminated execution `seq`'s JavaScript. */
  terminated(seq: number): void {
    const c = this.#current;
    if (c && c.seq === seq) {
      c.reject(
        new KeyboardInterrupt(
          "interrupted by the user inside a call that does not check for interrupts; it was stopped and the library's state (grad mode, thread pool, buffer pools, random generator) was restored",
        ),
      );
    }
  }

  async load(spec: string): Promise<unknown> {
    const cwd = this.#opts.cwd;
    const builtin = this.#builtins?.value(spec);
    if (builtin !== undefined) return builtin;
    if (spec.startsWith("node:") || builtinModules.includes(spec)) return import(spec);
    if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
      const path = resolvePath(cwd, spec);
      let url = pathToFileURL(path).href;
      try {
        if (statSync(path).isFile()) url += `?mtime=${statSync(path).mtimeMs}`;
      } catch {
        // extensionless: the loader hooks find the .ts file
      }
      return import(url);
    }
    let resolved: string | undefined;
    try {
      resolved = createRequire(join(cwd, "noop.js")).resolve(spec);
    } catch {
      // not installed next to the notebook: try where cnnlab is installed
    }
    return resolved ? import(pathToFileURL(resolved).href) : import(spec);
  }

  // ---------------------------------------------------------------- errors

  /** ename, evalue and a traceback in the cells' own lines, without the kernel's frames. */
  errorInfo(e: unknown, prefix?: string): ErrorInfo {
    if (!(e instanceof Error)) {
      const text = inspect(e, { depth: 2 });
      return { ename: prefix ?? "Uncaught", evalue: text, traceback: [`Uncaught ${text}`] };
    }
    let evalue = e.message;
    if (
      e instanceof RangeError &&
      /typed array length|Array buffer allocation failed|Invalid array length|Invalid string length/i.test(
        e.message,
      )
    ) {
      evalue +=
        " — the cell asked for more memory than one JavaScript array can hold or the heap allows (check the tensor's shape)";
    }
    const ename = prefix ? `${prefix}: ${e.name}` : e.name || "Error";
    return { ename, evalue, traceback: this.traceback(e, evalue) };
  }

  traceback(e: Error, evalue = e.message): string[] {
    const lines = String(e.stack ?? "").split("\n");
    let frames = lines.filter((l) => /^\s+at /.test(l));
    // Frames below the outermost cell frame are whoever ran or awaited the cell: the kernel.
    const lastCell = frames.findLastIndex((l) => /cell\[\d+\]:\d+:\d+\)?$/.test(l));
    if (lastCell >= 0) frames = frames.slice(0, lastCell + 1);
    const out: string[] = [`${e.name}: ${evalue}`];
    const kept: string[] = [];
    let context: string | undefined;
    let libraryRun = 0;
    for (const frame of frames) {
      const m = /(cell\[\d+\]):(\d+):(\d+)\)?$/.exec(frame);
      if (m) {
        libraryRun = 0;
        const pos = this.#positions.get(m[1])?.original(Number(m[2]), Number(m[3]));
        if (!pos) continue; // the kernel's wrapper around the cell
        const fn = /^\s+at (?:async )?([^\s(]+) \(/.exec(frame)?.[1];
        const at = `${m[1]}:${pos.line}:${pos.column}`;
        kept.push(fn && fn !== "<anonymous>" ? `    at ${fn} (${at})` : `    at ${at}`);
        context ??= this.#context(m[1], pos.line, pos.column);
        continue;
      }
      if (/node:internal|node:vm|\(node:|^\s+at node:/.test(frame) || frame.includes(KERNEL_DIR)) continue;
      if (e instanceof KeyboardInterrupt) continue;
      libraryRun++;
      if (libraryRun > 3) {
        if (libraryRun === 4) kept.push("    ...");
        continue;
      }
      kept.push(
        frame.replace(pathToFileURL(packageRoot).href + "/", "cnnlab/").replace(packageRoot + "/", "cnnlab/"),
      );
    }
    if (context) out.push(context);
    return [...out, ...kept];
  }

  #context(label: string, line: number, column: number): string {
    const p = this.#positions.get(label);
    if (!p) return "";
    const rows: string[] = [`${label}, line ${line}:`];
    for (let l = Math.max(1, line - 2); l <= line; l++) {
      const text = p.sourceLine(l);
      if (l < line && text.trim() === "") continue;
      rows.push(`${l === line ? "-->" : "   "} ${String(l).padStart(3)} | ${text}`);
    }
    rows.push(`        | ${" ".repeat(Math.max(0, column - 1))}^`);
    return rows.join("\n");
  }
}
