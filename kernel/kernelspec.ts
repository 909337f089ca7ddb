/** Writing and removing the `cnnlab` kernelspec (what `cnnlab install` / `uninstall` do). */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, platform } from "node:os";
import { delimiter, join } from "node:path";
import { assetsDir, kernelArgv, kernelMainJs } from "./paths.js";

export const KERNEL_NAME = "cnnlab";
export const DISPLAY_NAME = "cnnlab (TypeScript)";

export interface SpecLocation {
  /** The user's Jupyter data directory (default). */
  user?: boolean;
  /** The prefix of the `jupyter` on PATH (its Python's sys.prefix). */
  sysPrefix?: boolean;
  /** DIR/share/jupyter/kernels/cnnlab, like `jupyter kernelspec install --prefix`. */
  prefix?: string;
  /** A Jupyter data directory given directly (DIR/kernels/cnnlab). */
  dataDir?: string;
}

export interface KernelJson {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal" | "message";
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

export function userDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  if (platform() === "darwin") return join(homedir(), "Library", "Jupyter");
  if (platform() === "win32")
    return join(process.env.APPDATA ?? join(homedir(), "AppData", "Roaming"), "jupyter");
  return join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "jupyter");
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** sys.prefix of the Python that runs the `jupyter` command on PATH. */
export function jupyterSysPrefix(): string {
  const jupyter = which("jupyter");
  if (!jupyter) throw new Error("--sys-prefix: no `jupyter` command on PATH");
  const first = readFileSync(jupyter, "utf8").split("\n", 1)[0];
  const python = first.startsWith("#!") ? first.slice(2).trim().split(/\s+/) : ["python3"];
  return execFileSync(python[0], [...python.slice(1), "-c", "import sys; print(sys.prefix)"], {
    encoding: "utf8",
  }).trim();
}

export function kernelsDir(loc: SpecLocation = {}): string {
  if (loc.dataDir) return join(loc.dataDir, "kernels");
  if (loc.prefix) return join(loc.prefix, "share", "jupyter", "kernels");
  if (loc.sysPrefix) return join(jupyterSysPrefix(), "share", "jupyter", "kernels");
  return join(userDataDir(), "kernels");
}

export function kernelJson(options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): KernelJson {
  return {
    argv: kernelArgv(options.nodeArgs),
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "message",
    env: options.env ?? {},
    metadata: { debugger: false },
  };
}

/** Write the kernelspec; returns its directory. */
export function installKernelSpec(
  loc: SpecLocation = {},
  options: { nodeArgs?: string[]; env?: Record<string, string> } = {},
): string {
  if (!existsSync(kernelMainJs))
    throw new Error(`the compiled kernel is missing (${kernelMainJs}): run npm run build first`);
  const dir = join(kernelsDir(loc), KERNEL_NAME);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), JSON.stringify(kernelJson(options), null, 2) + "\n");
  for (const logo of ["logo-32x32.png", "logo-64x64.png"]) {
    const src = join(assetsDir, logo);
    if (existsSync(src)) copyFileSync(src, join(dir, logo));
  }
  return dir;
}

/** Remove the kernelspec; returns the removed directory or undefined when there was none. */
export function uninstallKernelSpec(loc: SpecLocation = {}): string | undefined {
  const dir = join(kernelsDir(loc), KERNEL_NAME);
  if (!existsSync(dir)) return undefined;
  rmSync(dir, { recursive: true, force: true });
  return dir;
}
