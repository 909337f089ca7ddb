/**
 * The cell compiler: pure functions from a cell's TypeScript source to what the runner executes and
 * the checker checks. No state, no I/O; unit-tested on source strings.
 *
 * Running a cell: `compileCell` transpiles it (one TypeScript transform, with a source map) so that
 *  - top-level declarations become global variables: the script starts with `var a, b;` (declared in
 *    the kernel's realm, so later cells see them) and each declaration becomes an assignment where it
 *    was; functions are hoisted as usual and published on the global object; classes become class
 *    expressions assigned to their name; enums and namespaces are published after their definition;
 *  - static imports are loaded by the runner before the cell starts (`rt.m[k]`), `import()` goes through
 *    `rt.dynImport` (resolved from the kernel's working directory);
 *  - every loop body starts with `rt.c(n)` and every `await` resumes through `rt.a(n, value)`: these are
 *    the interrupt checks (n is the cell's number in its own top-level code, 0 inside functions), so an
 *    interrupt is a catchable exception wherever the cell's own code runs;
 *  - the last expression statement is returned (the cell's result).
 * The body runs inside `(async () => { ... })()`, on its own line, so script line L is line L-1 of the
 * transpiled JavaScript, which the source map takes back to the cell's own line and column.
 */
import { SourceMap, type SourceMapPayload } from "node:module";
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import { utf16ToCodePoints } from "./engine.js";

const f = ts.factory;

export interface CompiledCell {
  /** The script for vm.Script: evaluates to the promise of the cell's result. */
  script: string;
  /** Static import specifiers, in the order of `rt.m`. */
  modules: string[];
  /** Whether the last statement is an expression (its value is the result). */
  hasResult: boolean;
  /** Maps script positions back to the cell's source. */
  positions: CellPositions;
}

export interface DeclaredName {
  mutable: boolean;
  /** The cell exports it itself (`export const x`, `export { x }`). */
  exported?: boolean;
}

/** Modifiers without `export` and `default`: a cell's declarations are the session's, not a module's. */
function withoutExport<T extends ts.ModifierLike>(modifiers: ts.NodeArray<T> | undefined): T[] {
  return (modifiers ?? []).filter(
    (m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword,
  );
}

/** `export` without `default`: the statement exports its names under their own names. */
function hasExportModifier(st: ts.Statement): boolean {
  const kinds = ts.canHaveModifiers(st) ? (ts.getModifiers(st) ?? []).map((m) => m.kind) : [];
  return kinds.includes(ts.SyntaxKind.ExportKeyword) && !kinds.includes(ts.SyntaxKind.DefaultKeyword);
}

/** Names a cell declares at top level (values and types), and whether each is assignable. */
export function declaredNames(sf: ts.SourceFile): Map<string, DeclaredName> {
  const names = new Map<string, DeclaredName>();
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) {
      const mutable = !(st.declarationList.flags & ts.NodeFlags.Const);
      for (const d of st.declarationList.declarations)
        for (const n of bindingNames(d.name)) names.set(n, { mutable });
    } else if (
      (ts.isFunctionDeclaration(st) ||
        ts.isClassDeclaration(st) ||
        ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st)) &&
      st.name
    ) {
      names.set(st.name.text, { mutable: false });
    } else if (ts.isModuleDeclaration(st) && ts.isIdentifier(st.name) && st.name.text !== "global") {
      names.set(st.name.text, { mutable: false });
    } else if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) names.set(c.name.text, { mutable: false });
      if (c.namedBindings) {
        if (ts.isNamespaceImport(c.namedBindings)) names.set(c.namedBindings.name.text, { mutable: false });
        else for (const e of c.namedBindings.elements) names.set(e.name.text, { mutable: false });
      }
    } else if (ts.isImportEqualsDeclaration(st)) {
      names.set(st.name.text, { mutable: false });
    }
  }
  for (const st of sf.statements) {
    if (hasExportModifier(st)) {
      const declared = ts.isVariableStatement(st)
        ? st.declarationList.declarations.flatMap((d) => bindingNames(d.name))
        : "name" in st && st.name && ts.isIdentifier(st.name as ts.Node)
          ? [(st.name as ts.Identifier).text]
          : [];
      for (const n of declared) {
        const d = names.get(n);
        if (d) d.exported = true;
      }
    } else if (
      ts.isExportDeclaration(st) &&
      !st.moduleSpecifier &&
      st.exportClause &&
      ts.isNamedExports(st.exportClause)
    ) {
      for (const e of st.exportClause.elements) {
        const d = names.get(e.name.text);
        if (d && (e.propertyName ?? e.name).text === e.name.text) d.exported = true;
      }
    }
  }
  return names;
}

