/**
 * The TypeScript engine, built on the `typescript` compiler API (5.9).
 *
 * Type checking: every cell is a module file `<cwd>/__cnnlab_cell_<n>.ts`. Names declared by
 * earlier cells come from the declaration files emitted for those cells
 * (`__cnnlab_cell_<k>.d.ts`): the engine appends, after the user's code (so positions and line
 * numbers stay the user's), `import { a } from "./__cnnlab_cell_k"` for constants, functions,
 * classes and types, `declare let b: typeof import("./__cnnlab_cell_k").b` for `let`/`var`
 * (assignable), imports of every cnnlab export and `import * as cnnlab from "cnnlab"` — each only
 * when the cell does not declare that name itself (so user names shadow preloaded ones and a
 * re-run `const` is simply a new declaration) — and `export { <names the cell declares> }` so the
 * declaration emitter describes them for later cells.
 *
 * Running: cell-compiler.ts turns the cell into a script (top-level declarations as globals,
 * interrupt checks, a source map) and cell-runner.ts runs it in the kernel's own realm (no
 * cross-realm typed arrays), with interrupts and the library's state checkpoint. The last
 * expression statement's value (awaited if it is a promise) is the cell's result.
 */
import { existsSync } from "node:fs";
import { createRequire, register } from "node:module";
import { dirname, join, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { inspect } from "node:util";
import ts from "typescript";
import {
  compileCell,
  declaredNames,
  formatDiagnostic,
  typeCheckAppendix,
  type CompiledCell,
  type DeclaredName,
} from "./cell-compiler.js";
import { CellRunner, type StateRegistry } from "./cell-runner.js";
import { InterruptControl, KeyboardInterrupt } from "./interrupt.js";
import { KERNEL_DISPLAY_HOOK, makeCellDisplayApi, makeHook, toDisplay, type DisplaySink } from "./display.js";
import {
  codePointsToUtf16,
  utf16ToCodePoints,
  type CompleteResult,
  type Engine,
  type EngineIO,
  type ExecuteOptions,
  type ExecuteOutcome,
  type InspectResult,
  type IsCompleteResult,
} from "./engine.js";
import { kernelBanner, languageInfo } from "./info.js";
import { freezeIntrinsics, isLockedCell, lockGlobals } from "./lockdown.js";
import { libraryDts, libraryJs, packageRoot, tsHooksJs } from "./paths.js";

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
  /** Register the loader hooks for importing local .ts files (default true). */
  registerTsHooks?: boolean;
  log?: (line: string) => void;
}

interface PrevName {
  cell: number;
  mutable: boolean;
}

const RT = "__cnnlab_rt";
/** Names the kernel gives cells itself (they take precedence over library exports of the same name). */
const KERNEL_GLOBALS = ["display", "updateDisplay", "clearOutput"];
const CELL_PREFIX = "__cnnlab_cell_";

/** Kernel-provided globals, as the type checker sees them. */
const KERNEL_GLOBALS_DTS = `export {};
declare global {
  /** Display any value in the notebook (its [Symbol.for("Jupyter.display")]() bundle, a raw MIME bundle, or its text). Pass a displayId to update it later with updateDisplay. */
  function display(obj: unknown, options?: { displayId?: string; metadata?: Record<string, unknown> }): void;
  /** Replace the output shown earlier with display(obj, { displayId }). */
  function updateDisplay(displayId: string, obj: unknown): void;
  /** Clear the cell's output; with wait: true, just before the next output arrives. */
  function clearOutput(options?: { wait?: boolean } | boolean): void;
}
`;

export class TsEngine implements Engine {
  readonly languageInfo = languageInfo;
  readonly banner = kernelBanner();

  readonly cwd: string;
  #opts: TsEngineOptions;
  #io: EngineIO | undefined;
  #readyPromise: Promise<void> | undefined;
  #libraryNs: Record<string, unknown> | undefined;
  #libraryError: string | undefined;
  #libraryTypeNames: string[] = [];
  #libraryValueNames = new Set<string>();
  #prev = new Map<string, PrevName>();
  /** Grading mode: names declared by locked cells. */
  #locked = new Set<string>();
  #cellCounter = 0;
  #files = new Map<string, { text: string; version: number }>();
  #roots: string[] = [];
  #ls!: ts.LanguageService;
  #compilerOptions!: ts.CompilerOptions;
  #resolutionCache!: ts.ModuleResolutionCache;
  #globalsFile: string;
  readonly control: InterruptControl;
  readonly runner: CellRunner;

