/**
 * The TypeScript engine: orchestration only. execute = declared names and the type-check appendix
 * (cell-compiler.ts) + check (checker.ts) + compile and run (cell-compiler.ts, cell-runner.ts);
 * complete/inspect/is_complete are inspector.ts; built-in modules (`cnnlab`, ...) come from one
 * table, builtin-modules.ts, that both the checker and the runner read.
 *
 * Type checking: every cell is checked as one module file. Names declared by earlier cells come
 * from those cells' modules (`./__cnnlab_cell_<k>`, see Checker): the engine appends, after the
 * user's code (so positions and line numbers stay the user's), `import { a } from
 * "./__cnnlab_cell_k"` for constants, functions, classes and types, `declare let b: typeof
 * import("./__cnnlab_cell_k").b` for `let`/`var` (assignable), imports of cnnlab exports and
 * `import * as cnnlab from "cnnlab"` — only for names the cell mentions, and only when the cell
 * does not declare that name itself (so user names shadow preloaded ones and a re-run `const` is
 * simply a new declaration) — and `export { <names the cell declares> }` so that later cells can
 * import them.
 *
 * Running: cell-compiler.ts turns the cell into a script (top-level declarations as globals,
 * interrupt checks, a source map) and cell-runner.ts runs it in the kernel's own realm (no
 * cross-realm typed arrays), with interrupts and the library's state checkpoint. The last
 * expression statement's value (awaited if it is a promise) is the cell's result.
 */