/** The identifiers a binding (name or destructuring pattern) declares. */
export function bindingNames(b: ts.BindingName, into: string[] = []): string[] {
  if (ts.isIdentifier(b)) into.push(b.text);
  else for (const el of b.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, into);
  return into;
}

export interface AppendixInput {
  /** Names the cell itself declares (they shadow everything else). */
  own: ReadonlyMap<string, DeclaredName>;
  /** Names declared by earlier cells: which cell, and whether assignable. */
  previous: ReadonlyMap<string, { cell: number; mutable: boolean }>;
  /** Library exports visible as globals. */
  libraryNames: readonly string[];
  /** Whether `cnnlab` (the library namespace) is a global. */
  libraryNamespace: boolean;
  /** Whether the library's declarations are available (default: libraryNames is not empty). */
  libraryTypes?: boolean;
  /** Module name of cell k's declarations, e.g. (k) => `./__cnnlab_cell_${k}`. */
  cellModule: (cell: number) => string;
}

/**
 * The text appended after the user's code for type checking (positions and lines stay the user's):
 * imports of earlier cells' declarations (`declare let` for assignable ones), of the library's exports,
 * and an export of the cell's own names so that the declaration emitter describes them.
 */
export function typeCheckAppendix(a: AppendixInput): string {
  const byCell = new Map<number, string[]>();
  const lines: string[] = ["", ";"];
  for (const [name, p] of a.previous) {
    if (a.own.has(name)) continue;
    if (p.mutable) {
      lines.push(`declare let ${name}: typeof import("${a.cellModule(p.cell)}").${name};`);
    } else {
      const list = byCell.get(p.cell) ?? [];
      list.push(name);
      byCell.set(p.cell, list);
    }
  }
  for (const [cell, names] of byCell)
    lines.push(`import { ${names.join(", ")} } from "${a.cellModule(cell)}";`);
  const lib = a.libraryNames.filter((n) => !a.own.has(n) && !a.previous.has(n));
  if (lib.length) lines.push(`import { ${lib.join(", ")} } from "cnnlab";`);
  if (
    a.libraryNamespace &&
    !a.own.has("cnnlab") &&
    !a.previous.has("cnnlab") &&
    (a.libraryTypes ?? a.libraryNames.length > 0)
  ) {
    lines.push(`import * as cnnlab from "cnnlab";`);
  }
  // names the cell exports itself are exported already: a second export of one is an error
  const unexported = [...a.own].filter(([, d]) => !d.exported).map(([name]) => name);
  lines.push(`export { ${unexported.join(", ")} };`);
  return lines.join("\n");
}

/** A type-check diagnostic with the cell's line, column (in code points) and a marked source line. */
export function formatDiagnostic(d: ts.Diagnostic, code: string, cellLabel: string): string {
  const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  if (d.start === undefined) return `error TS${d.code}: ${msg}`;
  const before = code.slice(0, d.start);
  const line = before.split("\n").length;
  const col = utf16ToCodePoints(code, d.start) - utf16ToCodePoints(code, before.lastIndexOf("\n") + 1) + 1;
  const src = code.split("\n")[line - 1] ?? "";
  const len = Math.max(1, Math.min(d.length ?? 1, src.length - col + 1));
  return `${cellLabel}:${line}:${col} - error TS${d.code}: ${msg}\n\n${String(line).padStart(4)} | ${src}\n     | ${" ".repeat(col - 1)}${"~".repeat(len)}`;
}

// ------------------------------------------------------------------------------- compiling

type IterationWithBody =
  ts.ForStatement | ts.ForInStatement | ts.ForOfStatement | ts.WhileStatement | ts.DoStatement;

