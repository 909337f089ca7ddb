/**
 * The compiler options cells are checked with: the kernel's defaults, overridden by the
 * `compilerOptions` of the nearest `tsconfig.json` (the notebook's folder, else the closest parent;
 * `extends` works). Read once when the kernel starts.
 *
 * The defaults accept what tslab accepts: `strict` is on except `strictNullChecks` (so
 * `x.grad.sum()` and `let obj = { x: null }; obj?.x?.z` need no `!`), `noImplicitAny` and
 * `useUnknownInCatchVariables` (a caught error is `any`, as in tslab). tslab itself checks with
 * none of the strict family on.
 *
 * Options the kernel's own machinery depends on (how cells are turned into modules, declarations
 * emitted for later cells, module resolution of built-in modules) stay the kernel's: a tsconfig
 * that sets one is warned about once, naming the option.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import { packageRoot } from "./paths.js";

/** @types/node when installed next to the notebook or cnnlab; else the DOM library's globals. */
function typeRoots(cwd: string): Pick<ts.CompilerOptions, "typeRoots" | "types" | "lib"> {
  for (const base of [cwd, packageRoot]) {
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

/** Options a tsconfig.json cannot change (the kernel would stop working); setting one is warned about. */
export const KERNEL_OWNED_OPTIONS: readonly string[] = [
  "target",
  "module",
  "moduleResolution",
  "isolatedModules",
  "verbatimModuleSyntax",
  "allowImportingTsExtensions",
  "noLib",
];

/**
 * Options that only say what a build writes and where. They cannot change how a cell type-checks,
 * so a project's tsconfig.json (which nearly always sets some) has them ignored without a warning.
 */
export const BUILD_OUTPUT_OPTIONS: readonly string[] = [
  "noEmit",
  "declaration",
  "declarationMap",
  "emitDeclarationOnly",
  "noEmitOnError",
  "sourceMap",
  "inlineSourceMap",
  "inlineSources",
  "outDir",
  "outFile",
  "declarationDir",
  "rootDir",
  "composite",
  "incremental",
  "tsBuildInfoFile",
];

/** The kernel's defaults for a notebook in `cwd`. */
export function defaultCompilerOptions(cwd: string): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    ...typeRoots(cwd),
    strict: true,
    strictNullChecks: false,
    noImplicitAny: false,
    useUnknownInCatchVariables: false,
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
}

export interface NotebookCompilerOptions {
  options: ts.CompilerOptions;
  /** The tsconfig.json whose compilerOptions apply, if one was found and read. */
  configPath?: string;
  /** Messages for the user: options kept the kernel's. */
  warnings: string[];
  /** The tsconfig.json could not be read or parsed (the defaults apply): what is wrong, with its path. */
  error?: string;
}

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => process.cwd(),
  getNewLine: () => "\n",
};

/** The options for a notebook in `cwd`: the defaults, then the nearest tsconfig.json's compilerOptions. */
export function notebookCompilerOptions(cwd: string): NotebookCompilerOptions {
  const defaults = defaultCompilerOptions(cwd);
  const configPath = ts.findConfigFile(cwd, ts.sys.fileExists, "tsconfig.json");
  if (!configPath) return { options: defaults, warnings: [] };
  const broken = (diags: readonly ts.Diagnostic[]): NotebookCompilerOptions => ({
    options: defaults,
    warnings: [],
    error: `${configPath} could not be used, so the kernel's default compiler options apply:\n${ts
      .formatDiagnostics(diags, formatHost)
      .trimEnd()}`,
  });
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error) return broken([read.error]);
  if (read.config === null || typeof read.config !== "object" || Array.isArray(read.config))
    return {
      options: defaults,
      warnings: [],
      error: `${configPath} could not be used, so the kernel's default compiler options apply: it is not a JSON object`,
    };
  // Only compilerOptions matter: the kernel decides which files are checked.
  const { compilerOptions, extends: ext } = read.config as { compilerOptions?: unknown; extends?: unknown };
  const parsed = ts.parseJsonConfigFileContent(
    { compilerOptions: compilerOptions ?? {}, ...(ext === undefined ? {} : { extends: ext }), files: [] },
    ts.sys,
    dirname(configPath),
    undefined,
    configPath,
  );
  const errors = parsed.errors.filter(
    (d) => d.category === ts.DiagnosticCategory.Error && d.code !== 18002 && d.code !== 18003,
  );
  if (errors.length) return broken(errors);
  const options: ts.CompilerOptions = { ...defaults };
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(parsed.options)) {
    if (key === "configFilePath") continue;
    if (BUILD_OUTPUT_OPTIONS.includes(key)) continue;
    if (KERNEL_OWNED_OPTIONS.includes(key)) {
      if (value !== defaults[key]) ignored.push(key);
      continue;
    }
    options[key] = value as ts.CompilerOptionsValue;
  }
  const warnings = ignored.length
    ? [
        `${configPath}: ${ignored.join(", ")} ${ignored.length > 1 ? "are" : "is"} ignored (the kernel sets ${ignored.length > 1 ? "them" : "it"} itself to check cells)`,
      ]
    : [];
  return { options, configPath, warnings };
}