import { existsSync } from "node:fs";
import { register } from "node:module";
import { dirname, join, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import {
  compileCell,
  declaredNames,
  formatDiagnostic,
  typeCheckAppendix,
  type CompiledCell,
  type DeclaredName,
} from "./cell-compiler.js";
import { CellRunner, type StateRegistry } from "./cell-runner.js";
import { BuiltinModules, type BuiltinContext } from "./builtin-modules.js";
import { Checker } from "./checker.js";
import { notebookCompilerOptions } from "./compiler-options.js";
import { Inspector, isComplete } from "./inspector.js";
import { InterruptControl, KeyboardInterrupt } from "./interrupt.js";
import { KERNEL_DISPLAY_HOOK, makeCellDisplayApi, makeHook, toDisplay, type DisplaySink } from "./display.js";
import {
  type CompleteResult,
  type Engine,
  type EngineIO,
  type ExecuteOptions,
  type ExecuteOutcome,
  type InspectResult,
  type IsCompleteResult,
} from "./engine.js";
import { kernelBanner, languageInfo } from "./info.js";
import { STDIN_GLOBAL_DECLARATIONS } from "./stdin.js";
import { freezeIntrinsics, isLockedCell, lockGlobals } from "./lockdown.js";
import { libraryDts, libraryJs, tsHooksJs } from "./paths.js";
import { snapshotDocumentRegistry, type SnapshotContents } from "./snapshot.js";

export interface TsEngineOptions {
  /** Working directory: relative imports resolve from here (default process.cwd()). */
  cwd?: string;
  /** The library to preload; `null` for none. Defaults to the built cnnlab (dist/src/index.{js,d.ts}). */
  library?: { js: string; dts: string } | null;
  /** Report the process's unhandled rejections and uncaught exceptions (as late errors of their cell). */
  reportProcessErrors?: boolean;
  /** Grading mode (lockdown.ts): intrinsics, library exports and locked cells' names are frozen. */
  grading?: boolean;
  /** The interrupt control block shared with the socket thread (a private one by default). */
  control?: InterruptControl;
  /** Check a few throw-away cells while idle after start-up (default true). */
  warmUp?: boolean;
  /** Register the loader hooks for importing local .ts files (default true). */
  registerTsHooks?: boolean;
  /** Check a cell against the last program's checker when it can (default true, see Checker). */
  reuseChecker?: boolean;
  /** Called once the start-up warm-up has checked and compiled all its cells. */
  onWarm?: () => void;
  log?: (line: string) => void;
}

interface PrevName {
  cell: number;
  mutable: boolean;
}

const RT = "__cnnlab_rt";
const startLater = setImmediate;
/** Names the kernel gives cells itself (they take precedence over library exports of the same name). */
const KERNEL_GLOBALS = ["display", "updateDisplay", "clearOutput"];

/** Kernel-provided globals, as the type checker sees them. */
const KERNEL_GLOBALS_DTS = `export {};
declare global {
  /** Display any value in the notebook (its [Symbol.for("Jupyter.display")]() bundle, a raw MIME bundle, or its text). Pass a displayId to update it later with updateDisplay. */
  function display(obj: unknown, options?: { displayId?: string; metadata?: Record<string, unknown> }): void;
  /** Replace the output shown earlier with display(obj, { displayId }). */
  function updateDisplay(displayId: string, obj: unknown): void;
  /** Clear the cell's output; with wait: true, just before the next output arrives. */
  function clearOutput(options?: { wait?: boolean } | boolean): void;
${STDIN_GLOBAL_DECLARATIONS}}
`;

/**
 * Every identifier-like word of `code` (also inside strings and comments: a superset is harmless).
 * Undefined when the code spells identifiers with escapes, which the scan would not see.
 */
function mentionedNames(code: string): Set<string> | undefined {
  if (code.includes("\\u")) return undefined;
  return new Set(code.match(/[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/gu) ?? []);
}

export class TsEngine implements Engine {
  readonly languageInfo = languageInfo;
  readonly banner = kernelBanner();

  readonly cwd: string;
  #opts: TsEngineOptions;
  #io: EngineIO | undefined;
  #readyPromise: Promise<void> | undefined;
  #warmStopped = false;
  #libraryNs: Record<string, unknown> | undefined;
  #libraryError: string | undefined;
  /** Told once, on the first cell's stderr (tsconfig.json problems). */
  #startupNotes: string[] = [];
  #libraryTypeNames: string[] = [];
  #libraryValueNames = new Set<string>();
  #prev = new Map<string, PrevName>();
  /** Grading mode: names declared by locked cells. */
  #locked = new Set<string>();
  #cellCounter = 0;
  #checker!: Checker;
  #inspector!: Inspector;
  readonly #builtinContext: BuiltinContext;
  readonly builtins: BuiltinModules;
  readonly control: InterruptControl;
  readonly runner: CellRunner;

  constructor(options: TsEngineOptions = {}) {
    this.#opts = options;
    this.cwd = resolvePath(options.cwd ?? process.cwd());
    const sink: DisplaySink = {
      displayData: (payload, id, update) => this.#io?.display(payload, id, update),
      clearOutput: (wait) => this.#io?.clearOutput(wait),
    };
    this.control = options.control ?? new InterruptControl();
    this.runner = new CellRunner({ cwd: this.cwd, control: this.control, rtName: RT, log: options.log });
    const display = makeCellDisplayApi(sink);
    this.runner.rt.api = display;
    this.#builtinContext = { library: undefined, libraryDts: undefined, display };
    this.builtins = new BuiltinModules(this.#builtinContext);
    this.runner.setBuiltins(this.builtins);
    Object.defineProperty(globalThis, KERNEL_DISPLAY_HOOK, {
      value: makeHook(sink),
      configurable: true,
      enumerable: false,
      writable: true,
    });
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  setIO(io: EngineIO): void {
    this.#io = io;
    if (this.#opts.reportProcessErrors) this.#reportProcessErrors();
  }

  /**
   * Unhandled rejections and uncaught exceptions: the running cell's own fail that cell; those of
   * an earlier cell are reported as late errors of the cell that caused them.
   */
  #reportProcessErrors(): void {
    process.on("unhandledRejection", (reason) => {
      const origin = this.runner.originOf(reason);
      if (origin !== undefined && this.runner.isRunning(origin)) {
        this.runner.failRunning(
          reason instanceof Error ? reason : new Error(`Unhandled promise rejection: ${inspect(reason)}`),
        );
        return;
      }
      this.#io?.lateError(
        this.runner.errorInfo(reason, "Unhandled promise rejection (after its cell ended)"),
        origin,
      );
    });
    process.on("uncaughtException", (error) => {
      this.#io?.lateError(
        this.runner.errorInfo(error, "Uncaught exception (after its cell ended)"),
        this.runner.originOf(error),
      );
    });
  }

  ready(): Promise<void> {
    this.#readyPromise ??= this.#init();
    return this.#readyPromise;
  }

  /** How many checks built a new program and how many reused the last one (Checker.stats). */
  get checkStats(): { programs: number; reused: number } {
    return { ...this.#checker.stats };
  }

  // ---------------------------------------------------------------- setup

  #tsHooks: "off" | "pending" | "registered" = "off";
  #idleHooks: ReturnType<typeof setTimeout> | undefined;
  /** Registers the hooks once no cell has run for a while (cells sent together are not held up). */
  #registerTsHooksWhenIdle(): void {
    if (this.#tsHooks !== "pending") return;
    clearTimeout(this.#idleHooks);
    this.#idleHooks = setTimeout(() => this.#registerTsHooks(), 500);
    this.#idleHooks.unref();
  }

  /**
   * Registers the hooks that let cells import .ts files (ts-hooks.ts). Registering waits for the
   * module loader's own thread to start (0.05-0.15 s, more on a busy machine), so it is done when
   * the kernel has been idle for a while, or before the first cell that could import anything (one
   * that says import or require); in grading mode at once, before the intrinsics are frozen.
   */
  #registerTsHooks(): void {
    if (this.#tsHooks !== "pending") return;
    this.#tsHooks = "registered";
    const t = performance.now();
    try {
      register(pathToFileURL(tsHooksJs).href);
      this.#log(`.ts loader hooks registered (${Math.round(performance.now() - t)} ms)`);
    } catch (e) {
      this.#log(`could not register .ts loader hooks: ${(e as Error).message}`);
    }
  }

  #library(): { js: string; dts: string } | null {
    return this.#opts.library === undefined ? { js: libraryJs, dts: libraryDts } : this.#opts.library;
  }

  #typesPrepared = false;
  /**
   * The type side of start-up, which needs no library code: compiler options, the checker and the
   * library's declarations. ready() does it first; a kernel started from the start-up snapshot
   * calls it while its socket thread starts (it takes 0.05-0.1 s there, seconds without one).
   */
  prepareTypes(): void {
    if (this.#typesPrepared) return;
    this.#typesPrepared = true;
    const lib = this.#library();
    if (lib && existsSync(lib.dts)) this.#builtinContext.libraryDts = lib.dts;
    const compilerOptions = notebookCompilerOptions(this.cwd);
    if (compilerOptions.configPath) this.#log(`compiler options from ${compilerOptions.configPath}`);
    for (const w of compilerOptions.warnings) this.#startupNotes.push(`warning: ${w}\n`);
    if (compilerOptions.error) this.#startupNotes.push(`error: ${compilerOptions.error}\n`);
    for (const note of this.#startupNotes) this.#log(note.trimEnd());
    const documents = snapshotDocumentRegistry();
    this.#log(documents.note);
    this.#checker = new Checker({
      cwd: this.cwd,
      compilerOptions: compilerOptions.options,
      globals: KERNEL_GLOBALS_DTS,
      builtinTypes: (name) => this.builtins.types(name),
      reuseChecker: this.#opts.reuseChecker,
      documentRegistry: documents.registry,
      resolutions: documents.resolutions,
      log: (line) => this.#log(line),
    });
    this.#inspector = new Inspector(this.#checker, (own) => this.#appendix(own));
    if (this.#builtinContext.libraryDts) {
      const t = performance.now();
      this.#libraryTypeNames = this.#checker.exportsOf("cnnlab");
      this.#log(`library declarations read and checked (${Math.round(performance.now() - t)} ms)`);
    }
  }

  async #init(): Promise<void> {
    if (this.#opts.registerTsHooks !== false && existsSync(tsHooksJs)) {
      this.#tsHooks = "pending";
      if (this.#opts.grading) this.#registerTsHooks();
    }
    this.prepareTypes();
    const lib = this.#library();
    if (lib && !existsSync(lib.js)) {
      this.#log(`no library preloaded: ${lib.js} does not exist (build the package)`);
    } else if (lib) {
      try {
        const t = performance.now();
        this.#libraryNs = (await import(pathToFileURL(lib.js).href)) as Record<string, unknown>;
        this.#log(`library loaded (${Math.round(performance.now() - t)} ms)`);
        this.#builtinContext.library = this.#libraryNs;
        // The library's state registry (the same module instance the library registered into).
        const stateJs = join(dirname(lib.js), "runtime", "state.js");
        if (existsSync(stateJs))
          this.runner.state = (await import(pathToFileURL(stateJs).href)) as StateRegistry;
      } catch (e) {
        this.#libraryError = `the cnnlab library could not be loaded from ${lib.js}: ${(e as Error).message}`;
        this.#log(this.#libraryError);
      }
    }
    this.#installGlobals();
    if (this.#opts.grading) {
      freezeIntrinsics();
      lockGlobals(KERNEL_GLOBALS);
      this.runner.rt.lib = this.#libraryNs ?? {};
      this.runner.harden();
      this.#log("grading mode: intrinsics, library exports and the cell runner are frozen");
    }
    if (this.#opts.warmUp !== false) startLater(() => this.#warmUp(0));
  }

  /**
   * While the kernel is idle after start-up, checks and compiles a few throw-away cells so the
   * first real one finds the compiler's code warm. One step per macrotask; a request that arrives
   * stops it (#stopWarmUp) before it touches the checker, so warm-up never runs between a cell's
   * check and its commit.
   */
  #warmUp(step: number): void {
    if (this.#warmStopped) return;
    const lib = this.#libraryTypeNames.includes("tensor");
    const cells = [
      "1",
      lib
        ? "const __cnnlab_warm = tensor([1, 2]);\n__cnnlab_warm.mul(2).sum().item()"
        : "const __cnnlab_warm = [1, 2];\n__cnnlab_warm.map((v) => v * 2)",
      "let __cnnlab_warm2 = { x: 1 };\nfor (const k of Object.keys(__cnnlab_warm2)) __cnnlab_warm2.x += k.length;",
    ];
    if (step >= cells.length) {
      this.#log("checker warm");
      this.#opts.onWarm?.();
      this.#registerTsHooksWhenIdle();
      return;
    }
    const code = cells[step];
    try {
      const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      this.#checker.warm(code + this.#appendix(declaredNames(sf), false, code));
      compileCell(code, { cell: 0, rt: RT, bindLibrary: [] });
    } catch (e) {
      this.#log(`warm-up step ${step} failed: ${(e as Error).message}`);
      return;
    }
    startLater(() => this.#warmUp(step + 1));
  }

  /** What a start-up snapshot of this kernel would hold (snapshot.ts requestSnapshot). */
  snapshotContents(): SnapshotContents {
    return {
      compilerOptions: this.#checker.compilerOptions,
      cwd: this.cwd,
      files: this.#checker.staticDiskFiles(),
      resolutions: this.#checker.lastingResolutions(),
    };
  }

  #stopWarmUp(): void {
    this.#warmStopped = true;
  }

  #installGlobals(): void {
    const g = globalThis as Record<string, unknown>;
    const ns = this.#libraryNs;
    if (ns) {
      for (const key of Object.keys(ns)) {
        if (key === "default" || KERNEL_GLOBALS.includes(key)) continue;
        if (Object.prototype.hasOwnProperty.call(g, key) && !this.#libraryValueNames.has(key)) {
          this.#log(`library export ${key} not preloaded: a Node global has that name`);
          continue;
        }
        Object.defineProperty(g, key, {
          value: ns[key],
          writable: true,
          configurable: true,
          enumerable: false,
        });
        this.#libraryValueNames.add(key);
      }
      Object.defineProperty(g, "cnnlab", {
        value: ns,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
    const api = this.runner.rt.api as ReturnType<typeof makeCellDisplayApi>;
    for (const [name, fn] of Object.entries({
      display: api.display,
      updateDisplay: api.updateDisplay,
      clearOutput: api.clearOutput,
    })) {
      Object.defineProperty(g, name, { value: fn, writable: true, configurable: true, enumerable: false });
    }
    // Types must match what is really there at run time; the kernel's display functions win.
    this.#libraryTypeNames = this.#libraryTypeNames.filter(
      (n) => !KERNEL_GLOBALS.includes(n) && (!ns || this.#libraryValueNames.has(n) || !(n in ns)),
    );
  }

  // ---------------------------------------------------------------- execute

  async execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    this.#stopWarmUp();
    clearTimeout(this.#idleHooks);
    this.control.begin();
    try {
      return await this.#execute(code, options);
    } finally {
      this.control.end();
      this.#registerTsHooksWhenIdle();
    }
  }

  async #execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    await this.ready();
    if (/\b(?:import|require)\b/.test(code)) this.#registerTsHooks();
    if (this.#libraryError) {
      this.#io?.stdout(`warning: ${this.#libraryError}\n`);
      this.#libraryError = undefined;
    }
    if (this.#startupNotes.length) {
      for (const note of this.#startupNotes) this.#io?.stderr(note);
      this.#startupNotes = [];
    }
    const help = /^\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\?\s*$/.exec(code);
    if (help) {
      // IPython-style help: `name?` opens the documentation in the pager.
      const r = await this.inspect(help[1], [...help[1]].length, 1);
      if (!r.found)
        return {
          status: "error",
          ename: "NameError",
          evalue: `no documentation found for ${help[1]}`,
          traceback: [],
        };
      return { status: "ok", payload: [{ source: "page", data: r.data, start: 0 }] };
    }
    const cellLabel = `cell[${options.executionCount}]`;
    const n = ++this.#cellCounter;
    const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const own = declaredNames(sf);
    const locked = !!this.#opts.grading && isLockedCell(options.metadata);
    const clash = [...own.keys()].filter((name) => this.#locked.has(name));
    if (clash.length) {
      const evalue = `${clash.join(", ")} ${clash.length > 1 ? "are" : "is"} declared by a locked cell and cannot be declared again`;
      return { status: "error", ename: "LockedNameError", evalue, traceback: [`LockedNameError: ${evalue}`] };
    }
    let diags: ts.Diagnostic[];
    try {
      diags = this.#checker.check(code + this.#appendix(own, locked, code)).diagnostics;
    } catch (e) {
      return {
        status: "error",
        ename: "InternalError",
        evalue: `type checker failed: ${(e as Error).message}`,
        traceback: [String((e as Error).stack)],
      };
    }
    const errors = diags.filter((d) => d.category === ts.DiagnosticCategory.Error);
    const userErrors = errors.filter((d) => d.start === undefined || d.start < code.length);
    for (const d of errors)
      if (!userErrors.includes(d))
        this.#log(`diagnostic in generated code: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
    if (userErrors.length) {
      const lines = userErrors.map((d) => formatDiagnostic(d, code, cellLabel));
      const first = userErrors[0];
      return {
        status: "error",
        ename: "TypeScriptError",
        evalue: `${userErrors.length} error${userErrors.length > 1 ? "s" : ""}: ${ts.flattenDiagnosticMessageText(first.messageText, " ")}`,
        traceback: lines,
      };
    }
    this.#checker.commit(n);
    for (const [name, info] of own) this.#prev.set(name, { cell: n, mutable: info.mutable });

    if (this.control.requested())
      return { status: "error", ...this.runner.errorInfo(new KeyboardInterrupt()) };
    let compiled: CompiledCell;
    try {
      compiled = compileCell(code, {
        cell: n,
        rt: RT,
        bindLibrary: locked ? [...this.#libraryValueNames].filter((name) => !this.#locked.has(name)) : [],
      });
    } catch (e) {
      return {
        status: "error",
        ename: "InternalError",
        evalue: `could not transpile the cell: ${(e as Error).message}`,
        traceback: [],
      };
    }
    const r = await this.runner.run(compiled, cellLabel, n, options.origin);
    if (locked) {
      for (const name of own.keys()) this.#locked.add(name);
      lockGlobals(own.keys());
    }
    if (r.status === "error") return r;
    if (!compiled.hasResult || r.value === undefined) return { status: "ok" };
    return { status: "ok", result: toDisplay(r.value) };
  }

  interrupt(): void {
    this.runner.interrupt();
  }

  /** The socket thread terminated execution `seq` (see interrupt.ts). */
  terminated(seq: number): void {
    this.runner.terminated(seq);
  }

  /**
   * `locked`: a locked cell sees the library's names as the library's (see lockdown.ts).
   * `code`: only names the code mentions are imported (a cell cannot refer to the others, and
   * importing every earlier and library name would make each check cost grow with the history);
   * without it, every name is (completion lists them all).
   */
  #appendix(own: ReadonlyMap<string, DeclaredName>, locked = false, code?: string): string {
    const used = code === undefined ? undefined : mentionedNames(code);
    const previous = new Map(
      [...this.#prev].filter(
        ([name]) =>
          (!used || used.has(name)) &&
          (!locked || this.#locked.has(name) || !this.#libraryValueNames.has(name)),
      ),
    );
    return typeCheckAppendix({
      own,
      previous,
      libraryNames: used ? this.#libraryTypeNames.filter((n) => used.has(n)) : this.#libraryTypeNames,
      libraryNamespace: !!this.#libraryNs && (!used || used.has("cnnlab")),
      libraryTypes: this.#libraryTypeNames.length > 0,
      cellModule: (k) => this.#checker.cellModule(k),
    });
  }

  // ---------------------------------------------------------------- completion / inspection

  async complete(code: string, cursorPos: number): Promise<CompleteResult> {
    this.#stopWarmUp();
    await this.ready();
    return this.#inspector.complete(code, cursorPos);
  }

  async inspect(code: string, cursorPos: number, detailLevel: number): Promise<InspectResult> {
    this.#stopWarmUp();
    await this.ready();
    return this.#inspector.inspect(code, cursorPos, detailLevel);
  }

  isComplete(code: string): Promise<IsCompleteResult> {
    return Promise.resolve(isComplete(code));
  }
}