  constructor(options: TsEngineOptions = {}) {
    this.#opts = options;
    this.cwd = resolvePath(options.cwd ?? process.cwd());
    this.#globalsFile = join(this.cwd, "__cnnlab_kernel_globals.d.ts");
    const sink: DisplaySink = {
      displayData: (payload, id, update) => this.#io?.display(payload, id, update),
      clearOutput: (wait) => this.#io?.clearOutput(wait),
    };
    this.control = options.control ?? new InterruptControl();
    this.runner = new CellRunner({ cwd: this.cwd, control: this.control, rtName: RT, log: options.log });
    this.runner.rt.api = makeCellDisplayApi(sink);
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

  // ---------------------------------------------------------------- setup

  async #init(): Promise<void> {
    if (this.#opts.registerTsHooks !== false && existsSync(tsHooksJs)) {
      try {
        register(pathToFileURL(tsHooksJs).href);
      } catch (e) {
        this.#log(`could not register .ts loader hooks: ${(e as Error).message}`);
      }
    }
    const lib = this.#opts.library === undefined ? { js: libraryJs, dts: libraryDts } : this.#opts.library;
    if (lib && !existsSync(lib.js)) {
      this.#log(`no library preloaded: ${lib.js} does not exist (build the package)`);
    } else if (lib) {
      try {
        this.#libraryNs = (await import(pathToFileURL(lib.js).href)) as Record<string, unknown>;
        this.runner.setLibrary(this.#libraryNs);
        // The library's state registry (the same module instance the library registered into).
        const stateJs = join(dirname(lib.js), "runtime", "state.js");
        if (existsSync(stateJs))
          this.runner.state = (await import(pathToFileURL(stateJs).href)) as StateRegistry;
      } catch (e) {
        this.#libraryError = `the cnnlab library could not be loaded from ${lib.js}: ${(e as Error).message}`;
        this.#log(this.#libraryError);
      }
    }
    this.#setupLanguageService(lib && existsSync(lib.dts) ? lib.dts : undefined);
    this.#installGlobals();
    if (this.#opts.grading) {
      freezeIntrinsics();
      lockGlobals(KERNEL_GLOBALS);
      this.runner.rt.lib = this.#libraryNs ?? {};
      this.runner.harden();
      this.#log("grading mode: intrinsics, library exports and the cell runner are frozen");
    }
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

  #typeRoots(): { typeRoots?: string[]; types?: string[]; lib: string[] } {
    for (const base of [this.cwd, packageRoot]) {
      try {
        const pj = createRequire(join(base, "noop.js")).resolve("@types/node/package.json");
        return { typeRoots: [dirname(dirname(pj))], types: ["node"], lib: ["lib.es2023.d.ts"] };
      } catch {
        // try the next place
      }
    }
    // No @types/node: the DOM library still declares console, timers, fetch...
    return { types: [], lib: ["lib.es2023.d.ts", "lib.dom.d.ts"] };
  }

  #setupLanguageService(dts: string | undefined): void {
    const roots = this.#typeRoots();
    this.#compilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: roots.lib,
      types: roots.types,
      typeRoots: roots.typeRoots,
      strict: true,
      noImplicitAny: false,
      esModuleInterop: true,
      allowSyntheticDefaultImports: true,
      skipLibCheck: true,
      resolveJsonModule: true,
      allowImportingTsExtensions: true,
      declaration: true,
      emitDeclarationOnly: true,
      isolatedModules: false,
      noEmitOnError: false,
    };
    this.#files.set(this.#globalsFile, { text: KERNEL_GLOBALS_DTS, version: 1 });
    this.#resolutionCache = ts.createModuleResolutionCache(this.cwd, (s) => s, this.#compilerOptions);
    const libraryDtsPath = dts;
    const cellDts = new RegExp(`^\\./${CELL_PREFIX}(\\d+)$`);
    const host: ts.LanguageServiceHost = {
      getCompilationSettings: () => this.#compilerOptions,
      getScriptFileNames: () => [this.#globalsFile, ...this.#roots],
      getScriptVersion: (f) => String(this.#files.get(f)?.version ?? 0),
      getScriptSnapshot: (f) => {
        const v = this.#files.get(f);
        if (v) return ts.ScriptSnapshot.fromString(v.text);
        const text = ts.sys.readFile(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => this.cwd,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.#files.has(f) || ts.sys.fileExists(f),
      readFile: (f) => this.#files.get(f)?.text ?? ts.sys.readFile(f),
      readDirectory: ts.sys.readDirectory,
      directoryExists: ts.sys.directoryExists,
      getDirectories: ts.sys.getDirectories,
      realpath: ts.sys.realpath,
      useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
      resolveModuleNameLiterals: (literals, containingFile, redirected, options, containingSourceFile) =>
        literals.map((lit) => {
          const name = lit.text;
          if (name === "cnnlab" && libraryDtsPath) {
            return {
              resolvedModule: {
                resolvedFileName: libraryDtsPath,
                extension: ts.Extension.Dts,
                isExternalLibraryImport: false,
              },
            };
          }
          const m = cellDts.exec(name);
          if (m) {
            return {
              resolvedModule: {
                resolvedFileName: join(this.cwd, `${CELL_PREFIX}${m[1]}.d.ts`),
                extension: ts.Extension.Dts,
                isExternalLibraryImport: false,
              },
            };
          }
          const mode = ts.getModeForUsageLocation(containingSourceFile, lit, options);
          const r = ts.resolveModuleName(
            name,
            containingFile,
            options,
            host as ts.ModuleResolutionHost,
            this.#resolutionCache,
            redirected,
            mode,
          );
          if (r.resolvedModule || name.startsWith(".") || name.startsWith("/")) return r;
          // Packages cnnlab itself depends on are importable from any notebook folder.
          return ts.resolveModuleName(
            name,
            join(packageRoot, "__cnnlab_fallback.ts"),
            options,
            host as ts.ModuleResolutionHost,
            this.#resolutionCache,
            redirected,
            mode,
          );
        }),
    };
    this.#ls = ts.createLanguageService(host, ts.createDocumentRegistry());
    if (libraryDtsPath) this.#libraryTypeNames = this.#exportsOf(libraryDtsPath);
  }

  #exportsOf(dtsPath: string): string[] {
    const probe = join(this.cwd, "__cnnlab_probe.ts");
    this.#setFile(probe, `export * from "cnnlab";\n`);
    this.#roots = [probe];
    try {
      const program = this.#ls.getProgram();
      const sf = program?.getSourceFile(dtsPath);
      const checker = program?.getTypeChecker();
      if (!sf || !checker) return [];
      const sym = checker.getSymbolAtLocation(sf);
      if (!sym) return [];
      return checker
        .getExportsOfModule(sym)
        .map((s) => s.name)
        .filter((n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n));
    } finally {
      this.#roots = [];
      this.#files.delete(probe);
    }
  }

  #setFile(path: string, text: string): void {
    const old = this.#files.get(path);
    this.#files.set(path, { text, version: (old?.version ?? 0) + 1 });
  }

  #cellFile(n: number): string {
    return join(this.cwd, `${CELL_PREFIX}${n}.ts`);
  }

