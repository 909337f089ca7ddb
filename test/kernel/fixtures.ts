/** Small notebooks for runner / nbconvert tests. */
import { writeFileSync } from "node:fs";

export function codeCell(source: string, id: string) {
  return { cell_type: "code", id, metadata: {}, execution_count: null, outputs: [], source };
}

export function writeNotebook(path: string, cells: Record<string, unknown>[]): void {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "cnnlab", display_name: "cnnlab (TypeScript)", language: "typescript" } },
    cells,
  };
  writeFileSync(path, JSON.stringify(nb, null, 1));
}

/** Four code cells, the second of which throws. */
export function errorInMiddle(path: string): void {
  writeNotebook(path, [
    { cell_type: "markdown", id: "md", metadata: {}, source: "# Error in the middle" },
    codeCell('const a = 20;\nconsole.log("first");\na + 1', "c1"),
    codeCell('throw new Error("middle cell fails")', "c2"),
    codeCell("a * 2", "c3"),
    codeCell('display({ "text/html": "<i>last</i>", "text/plain": "last" })', "c4"),
  ]);
}