function withBody(node: IterationWithBody, body: ts.Statement): ts.Statement {
  if (ts.isForStatement(node))
    return f.updateForStatement(node, node.initializer, node.condition, node.incrementor, body);
  if (ts.isForInStatement(node)) return f.updateForInStatement(node, node.initializer, node.expression, body);
  if (ts.isForOfStatement(node))
    return f.updateForOfStatement(node, node.awaitModifier, node.initializer, node.expression, body);
  if (ts.isWhileStatement(node)) return f.updateWhileStatement(node, node.expression, body);
  return f.updateDoStatement(node, body, node.expression);
}

function isValueFunction(node: ts.Node): boolean {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isClassStaticBlockDeclaration(node) ||
    ts.isPropertyDeclaration(node)
  );
}

const hasModifier = (node: ts.Node, kind: ts.SyntaxKind) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);

/**
 * Compiles a cell for the runner (see the file comment). `rt` is the global name of the runtime
 * object (`m`, `g`, `c`, `a`, `dynImport`); `cell` the number baked into top-level interrupt checks.
 */
export function compileCell(
  code: string,
  options: { cell: number; rt: string; bindLibrary?: readonly string[] },
): CompiledCell {
  const { rt, cell } = options;
  const modules: string[] = [];
  const hoisted = new Set<string>();
  const functions: string[] = [];
  let hasResult = false;
  const rtCall = (name: string, args: ts.Expression[]) =>
    f.createCallExpression(f.createPropertyAccessExpression(f.createIdentifier(rt), name), undefined, args);
  const publish = (name: string) =>
    f.createExpressionStatement(
      f.createAssignment(
        f.createElementAccessExpression(
          f.createPropertyAccessExpression(f.createIdentifier(rt), "g"),
          f.createStringLiteral(name),
        ),
        f.createIdentifier(name),
      ),
    );

  const transformer: ts.TransformerFactory<ts.SourceFile> = (ctx) => (sf) => {
    const visitor = (n: number): ts.Visitor => {
      const visit: ts.Visitor = (node) => {
        if (isValueFunction(node)) return ts.visitEachChild(node, inner, ctx);
        if (
          ts.isForStatement(node) ||
          ts.isForInStatement(node) ||
          ts.isForOfStatement(node) ||
          ts.isWhileStatement(node) ||
          ts.isDoStatement(node)
        ) {
          const visited = ts.visitEachChild(node, visit, ctx) as IterationWithBody;
          const check = f.createExpressionStatement(rtCall("c", [f.createNumericLiteral(n)]));
          const body = visited.statement;
          return withBody(
            visited,
            f.createBlock(ts.isBlock(body) ? [check, ...body.statements] : [check, body], true),
          );
        }
        if (ts.isAwaitExpression(node)) {
          const visited = ts.visitEachChild(node, visit, ctx);
          return ts.setTextRange(rtCall("a", [f.createNumericLiteral(n), visited]), node);
        }
        if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
          const visited = ts.visitEachChild(node, visit, ctx);
          return f.updateCallExpression(
            visited,
            f.createPropertyAccessExpression(f.createIdentifier(rt), "dynImport"),
            undefined,
            visited.arguments,
          );
        }
        return ts.visitEachChild(node, visit, ctx);
      };
      return visit;
    };
    const top = visitor(cell);
    const inner = visitor(0);
    const visitExpr = (e: ts.Expression) => ts.visitNode(e, top) as ts.Expression;

    const target = (b: ts.BindingName): ts.Expression => {
      if (ts.isIdentifier(b)) return f.createIdentifier(b.text);
      if (ts.isObjectBindingPattern(b)) {
        return f.createObjectLiteralExpression(
          b.elements.map((el) => {
            if (el.dotDotDotToken) return f.createSpreadAssignment(target(el.name));
            const init = el.initializer && visitExpr(el.initializer);
            if (!el.propertyName && ts.isIdentifier(el.name))
              return f.createShorthandPropertyAssignment(el.name.text, init);
            const name = el.propertyName ?? (el.name as ts.Identifier);
            const t = target(el.name);
            return f.createPropertyAssignment(
              ts.isComputedPropertyName(name)
                ? f.createComputedPropertyName(visitExpr(name.expression))
                : (name as ts.PropertyName),
              init ? f.createAssignment(t, init) : t,
            );
          }),
        );
      }
      return f.createArrayLiteralExpression(
        b.elements.map((el) => {
          if (ts.isOmittedExpression(el)) return f.createOmittedExpression();
          if (el.dotDotDotToken) return f.createSpreadElement(target(el.name));
          const t = target(el.name);
          return el.initializer ? f.createAssignment(t, visitExpr(el.initializer)) : t;
        }),
      );
    };

    const out: ts.Statement[] = [];
    const statements = sf.statements;
    statements.forEach((st, idx) => {
      const at = <T extends ts.Node>(node: T) => ts.setTextRange(node, st);
      if (hasModifier(st, ts.SyntaxKind.DeclareKeyword)) return;
      if (ts.isImportDeclaration(st)) {
        const spec = (st.moduleSpecifier as ts.StringLiteral).text;
        const c = st.importClause;
        if (c?.isTypeOnly) return;
        let k = modules.indexOf(spec);
        if (k < 0) k = modules.push(spec) - 1;
        const ref = () =>
          f.createElementAccessExpression(
            f.createPropertyAccessExpression(f.createIdentifier(rt), "m"),
            f.createNumericLiteral(k),
          );
        const assign = (name: string, value: ts.Expression) => {
          hoisted.add(name);
          out.push(at(f.createExpressionStatement(f.createAssignment(f.createIdentifier(name), value))));
        };
        if (!c) return;
        if (c.name) assign(c.name.text, f.createPropertyAccessExpression(ref(), "default"));
        if (c.namedBindings) {
          if (ts.isNamespaceImport(c.namedBindings)) assign(c.namedBindings.name.text, ref());
          else
            for (const e of c.namedBindings.elements) {
              if (e.isTypeOnly) continue;
              const imported = (e.propertyName ?? e.name).text;
              assign(e.name.text, f.createElementAccessExpression(ref(), f.createStringLiteral(imported)));
            }
        }
        return;
      }
      if (ts.isVariableStatement(st)) {
        const isVar = !(st.declarationList.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const));
        for (const d of st.declarationList.declarations) {
          for (const n of bindingNames(d.name)) hoisted.add(n);
          if (d.initializer) {
            out.push(
              ts.setTextRange(
                f.createExpressionStatement(
                  f.createParenthesizedExpression(
                    f.createAssignment(target(d.name), visitExpr(d.initializer)),
                  ),
                ),
                d,
              ),
            );
          } else if (!isVar && ts.isIdentifier(d.name)) {
            out.push(
              ts.setTextRange(
                f.createExpressionStatement(
                  f.createAssignment(f.createIdentifier(d.name.text), f.createVoidZero()),
                ),
                d,
              ),
            );
          }
        }
        return;
      }
      const visited = ts.visitNode(st, top) as ts.Statement;
      if (ts.isFunctionDeclaration(visited) && visited.name) {
        const fn = visited;
        if (fn.body) {
          hoisted.add(fn.name!.text);
          if (!functions.includes(fn.name!.text)) functions.push(fn.name!.text);
        }
        out.push(
          f.updateFunctionDeclaration(
            fn,
            withoutExport(fn.modifiers),
            fn.asteriskToken,
            fn.name,
            fn.typeParameters,
            fn.parameters,
            fn.type,
            fn.body,
          ),
        );
        return;
      }
      if (ts.isClassDeclaration(visited) && visited.name) {
        const name = visited.name.text;
        hoisted.add(name);
        const expr = f.createClassExpression(
          (visited.modifiers ?? []).filter(ts.isDecorator),
          visited.name,
          visited.typeParameters,
          visited.heritageClauses,
          visited.members,
        );
        out.push(at(f.createExpressionStatement(f.createAssignment(f.createIdentifier(name), expr))));
        return;
      }
      if (ts.isEnumDeclaration(visited)) {
        const en = f.updateEnumDeclaration(
          visited,
          withoutExport(visited.modifiers),
          visited.name,
          visited.members,
        );
        out.push(en, publish(visited.name.text));
        return;
      }
      if (ts.isModuleDeclaration(visited) && ts.isIdentifier(visited.name)) {
        const mod = f.updateModuleDeclaration(
          visited,
          withoutExport(visited.modifiers),
          visited.name,
          visited.body,
        );
        out.push(mod, publish(visited.name.text));
        return;
      }
      // `export default function () {}` / `export default class {}`: a value nobody can name
      if (ts.isFunctionDeclaration(visited) && visited.body) {
        const fn = f.createFunctionExpression(
          (visited.modifiers ?? []).filter((m) => m.kind === ts.SyntaxKind.AsyncKeyword) as ts.Modifier[],
          visited.asteriskToken,
          undefined,
          visited.typeParameters,
          visited.parameters,
          visited.type,
          visited.body,
        );
        out.push(at(f.createExpressionStatement(f.createParenthesizedExpression(fn))));
        return;
      }
      if (ts.isClassDeclaration(visited)) {
        const cls = f.createClassExpression(
          (visited.modifiers ?? []).filter(ts.isDecorator),
          undefined,
          visited.typeParameters,
          visited.heritageClauses,
          visited.members,
        );
        out.push(at(f.createExpressionStatement(f.createParenthesizedExpression(cls))));
        return;
      }
      if (ts.isExportDeclaration(visited)) return;
      if (ts.isExportAssignment(visited)) {
        out.push(at(f.createExpressionStatement(visited.expression)));
        return;
      }
      if (ts.isExpressionStatement(visited) && idx === statements.length - 1) {
        hasResult = true;
        out.push(at(f.createReturnStatement(visited.expression)));
        return;
      }
      out.push(visited);
    });
    return f.updateSourceFile(sf, out);
  };

  const result = ts.transpileModule(code, {
    fileName: "cell.ts",
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      esModuleInterop: true,
      useDefineForClassFields: true,
      sourceMap: true,
    },
    reportDiagnostics: false,
    transformers: { before: [transformer] },
  });
  const js = result.outputText
    .replace(/\/\/# sourceMappingURL=.*\s*$/, "")
    .replace(/\n?export \{\};\s*$/, "\n");
  // Library names read from the library itself, not from globals a cell may have shadowed (grading).
  const bound = (options.bindLibrary ?? []).filter((n) => !hoisted.has(n));
  const prelude =
    (hoisted.size ? `var ${[...hoisted].join(", ")}; ` : "") +
    `(async () => { ${bound.length ? `const { ${bound.join(", ")} } = ${rt}.lib; ` : ""}` +
    functions.map((name) => `${rt}.g[${JSON.stringify(name)}] = ${name};`).join(" ");
  const script = `${prelude}\n${js}\n})()`;
  const map = JSON.parse(result.sourceMapText ?? '{"version":3,"sources":[],"names":[],"mappings":""}');
  return {
    script,
    modules,
    hasResult,
    positions: new CellPositions(code, map as SourceMapPayload, script.split("\n").length),
  };
}

/** Maps 1-based (line, column) positions of a compiled cell's script to the cell's own. */
export class CellPositions {
  readonly #map: SourceMap;
  readonly #lines: string[];
  readonly #scriptLines: number;

  constructor(code: string, map: SourceMapPayload, scriptLines: number) {
    this.#map = new SourceMap(map);
    this.#lines = code.split("\n");
    this.#scriptLines = scriptLines;
  }

  /** The cell's (line, column), 1-based; undefined for the kernel's wrapper lines. */
  original(line: number, column: number): { line: number; column: number } | undefined {
    if (line <= 1 || line >= this.#scriptLines) return undefined;
    const e = this.#map.findEntry(line - 2, Math.max(0, column - 1)) as {
      originalLine?: number;
      originalColumn?: number;
      generatedLine?: number;
    };
    if (e.originalLine === undefined || e.originalColumn === undefined) return undefined;
    const origLine = e.originalLine + 1;
    const text = this.#lines[e.originalLine] ?? "";
    const col = utf16ToCodePoints(text, e.originalColumn) + 1;
    return { line: origLine, column: col };
  }

  sourceLine(line: number): string {
    return this.#lines[line - 1] ?? "";
  }
}
