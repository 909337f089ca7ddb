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
 * Running: the cell is transpiled to ES2022 JavaScript; top-level declarations become global
 * variables (`var`-hoisted, assigned where the declaration was), imports are loaded before the cell
 * starts (relative to the kernel's working directory; local .ts files through loader hooks), and
 * the cell body runs in an async function with `vm.runInThisContext({ breakOnSigint: true })` in the
 * kernel's own realm (no cross-realm typed arrays). The last expression statement's value (awaited
 * if it is a promise) is the cell's result.
 */
import { Console } from "node:console";
import { existsSync, statSync } from "node:fs";
import { builtinModules, createRequire, register } from "node:module";
import { dirname, join, resolve as resolvePath } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import vm from "node:vm";
import ts from "typescript";
import { KERNEL_DISPLAY_HOOK, makeCellDisplayApi, makeHook, toDisplay, type DisplaySink } from "./display.js";
import {
  codePointsToUtf16,
  utf16ToCodePoints,
  type CompleteResult,
  type Engine,
  type EngineIO,
  type ErrorInfo,
  type ExecuteOutcome,
  type InspectResult,
  type IsCompleteResult,
  type LanguageInfo,
} from "./engine.js";
import { libraryDts, libraryJs, packageRoot, packageVersion, tsHooksJs } from "./paths.js";

export interface TsEngineOptions {
  /** Working directory: relative imports resolve from here (default process.cwd()). */
  cwd?: string;
  /** The library to preload; `null` for none. Defaults to the built cnnlab (dist/src/index.{js,d.ts}). */
  library?: { js: string; dts: string } | null;
  /** Route the process's console, process.stdout/stderr writes and late errors to the kernel. */
  captureProcessOutput?: boolean;
  /** Register the loader hooks for importing local .ts files (default true). */
  registerTsHooks?: boolean;
  log?: (line: string) => void;
}

interface PrevName {
  cell: number;
  mutable: boolean;
}

interface DeclaredNames {
  names: Map<string, { mutable: boolean }>;
}

const RT = "__cnnlab_rt";
/** Names the kernel gives cells itself (they take precedence over library exports of the same name). */
const KERNEL_GLOBALS = ["display", "updateDisplay", "clearOutput"];
const KERNEL_DIR = dirname(fileURLToPath(import.meta.url));
const CELL_PREFIX = "__cnnlab_cell_";

function isVmInterrupt(e: unknown): boolean {
  return (
    e instanceof Error &&
    ((e as { code?: string }).code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" ||
      /^Script execution (was )?interrupted/.test(e.message))
  );
}

class InterruptError extends Error {
  constructor(message = "interrupted by the user (SIGINT)") {
    super(message);
    this.name = "KeyboardInterrupt";
  }
}

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
  readonly languageInfo: LanguageInfo = {
    name: "typescript",
    version: ts.version,
    mimetype: "text/typescript",
    file_extension: ".ts",
    pygments_lexer: "typescript",
    codemirror_mode: { name: "javascript", typescript: true },
    nbconvert_exporter: "script",
  };
  readonly banner: string;

  readonly cwd: string;
  #opts: TsEngineOptions;
  #io: EngineIO | undefined;
  #readyPromise: Promise<void> | undefined;
  #libraryNs: Record<string, unknown> | undefined;
  #libraryError: string | undefined;
  #libraryTypeNames: string[] = [];
  #libraryValueNames = new Set<string>();
  #prev = new Map<string, PrevName>();
  #cellCounter = 0;
  #files = new Map<string, { text: string; version: number }>();
  #roots: string[] = [];
  #ls!: ts.LanguageService;
  #compilerOptions!: ts.CompilerOptions;
  #resolutionCache!: ts.ModuleResolutionCache;
  #globalsFile: string;
  #interruptCurrent: ((e: Error) => void) | undefined;
  #running = false;
  #rt: Record<string, unknown>;

  constructor(options: TsEngineOptions = {}) {
    this.#opts = options;
    this.cwd = resolvePath(options.cwd ?? process.cwd());
    this.#globalsFile = join(this.cwd, "__cnnlab_kernel_globals.d.ts");
    this.banner = `cnnlab ${packageVersion()} — TypeScript ${ts.version} on Node ${process.version}. The cnnlab library is preloaded (also as \`cnnlab\`).`;
    const sink: DisplaySink = {
      displayData: (payload, id, update) => this.#io?.display(payload, id, update),
      clearOutput: (wait) => this.#io?.clearOutput(wait),
    };
    const api = makeCellDisplayApi(sink);
    this.#rt = {
      g: globalThis,
      m: [] as unknown[],
      dynImport: (spec: string) => this.#load(spec),
      api,
    };
    Object.defineProperty(globalThis, RT, {
      value: this.#rt,
      configurable: true,
      enumerable: false,
      writable: true,
    });
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
    if (this.#opts.captureProcessOutput) this.#captureProcessOutput();
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
      } catch (e) {
        this.#libraryError = `the cnnlab library could not be loaded from ${lib.js}: ${(e as Error).message}`;
        this.#log(this.#libraryError);
      }
    }
    this.#setupLanguageService(lib && existsSync(lib.dts) ? lib.dts : undefined);
    this.#installGlobals();
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
    const api = this.#rt.api as ReturnType<typeof makeCellDisplayApi>;
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

  // ---------------------------------------------------------------- process output

  #captureProcessOutput(): void {
    const emit = (name: "stdout" | "stderr", text: string) => {
      if (name === "stdout") this.#io?.stdout(text);
      else this.#io?.stderr(text);
    };
    const mk = (name: "stdout" | "stderr") =>
      new Writable({
        decodeStrings: false,
        write(chunk, _enc, cb) {
          emit(name, typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
          cb();
        },
      });
    const out = mk("stdout");
    const err = mk("stderr");
    const cons = new Console({ stdout: out, stderr: err, colorMode: false });
    Object.defineProperty(globalThis, "console", {
      value: cons,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    const patch = (stream: NodeJS.WriteStream, name: "stdout" | "stderr") => {
      stream.write = ((chunk: unknown, encOrCb?: unknown, cb?: unknown) => {
        const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
        if (name === "stdout") this.#io?.stdout(text);
        else this.#io?.stderr(text);
        const done = typeof encOrCb === "function" ? encOrCb : cb;
        if (typeof done === "function") queueMicrotask(() => (done as () => void)());
        return true;
      }) as typeof stream.write;
    };
    patch(process.stdout, "stdout");
    patch(process.stderr, "stderr");
    process.on("unhandledRejection", (reason) => {
      if (this.#running && this.#interruptCurrent) {
        // Reported as the running cell's error.
        this.#interruptCurrent(
          reason instanceof Error ? reason : new Error(`Unhandled promise rejection: ${inspect(reason)}`),
        );
        return;
      }
      this.#io?.lateError(this.#errorInfo(reason, "Unhandled promise rejection (after its cell ended)"));
    });
    process.on("uncaughtException", (error) => {
      this.#io?.lateError(this.#errorInfo(error, "Uncaught exception (after its cell ended)"));
    });
  }

  // ---------------------------------------------------------------- analysis helpers

  #declaredNames(sf: ts.SourceFile): DeclaredNames {
    const names = new Map<string, { mutable: boolean }>();
    const addBinding = (b: ts.BindingName, mutable: boolean) => {
      if (ts.isIdentifier(b)) names.set(b.text, { mutable });
      else for (const el of b.elements) if (!ts.isOmittedExpression(el)) addBinding(el.name, mutable);
    };
    for (const st of sf.statements) {
      if (ts.isVariableStatement(st)) {
        const mutable = !(st.declarationList.flags & ts.NodeFlags.Const);
        for (const d of st.declarationList.declarations) addBinding(d.name, mutable);
      } else if (
        (ts.isFunctionDeclaration(st) ||
          ts.isClassDeclaration(st) ||
          ts.isInterfaceDeclaration(st) ||
          ts.isTypeAliasDeclaration(st) ||
          ts.isEnumDeclaration(st)) &&
        st.name
      ) {
        names.set(st.name.text, { mutable: false });
      } else if (ts.isModuleDeclaration(st) && ts.isIdentifier(st.name) && st.name.text !== "global") {
        names.set(st.name.text, { mutable: false });
      } else if (ts.isImportDeclaration(st) && st.importClause) {
        const c = st.importClause;
        if (c.name) names.set(c.name.text, { mutable: false });
        if (c.namedBindings) {
          if (ts.isNamespaceImport(c.namedBindings)) names.set(c.namedBindings.name.text, { mutable: false });
          else for (const e of c.namedBindings.elements) names.set(e.name.text, { mutable: false });
        }
      } else if (ts.isImportEqualsDeclaration(st)) {
        names.set(st.name.text, { mutable: false });
      }
    }
    return { names };
  }

  /** The text appended after the user's code for type checking (see the file comment). */
  #appendix(own: DeclaredNames): string {
    const byCell = new Map<number, string[]>();
    const lines: string[] = ["", ";"];
    for (const [name, p] of this.#prev) {
      if (own.names.has(name)) continue;
      if (p.mutable) {
        lines.push(`declare let ${name}: typeof import("./${CELL_PREFIX}${p.cell}").${name};`);
      } else {
        const list = byCell.get(p.cell) ?? [];
        list.push(name);
        byCell.set(p.cell, list);
      }
    }
    for (const [cell, names] of byCell)
      lines.push(`import { ${names.join(", ")} } from "./${CELL_PREFIX}${cell}";`);
    const lib = this.#libraryTypeNames.filter((n) => !own.names.has(n) && !this.#prev.has(n));
    if (lib.length) lines.push(`import { ${lib.join(", ")} } from "cnnlab";`);
    if (
      this.#libraryNs &&
      !own.names.has("cnnlab") &&
      !this.#prev.has("cnnlab") &&
      this.#libraryTypeNames.length
    ) {
      lines.push(`import * as cnnlab from "cnnlab";`);
    }
    lines.push(`export { ${[...own.names.keys()].join(", ")} };`);
    return lines.join("\n");
  }

  #cellFile(n: number): string {
    return join(this.cwd, `${CELL_PREFIX}${n}.ts`);
  }

  #formatDiagnostic(d: ts.Diagnostic, code: string, cellLabel: string): string {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.start === undefined) return `error TS${d.code}: ${msg}`;
    const before = code.slice(0, d.start);
    const line = before.split("\n").length;
    const col = utf16ToCodePoints(code, d.start) - utf16ToCodePoints(code, before.lastIndexOf("\n") + 1) + 1;
    const src = code.split("\n")[line - 1] ?? "";
    const len = Math.max(1, Math.min(d.length ?? 1, src.length - col + 1));
    return `${cellLabel}:${line}:${col} - error TS${d.code}: ${msg}\n\n${String(line).padStart(4)} | ${src}\n     | ${" ".repeat(col - 1)}${"~".repeat(len)}`;
  }

  // ---------------------------------------------------------------- execute

  async execute(code: string, options: { executionCount: number; silent: boolean }): Promise<ExecuteOutcome> {
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
    const own = this.#declaredNames(sf);
    this.#setFile(file, code + this.#appendix(own));
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
      const lines = userErrors.map((d) => this.#formatDiagnostic(d, code, cellLabel));
      const first = userErrors[0];
      return {
        status: "error",
        ename: "TypeScriptError",
        evalue: `${userErrors.length} error${userErrors.length > 1 ? "s" : ""}: ${ts.flattenDiagnosticMessageText(first.messageText, " ")}`,
        traceback: lines,
      };
    }
    // Declarations for later cells (none to describe when the cell declares nothing).
    if (own.names.size === 0) {
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
    for (const [name, info] of own.names) this.#prev.set(name, { cell: n, mutable: info.mutable });

    let script: string;
    let modules: string[];
    let hasResult: boolean;
    try {
      ({ script, modules, hasResult } = this.#toScript(code, sf));
    } catch (e) {
      return {
        status: "error",
        ename: "InternalError",
        evalue: `could not transpile the cell: ${(e as Error).message}`,
        traceback: [],
      };
    }
    return this.#run(script, modules, hasResult, cellLabel);
  }

  async #run(
    script: string,
    specs: string[],
    hasResult: boolean,
    cellLabel: string,
  ): Promise<ExecuteOutcome> {
    let interruptReject!: (e: Error) => void;
    const interrupted = new Promise<never>((_, reject) => {
      interruptReject = reject;
    });
    interrupted.catch(() => undefined);
    this.#interruptCurrent = interruptReject;
    this.#running = true;
    try {
      const mods: unknown[] = [];
      for (const s of specs) mods.push(await Promise.race([this.#load(s), interrupted]));
      this.#rt.m = mods;
      const compiled = new vm.Script(script, { filename: cellLabel });
      let promise: Promise<unknown>;
      try {
        promise = compiled.runInThisContext({
          breakOnSigint: true,
          displayErrors: false,
        }) as Promise<unknown>;
      } catch (e) {
        if (isVmInterrupt(e)) throw new InterruptError();
        throw e;
      }
      let value = await Promise.race([promise, interrupted]);
      if (
        hasResult &&
        value !== null &&
        typeof value === "object" &&
        typeof (value as any).then === "function"
      ) {
        value = await Promise.race([value as Promise<unknown>, interrupted]);
      }
      if (!hasResult || value === undefined) return { status: "ok" };
      return { status: "ok", result: toDisplay(value) };
    } catch (e) {
      return { status: "error", ...this.#errorInfo(isVmInterrupt(e) ? new InterruptError() : e) };
    } finally {
      this.#running = false;
      this.#interruptCurrent = undefined;
    }
  }

  interrupt(): void {
    this.#interruptCurrent?.(
      new InterruptError(
        "interrupted by the user while the cell was awaiting; code that continues after an await may still be running — restart the kernel if it keeps going",
      ),
    );
  }

  #errorInfo(e: unknown, prefix?: string): ErrorInfo {
    if (e instanceof Error) {
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
      const stack = String(e.stack ?? `${e.name}: ${e.message}`)
        .split("\n")
        .filter((l) => !/node:internal|node:vm|__cnnlab_rt/.test(l) && !l.includes(KERNEL_DIR));
      if (stack.length && !stack[0].includes(evalue)) stack[0] = `${e.name}: ${evalue}`;
      return { ename: prefix ? `${prefix}: ${e.name}` : e.name || "Error", evalue, traceback: stack };
    }
    const text = inspect(e, { depth: 2 });
    return { ename: prefix ?? "Uncaught", evalue: text, traceback: [`Uncaught ${text}`] };
  }

  /** Transpile the cell and rewrite its top level so declarations persist as globals. */
  #toScript(code: string, tsSf: ts.SourceFile): { script: string; modules: string[]; hasResult: boolean } {
    const out = ts.transpileModule(code, {
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        verbatimModuleSyntax: true,
        esModuleInterop: true,
        useDefineForClassFields: true,
      },
      reportDiagnostics: false,
    });
    const js = this.#rewriteDynamicImports(
      out.outputText.replace(/\n?export \{\};\s*$/, "\n").replace(/\/\/# sourceMappingURL=.*$/m, ""),
    );
    const sf = ts.createSourceFile("cell.js", js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
    const lastTs = tsSf.statements[tsSf.statements.length - 1];
    const lastIsExpression = !!lastTs && ts.isExpressionStatement(lastTs);
    const hoisted = new Set<string>();
    const functions: string[] = [];
    const modules: string[] = [];
    const edits: { start: number; end: number; text: string }[] = [];
    const keepLines = (orig: string, text: string) =>
      text + "\n".repeat(Math.max(0, (orig.match(/\n/g) ?? []).length - (text.match(/\n/g) ?? []).length));
    const replace = (node: ts.Node, text: string) => {
      const start = node.getStart(sf);
      edits.push({ start, end: node.end, text: keepLines(js.slice(start, node.end), text) });
    };
    const removeExport = (node: ts.Node) => {
      const mods = ts.canHaveModifiers(node) ? ts.getModifiers(node) : undefined;
      for (const m of mods ?? []) {
        if (m.kind === ts.SyntaxKind.ExportKeyword || m.kind === ts.SyntaxKind.DefaultKeyword) {
          edits.push({ start: m.getStart(sf), end: m.end, text: "" });
        }
      }
    };
    const bindingNames = (b: ts.BindingName, into: Set<string>) => {
      if (ts.isIdentifier(b)) into.add(b.text);
      else for (const el of b.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, into);
    };
    const statements = sf.statements;
    let hasResult = false;
    statements.forEach((st, idx) => {
      const isLast = idx === statements.length - 1;
      if (ts.isImportDeclaration(st)) {
        const spec = (st.moduleSpecifier as ts.StringLiteral).text;
        let k = modules.indexOf(spec);
        if (k < 0) k = modules.push(spec) - 1;
        const ref = `${RT}.m[${k}]`;
        const parts: string[] = [];
        const c = st.importClause;
        if (c && !c.isTypeOnly) {
          if (c.name) {
            hoisted.add(c.name.text);
            parts.push(`${c.name.text} = ${ref}.default;`);
          }
          if (c.namedBindings) {
            if (ts.isNamespaceImport(c.namedBindings)) {
              hoisted.add(c.namedBindings.name.text);
              parts.push(`${c.namedBindings.name.text} = ${ref};`);
            } else {
              for (const e of c.namedBindings.elements) {
                if (e.isTypeOnly) continue;
                hoisted.add(e.name.text);
                parts.push(`${e.name.text} = ${ref}[${JSON.stringify((e.propertyName ?? e.name).text)}];`);
              }
            }
          }
        }
        replace(st, parts.join(" "));
      } else if (ts.isVariableStatement(st)) {
        const isVar = !(st.declarationList.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const));
        const parts: string[] = [];
        for (const d of st.declarationList.declarations) {
          bindingNames(d.name, hoisted);
          const pattern = d.name.getText(sf);
          if (d.initializer) parts.push(`(${pattern} = ${d.initializer.getText(sf)});`);
          else if (!isVar && ts.isIdentifier(d.name)) parts.push(`${pattern} = undefined;`);
        }
        replace(st, parts.join(" "));
      } else if (ts.isFunctionDeclaration(st) && st.name) {
        hoisted.add(st.name.text);
        functions.push(st.name.text);
        removeExport(st);
      } else if (ts.isClassDeclaration(st) && st.name) {
        hoisted.add(st.name.text);
        removeExport(st);
        const mods = ts.getModifiers(st) ?? [];
        const classStart = mods.length ? mods[mods.length - 1].end : st.getStart(sf);
        edits.push({ start: classStart, end: classStart, text: ` ${st.name.text} = ` });
        edits.push({ start: st.end, end: st.end, text: ";" });
      } else if (ts.isExportDeclaration(st)) {
        replace(st, "");
      } else if (ts.isExportAssignment(st)) {
        replace(st, `${st.expression.getText(sf)};`);
      } else if (ts.isExpressionStatement(st) && isLast && lastIsExpression) {
        hasResult = true;
        replace(st, `return (${st.expression.getText(sf)}\n);`);
      }
    });
    edits.sort((a, b) => b.start - a.start || b.end - a.end);
    let body = js;
    for (const e of edits) body = body.slice(0, e.start) + e.text + body.slice(e.end);
    const prelude =
      (hoisted.size ? `var ${[...hoisted].join(", ")}; ` : "") +
      `(async () => { ${functions.map((f) => `${RT}.g[${JSON.stringify(f)}] = ${f};`).join(" ")}`;
    return { script: `${prelude}${body}\n})()`, modules, hasResult };
  }

  /** Dynamic import() in a cell resolves from the kernel's working directory. */
  #rewriteDynamicImports(js: string): string {
    const sf = ts.createSourceFile("cell.js", js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
    const spots: number[][] = [];
    const visit = (node: ts.Node) => {
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        spots.push([node.expression.getStart(sf), node.expression.end]);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    for (const [s, e] of spots.sort((a, b) => b[0] - a[0]))
      js = js.slice(0, s) + `${RT}.dynImport` + js.slice(e);
    return js;
  }

  async #load(spec: string): Promise<unknown> {
    if (spec === "cnnlab" && this.#libraryNs) return this.#libraryNs;
    if (spec.startsWith("node:") || builtinModules.includes(spec)) return import(spec);
    if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
      const path = resolvePath(this.cwd, spec);
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
      resolved = createRequire(join(this.cwd, "noop.js")).resolve(spec);
    } catch {
      // not installed next to the notebook: try where cnnlab is installed
    }
    return resolved ? import(pathToFileURL(resolved).href) : import(spec);
  }

  // ---------------------------------------------------------------- completion / inspection

  #scratch(code: string): string {
    const file = join(this.cwd, "__cnnlab_scratch.ts");
    const sf = ts.createSourceFile(file, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    this.#setFile(file, code + this.#appendix(this.#declaredNames(sf)));
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

  async inspect(code: string, cursorPos: number, _detailLevel: number): Promise<InspectResult> {
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
      return { found: true, data: { "text/plain": text, "text/markdown": md } };
    } finally {
      this.#roots = [];
    }
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
