/**
 * Compiler options: tslab-compatible defaults and a notebook's tsconfig.json (nearest wins,
 * `extends`, kernel-owned options kept, a broken file reported and the defaults used).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { Checker } from "../../kernel/checker.js";
import { notebookCompilerOptions } from "../../kernel/compiler-options.js";
import { libraryDts } from "../../kernel/paths.js";
import { TsEngine } from "../../kernel/ts-engine.js";

const root = mkdtempSync(join(tmpdir(), "cnnlab-tsconfig-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

/** The error codes of checking `code` with the options for a notebook in `dir`. */
function errorCodes(dir: string, code: string): string[] {
  if (!existsSync(libraryDts)) throw new Error(`${libraryDts} is missing: run npm run build first`);
  const checker = new Checker({
    cwd: dir,
    compilerOptions: notebookCompilerOptions(dir).options,
    globals: "export {};\n",
    builtinTypes: (name) => (name === "cnnlab" ? { path: libraryDts } : undefined),
  });
  return checker
    .check(code)
    .diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => `TS${d.code}`);
}

const NULL_CHAIN = `let obj = { x: null };\nobj?.x?.z;\nexport {};\n`;
const GRAD = `import { tensor } from "cnnlab";\nconst x = tensor([1, 2], { requiresGrad: true });\nx.sum().backward();\nx.grad.sum();\nexport {};\n`;

describe("compiler options", () => {
  it("the defaults accept tslab-style code: optional chains on null and x.grad.sum()", () => {
    const dir = folder("plain");
    expect(notebookCompilerOptions(dir).configPath).toBeUndefined();
    expect(errorCodes(dir, NULL_CHAIN)).toEqual([]);
    expect(errorCodes(dir, GRAD)).toEqual([]);
    // still strict elsewhere: a wrong argument type is an error
    expect(errorCodes(dir, `const n: number = "a";\nexport {};\n`)).toEqual(["TS2322"]);
  });

  it("a tsconfig.json with strictNullChecks makes x.grad.sum() an error again", () => {
    const dir = folder("snc", { "tsconfig.json": `{ "compilerOptions": { "strictNullChecks": true } }` });
    const r = notebookCompilerOptions(dir);
    expect(r.configPath).toBe(join(dir, "tsconfig.json"));
    expect(r.options.strictNullChecks).toBe(true);
    expect(errorCodes(dir, GRAD)).toEqual(["TS18047"]);
  });

  it("the nearest tsconfig.json wins, from a parent folder too; extends works", () => {
    folder("parent", {
      "base.json": `{ "compilerOptions": { "strictNullChecks": true } }`,
      // comments and trailing commas are fine in tsconfig.json
      "tsconfig.json": `{ "extends": "./base.json", /* the base */ "compilerOptions": { "noImplicitAny": true, }, }`,
    });
    const nested = folder("parent/notebooks/week1");
    const r = notebookCompilerOptions(nested);
    expect(r.configPath).toBe(join(root, "parent", "tsconfig.json"));
    expect(r.options.strictNullChecks).toBe(true);
    expect(errorCodes(nested, GRAD)).toEqual(["TS18047"]);
    const nearer = folder("parent/notebooks/week2", { "tsconfig.json": `{ "compilerOptions": {} }` });
    expect(notebookCompilerOptions(nearer).configPath).toBe(join(nearer, "tsconfig.json"));
    expect(errorCodes(nearer, GRAD)).toEqual([]);
  });

  it("options the kernel needs stay the kernel's, with one warning naming them", () => {
    const dir = folder("owned", {
      "tsconfig.json": `{ "compilerOptions": { "module": "commonjs", "isolatedModules": true, "noEmit": true, "strict": false } }`,
    });
    const r = notebookCompilerOptions(dir);
    expect(r.options.module).toBe(ts.ModuleKind.ESNext);
    expect(r.options.isolatedModules).toBe(false);
    expect(r.options.noEmit).toBeUndefined();
    expect(r.options.strict).toBe(false);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(join(dir, "tsconfig.json"));
    expect(r.warnings[0]).toMatch(/module, isolatedModules are ignored/);
  });

  it("a project's build-output options are ignored without a warning", () => {
    const dir = folder("build-output", {
      "tsconfig.json": `{ "compilerOptions": { "outDir": "dist", "rootDir": ".", "sourceMap": true, "noEmit": true, "composite": true, "strict": false } }`,
    });
    const r = notebookCompilerOptions(dir);
    expect(r.warnings).toEqual([]);
    expect(r.options.outDir).toBeUndefined();
    expect(r.options.sourceMap).toBeUndefined();
    expect(r.options.composite).toBeUndefined();
    expect(r.options.emitDeclarationOnly).toBe(true);
    expect(r.options.strict).toBe(false);
  });

  it("a broken tsconfig.json is an error naming its path; the defaults apply", () => {
    const dir = folder("broken", { "tsconfig.json": `{ "compilerOptions": { "strict": tru` });
    const r = notebookCompilerOptions(dir);
    expect(r.error).toContain(join(dir, "tsconfig.json"));
    expect(r.options.strictNullChecks).toBe(false);
    const badExtends = folder("bad-extends", { "tsconfig.json": `{ "extends": "./nope.json" }` });
    expect(notebookCompilerOptions(badExtends).error).toContain("nope.json");
    const badValue = folder("bad-value", {
      "tsconfig.json": `{ "compilerOptions": { "target": "es1900" } }`,
    });
    expect(notebookCompilerOptions(badValue).error).toMatch(/target/);
  });

  it("the kernel reports a broken tsconfig.json on the first cell's stderr, once, and keeps working", async () => {
    const dir = folder("kernel-broken", { "tsconfig.json": `{ "compilerOptions": [` });
    const stderr: string[] = [];
    const engine = new TsEngine({ cwd: dir, library: null, registerTsHooks: false });
    engine.setIO({
      stdout: () => undefined,
      stderr: (t) => stderr.push(t),
      display: () => undefined,
      clearOutput: () => undefined,
      lateError: () => undefined,
    });
    const first = await engine.execute(`let obj = { x: null };\nobj?.x?.z ?? 41 + 1`, {
      executionCount: 1,
      silent: false,
    });
    expect(first.status === "ok" && first.result?.data["text/plain"]).toBe("42");
    expect(stderr.join("")).toMatch(/^error: .*kernel-broken\/tsconfig\.json could not be used/);
    const second = await engine.execute(`2`, { executionCount: 2, silent: false });
    expect(second.status).toBe("ok");
    expect(stderr).toHaveLength(1);
  }, 120_000);
});
