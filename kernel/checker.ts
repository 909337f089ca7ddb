/**
 * The type checker: a TypeScript LanguageService over the kernel's virtual files.
 *
 * Files it knows:
 *  - the kernel's globals (`__cnnlab_kernel_globals.d.ts`, always a root);
 *  - the file being checked: the current cell (`__cnnlab_cell.ts`, one name for every cell) or a
 *    scratch file for completion/inspection (`__cnnlab_scratch.ts`), the only other root;
 *  - one module per earlier cell that passed (`__cnnlab_cell_<k>.ts`: the text it was checked as,
 *    imported by later cells as `./__cnnlab_cell_<k>` for the names they use, see cellModule);
 *    those that declare globals or augment a module are roots too, so every later cell sees them
 *    (a cell declaring the same values again replaces the earlier one);
 *  - built-in modules (builtin-modules.ts): their declaration file, or their text as a virtual file;
 *  - everything else from disk. Files under node_modules, TypeScript's lib folder and cnnlab's dist
 *    folder are read once and never change; other disk files (a notebook's own modules) are re-read
 *    when their modification time changes.
 *
 * Speed: TypeScript has no incremental checker, and a new program re-merges every library's
 * globals and resolves the library's types again. So a cell is checked in the last program when
 * that gives what a new one would (#checkInBase): parsed and bound for it, its imports answered by
 * this file's resolution, earlier cells' modules attached the same way; the checker then only
 * checks the new file. When a new program is needed, everything that can be reused is: the roots
 * stay the same two files, SourceFiles come back from the document registry by version, disk
 * files are never re-read, module and type-reference resolutions are cached, and only the checked
 * file's diagnostics are computed. Earlier cells are modules in
 * source form, not emitted declarations: a declaration emit costs more than the whole check (it
 * searches the global scope for a name to print each inferred type by), while the checker infers
 * only what a cell uses from them.
 */
import { statSync } from "node:fs";
import { dirname, join, sep } from "node:path";
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import type { BuiltinTypes } from "./builtin-modules.js";
import { packageRoot } from "./paths.js";

export interface CheckerOptions {
  cwd: string;
  compilerOptions: ts.CompilerOptions;
  /** The kernel's ambient declarations (display(), ...), always part of the program. */
  globals: string;
  /** Declarations of built-in modules (builtin-modules.ts); undefined: not a built-in. */
  builtinTypes: (name: string) => BuiltinTypes | undefined;
  /** Resolve packages cnnlab itself depends on from any notebook folder (default true). */
  fallbackToPackage?: boolean;
  /** Check a cell in the last program when it can (default true; false: a new program each time). */
  reuseChecker?: boolean;
  /**
   * Where the service's documents come from: the start-up snapshot's (snapshot.ts), parsed and
   * bound already, or a new registry.
   */
  documentRegistry?: ts.DocumentRegistry;
  /** Module and type-reference resolutions of the registry's files (Checker.lastingResolutions). */
  resolutions?: LastingResolutions;
  log?: (line: string) => void;
}

/** Resolutions made from declaration files that never change, keyed as the checker keys them. */
export interface LastingResolutions {
  modules: [string, ts.ResolvedModuleWithFailedLookupLocations][];
  typeRefs: [string, ts.ResolvedTypeReferenceDirectiveWithFailedLookupLocations][];
}

export interface CheckResult {
  /** Syntactic and semantic diagnostics of the checked file, errors and others. */
  diagnostics: ts.Diagnostic[];
}

/**
 * TypeScript internals that #checkInBase uses (there at run time, not in the public typings): when
 * one is missing (another TypeScript version), every cell gets a new program as before.
 */
interface TsInternals {
  bindSourceFile(file: ts.SourceFile, options: ts.CompilerOptions): void;
  getSetExternalModuleIndicator(options: ts.CompilerOptions): (file: ts.SourceFile) => void;
}
type ModuleLookup = (
  file: ts.SourceFile,
  name: string,
  mode: ts.ResolutionMode,
) => ts.ResolvedModuleWithFailedLookupLocations | undefined;
interface ProgramInternals {
  getResolvedModule: ModuleLookup;
  getSourceFileByPath(path: string): ts.SourceFile | undefined;
}

