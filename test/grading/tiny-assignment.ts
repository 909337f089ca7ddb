/**
 * A tiny TypeScript assignment for the grader's integration tests with the real cnnlab kernel
 * (each kernel runs a handful of quick cells, so a batch of twenty stays within seconds per
 * submission). `double` is the solution; test_double has a hidden case whose message is
 * HIDDEN_MARKER, which must never reach a student.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { releaseNotebook } from "../../src/grading/assign.js";
import { serializeNotebook, type Notebook } from "../../src/grading/notebook.js";
import { findSandbox } from "../../src/grading/sandbox.js";
import { makeNotebook } from "./helpers.js";
import { requireOrSkip } from "./jupyter-server.js";

export const HIDDEN_MARKER = "HIDDEN_CASE_7f3a";
/** Points of an honest submission. */
export const FULL_MARKS = 3;

export const kernelBuilt = requireOrSkip(
  existsSync(path.resolve("dist/kernel/main.js")) && existsSync(path.resolve("dist/src/index.js")),
  "the compiled cnnlab kernel and library (run npm run build)",
);
export const sandboxAvailable = requireOrSkip(
  findSandbox().bwrap !== undefined,
  `a working bubblewrap sandbox (${findSandbox().problem ?? ""}; Debian: bubblewrap)`,
);

export const SOURCE: Notebook = makeNotebook([
  { type: "markdown", source: "# Doubling\nWrite `double`." },
  {
    id: "setup",
    locked: true,
    source:
      'const check = (ok: boolean, what: string): void => {\n  if (!ok) throw new Error("failed: " + what);\n};',
  },
  {
    id: "double",
    solution: true,
    source:
      "function double(x: number): number {\n  // BEGIN SOLUTION\n  return 2 * x;\n  // END SOLUTION\n}",
  },
  {
    id: "test_double",
    grade: true,
    points: 2,
    source: `check(double(2) === 4, "double(2)");\n// BEGIN HIDDEN TESTS\ncheck(double(-3) === -6, "${HIDDEN_MARKER}");\n// END HIDDEN TESTS`,
  },
  { id: "test_double_half", grade: true, points: 1, source: 'check(double(0.5) === 1, "double(0.5)");' },
]);

export const HONEST = "function double(x: number): number {\n  return 2 * x;\n}";

/**
 * A submission: the release version with the solution cell's code replaced, and the student's
 * own cells after it.
 */
export function submission(
  solution: string,
  extraCells: string[] = [],
  source: Notebook = SOURCE,
  solutionId = "double",
): Notebook {
  const nb = releaseNotebook(source);
  const cell = nb.cells.find((c) => c.metadata.nbgrader?.grade_id === solutionId)!;
  cell.source = solution;
  const at = nb.cells.indexOf(cell) + 1;
  nb.cells.splice(
    at,
    0,
    ...extraCells.map((source) => ({
      cell_type: "code" as const,
      source,
      metadata: {},
      outputs: [],
      execution_count: null,
    })),
  );
  return nb;
}

export interface Batch {
  dir: string;
  source: string;
  out: string;
  files: string[];
}

/** Write the source and the submissions (`name` → notebook) into a fresh folder. */
export async function writeBatch(
  subs: Record<string, Notebook>,
  dir?: string,
  sourceNotebook: Notebook = SOURCE,
): Promise<Batch> {
  dir ??= await mkdtemp(path.join(os.tmpdir(), "cnnlab-tiny-"));
  const source = path.join(dir, "source", "doubling.ipynb");
  await mkdir(path.dirname(source), { recursive: true });
  await writeFile(source, serializeNotebook(sourceNotebook));
  const files: string[] = [];
  for (const [name, nb] of Object.entries(subs)) {
    const f = path.join(dir, "submitted", `${name}.ipynb`);
    await mkdir(path.dirname(f), { recursive: true });
    await writeFile(f, serializeNotebook(nb));
    files.push(f);
  }
  return { dir, source, out: path.join(dir, "out"), files };
}

/** Host processes whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const found: number[] = [];
  for (const p of await readdir("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = (await readFile(`/proc/${p}/cmdline`, "utf8")).replace(/\0/g, " ");
      if (cmd.includes(marker)) found.push(Number(p));
    } catch {
      // gone
    }
  }
  return found;
}
