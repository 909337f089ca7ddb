/**
 * Modules the kernel provides itself: the one table both the type checker (checker.ts resolves the
 * import to the entry's declarations) and the cell runner (cell-runner.ts returns the entry's value
 * for `import ... from "<name>"` and `import("<name>")`) read, so the two cannot disagree.
 *
 * Adding a built-in module is one entry in BUILTIN_MODULES below:
 *   mymod: {
 *     types: () => ({ text: "export declare function f(): void;" }),   // or ({ path: "/abs/x.d.ts" })
 *     value: (ctx) => ({ f: () => ctx.display.display("hi") }),        // the module namespace
 *   },
 * `types` returning undefined makes the import a "cannot find module" type error; `value` returning
 * undefined makes the runner fall back to ordinary resolution (node_modules).
 */
import type { makeCellDisplayApi } from "./display.js";
import { TSLAB_DTS, tslabModule } from "./tslab-module.js";

/** What the providers may use: the kernel's loaded library and its display functions. */
export interface BuiltinContext {
  /** The preloaded cnnlab library's namespace, when it loaded. */
  library: Record<string, unknown> | undefined;
  /** The cnnlab declaration file (dist/src/index.d.ts), when it exists. */
  libraryDts: string | undefined;
  /** The display functions cells call (display, updateDisplay, clearOutput). */
  display: ReturnType<typeof makeCellDisplayApi>;
}

/** Declarations for the checker: a .d.ts file on disk, or declaration text (a virtual file). */
export type BuiltinTypes = { path: string } | { text: string };

export interface BuiltinModule {
  types(ctx: BuiltinContext): BuiltinTypes | undefined;
  value(ctx: BuiltinContext): unknown;
}

export const BUILTIN_MODULES: Readonly<Record<string, BuiltinModule>> = {
  cnnlab: {
    types: (ctx) => (ctx.libraryDts ? { path: ctx.libraryDts } : undefined),
    value: (ctx) => ctx.library,
  },
  // tslab's public API (display, newDisplay, versions), so tslab notebooks run unchanged.
  tslab: {
    types: () => ({ text: TSLAB_DTS }),
    value: () => tslabModule(),
  },
};

/** The table bound to one kernel's context. */
export class BuiltinModules {
  readonly #ctx: BuiltinContext;
  readonly #table: Readonly<Record<string, BuiltinModule>>;
  readonly #values = new Map<string, unknown>();

  constructor(ctx: BuiltinContext, table: Readonly<Record<string, BuiltinModule>> = BUILTIN_MODULES) {
    this.#ctx = ctx;
    this.#table = table;
  }

  #entry(name: string): BuiltinModule | undefined {
    return Object.prototype.hasOwnProperty.call(this.#table, name) ? this.#table[name] : undefined;
  }

  /** The declarations of built-in module `name` (undefined: not a built-in, or not available). */
  types(name: string): BuiltinTypes | undefined {
    return this.#entry(name)?.types(this.#ctx);
  }

  /** Whether `name` is a built-in module (whether or not it is available now). */
  has(name: string): boolean {
    return this.#entry(name) !== undefined;
  }

  /** The run-time value of built-in module `name` (computed once); undefined when not provided. */
  value(name: string): unknown {
    if (this.#values.has(name)) return this.#values.get(name);
    const v = this.#entry(name)?.value(this.#ctx);
    if (v !== undefined) this.#values.set(name, v);
    return v;
  }
}