/** The program cells are checked in when they can (Checker#checkInBase). */
interface Base {
  program: ts.Program;
  /** Its cell file (the cell that was checked when it was built). */
  cell: ts.SourceFile;
  /** Its files that can change on disk, with their versions then. */
  changeable: [string, string][];
  /** Earlier cells' modules committed after it was built, parsed and bound for it. */
  attached: Map<string, ts.SourceFile>;
}
const tsi = ts as unknown as Partial<TsInternals>;

const CELL_PREFIX = "__cnnlab_cell_";
const cellModulePattern = new RegExp(`^\\./${CELL_PREFIX}(\\d+)$`);
const cellFilePattern = new RegExp(`^${CELL_PREFIX}\\d+\\.ts$`);

interface VirtualFile {
  text: string;
  version: number;
  snapshot: ts.IScriptSnapshot;
}

interface DiskFile {
  version: string;
  snapshot: ts.IScriptSnapshot | undefined;
  /** Whether it can change (a file outside node_modules, the TS lib folder and cnnlab's dist). */
  mtime?: number;
}

export class Checker {
  readonly cwd: string;
  readonly compilerOptions: ts.CompilerOptions;
  readonly #opts: CheckerOptions;
  readonly #globalsFile: string;
  readonly #cellFile: string;
  readonly #scratchFile: string;
  readonly #virtual = new Map<string, VirtualFile>();
  readonly #disk = new Map<string, DiskFile>();
  readonly #staticDirs: string[];
  #current: string | undefined;
  /**
   * Earlier cells' modules that change the global scope or augment a module (`declare global`,
   * `declare module "x"`, triple-slash references), in order: roots of every program, so later
   * cells see what they declare. Each with the values it declares (cellGlobals).
   */
  readonly #globalCells = new Map<string, CellGlobals>();
  /** Those the cell being checked replaces, left out of its program. */
  readonly #superseded = new Set<string>();
  /** The text of the last check, waiting for commit(). */
  #checked: string | undefined;
  readonly #moduleCache: ts.ModuleResolutionCache;
  readonly #typeRefCache: ts.TypeReferenceDirectiveResolutionCache;
  readonly #resolved = new Map<string, ts.ResolvedModuleWithFailedLookupLocations>();
  readonly #typeRefs = new Map<string, ts.ResolvedTypeReferenceDirectiveWithFailedLookupLocations>();
  readonly ls: ts.LanguageService;
  readonly #lsHost: ts.LanguageServiceHost;
  #base: Base | undefined;
  readonly #baseResolutions = new Map<string, Map<string, ts.ResolvedModuleWithFailedLookupLocations>>();
  #reuseSeq = 0;

