/**
 * Checking a cell against the last program's checker (Checker#checkInBase) must report exactly
 * what a new program per cell reports: the same cells through two engines, one that reuses the
 * checker and one that builds a program for every check (the behaviour before the reuse), give
 * the same outcomes, errors included; and TypeScript's documented error codes appear where
 * they must.
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ExecuteOutcome } from "../../kernel/engine.js";
import { TsEngine } from "../../kernel/ts-engine.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-reuse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(reuseChecker: boolean): { engine: TsEngine; run: (code: string) => Promise<ExecuteOutcome> } {
  const engine = new TsEngine({ cwd: dir, registerTsHooks: false, warmUp: false, reuseChecker });
  engine.setIO({
    stdout: () => undefined,
    stderr: () => undefined,
    display: () => undefined,
    clearOutput: () => undefined,
    lateError: () => undefined,
  });
  let count = 0;
  return { engine, run: (code) => engine.execute(code, { executionCount: ++count, silent: false }) };
}

const outcome = (r: ExecuteOutcome) =>
  r.status === "ok"
    ? { ok: r.result?.data["text/plain"] }
    : { ename: r.ename, evalue: r.evalue, tb: r.traceback };

function helper(signature: string, body: string, mtime: number): void {
  writeFileSync(join(dir, "helper.js"), `exports.f = function f(x) { return ${body}; };\n`);
  writeFileSync(join(dir, "helper.d.ts"), `export declare function f(${signature}): number;\n`);
  for (const f of ["helper.js", "helper.d.ts"]) utimesSync(join(dir, f), mtime, mtime);
}

/** Cells in order; `code` names the TypeScript error code the cell must fail with (when it does). */
const cells: { src: string; code?: number; before?: () => void }[] = [
  { src: "const a = 1;" },
  { src: "a + 1" },
  { src: "const s: string = a;", code: 2322 },
  { src: "a.foo", code: 2339 },
  { src: "let b = 2;" },
  { src: 'b = "x"', code: 2322 },
  { src: "b += 1;\nb" },
  { src: '// @ts-expect-error\nconst c: number = "no";\nc' },
  { src: "// @ts-expect-error\nconst d: number = 1;", code: 2578 },
  { src: "interface P { x: number }\nconst p: P = { x: 1, y: 2 };", code: 2353 },
  { src: "interface P { x: number }\nconst p: P = { x: 1 };\np.x" },
  { src: "function g(x: number): string { return x; }", code: 2322 },
  { src: "namespace N { export const k = 1; }\nN.k" },
  { src: "N.k + p.x" },
  { src: "await Promise.resolve(3)" },
  { src: "const 1x = 2;", code: 1351 },
  { src: "declare global { var gg: number }\nglobalThis.gg = 5;" },
  // a later cell sees an earlier cell's `declare global` (that cell is a root of every program)
  { src: "gg + 1" },
  { src: "declare global { var gg: string }\nglobalThis.gg = 'run again';" },
  { src: "gg.length" },
  { src: "const g2: number = gg;", code: 2322 },
  { src: 'import { f } from "./helper.js";\nf(2)', before: () => helper("x: number", "x * 2", 1_000_000) },
  { src: 'import { f } from "./helper.js";\nf("two")', code: 2345 },
  // the module's declaration changes on disk: the next check sees the new one
  {
    src: 'import { f } from "./helper.js";\nf("two")',
    before: () => helper("x: string", "x.length", 2_000_000),
  },
  { src: 'import { f } from "./helper.js";\nf(2)', code: 2345 },
  { src: "const t = tensor([1, 2, 3]);\nt.mul(2).sum().item()" },
  { src: "t.mul(3).sum().item()" },
  { src: "t.noSuchMethod()", code: 2339 },
  { src: "const lin = new nn.Linear(3, 2);\nlin.forward(t.reshape([1, 3])).shape" },
  { src: "lin.forward(t.reshape([1, 3])).relu().sum().item() > -1" },
  { src: "lin.forward(1)", code: 2345 },
  { src: 'const m = await import("./helper.js");\nm.f("abc")' },
  { src: "const u: number = undefined;\nu" },
  { src: "cnnlab.tensor([1]).shape" },
  // each cell uses names of the cells just before it (their modules come after the last program)
  { src: "class Acc { total = 0; add(v: number) { this.total += v; return this; } }" },
  { src: "const acc = new Acc().add(2);" },
  { src: 'acc.add("x")', code: 2345 },
  { src: "type Pair<T> = [T, T];\nconst pr: Pair<number> = [1, 2];" },
  { src: "const pr2: Pair<string> = pr;", code: 2322 },
  { src: "let counter = 0;" },
  { src: "counter = counter + acc.total + pr[1];\ncounter" },
  { src: "enum Color { Red, Green }" },
  { src: "Color.Green + counter" },
  { src: "Color.Blue", code: 2339 },
  { src: "const acc = 5;\nacc + Color.Red" },
  { src: "acc.add(1)", code: 2339 },
  // a user's name that shadows a library export, and the library's own name afterwards
  { src: "const tensor = (n: number) => n * 2;\ntensor(4)" },
  { src: "tensor([1, 2])", code: 2345 },
  { src: "cnnlab.tensor([1, 2]).shape" },
  // Node's modules and types, through static and dynamic import
  {
    src: 'import { readFileSync } from "node:fs";\ntypeof readFileSync',
  },
  { src: 'import { join } from "node:path";\njoin(1, 2)', code: 2345 },
  { src: 'const os = await import("node:os");\ntypeof os.cpus().length' },
  { src: "Buffer.from([1, 2]).readUInt8(0)" },
  { src: "Buffer.from([1, 2]).noSuch", code: 2339 },
  // a type-only import, generics inferred across cells, overloads
  {
    src: 'import type { Tensor } from "cnnlab";\nfunction firstDim(t: Tensor): number { return t.shape[0]; }',
  },
  { src: "firstDim(cnnlab.tensor([[1], [2]]))" },
  { src: "firstDim([1, 2])", code: 2345 },
  { src: "function wrap<T>(v: T): { v: T } { return { v }; }\nconst w = wrap(cnnlab.tensor([1]));" },
  { src: "w.v.shape.length" },
  { src: "const wn: { v: number } = w;", code: 2322 },
  {
    src: "function ov(x: number): number;\nfunction ov(x: string): string;\nfunction ov(x: any) { return x; }",
  },
  { src: "const ovs: string = ov(1);", code: 2322 },
  // an explicit export (the kernel's own export of the cell's names must not repeat it)
  { src: "export const exported = 3;" },
  { src: "exported * 2" },
  { src: "export function exf(): number {\n  return 2;\n}\nconst ex2 = 1;\nexport { ex2 };" },
  { src: "exf() + ex2 + exported" },
  // exported declarations of every kind run as the session's own (no `export` reaches the script)
  { src: "export enum ExE { A = 7 }\nexport namespace ExN {\n  export const q = 4;\n}" },
  { src: "ExE.A + ExN.q" },
  { src: "export default function () {\n  return 1;\n}" },
  { src: "export default class {\n  v = 1;\n}" },
  // a default export is not exported under its own name, but the session still knows it
  { src: "export default async function named() {\n  return 2;\n}" },
  { src: "await named()" },
  // in a module (every cell is one), `declare module "x"` augments a module that must exist
  { src: 'declare module "virtual-mod" { export const vm: number; }', code: 2664 },
  { src: 'import { vm } from "virtual-mod";\nvm', code: 2307 },
  // an interface declared again: the later cell's one wins for its own cell
  { src: "interface P { z: string }\nconst p2: P = { z: 1 };", code: 2322 },
];

