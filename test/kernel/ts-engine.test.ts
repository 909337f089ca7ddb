/** The TypeScript engine in-process (no library preload, no sockets). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DisplayPayload } from "../../kernel/display.js";
import type { ExecuteOutcome } from "../../kernel/engine.js";
import { TsEngine } from "../../kernel/ts-engine.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-engine-"));
let engine: TsEngine;
let count = 0;
const displays: { payload: DisplayPayload; id?: string; update: boolean }[] = [];

const run = (code: string) => engine.execute(code, { executionCount: ++count, silent: false });
const value = (r: ExecuteOutcome) =>
  r.status === "ok" ? r.result?.data["text/plain"] : `ERROR ${r.ename}: ${r.evalue}`;

beforeAll(async () => {
  engine = new TsEngine({ cwd: dir, library: null, registerTsHooks: false });
  engine.setIO({
    stdout: () => undefined,
    stderr: () => undefined,
    display: (payload, id, update) => displays.push({ payload, id, update }),
    clearOutput: () => undefined,
    lateError: () => undefined,
  });
  await engine.ready();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TsEngine", () => {
  it("type errors name the cell's line and column and the TS code; nothing runs", async () => {
    const r = await run("let ran = 'no';\n\nconst n: number = 'str';\nran = 'yes'");
    expect(r.status).toBe("error");
    if (r.status !== "error") return;
    expect(r.ename).toBe("TypeScriptError");
    expect(r.traceback[0]).toMatch(new RegExp(`^cell\\[${count}\\]:3:7 - error TS2322`));
    expect(r.traceback[0]).toContain("   3 | const n: number = 'str';");
    expect(value(await run("typeof (globalThis as any).ran"))).toBe("'undefined'");
  });

  it("reports several errors, columns in code points", async () => {
    const r = await run("const é = 1; const a: string = é;\nconst b: number = 'x';");
    if (r.status !== "error") throw new Error("expected an error");
    expect(r.evalue).toMatch(/^2 errors/);
    expect(r.traceback[0]).toMatch(/:1:20 - error TS2322/);
    expect(r.traceback[1]).toMatch(/:2:7 - error TS2322/);
  });

  it("persists const, let, function, class, enum, type and destructured names with their types", async () => {
    expect(
      (
        await run(
          "const base = 10;\nlet total = 0;\nfunction add(x: number) { total += x; return total; }\nclass P { constructor(readonly v: number) {} }\nenum E { A = 2 }\ntype Pair = [number, number];\nconst { q, r: [s] } = { q: 1, r: [2] };",
        )
      ).status,
    ).toBe("ok");
    expect(value(await run("add(base); add(E.A); const pr: Pair = [q, s]; total + new P(pr[1]).v"))).toBe(
      "14",
    );
    const typeErr = await run("add('x')");
    expect(typeErr.status).toBe("error");
    expect(value(await run("total = 100; total"))).toBe("100");
  });

  it("re-running a const cell with another type works; the new type is checked", async () => {
    await run("const thing = 1");
    await run("const thing = 'text'");
    expect(value(await run("thing.length"))).toBe("4");
    expect((await run("thing.toFixed()")).status).toBe("error");
  });

  it("awaits at top level and returns a promise's value", async () => {
    expect(value(await run("const w = await Promise.resolve(21);\nw * 2"))).toBe("42");
    expect(value(await run("Promise.resolve('later')"))).toBe("'later'");
  });

  it("no value for declarations or undefined", async () => {
    const r = await run("const z = 5");
    expect(r).toEqual({ status: "ok" });
    expect(await run("undefined")).toEqual({ status: "ok" });
  });

  it("formats thrown non-errors and errors", async () => {
    expect(await run("throw 'plain'")).toMatchObject({
      status: "error",
      ename: "Uncaught",
      evalue: "'plain'",
    });
    expect(await run("null as any as { x: number }).x")).toMatchObject({
      status: "error",
      ename: "TypeScriptError",
    });
    const r = await run("(null as any).x");
    expect(r).toMatchObject({ status: "error", ename: "TypeError" });
  });

  it("displays objects through Symbol.for('Jupyter.display') and display()", async () => {
    const r = await run(
      '({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<p>x</p>", "text/plain": "x" }; } })',
    );
    expect(r.status === "ok" && r.result?.data).toEqual({ "text/html": "<p>x</p>", "text/plain": "x" });
    await run('display({ "image/png": new Uint8Array([1, 2, 3]) }, { displayId: "img" })');
    expect(displays.at(-1)).toEqual({
      payload: { data: { "image/png": "AQID" }, metadata: {} },
      id: "img",
      update: false,
    });
  });

  it("help with name? returns a pager payload", async () => {
    const r = await run("Math.max?");
    expect(r.status === "ok" && r.payload?.[0]).toMatchObject({
      source: "page",
      data: { "text/plain": expect.stringContaining("Math.max") },
    });
  });

  it("completes user names and members; positions are code points", async () => {
    await run("const zebraStripes = 3");
    const c = await engine.complete("zebraS", 6);
    expect(c.matches).toEqual(["zebraStripes"]);
    const code = "const s = '😀😀'; s.toUpp";
    const cp = [...code].length;
    const m = await engine.complete(code, cp);
    expect(m.matches).toEqual(["toUpperCase"]);
    expect(m.cursorStart).toBe(cp - 5);
    expect(m.cursorEnd).toBe(cp);
  });

  it("inspects with quick info and JSDoc", async () => {
    await run("/** Doubles a number. */\nfunction dbl(x: number) { return 2 * x; }");
    const r = await engine.inspect("dbl(2)", 2, 0);
    expect(r.found).toBe(true);
    expect(r.data["text/plain"]).toMatch(/^(function )?dbl\(x: number\): number/);
    expect(r.data["text/plain"]).toMatch(/Doubles a number/);
    expect((await engine.inspect("   ", 1, 0)).found).toBe(false);
  });

  it("inspect at detail level 1 adds where the name is defined and its source", async () => {
    const r = await engine.inspect("Math.max", 8, 1);
    expect(r.data["text/plain"]).toMatch(/Defined in .*lib\.es5\.d\.ts, line \d+:\n\s*max\(/);
    const r0 = await engine.inspect("Math.max", 8, 0);
    expect(r0.data["text/plain"]).not.toMatch(/Defined in/);
  });

  // Runtime errors name the cell's own line and column (a source map through the transpiled
  // script), show the line with a caret and no kernel frames.
  // [name, code, line, the token the error points at]
  const shapes: [string, string, number, string][] = [
    [
      "after interfaces",
      "interface A { x: number }\ninterface B { y: A }\n\nconst bad: any = undefined;\nfunction f() {\n  const z = 1;\n  bad.boom(z);\n}\nf();\n",
      7,
      "boom",
    ],
    [
      "after blank lines and a comment",
      "const a = 1;\n\n\n// the next line throws\nthrow new Error('five');",
      5,
      "new",
    ],
    ["with a type alias", "type T = { a: number };\nconst t: T = { a: 1 };\n(t as any).b.c;", 3, "c;"],
    [
      "after an import",
      'import { join } from "node:path";\njoin("a");\n(null as any).toString();',
      3,
      "toString",
    ],
    [
      "in a class method",
      "class K {\n  go(): never {\n    throw new RangeError('k');\n  }\n}\nnew K().go();",
      3,
      "new",
    ],
    [
      "in an arrow callback",
      "[1, 2].map((v) => {\n  if (v === 2) throw new TypeError('two');\n  return v;\n});",
      2,
      "new",
    ],
    ["after an await", "await Promise.resolve();\n\nthrow new Error('later');", 3, "new"],
    ["in a loop", "for (let i = 0; i < 3; i++) {\n  if (i === 2) (undefined as any).x;\n}", 2, "x;"],
    [
      "in a destructuring default",
      "const { q = (() => { throw new Error('d'); })() } = {} as { q?: number };",
      1,
      "new",
    ],
    ["next to an enum", "enum E { A }\nconst e = E.A;\nJSON.parse('{');", 3, "parse"],
    [
      "in a generic function",
      "function id<T>(x: T): T {\n  return (x as any).missing.deep;\n}\nid(1);",
      2,
      "deep",
    ],
    ["the last expression", "const o: any = {};\no.f()", 2, "f()"],
  ];
  for (const [name, code, line, token] of shapes) {
    it(`runtime error position: ${name}`, async () => {
      const r = await run(code);
      if (r.status !== "error") throw new Error(`expected an error, got ${JSON.stringify(r)}`);
      const tb = r.traceback.join("\n");
      const text = code.split("\n")[line - 1];
      const column = text.indexOf(token) + 1;
      expect(tb).toContain(`-->${String(line).padStart(4)} | ${text}\n        | ${" ".repeat(column - 1)}^`);
      expect(tb).toMatch(new RegExp(`at (\\S+ \\()?cell\\[${count}\\]:${line}:${column}\\)?$`, "m"));
      expect(tb).not.toMatch(/kernel\/|node:internal|__cnnlab_rt/);
    });
  }

  it("is_complete: complete, incomplete with indent, invalid", async () => {
    expect(await engine.isComplete("const a = 1")).toEqual({ status: "complete" });
    expect(await engine.isComplete("if (x) {")).toEqual({ status: "incomplete", indent: "  " });
    expect(await engine.isComplete("function f() {\n  if (y) {")).toEqual({
      status: "incomplete",
      indent: "    ",
    });
    expect(await engine.isComplete("const s = `abc")).toMatchObject({ status: "incomplete" });
    expect(await engine.isComplete("const = = 2")).toEqual({ status: "invalid" });
  });

  it("a cell's global declarations and module augmentations are seen by later cells; running it again replaces them", async () => {
    expect(
      value(
        await run(
          "declare global {\n  var tallyG: number;\n  interface Sized { size: number }\n}\nglobalThis.tallyG = 3;\ntallyG",
        ),
      ),
    ).toBe("3");
    expect(value(await run("const box: Sized = { size: tallyG + 1 };\nbox.size"))).toBe("4");
    // Run again with another type: the new declaration replaces the old (no TS2403 clash).
    expect(
      value(
        await run("declare global {\n  var tallyG: string;\n}\nglobalThis.tallyG = 'abc';\ntallyG.length"),
      ),
    ).toBe("3");
    expect(value(await run("tallyG.toUpperCase()"))).toBe("'ABC'");
    expect(value(await run("const n: number = tallyG;"))).toMatch(/TS2322|not assignable to type 'number'/);
    // Interfaces declared in two cells merge, as across files.
    expect(value(await run("declare global { interface Shape2 { w: number } }\nexport {};"))).toBeUndefined();
    expect(value(await run("declare global { interface Shape2 { h: number } }\nexport {};"))).toBeUndefined();
    expect(value(await run("const s2: Shape2 = { w: 1, h: 2 };\ns2.w * 10 + s2.h"))).toBe("12");
    expect(value(await run("const s3: Shape2 = { w: 1 };"))).toMatch(/Property 'h' is missing/);
    // A module augmentation (a cell is a module, so `declare module "x"` augments an existing one).
    expect(
      value(
        await run('declare module "fs" {\n  interface Stats {\n    cnnlabTag?: string;\n  }\n}\nexport {};'),
      ),
    ).toBeUndefined();
    expect(
      value(
        await run(
          'import type { Stats } from "fs";\nconst st: Partial<Stats> = { cnnlabTag: "x" };\nst.cnnlabTag',
        ),
      ),
    ).toBe("'x'");
    expect(
      value(await run('import type { Stats } from "fs";\nconst st2: Partial<Stats> = { cnnlabTag: 1 };')),
    ).toMatch(/not assignable to type 'string'/);
    // A second augmentation of the same module merges with the first.
    expect(
      value(
        await run('declare module "fs" {\n  interface Stats {\n    cnnlabRank?: number;\n  }\n}\nexport {};'),
      ),
    ).toBeUndefined();
    expect(
      value(
        await run(
          'import type { Stats } from "fs";\nconst st3: Partial<Stats> = { cnnlabTag: "a", cnnlabRank: 2 };\nst3.cnnlabRank',
        ),
      ),
    ).toBe("2");
    // A cell that failed its check declares nothing.
    expect(value(await run("declare global { var neverKept: number }\nconst z: string = 1;"))).toMatch(
      /^ERROR TypeScriptError/,
    );
    expect(value(await run("neverKept"))).toMatch(/Cannot find name 'neverKept'/);
    // A failed run of a cell that would replace tallyG leaves the committed one, for checks and
    // completion alike.
    expect(value(await run("declare global {\n  var tallyG: boolean;\n}\nconst zz: string = 1;"))).toMatch(
      /^ERROR TypeScriptError/,
    );
    expect((await engine.complete("tally", 5)).matches).toContain("tallyG");
    expect(value(await run("tallyG.length"))).toBe("3");
  });
});