  // ---------------------------------------------------------------- execute

  async execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    this.control.begin();
    try {
      return await this.#execute(code, options);
    } finally {
      this.control.end();
    }
  }

  async #execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    await this.ready();
    if (this.#libraryError) {
      this.#io?.stdout(`warning: ${this.#libraryError}\n`);
      this.#libraryError = undefined;
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
    const file = this.#cellFile(n);
    const sf = ts.createSourceFile(file, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const own = declaredNames(sf);
    const locked = !!this.#opts.grading && isLockedCell(options.metadata);
    const clash = [...own.keys()].filter((name) => this.#locked.has(name));
    if (clash.length) {
      const evalue = `${clash.join(", ")} ${clash.length > 1 ? "are" : "is"} declared by a locked cell and cannot be declared again`;
      return { status: "error", ename: "LockedNameError", evalue, traceback: [`LockedNameError: ${evalue}`] };
    }
    this.#setFile(file, code + this.#appendix(own, locked));
    this.#roots = [file];
    let diags: ts.Diagnostic[];
    try {
      diags = [...this.#ls.getSyntacticDiagnostics(file), ...this.#ls.getSemanticDiagnostics(file)];
    } catch (e) {
      this.#roots = [];
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
      this.#roots = [];
      this.#files.delete(file);
      const lines = userErrors.map((d) => formatDiagnostic(d, code, cellLabel));
      const first = userErrors[0];
      return {
        status: "error",
        ename: "TypeScriptError",
        evalue: `${userErrors.length} error${userErrors.length > 1 ? "s" : ""}: ${ts.flattenDiagnosticMessageText(first.messageText, " ")}`,
        traceback: lines,
      };
    }
    // Declarations for later cells (none to describe when the cell declares nothing).
    if (own.size === 0) {
      this.#setFile(join(this.cwd, `${CELL_PREFIX}${n}.d.ts`), "export {};\n");
    } else
      try {
        const emitted = this.#ls.getEmitOutput(file, true, true);
        const dts = emitted.outputFiles.find((f) => f.name.endsWith(".d.ts"));
        this.#setFile(join(this.cwd, `${CELL_PREFIX}${n}.d.ts`), dts?.text ?? "export {};\n");
      } catch (e) {
        this.#log(`declaration emit failed for ${cellLabel}: ${(e as Error).message}`);
        this.#setFile(join(this.cwd, `${CELL_PREFIX}${n}.d.ts`), "export {};\n");
      }
    this.#files.delete(file);
    this.#roots = [];
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

  /** `locked`: a locked cell sees the library's names as the library's (see lockdown.ts). */
  #appendix(own: ReadonlyMap<string, DeclaredName>, locked = false): string {
    const previous = locked
      ? new Map(
          [...this.#prev].filter(([name]) => this.#locked.has(name) || !this.#libraryValueNames.has(name)),
        )
      : this.#prev;
    return typeCheckAppendix({
      own,
      previous,
      libraryNames: this.#libraryTypeNames,
      libraryNamespace: !!this.#libraryNs,
      cellModule: (k) => `./${CELL_PREFIX}${k}`,
    });
  }

  // ---------------------------------------------------------------- completion / inspection

  #scratch(code: string): string {
    const file = join(this.cwd, "__cnnlab_scratch.ts");
    const sf = ts.createSourceFile(file, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    this.#setFile(file, code + this.#appendix(declaredNames(sf)));
    this.#roots = [file];
    return file;
  }

  async complete(code: string, cursorPos: number): Promise<CompleteResult> {
    await this.ready();
    const pos = codePointsToUtf16(code, cursorPos);
    const file = this.#scratch(code);
    try {
      const info = this.#ls.getCompletionsAtPosition(file, pos, {
        includeCompletionsForModuleExports: false,
        includeCompletionsWithInsertText: true,
      });
      let start = pos;
      while (start > 0 && /[\w$\u0080-\uffff]/.test(code[start - 1])) start--;
      if (!info) return { matches: [], cursorStart: utf16ToCodePoints(code, start), cursorEnd: cursorPos };
      const span = info.optionalReplacementSpan;
      if (span && span.start + span.length >= pos && span.start <= pos && span.start < start)
        start = span.start;
      const prefix = code.slice(start, pos);
      const seen = new Set<string>();
      const entries = info.entries
        .filter((e) => !e.name.startsWith("__cnnlab") && e.kind !== ts.ScriptElementKind.warning)
        .filter((e) => (e.insertText ?? e.name).startsWith(prefix))
        .sort((a, b) =>
          a.sortText < b.sortText ? -1 : a.sortText > b.sortText ? 1 : a.name.localeCompare(b.name),
        );
      const matches: string[] = [];
      const types: { start: number; end: number; text: string; type: string }[] = [];
      for (const e of entries) {
        const text = e.insertText ?? e.name;
        if (seen.has(text)) continue;
        seen.add(text);
        matches.push(text);
        types.push({ start: utf16ToCodePoints(code, start), end: cursorPos, text, type: e.kind });
      }
      return {
        matches,
        cursorStart: utf16ToCodePoints(code, start),
        cursorEnd: cursorPos,
        metadata: { _jupyter_types_experimental: types },
      };
    } finally {
      this.#roots = [];
    }
  }

  async inspect(code: string, cursorPos: number, detailLevel: number): Promise<InspectResult> {
    await this.ready();
    const pos = codePointsToUtf16(code, cursorPos);
    const file = this.#scratch(code);
    try {
      const info =
        this.#ls.getQuickInfoAtPosition(file, pos) ??
        (pos > 0 ? this.#ls.getQuickInfoAtPosition(file, pos - 1) : undefined);
      if (!info || (info.textSpan.start >= code.length && code.length > 0)) return { found: false, data: {} };
      // Names from earlier cells are imports of their declaration files: show them as declared.
      const sig = ts
        .displayPartsToString(info.displayParts)
        .replace(/^\(alias\) /, "")
        .split("\n")
        .filter((l, i) => i === 0 || !/^import /.test(l))
        .join("\n");
      const doc = ts.displayPartsToString(info.documentation);
      const tags = (info.tags ?? [])
        .map((t) => `@${t.name}${t.text ? " " + ts.displayPartsToString(t.text) : ""}`)
        .join("\n");
      const text = [sig, doc, tags].filter(Boolean).join("\n\n");
      const md = [
        "```typescript\n" + sig + "\n```",
        doc,
        tags.replace(/^@/gm, "*@").replace(/^(\*@\w+)/gm, "$1*"),
      ]
        .filter(Boolean)
        .join("\n\n");
      // detail_level 1 (IPython's `name??`): also where it is defined and its source.
      const source = detailLevel >= 1 ? this.#definitionSource(file, pos, code.length) : undefined;
      if (source) {
        return {
          found: true,
          data: {
            "text/plain": `${text}\n\n${source.where}\n${source.text}`,
            "text/markdown": `${md}\n\n${source.where}\n\n\`\`\`typescript\n${source.text}\n\`\`\``,
          },
        };
      }
      return { found: true, data: { "text/plain": text, "text/markdown": md } };
    } finally {
      this.#roots = [];
    }
  }

  /** The declaration at `pos` (its first 40 lines) and where it is, for inspect at detail level 1. */
  #definitionSource(
    file: string,
    pos: number,
    codeLength: number,
  ): { where: string; text: string } | undefined {
    const def = this.#ls.getDefinitionAtPosition(file, pos)?.[0];
    if (!def) return undefined;
    const sf = this.#ls.getProgram()?.getSourceFile(def.fileName);
    if (!sf) return undefined;
    const span = def.contextSpan ?? def.textSpan;
    if (def.fileName === file && span.start >= codeLength) return undefined;
    const text = sf.text
      .slice(span.start, span.start + span.length)
      .split("\n")
      .slice(0, 40)
      .join("\n");
    const line = sf.getLineAndCharacterOfPosition(span.start).line + 1;
    const name = def.fileName === file ? "this cell" : def.fileName.replace(packageRoot + "/", "cnnlab/");
    return { where: `Defined in ${name}, line ${line}:`, text };
  }

  async isComplete(code: string): Promise<IsCompleteResult> {
    if (code.trim() === "") return { status: "complete" };
    const sf = ts.createSourceFile("is_complete.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const diags: ts.Diagnostic[] =
      (sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics ?? [];
    if (diags.length === 0) return { status: "complete" };
    const end = code.trimEnd().length;
    const atEnd = diags.every(
      (d) => (d.start ?? 0) >= end || (d.start ?? 0) + (d.length ?? 0) >= code.length,
    );
    if (!atEnd) return { status: "invalid" };
    const lines = code.split("\n");
    let last = lines.length - 1;
    while (last > 0 && lines[last].trim() === "") last--;
    const lastLine = lines[last];
    let indent = /^\s*/.exec(lastLine)?.[0] ?? "";
    if (/[{([]\s*$/.test(lastLine)) indent += "  ";
    return { status: "incomplete", indent };
  }
}
