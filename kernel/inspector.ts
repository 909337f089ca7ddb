/**
 * Completion, inspection and is_complete on top of the checker: the code being edited is checked
 * as the checker's scratch file (Checker.withScratch), with the same appendix a cell would get, so
 * earlier cells' names and the library's are known. Positions on the wire are code points.
 */
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import { declaredNames, type DeclaredName } from "./cell-compiler.js";
import type { Checker } from "./checker.js";
import {
  codePointsToUtf16,
  utf16ToCodePoints,
  type CompleteResult,
  type InspectResult,
  type IsCompleteResult,
} from "./engine.js";
import { packageRoot } from "./paths.js";

export class Inspector {
  readonly #checker: Checker;
  readonly #appendix: (own: ReadonlyMap<string, DeclaredName>) => string;

  /** `appendix`: the type-check appendix for code declaring `own` (what ts-engine gives cells). */
  constructor(checker: Checker, appendix: (own: ReadonlyMap<string, DeclaredName>) => string) {
    this.#checker = checker;
    this.#appendix = appendix;
  }

  #withCode<T>(code: string, fn: (file: string, ls: ts.LanguageService) => T): T {
    const sf = ts.createSourceFile("scratch.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    return this.#checker.withScratch(code + this.#appendix(declaredNames(sf)), fn);
  }

  complete(code: string, cursorPos: number): CompleteResult {
    const pos = codePointsToUtf16(code, cursorPos);
    return this.#withCode(code, (file, ls) => {
      const info = ls.getCompletionsAtPosition(file, pos, {
        includeCompletionsForModuleExports: false,
        includeCompletionsWithInsertText: true,
      });
      let start = pos;
      while (start > 0 && /[\w$\u0080-\uffff]/.test(code[start - 1])) start--;
      if (!info) return { matches: [], cursorStart: utf16ToCodePoints(code, start), cursorEnd: cursorPos };
      const span = info.optionalReplacementSpan;
      if (span && span.start + span.length >= pos && span.start <= pos && span.start < start)
        start = span.start;
      const prefix = code.slice(start, pos);
      const seen = new Set<string>();
      const entries = info.entries
        .filter((e) => !e.name.startsWith("__cnnlab") && e.kind !== ts.ScriptElementKind.warning)
        .filter((e) => (e.insertText ?? e.name).startsWith(prefix))
        .sort((a, b) =>
          a.sortText < b.sortText ? -1 : a.sortText > b.sortText ? 1 : a.name.localeCompare(b.name),
        );
      const matches: string[] = [];
      const types: { start: number; end: number; text: string; type: string }[] = [];
      for (const e of entries) {
        const text = e.insertText ?? e.name;
        if (seen.has(text)) continue;
        seen.add(text);
        matches.push(text);
        types.push({ start: utf16ToCodePoints(code, start), end: cursorPos, text, type: e.kind });
      }
      return {
        matches,
        cursorStart: utf16ToCodePoints(code, start),
        cursorEnd: cursorPos,
        metadata: { _jupyter_types_experimental: types },
      };
    });
  }

  inspect(code: string, cursorPos: number, detailLevel: number): InspectResult {
    const pos = codePointsToUtf16(code, cursorPos);
    return this.#withCode(code, (file, ls): InspectResult => {
      const info =
        ls.getQuickInfoAtPosition(file, pos) ??
        (pos > 0 ? ls.getQuickInfoAtPosition(file, pos - 1) : undefined);
      if (!info || (info.textSpan.start >= code.length && code.length > 0)) return { found: false, data: {} };
      // Names from earlier cells are imports of their declaration files: show them as declared.
      const sig = ts
        .displayPartsToString(info.displayParts)
        .replace(/^\(alias\) /, "")
        .split("\n")
        .filter((l, i) => i === 0 || !/^import /.test(l))
        .join("\n");
      const doc = ts.displayPartsToString(info.documentation);
      const tags = (info.tags ?? [])
        .map((t) => `@${t.name}${t.text ? " " + ts.displayPartsToString(t.text) : ""}`)
        .join("\n");
      const text = [sig, doc, tags].filter(Boolean).join("\n\n");
      const md = [
        "```typescript\n" + sig + "\n```",
        doc,
        tags.replace(/^@/gm, "*@").replace(/^(\*@\w+)/gm, "$1*"),
      ]
        .filter(Boolean)
        .join("\n\n");
      // detail_level 1 (IPython's `name??`): also where it is defined and its source.
      const source = detailLevel >= 1 ? definitionSource(ls, file, pos, code.length) : undefined;
      if (source) {
        return {
          found: true,
          data: {
            "text/plain": `${text}\n\n${source.where}\n${source.text}`,
            "text/markdown": `${md}\n\n${source.where}\n\n\`\`\`typescript\n${source.text}\n\`\`\``,
          },
        };
      }
      return { found: true, data: { "text/plain": text, "text/markdown": md } };
    });
  }
}

/** The declaration at `pos` (its first 40 lines) and where it is, for inspect at detail level 1. */
function definitionSource(
  ls: ts.LanguageService,
  file: string,
  pos: number,
  codeLength: number,
): { where: string; text: string } | undefined {
  const def = ls.getDefinitionAtPosition(file, pos)?.[0];
  if (!def) return undefined;
  const sf = ls.getProgram()?.getSourceFile(def.fileName);
  if (!sf) return undefined;
  const span = def.contextSpan ?? def.textSpan;
  if (def.fileName === file && span.start >= codeLength) return undefined;
  const text = sf.text
    .slice(span.start, span.start + span.length)
    .split("\n")
    .slice(0, 40)
    .join("\n");
  const line = sf.getLineAndCharacterOfPosition(span.start).line + 1;
  const name = def.fileName === file ? "this cell" : def.fileName.replace(packageRoot + "/", "cnnlab/");
  return { where: `Defined in ${name}, line ${line}:`, text };
}

/** is_complete: from the parser's diagnostics alone (no checker). */
export function isComplete(code: string): IsCompleteResult {
  if (code.trim() === "") return { status: "complete" };
  const sf = ts.createSourceFile("is_complete.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const diags: ts.Diagnostic[] =
    (sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics ?? [];
  if (diags.length === 0) return { status: "complete" };
  const end = code.trimEnd().length;
  const atEnd = diags.every((d) => (d.start ?? 0) >= end || (d.start ?? 0) + (d.length ?? 0) >= code.length);
  if (!atEnd) return { status: "invalid" };
  const lines = code.split("\n");
  let last = lines.length - 1;
  while (last > 0 && lines[last].trim() === "") last--;
  const lastLine = lines[last];
  let indent = /^\s*/.exec(lastLine)?.[0] ?? "";
  if (/[{([]\s*$/.test(lastLine)) indent += "  ";
  return { status: "incomplete", indent };
}
