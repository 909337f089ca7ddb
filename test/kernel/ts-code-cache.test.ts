/**
 * TypeScript loaded through the V8 code cache (kernel/ts-code-cache.ts), each run in a fresh Node
 * process as a kernel would: the first run compiles and writes the cache, the next one is
 * compiled from it, a damaged cache is rejected and replaced, and in every case the module
 * `require("typescript")` then returns is the one loaded, and it works.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../kernel/paths.js";
import { assertBuilt } from "./integration.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-code-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const moduleUrl = pathToFileURL(join(packageRoot, "dist", "kernel", "ts-code-cache.js")).href;

/** One kernel-like process: load, use TypeScript through require, save; prints what happened. */
function run(): { load: string; save: string | null; same: boolean; js: string } {
  const script = `
    import { createRequire } from "node:module";
    const { loadTypeScript, saveTypeScriptCache } = await import(${JSON.stringify(moduleUrl)});
    const load = loadTypeScript();
    const ts = createRequire(${JSON.stringify(join(packageRoot, "noop.js"))})("typescript");
    const js = ts.transpileModule("const x: number = 1 as number;", { compilerOptions: { target: 99 } }).outputText.trim();
    const again = createRequire(${JSON.stringify(join(packageRoot, "kernel", "noop.js"))})("typescript");
    const save = saveTypeScriptCache() ?? null;
    console.log(JSON.stringify({ load, save, same: ts === again, js }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, CNNLAB_CACHE_DIR: dir },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`the process failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ReturnType<typeof run>;
}

describe("TypeScript through the V8 code cache", () => {
  it("first run writes the cache, the next uses it, a damaged one is replaced", () => {
    assertBuilt();
    const first = run();
    expect(first.load).toMatch(/no usable code cache/);
    expect(first.save).toMatch(/^wrote \d+ bytes of code cache to /);
    expect(first.same).toBe(true);
    expect(first.js).toBe("const x = 1;");
    const files = readdirSync(dir).filter((f) => f.endsWith(".v8cache"));
    expect(files).toHaveLength(1);
    // no temporary file is left behind
    expect(readdirSync(dir)).toEqual(files);

    const second = run();
    expect(second.load).toMatch(/compiled from the code cache/);
    expect(second.save).toBeNull();
    expect(second).toMatchObject({ same: true, js: "const x = 1;" });

    writeFileSync(join(dir, files[0]), Buffer.alloc(4096, 7));
    const damaged = run();
    expect(damaged.load).toMatch(/no usable code cache/);
    expect(damaged.save).toMatch(/^wrote /);
    expect(damaged).toMatchObject({ same: true, js: "const x = 1;" });
    expect(run().load).toMatch(/compiled from the code cache/);
    expect(existsSync(join(dir, files[0]))).toBe(true);
  }, 120_000);
});
