/** Terminal progress lines for the headless runner. */
import { relative } from "node:path";
import type { ProgressEvent } from "../../kernel/runner.js";

function firstLine(source: string): string {
  const line = source.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > 60 ? line.slice(0, 57) + "..." : line;
}

export function printProgress(say: (line: string) => void): (e: ProgressEvent) => void {
  let total = 0;
  let pendingLine = "";
  return (e) => {
    switch (e.kind) {
      case "start":
        total = e.cells;
        say(`${relative(process.cwd(), e.notebook)}: ${e.cells} code cells`);
        break;
      case "cell-start":
        pendingLine = `  [${e.codeIndex + 1}/${total}] ${firstLine(e.source)}`;
        break;
      case "cell-end":
        say(
          `${pendingLine}  … ${e.status}${e.error ? ` (${e.error.ename}: ${e.error.evalue.split("\n")[0]})` : ""} ${e.seconds.toFixed(1)} s`,
        );
        break;
      case "end":
        say(
          e.result.ok
            ? `  done in ${e.result.seconds.toFixed(1)} s, no errors`
            : `  ${e.result.errors.length} cell(s) failed; ${e.result.executed} of ${e.result.codeCells} executed (${e.result.seconds.toFixed(1)} s)`,
        );
        break;
      default:
    }
  };
}