describe("checking a cell against the last program's checker", () => {
  it("reports what a new program per cell reports, cell by cell", async () => {
    // One engine after the other: cells run in this realm, so both would share their globals.
    // Each engine preloads the library's names as globals and its cells add theirs: removed after
    // the first engine's run, so that the second starts from the same realm.
    const runAll = async (run: (code: string) => Promise<ExecuteOutcome>) => {
      const before = new Set(Reflect.ownKeys(globalThis));
      const out: ReturnType<typeof outcome>[] = [];
      for (const c of cells) {
        c.before?.();
        out.push(outcome(await run(c.src)));
      }
      for (const k of Reflect.ownKeys(globalThis)) if (!before.has(k)) Reflect.deleteProperty(globalThis, k);
      return out;
    };
    const reuse = start(true);
    const withReuse = await runAll(reuse.run);
    const fresh = start(false);
    const withoutReuse = await runAll(fresh.run);
    cells.forEach((c, i) => {
      const a = withReuse[i];
      expect(a, c.src).toEqual(withoutReuse[i]);
      if (c.code !== undefined) expect(JSON.stringify(a), c.src).toContain(`error TS${c.code}:`);
      else expect(a, `${c.src}: ${JSON.stringify(a)}`).not.toHaveProperty("ename");
    });
    const used = reuse.engine.checkStats;
    // most cells need no file the last program lacks
    expect(used.reused).toBeGreaterThanOrEqual(cells.length / 2);
    expect(fresh.engine.checkStats.reused).toBe(0);
  }, 300_000);
});
