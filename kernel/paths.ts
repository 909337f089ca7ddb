/** Locations inside the installed cnnlab package, valid from kernel/*.ts (tests) and dist/kernel/*.js. */
import { existsSync, readFileSync } from "node:fs";
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
