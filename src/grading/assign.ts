/**
 * `assign`: make the student (release) version of an assignment source notebook, as nbgrader's
 * generate_assignment does: solution regions become a stub, hidden tests are removed, outputs are
 * cleared, and grade/solution/locked cells carry schema-3 metadata with nbgrader checksums.
 */
import * as path from "node:path";
import {
  cloneNotebook,
  readNotebook,
  sourceText,
  toLines,
  writeNotebook,
  type Cell,
  type Notebook,
} from "./notebook.js";
import {
  SCHEMA_VERSION,
  MetadataError,
  computeChecksum,
  describeCell,
  isGrade,
  isLocked,
  isSolution,
  metadataProblems,
  nbgraderMeta,
} from "./metadata.js";

export const BEGIN_SOLUTION = "BEGIN SOLUTION";
export const END_SOLUTION = "END SOLUTION";
export const BEGIN_HIDDEN_TESTS = "BEGIN HIDDEN TESTS";
export const END_HIDDEN_TESTS = "END HIDDEN TESTS";

/** Code stubs by kernel language; TypeScript and JavaScript get a stub that fails when run. */
export const DEFAULT_CODE_STUBS: Record<string, string> = {
  typescript: '// YOUR CODE HERE\nthrow new Error("not implemented");',
  javascript: '// YOUR CODE HERE\nthrow new Error("not implemented");',
  python: "# YOUR CODE HERE\nraise NotImplementedError()",
};
export const DEFAULT_TEXT_STUB = "YOUR ANSWER HERE";

export interface ReleaseOptions {
  codeStub?: string;
  textStub?: string;
  /** Name used in error messages. */
  file?: string;
}

/** The language of a notebook, as nbgrader reads it (kernelspec.language, then language_info). */
export function notebookLanguage(nb: Notebook): string {
  return (nb.metadata.kernelspec?.language ?? nb.metadata.language_info?.name ?? "python").toLowerCase();
}

interface RegionResult {
  text: string;
  found: boolean;
  error?: string;
}

/**
 * Replace (stub given) or drop (stub undefined) every region between lines that contain `begin`
 * and `end`. The delimiter lines themselves go too; the stub keeps the begin line's indentation.
 */
export function replaceRegions(
  text: string,
  begin: string,
  end: string,
  stub: string | undefined,
): RegionResult {
  const out: string[] = [];
  let inside = false;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.includes(begin)) {
      if (inside) return { text, found, error: `nested "${begin}"` };
      inside = true;
      found = true;
      if (stub !== undefined) {
        const indent = /^\s*/.exec(line)![0];
        for (const s of stub.split("\n")) out.push(indent + s);
      }
    } else if (line.includes(end)) {
      if (!inside) return { text, found, error: `"${end}" without "${begin}"` };
      inside = false;
    } else if (!inside) {
      out.push(line);
    }
  }
  if (inside) return { text, found, error: `"${begin}" without "${end}"` };
  return { text: out.join("\n"), found };
}

function setSource(cell: Cell, text: string): void {
  cell.source = toLines(text);
}

/** Throw MetadataError (naming each cell) if the source cannot be released. */
function releaseProblems(nb: Notebook): string[] {
  const problems = metadataProblems(nb);
  nb.cells.forEach((cell, i) => {
    const text = sourceText(cell);
    const where = describeCell(cell, i);
    const sol = replaceRegions(text, BEGIN_SOLUTION, END_SOLUTION, "");
    if (sol.error) problems.push(`${where}: ${sol.error}`);
    if (sol.found && !isSolution(cell)) {
      problems.push(`${where}: has a "${BEGIN_SOLUTION}" region but is not a solution cell`);
    }
    const hid = replaceRegions(text, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, undefined);
    if (hid.error) problems.push(`${where}: ${hid.error}`);
    if (hid.found && !isGrade(cell)) {
      problems.push(`${where}: has a "${BEGIN_HIDDEN_TESTS}" region but is not a grade cell`);
    }
  });
  return problems;
}

/** The release version of a source notebook (the source itself is not modified). */
export function releaseNotebook(source: Notebook, opts: ReleaseOptions = {}): Notebook {
  const file = opts.file ?? "notebook";
  const problems = releaseProblems(source);
  const language = notebookLanguage(source);
  const codeStub = opts.codeStub ?? DEFAULT_CODE_STUBS[language];
  if (codeStub === undefined && source.cells.some((c) => c.cell_type === "code" && isSolution(c))) {
    problems.push(
      `no code stub for kernel language "${language}" (known: ${Object.keys(DEFAULT_CODE_STUBS).join(", ")})`,
    );
  }
  if (problems.length > 0) throw new MetadataError(file, problems);
  const textStub = opts.textStub ?? DEFAULT_TEXT_STUB;

  const nb = cloneNotebook(source);
  delete nb.metadata.celltoolbar;
  for (const cell of nb.cells) {
    let text = sourceText(cell);
    const stub = cell.cell_type === "code" ? codeStub! : textStub;
    const sol = replaceRegions(text, BEGIN_SOLUTION, END_SOLUTION, stub);
    text = sol.text;
    if (isSolution(cell) && !sol.found) text = stub;
    text = replaceRegions(text, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, undefined).text;
    setSource(cell, text);
    if (cell.cell_type === "code") {
      cell.outputs = [];
      cell.execution_count = null;
    }
    const m = nbgraderMeta(cell);
    if (m) {
      m.schema_version = SCHEMA_VERSION;
      m.grade = m.grade === true;
      m.solution = m.solution === true;
      m.locked = m.locked === true;
      if (isGrade(cell) || isSolution(cell) || isLocked(cell)) {
        m.checksum = computeChecksum(cell);
        m.cell_type = cell.cell_type;
      }
      if (isLocked(cell)) {
        cell.metadata.editable = false;
        cell.metadata.deletable = false;
      } else if (isGrade(cell) || isSolution(cell)) {
        cell.metadata.deletable = false;
      }
    }
  }
  return nb;
}

export interface AssignResult {
  /** Path of the student version that was written. */
  output: string;
  gradedCells: number;
  totalPoints: number;
}

/** `cnnlab grade assign SOURCE --out DIR`: writes DIR/<name>.ipynb. */
export async function assign(
  sourcePath: string,
  outDir: string,
  opts: Omit<ReleaseOptions, "file"> = {},
): Promise<AssignResult> {
  const source = await readNotebook(sourcePath);
  const release = releaseNotebook(source, { ...opts, file: sourcePath });
  const output = path.join(outDir, path.basename(sourcePath));
  if (path.resolve(output) === path.resolve(sourcePath)) {
    throw new Error(`assign: --out ${outDir} would overwrite the source ${sourcePath}`);
  }
  await writeNotebook(output, release);
  const graded = release.cells.filter(isGrade);
  return {
    output,
    gradedCells: graded.length,
    totalPoints: graded.reduce((s, c) => s + Number(nbgraderMeta(c)?.points ?? 0), 0),
  };
}
