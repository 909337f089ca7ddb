/**
 * The compiler options cells are checked with.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import ts from "typescript";
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

/** The kernel's defaults for a notebook in `cwd`. */
export function defaultCompilerOptions(cwd: string): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    ...typeRoots(cwd),
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
}
