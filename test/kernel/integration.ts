/** Shared helpers for tests that need external components (python, jupyter) or the built kernel. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { kernelMainJs } from "../../kernel/paths.js";

export const PYTHON = "/usr/bin/python3";
export const inCI = process.env.CI === "true";

/**
 * Returns undefined when everything is present, else a reason to skip. In CI (CI=true) a missing
 * component is an error: the reason is thrown instead.
 */
export function missing(checks: { what: string; ok: () => boolean }[]): string | undefined {
  const absent = checks.filter((c) => !c.ok()).map((c) => c.what);
  if (absent.length === 0) return undefined;
  const reason = `missing: ${absent.join(", ")}`;
  if (inCI) throw new Error(`${reason} (CI=true: integration components must be installed)`);
  return reason;
}

export const pythonModule = (mod: string) => ({
  what: `python module ${mod} (${PYTHON})`,
  ok: () =>
    existsSync(PYTHON) && spawnSync(PYTHON, ["-c", `import ${mod}`], { stdio: "ignore" }).status === 0,
});

export const command = (cmd: string) => ({
  what: `command ${cmd}`,
  ok: () => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0,
});

/** The compiled kernel must exist: tests run the real entry (dist/kernel/main.js). */
export function assertBuilt(): void {
  if (!existsSync(kernelMainJs)) {
    throw new Error(
      `the compiled kernel ${kernelMainJs} is missing: run \`npm run build\` before the kernel tests`,
    );
  }
}

export function skipTitle(title: string, reason: string | undefined): string {
  return reason ? `${title} — SKIPPED (${reason})` : title;
}
