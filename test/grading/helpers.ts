import type { Cell, Notebook } from "../../src/grading/notebook.js";
import type { RunOutcome } from "../../src/grading/executor.js";

export interface CellSpec {
  type?: "code" | "markdown";
  id?: string;
  grade?: boolean;
  solution?: boolean;
  locked?: boolean;
  points?: number;
  source: string;
}

export function makeCell(spec: CellSpec): Cell {
  const meta =
    spec.id === undefined
      ? {}
      : {
          nbgrader: {
            schema_version: 3,
            grade: spec.grade ?? false,
            solution: spec.solution ?? false,
            locked: spec.locked ?? false,
            grade_id: spec.id,
            ...(spec.points !== undefined ? { points: spec.points } : {}),
          },
        };
  if ((spec.type ?? "code") === "markdown") {
    return { cell_type: "markdown", source: spec.source, metadata: meta };
  }
  return { cell_type: "code", source: spec.source, metadata: meta, outputs: [], execution_count: null };
}

export function makeNotebook(cells: CellSpec[], language = "typescript"): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "cnnlab", display_name: "cnnlab (TypeScript)", language } },
    cells: cells.map(makeCell),
  };
}

/**
 * A fake kernel for unit tests. Each code cell's outcome is read from markers in its text:
 *   FAKE_ERROR(msg)   raises;           FAKE_STDERR(msg)  writes to stderr
 *   FAKE_VALUE(x)     value x;          FAKE_PRINT(msg)   writes to stdout
 *   FAKE_HANG         times out, recovers after the interrupt
 *   FAKE_STUCK        times out, does not recover;   FAKE_DIE   the kernel dies
 * "throw new Error" (the release stub) raises too.
 */
export function fakeKernel(code: string): RunOutcome {
  const outputs: RunOutcome["outputs"] = [];
  for (const m of code.matchAll(/FAKE_PRINT\(([^)]*)\)/g)) {
    outputs.push({ output_type: "stream", name: "stdout", text: m[1] + "\n" });
  }
  for (const m of code.matchAll(/FAKE_STDERR\(([^)]*)\)/g)) {
    outputs.push({ output_type: "stream", name: "stderr", text: m[1] + "\n" });
  }
  if (code.includes("FAKE_DIE")) return { status: "kernel-died", outputs, executionCount: null };
  if (code.includes("FAKE_STUCK")) {
    return { status: "timeout", outputs, executionCount: null, recovered: false };
  }
  if (code.includes("FAKE_HANG")) {
    return { status: "timeout", outputs, executionCount: 1, recovered: true };
  }
  const err = /FAKE_ERROR\(([^)]*)\)/.exec(code) ?? /throw new Error\("([^"]*)"\)/.exec(code);
  if (err) {
    outputs.push({ output_type: "error", ename: "Error", evalue: err[1]!, traceback: [`Error: ${err[1]}`] });
    return { status: "error", outputs, executionCount: 1 };
  }
  const value = /FAKE_VALUE\(([^)]*)\)/.exec(code);
  if (value) {
    outputs.push({
      output_type: "execute_result",
      data: { "text/plain": value[1]! },
      metadata: {},
      execution_count: 1,
    });
  }
  return { status: "ok", outputs, executionCount: 1 };
}
