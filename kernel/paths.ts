/** Locations inside the installed cnnlab package, valid from kernel/*.ts (tests) and dist/kernel/*.js. */
import { existsSync, readFileSync } from "node:fs";
import { platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, "utf8")).name === "cnnlab") return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error(
        "cnnlab: cannot find the package root (package.json named cnnlab) above " +
          fileURLToPath(import.meta.url),
      );
    dir = up;
  }
}

export const packageRoot = findPackageRoot();
export const distDir = join(packageRoot, "dist");
export const libraryJs = join(distDir, "src", "index.js");
export const libraryDts = join(distDir, "src", "index.d.ts");
/** The compiled kernel entry that kernelspecs and the runner start. */
export const kernelMainJs = join(distDir, "kernel", "main.js");
export const tsHooksJs = join(distDir, "kernel", "ts-hooks.js");
export const assetsDir = join(packageRoot, "kernel", "assets");
/** Starts a kernel from its start-up snapshot when there is one (kernel/snapshot.ts). */
export const launchSh = join(packageRoot, "kernel", "launch.sh");

/**
 * The command that starts a kernel: through launch.sh where there is a POSIX shell, else Node
 * directly. `connectionFile` is the file's path or Jupyter's `{connection_file}` placeholder.
 */
export function kernelArgv(nodeArgs: readonly string[] = [], connectionFile = "{connection_file}"): string[] {
  if (platform() === "win32" || !existsSync("/bin/sh") || !existsSync(launchSh))
    return [process.execPath, ...nodeArgs, kernelMainJs, connectionFile];
  return ["/bin/sh", launchSh, kernelMainJs, connectionFile, process.execPath, ...nodeArgs];
}

export function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")).version ?? "0.0.0");
  } catch {
    return "0.0.0";
  }
}

export function requireBuilt(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} not found at ${path}: build the package first (npm run build)`);
  }
  return path;
}
