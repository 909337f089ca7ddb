/**
 * `require` in cells. Cells are ES module code, where Node has no `require`, but the checker sees
 * @types/node's global one, so `require("fs")` type-checks: the kernel gives cells a real one,
 * resolving from the notebook's folder (then from where cnnlab is installed, like imports).
 * Built-in modules of the kernel (`cnnlab`, `tslab`) come from `builtins`, the same instances
 * imports get.
 */
import { existsSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { basename, isAbsolute, join } from "node:path";
import { packageRoot } from "./paths.js";

export function makeCellRequire(cwd: string, builtins: (name: string) => unknown): NodeJS.Require {
  const fromCwd = createRequire(join(cwd, "noop.js"));
  const fromPackage = createRequire(join(packageRoot, "noop.js"));
  const pick = (spec: string): NodeJS.Require => {
    if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("node:")) return fromCwd;
    try {
      fromCwd.resolve(spec);
      return fromCwd;
    } catch {
      return fromPackage;
    }
  };
  const cellRequire = ((spec: string) => {
    if (typeof spec !== "string")
      throw new TypeError(`require: the module name must be a string, got ${typeof spec}`);
    const builtin = builtins(spec);
    if (builtin !== undefined) return builtin;
    try {
      return pick(spec)(spec);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ERR_REQUIRE_ESM")
        throw new Error(
          `require("${spec}"): it is an ES module, which require cannot load in this Node; use import ... from "${spec}" (or await import("${spec}")) in the cell`,
        );
      throw e;
    }
  }) as NodeJS.Require;
  const resolve = ((spec: string, options?: { paths?: string[] }) =>
    pick(spec).resolve(spec, options)) as NodeJS.RequireResolve;
  resolve.paths = (spec: string) => fromCwd.resolve.paths(spec);
  cellRequire.resolve = resolve;
  cellRequire.cache = fromCwd.cache;
  cellRequire.extensions = fromCwd.extensions;
  cellRequire.main = undefined;
  return cellRequire;
}

/**
 * `__filename` in cells: the notebook's path when the kernel knows it (JPY_SESSION_NAME, which
 * Jupyter servers and `cnnlab run` set: the notebook's path, or a path whose file name is a
 * notebook in the kernel's folder), else `<cwd>/[cell]`.
 */
export function cellFilename(cwd: string, sessionName = process.env.JPY_SESSION_NAME): string {
  if (sessionName) {
    if (isAbsolute(sessionName) && existsSync(sessionName)) return sessionName;
    const nb = join(cwd, basename(sessionName));
    if (existsSync(nb)) return nb;
  }
  return join(cwd, "[cell]");
}

/**
 * `module` and `exports` in cells: a CommonJS module object for `filename` (as Node's REPL has
 * one), whose `require` is the cells' own.
 */
export function makeCellModule(filename: string, cwd: string, cellRequire: NodeJS.Require): NodeJS.Module {
  const m = new Module(filename) as NodeJS.Module & { paths: string[] };
  m.filename = filename;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(cwd);
  m.require = cellRequire;
  return m;
}
