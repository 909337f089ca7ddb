/** The checker and the built-in module table, without the engine around them. */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { BuiltinModules, type BuiltinContext, type BuiltinModule } from "../../kernel/builtin-modules.js";
import { CellRunner } from "../../kernel/cell-runner.js";
import { Checker } from "../../kernel/checker.js";
import { defaultCompilerOptions } from "../../kernel/compiler-options.js";
import { makeCellDisplayApi } from "../../kernel/display.js";
import { InterruptControl } from "../../kernel/interrupt.js";

const dir = mkdtempSync(join(tmpdir(), "cnnlab-checker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const table: Record<string, BuiltinModule> = {
  greet: {
    types: () => ({ text: "export declare function hello(name: string): string;\n" }),
    value: () => ({ hello: (name: string) => `hello ${name}` }),
  },
  absent: { types: () => undefined, value: () => undefined },
};
const ctx: BuiltinContext = {
  library: undefined,
  libraryDts: undefined,
  display: makeCellDisplayApi({ displayData: () => undefined, clearOutput: () => undefined }),
};
const builtins = new BuiltinModules(ctx, table);
const checker = new Checker({
  cwd: dir,
  compilerOptions: defaultCompilerOptions(dir),
  globals: "export {};\ndeclare global { function shout(s: string): void; }\n",
  builtinTypes: (name) => builtins.types(name),
});
const errors = (text: string) =>
  checker
    .check(text)
    .diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error)
    .map((d) => `TS${d.code}`);

describe("Checker", () => {
  it("a built-in module's declaration text types the import; wrong use is an error", () => {
    expect(errors(`import { hello } from "greet";\nconst s: string = hello("x");\n`)).toEqual([]);
    expect(errors(`import { hello } from "greet";\nhello(1);\n`)).toEqual(["TS2345"]);
  });

  it("an entry without types is a missing module; the runner gets the entry's value", async () => {
    expect(errors(`import * as a from "absent";\n`)).toEqual(["TS2307"]);
    const runner = new CellRunner({ cwd: dir, control: new InterruptControl(), rtName: "__checker_test_rt" });
    runner.setBuiltins(builtins);
    const mod = (await runner.load("greet")) as { hello(n: string): string };
    expect(mod.hello("you")).toBe("hello you");
  });

  it("the globals are always visible", () => {
    expect(errors(`shout("a");\n`)).toEqual([]);
    expect(errors(`shout(2);\n`)).toEqual(["TS2345"]);
  });

  it("committed declarations are the cell's module for later cells", () => {
    expect(errors(`const n = 3;\nexport { n };\n`)).toEqual([]);
    checker.commit(1);
    expect(
      errors(`import { n } from "${checker.cellModule(1)}";\nconst m: number = n;\nexport {};\n`),
    ).toEqual([]);
    expect(
      errors(`import { n } from "${checker.cellModule(1)}";\nconst m: string = n;\nexport {};\n`),
    ).toEqual(["TS2322"]);
  });

  it("a scratch file does not change what the current cell sees", () => {
    const names = checker.withScratch(`const zzz = 1;\nexport { zzz };\n`, (file, ls) =>
      ls.getCompletionsAtPosition(file, 0, {})?.entries.some((e) => e.name === "zzz"),
    );
    expect(names).toBe(true);
    expect(errors(`zzz;\n`)).toEqual(["TS2304"]);
  });

  it("a notebook's own module is re-read when it changes on disk", () => {
    const mod = join(dir, "helper.ts");
    writeFileSync(mod, "export const v: number = 1;\n");
    expect(errors(`import { v } from "./helper.ts";\nconst s: number = v;\nexport {};\n`)).toEqual([]);
    writeFileSync(mod, "export const v: string = 'a';\n");
    utimesSync(mod, new Date(), new Date(Date.now() + 5000));
    expect(errors(`import { v } from "./helper.ts";\nconst s: number = v;\nexport {};\n`)).toEqual([
      "TS2322",
    ]);
  });
});