  constructor(options: CheckerOptions) {
    this.#opts = options;
    this.cwd = options.cwd;
    this.compilerOptions = options.compilerOptions;
    this.#globalsFile = join(this.cwd, "__cnnlab_kernel_globals.d.ts");
    this.#cellFile = join(this.cwd, "__cnnlab_cell.ts");
    this.#scratchFile = join(this.cwd, "__cnnlab_scratch.ts");
    this.#staticDirs = [
      dirname(ts.getDefaultLibFilePath(this.compilerOptions)) + sep,
      join(packageRoot, "dist") + sep,
    ];
    this.#setVirtual(this.#globalsFile, options.globals);
    const canonical = (s: string) => s;
    this.#moduleCache = ts.createModuleResolutionCache(this.cwd, canonical, this.compilerOptions);
    this.#typeRefCache = ts.createTypeReferenceDirectiveResolutionCache(
      this.cwd,
      canonical,
      this.compilerOptions,
      this.#moduleCache.getPackageJsonInfoCache(),
    );
    for (const [key, r] of options.resolutions?.modules ?? []) this.#resolved.set(key, r);
    for (const [key, r] of options.resolutions?.typeRefs ?? []) this.#typeRefs.set(key, r);
    this.#lsHost = this.#host();
    this.ls = ts.createLanguageService(this.#lsHost, options.documentRegistry ?? ts.createDocumentRegistry());
  }

  /** The module name later cells import cell `k`'s names by. */
  cellModule(k: number): string {
    return `./${CELL_PREFIX}${k}`;
  }

  // ------------------------------------------------------------------------------ checking

  /**
   * Checks `text` as the current cell: its syntactic and semantic diagnostics (only this file's:
   * earlier cells passed their own check). Throws when the compiler itself fails.
   */
  check(text: string): CheckResult {
    this.#checked = text;
    this.#superseded.clear();
    if (this.#globalCells.size > 0) {
      const globals = cellGlobals(ts.createSourceFile(this.#cellFile, text, ts.ScriptTarget.ES2022, false));
      if (globals) for (const f of this.#supersededBy(globals)) this.#superseded.add(f);
    }
    const fast = this.#checkInBase(text);
    if (fast) return fast;
    this.#setVirtual(this.#cellFile, text);
    this.#current = this.#cellFile;
    const program = this.#program();
    const sf = program.getSourceFile(this.#cellFile);
    if (!sf) throw new Error(`the cell file ${this.#cellFile} is not in the program`);
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    this.#setBase(program, sf);
    this.stats.programs++;
    return { diagnostics };
  }

  /** How many checks built a program and how many reused the last one's checker (for tests). */
  readonly stats = { programs: 0, reused: 0 };

  /**
   * The program (and its checker, with every library type it has resolved so far) that later
   * cells are checked against when they need no file it lacks (#checkInBase).
   */
  #setBase(program: ts.Program, cell: ts.SourceFile): void {
    if (this.#base?.program === program) return;
    this.#base = undefined;
    this.#baseResolutions.clear();
    // A cell that augments the global scope would be seen by the cells checked in its program.
    if (!moduleReferences(cell)) return;
    const p = program as unknown as Partial<ProgramInternals>;
    if (typeof p.getResolvedModule !== "function" || typeof p.getSourceFileByPath !== "function") return;
    const ownModule = p.getResolvedModule.bind(program);
    const ownFile = program.getSourceFile.bind(program);
    const ownFileByPath = p.getSourceFileByPath.bind(program);
    const extra = this.#baseResolutions;
    const attached = new Map<string, ts.SourceFile>();
    // The checker resolves a file's imports and finds files through its program: files checked
    // or attached after the fact (#checkInBase, #attachCellModule) get their own answers.
    p.getResolvedModule = (f, name, mode) =>
      extra.get(f.fileName)?.get(`${name}\0${mode ?? ""}`) ?? ownModule(f, name, mode);
    program.getSourceFile = (name) => attached.get(name) ?? ownFile(name);
    p.getSourceFileByPath = (path) => attached.get(path) ?? ownFileByPath(path);
    const changeable: [string, string][] = [];
    for (const f of program.getSourceFiles()) {
      const d = this.#disk.get(f.fileName);
      if (d?.mtime !== undefined) changeable.push([f.fileName, d.version]);
    }
    this.#base = { program, cell, changeable, attached };
  }

  /**
   * Checks `text` in the last program instead of a new one, when that gives what a new program
   * would: the text is a module that only imports files that program has (unchanged) or earlier
   * cells' modules (attached to it), and augments nothing global. The program's checker then only
   * checks the new file: the library's types, already resolved by earlier cells, are not
   * resolved again. Undefined: build a program.
   */
  #checkInBase(text: string): CheckResult | undefined {
    const base = this.#base;
    if (
      !base ||
      this.#opts.reuseChecker === false ||
      !tsi.bindSourceFile ||
      !tsi.getSetExternalModuleIndicator
    )
      return undefined;
    for (const [path, version] of base.changeable)
      if (this.#diskFile(path).version !== version) return undefined;
    const fileName = join(this.cwd, `__cnnlab_cell_check_${++this.#reuseSeq}.ts`);
    const sf = this.#parseForBase(base, fileName, text);
    if (!sf) return undefined;
    const { program } = base;
    try {
      const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
      this.stats.reused++;
      return { diagnostics };
    } finally {
      this.#baseResolutions.delete(fileName);
    }
  }

  /**
   * Parses and binds `text` as file `fileName` of the base program, its imports resolved (to the
   * program's files or attached cell modules); undefined when it needs what only a new program
   * handles.
   */
  #parseForBase(base: Base, fileName: string, text: string): ts.SourceFile | undefined {
    const { bindSourceFile, getSetExternalModuleIndicator } = tsi as TsInternals;
    const { program, cell } = base;
    const options = program.getCompilerOptions();
    const sf = ts.createSourceFile(
      fileName,
      text,
      {
        languageVersion: cell.languageVersion,
        impliedNodeFormat: cell.impliedNodeFormat,
        setExternalModuleIndicator: getSetExternalModuleIndicator(options),
      },
      true,
      ts.ScriptKind.TS,
    );
    const refs = moduleReferences(sf);
    if (!refs || !ts.isExternalModule(sf)) return undefined;
    const resolutions = new Map<string, ts.ResolvedModuleWithFailedLookupLocations>();
    for (const lit of refs) {
      const r = this.#resolveModule(lit, fileName, undefined, options, sf, this.#lsHost);
      if (!r.resolvedModule || !this.#fileInBase(base, r.resolvedModule.resolvedFileName)) return undefined;
      resolutions.set(`${lit.text}\0${ts.getModeForUsageLocation(sf, lit, options) ?? ""}`, r);
    }
    const internal = sf as ts.SourceFile & {
      path: string;
      resolvedPath: string;
      originalFileName: string;
      packageJsonScope?: unknown;
      packageJsonLocations?: unknown;
    };
    const from = cell as typeof internal;
    internal.path = internal.resolvedPath = internal.originalFileName = fileName;
    internal.packageJsonScope = from.packageJsonScope;
    internal.packageJsonLocations = from.packageJsonLocations;
    bindSourceFile(sf, options);
    this.#baseResolutions.set(fileName, resolutions);
    return sf;
  }

  /**
   * Whether the base program has `path` as a new program would read it: one of its files,
   * unchanged on disk, or an earlier cell's module (attached to the program on first use).
   */
  #fileInBase(base: Base, path: string): boolean {
    const file = base.program.getSourceFile(path);
    if (file) {
      const d = this.#disk.get(path);
      return d?.mtime === undefined || base.changeable.some(([p, v]) => p === path && v === d.version);
    }
    const v = this.#virtual.get(path);
    if (!v || !cellFilePattern.test(path.slice(this.cwd.length + 1))) return false;
    const sf = this.#parseForBase(base, path, v.text);
    if (!sf) return false;
    base.attached.set(path, sf);
    return true;
  }

  /**
   * The last checked cell passed and ran: its text becomes module `cellModule(k)` that later
   * cells import the names they use from. (A module's text never changes once committed, so what
   * a later cell sees of it is what was checked.)
   */
  commit(k: number): void {
    if (this.#checked === undefined) throw new Error(`commit(${k}): no cell was checked`);
    const path = join(this.cwd, `${CELL_PREFIX}${k}.ts`);
    this.#setVirtual(path, this.#checked);
    const globals = cellGlobals(ts.createSourceFile(path, this.#checked, ts.ScriptTarget.ES2022, false));
    if (globals) {
      for (const earlier of this.#supersededBy(globals)) this.#globalCells.delete(earlier);
      this.#superseded.clear();
      this.#globalCells.set(path, globals);
      // The roots changed: the next cell gets a new program, which has this one.
      this.#base = undefined;
    }
    this.#checked = undefined;
  }

  /**
   * The earlier global cells that one declaring `globals` replaces: those declaring one of the
   * same values (a cell run again, as a later cell's `const x` shadows an earlier one's).
   * Interfaces and namespaces merge instead, as across files.
   */
  #supersededBy(globals: CellGlobals): string[] {
    return [...this.#globalCells]
      .filter(([, g]) => [...g.values].some((n) => globals.values.has(n)))
      .map(([path]) => path);
  }

  /** Prepares everything a first check needs (parses the libraries), e.g. while the kernel is idle. */
  warm(text: string): void {
    this.check(text);
    this.#checked = undefined;
  }

  /**
   * Runs `fn` with `text` as the scratch file (completion, inspection): the only way to check code
   * that is not a cell. The cells' files are left as they are.
   */
  withScratch<T>(text: string, fn: (file: string, ls: ts.LanguageService) => T): T {
    const before = this.#current;
    // the scratch file sees every committed cell, also those the last check (maybe failed) replaced
    const superseded = [...this.#superseded];
    this.#superseded.clear();
    this.#setVirtual(this.#scratchFile, text);
    this.#current = this.#scratchFile;
    try {
      return fn(this.#scratchFile, this.ls);
    } finally {
      this.#current = before;
      for (const f of superseded) this.#superseded.add(f);
    }
  }

  /**
   * The exported names of module `name` as seen from a cell (identifiers only, no default). Asked
   * through the cell file, so that the program it builds (the first one, which reads every
   * library) is the one the next cells are checked in (#checkInBase).
   */
  /** The current program's files on disk that never change under the kernel (what a snapshot can hold). */
  staticDiskFiles(): string[] {
    const program = this.ls.getProgram();
    if (!program) return [];
    return program
      .getSourceFiles()
      .map((f) => f.fileName)
      .filter((f) => !this.#virtual.has(f) && this.#isStatic(f));
  }

  /** The resolutions whose importing file is one of staticDiskFiles()'s (what a snapshot can hold). */
  lastingResolutions(): LastingResolutions {
    const lasting = (key: string) => {
      const from = key.slice(0, key.indexOf("\0"));
      return !this.#virtual.has(from) && this.#isStatic(from);
    };
    return {
      modules: [...this.#resolved].filter(([key]) => lasting(key)),
      typeRefs: [...this.#typeRefs].filter(([key]) => lasting(key)),
    };
  }

  exportsOf(name: string): string[] {
    const before = this.#current;
    this.#setVirtual(this.#cellFile, `export * from ${JSON.stringify(name)};\n`);
    this.#current = this.#cellFile;
    try {
      const program = this.#program();
      const checker = program.getTypeChecker();
      const sf = program.getSourceFile(this.#cellFile);
      if (!sf) return [];
      this.#setBase(program, sf);
      const sym = checker.getSymbolAtLocation(sf);
      if (!sym) return [];
      return checker
        .getExportsOfModule(sym)
        .map((s) => s.name)
        .filter((n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n));
    } finally {
      this.#current = before ?? this.#cellFile;
    }
  }

  #program(): ts.Program {
    const program = this.ls.getProgram();
    if (!program) throw new Error("the language service has no program");
    return program;
  }

  // ------------------------------------------------------------------------------ files

  #setVirtual(path: string, text: string): void {
    const old = this.#virtual.get(path);
    if (old && old.text === text) return;
    this.#virtual.set(path, {
      text,
      version: (old?.version ?? 0) + 1,
      snapshot: ts.ScriptSnapshot.fromString(text),
    });
  }

  #isStatic(path: string): boolean {
    return path.includes(`${sep}node_modules${sep}`) || this.#staticDirs.some((d) => path.startsWith(d));
  }

  #diskFile(path: string): DiskFile {
    let f = this.#disk.get(path);
    if (f && f.mtime === undefined) return f;
    let mtime: number | undefined;
    if (!this.#isStatic(path)) {
      try {
        mtime = statSync(path).mtimeMs;
      } catch {
        mtime = -1;
      }
      if (f && f.mtime === mtime) return f;
    }
    const text = ts.sys.readFile(path);
    f = {
      version: mtime === undefined ? "disk" : `disk:${mtime}`,
      snapshot: text === undefined ? undefined : ts.ScriptSnapshot.fromString(text),
      mtime,
    };
    this.#disk.set(path, f);
    return f;
  }

  #readFile(path: string): string | undefined {
    const v = this.#virtual.get(path);
    if (v) return v.text;
    const s = this.#diskFile(path).snapshot;
    return s?.getText(0, s.getLength());
  }

  #builtinFile(name: string): string | undefined {
    const t = this.#opts.builtinTypes(name);
    if (!t) return undefined;
    if ("path" in t) return t.path;
    const path = join(this.cwd, `__cnnlab_builtin_${name.replace(/[^\w.-]/g, "_")}.d.ts`);
    this.#setVirtual(path, t.text);
    return path;
  }

  #host(): ts.LanguageServiceHost {
    const host: ts.LanguageServiceHost & { getModuleResolutionCache(): ts.ModuleResolutionCache } = {
      getCompilationSettings: () => this.compilerOptions,
      // Also what the program reads package.json scopes through (each file's module format).
      getModuleResolutionCache: () => this.#moduleCache,
      getScriptFileNames: () => [
        this.#globalsFile,
        ...[...this.#globalCells.keys()].filter((f) => !this.#superseded.has(f)),
        ...(this.#current ? [this.#current] : []),
      ],
      getScriptVersion: (f) => {
        const v = this.#virtual.get(f);
        return v ? String(v.version) : this.#diskFile(f).version;
      },
      getScriptSnapshot: (f) => this.#virtual.get(f)?.snapshot ?? this.#diskFile(f).snapshot,
      getCurrentDirectory: () => this.cwd,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.#virtual.has(f) || this.#diskFile(f).snapshot !== undefined,
      readFile: (f) => this.#readFile(f),
      readDirectory: ts.sys.readDirectory,
      directoryExists: ts.sys.directoryExists,
      getDirectories: ts.sys.getDirectories,
      realpath: ts.sys.realpath,
      useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
      resolveModuleNameLiterals: (literals, containingFile, redirected, options, containingSourceFile) =>
        literals.map((lit) =>
          this.#resolveModule(lit, containingFile, redirected, options, containingSourceFile, host),
        ),
      resolveTypeReferenceDirectiveReferences: (refs, containingFile, redirected, options, sf) =>
        refs.map((ref) => {
          const name = typeof ref === "string" ? ref : ref.fileName.toLowerCase();
          const mode =
            typeof ref === "string" || !sf
              ? undefined
              : ts.getModeForFileReference(ref, sf.impliedNodeFormat);
          const key = `${containingFile}\0${name}\0${mode ?? ""}`;
          let r = this.#typeRefs.get(key);
          if (!r) {
            r = ts.resolveTypeReferenceDirective(
              name,
              containingFile,
              options,
              host as ts.ModuleResolutionHost,
              redirected,
              this.#typeRefCache,
              mode,
            );
            if (r.resolvedTypeReferenceDirective) this.#typeRefs.set(key, r);
          }
          return r;
        }),
    };
    return host;
  }

  #resolveModule(
    lit: ts.StringLiteralLike,
    containingFile: string,
    redirected: ts.ResolvedProjectReference | undefined,
    options: ts.CompilerOptions,
    containingSourceFile: ts.SourceFile,
    host: ts.LanguageServiceHost,
  ): ts.ResolvedModuleWithFailedLookupLocations {
    const name = lit.text;
    const builtin = this.#builtinFile(name);
    if (builtin) return resolved(builtin, ts.Extension.Dts);
    const cell = cellModulePattern.exec(name);
    if (cell) return resolved(join(this.cwd, `${CELL_PREFIX}${cell[1]}.ts`), ts.Extension.Ts);
    const mode = ts.getModeForUsageLocation(containingSourceFile, lit, options);
    const key = `${containingFile}\0${name}\0${mode ?? ""}`;
    const cached = this.#resolved.get(key);
    if (cached) return cached;
    let r = ts.resolveModuleName(
      name,
      containingFile,
      options,
      host as ts.ModuleResolutionHost,
      this.#moduleCache,
      redirected,
      mode,
    );
    if (
      !r.resolvedModule &&
      !name.startsWith(".") &&
      !name.startsWith("/") &&
      this.#opts.fallbackToPackage !== false
    ) {
      // Packages cnnlab itself depends on are importable from any notebook folder.
      r = ts.resolveModuleName(
        name,
        join(packageRoot, "__cnnlab_fallback.ts"),
        options,
        host as ts.ModuleResolutionHost,
        this.#moduleCache,
        redirected,
        mode,
      );
    }
    // Only lasting answers are kept: a module found in a package or the library, or any answer for
    // an import in a package's or the library's own declarations (@types/node's imports of the
    // ambient "node:fs", "events", ... resolve to no file, and finding that out walks every
    // node_modules folder up to the root). A notebook's own files may appear or move between cells.
    const lasting = r.resolvedModule
      ? this.#isStatic(r.resolvedModule.resolvedFileName)
      : !this.#virtual.has(containingFile) && this.#isStatic(containingFile);
    if (lasting) this.#resolved.set(key, r);
    return r;
  }
}

interface CellGlobals {
  /**
   * The values (var, let, const, function, class, enum, type alias) it declares in `declare
   * global` (by name) and in `declare module "m"` augmentations (as `m` NUL name).
   */
  values: Set<string>;
}

/** What a cell's text declares in the global scope or adds to modules; undefined when nothing. */
function cellGlobals(sf: ts.SourceFile): CellGlobals | undefined {
  const refs =
    sf.referencedFiles.length + sf.typeReferenceDirectives.length + sf.libReferenceDirectives.length;
  const values = new Set<string>();
  let augments = false;
  for (const st of sf.statements) {
    if (!ts.isModuleDeclaration(st)) continue;
    const scope = ts.isStringLiteral(st.name)
      ? `${st.name.text}\0`
      : st.name.text === "global"
        ? ""
        : undefined;
    if (scope === undefined) continue;
    augments = true;
    if (!st.body || !ts.isModuleBlock(st.body)) continue;
    for (const d of st.body.statements) {
      if (ts.isVariableStatement(d)) {
        for (const v of d.declarationList.declarations)
          if (ts.isIdentifier(v.name)) values.add(scope + v.name.text);
      } else if (
        (ts.isFunctionDeclaration(d) ||
          ts.isClassDeclaration(d) ||
          ts.isEnumDeclaration(d) ||
          ts.isTypeAliasDeclaration(d)) &&
        d.name
      )
        values.add(scope + d.name.text);
    }
  }
  return augments || refs > 0 ? { values } : undefined;
}

/**
 * The module specifiers of a file, or undefined when it has what only a new program handles:
 * triple-slash references, `declare module "x"` or `declare global` (augmentations the checker
 * merges when it starts), `export as namespace`.
 */
function moduleReferences(sf: ts.SourceFile): ts.StringLiteralLike[] | undefined {
  if (sf.referencedFiles.length || sf.typeReferenceDirectives.length || sf.libReferenceDirectives.length)
    return undefined;
  const refs: ts.StringLiteralLike[] = [];
  let ok = true;
  const visit = (n: ts.Node): void => {
    if (!ok) return;
    if (ts.isModuleDeclaration(n) && (!ts.isIdentifier(n.name) || n.name.text === "global")) ok = false;
    else if (ts.isNamespaceExportDeclaration(n)) ok = false;
    else if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      if (ts.isStringLiteralLike(n.moduleSpecifier)) refs.push(n.moduleSpecifier);
    } else if (ts.isExternalModuleReference(n)) {
      if (ts.isStringLiteralLike(n.expression)) refs.push(n.expression);
    } else if (ts.isImportTypeNode(n)) {
      if (ts.isLiteralTypeNode(n.argument) && ts.isStringLiteralLike(n.argument.literal))
        refs.push(n.argument.literal);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      if (a && ts.isStringLiteralLike(a)) refs.push(a);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return ok ? refs : undefined;
}

function resolved(
  resolvedFileName: string,
  extension: ts.Extension,
): ts.ResolvedModuleWithFailedLookupLocations {
  return { resolvedModule: { resolvedFileName, extension, isExternalLibraryImport: false } };
}
