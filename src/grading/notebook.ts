/**
 * Minimal nbformat 4 notebook model used by the grader: reading (with clear errors for files that
 * are not notebooks), cloning, source normalisation and atomic writes.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

export type MultilineString = string | string[];

export interface StreamOutput {
  output_type: "stream";
  name: "stdout" | "stderr";
  text: MultilineString;
}
export interface DisplayDataOutput {
  output_type: "display_data";
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}
export interface ExecuteResultOutput {
  output_type: "execute_result";
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  execution_count: number | null;
}
export interface ErrorOutput {
  output_type: "error";
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

export interface NbgraderMetadata {
  schema_version?: number;
  grade?: boolean;
  solution?: boolean;
  locked?: boolean;
  task?: boolean;
  grade_id?: string;
  points?: number;
  checksum?: string;
  cell_type?: string;
  [key: string]: unknown;
}

export interface CellMetadata {
  nbgrader?: NbgraderMetadata;
  [key: string]: unknown;
}

export interface CodeCell {
  cell_type: "code";
  id?: string;
  source: MultilineString;
  metadata: CellMetadata;
  outputs: Output[];
  execution_count: number | null;
}
export interface MarkdownCell {
  cell_type: "markdown";
  id?: string;
  source: MultilineString;
  metadata: CellMetadata;
  attachments?: Record<string, unknown>;
}
export interface RawCell {
  cell_type: "raw";
  id?: string;
  source: MultilineString;
  metadata: CellMetadata;
}
export type Cell = CodeCell | MarkdownCell | RawCell;

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: {
    kernelspec?: { name?: string; display_name?: string; language?: string };
    language_info?: { name?: string; [key: string]: unknown };
    [key: string]: unknown;
  };
  cells: Cell[];
}

/** A file that could not be read as an nbformat 4 notebook. */
export class NotebookFormatError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "NotebookFormatError";
  }
}

/** Cell source as one string (nbformat allows a list of lines). */
export function sourceText(cell: { source: MultilineString }): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

export function multilineText(text: MultilineString): string {
  return Array.isArray(text) ? text.join("") : text;
}

/** Split a string the way nbformat stores multi-line strings: lines keep their "\n". */
export function toLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n").map((l) => l + "\n");
  const last = lines.length - 1;
  lines[last] = lines[last]!.slice(0, -1);
  if (lines[last] === "") lines.pop();
  return lines;
}

export function cloneNotebook<T>(value: T): T {
  return structuredClone(value);
}

const CELL_TYPES = new Set(["code", "markdown", "raw"]);

/**
 * Check that a parsed JSON value is an nbformat 4 notebook and normalise what is optional
 * (missing metadata, outputs). Throws NotebookFormatError naming the file and the problem.
 */
export function asNotebook(value: unknown, file: string): Notebook {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new NotebookFormatError(file, "not a notebook: the top level is not a JSON object");
  }
  let nb = value as Record<string, unknown>;
  if (nb.nbformat === 3) nb = fromNbformat3(nb, file);
  if (nb.nbformat !== 4) {
    throw new NotebookFormatError(
      file,
      `not a notebook: expected "nbformat": 4, found ${JSON.stringify(nb.nbformat)}`,
    );
  }
  if (!Array.isArray(nb.cells)) {
    throw new NotebookFormatError(file, 'not a notebook: "cells" is missing or not a list');
  }
  if (nb.metadata === undefined) nb.metadata = {};
  if (typeof nb.metadata !== "object" || nb.metadata === null) {
    throw new NotebookFormatError(file, 'not a notebook: "metadata" is not an object');
  }
  if (typeof nb.nbformat_minor !== "number") nb.nbformat_minor = 4;
  nb.cells.forEach((c: unknown, i: number) => {
    if (typeof c !== "object" || c === null) {
      throw new NotebookFormatError(file, `cell ${i} is not an object`);
    }
    const cell = c as Record<string, unknown>;
    if (typeof cell.cell_type !== "string" || !CELL_TYPES.has(cell.cell_type)) {
      throw new NotebookFormatError(
        file,
        `cell ${i} has cell_type ${JSON.stringify(cell.cell_type)} (expected code, markdown or raw)`,
      );
    }
    const src = cell.source;
    const okSource =
      typeof src === "string" || (Array.isArray(src) && src.every((s) => typeof s === "string"));
    if (!okSource) {
      throw new NotebookFormatError(file, `cell ${i} has a source that is not text`);
    }
    if (cell.metadata === undefined || typeof cell.metadata !== "object" || cell.metadata === null) {
      cell.metadata = {};
    }
    if (cell.cell_type === "code") {
      if (!Array.isArray(cell.outputs)) cell.outputs = [];
      if (cell.execution_count === undefined) cell.execution_count = null;
    }
  });
  return nb as unknown as Notebook;
}

/**
 * nbformat 3 → 4, as nbformat's own converter does: the cells of the (first) worksheet; a code
 * cell's `input` becomes its source and `prompt_number` its execution count; heading cells become
 * markdown (`#` × level); output types pyout/pyerr become execute_result/error.
 */
function fromNbformat3(nb: Record<string, unknown>, file: string): Record<string, unknown> {
  const sheets = nb.worksheets;
  if (!Array.isArray(sheets)) {
    throw new NotebookFormatError(file, 'not a notebook: nbformat 3 without "worksheets"');
  }
  const cells: unknown[] = [];
  for (const ws of sheets as { cells?: unknown }[]) {
    if (!Array.isArray(ws?.cells)) continue;
    for (const raw of ws.cells as Record<string, unknown>[]) {
      const metadata = (
        typeof raw.metadata === "object" && raw.metadata !== null ? raw.metadata : {}
      ) as object;
      if (raw.cell_type === "code") {
        cells.push({
          cell_type: "code",
          source: raw.input ?? "",
          metadata,
          outputs: [],
          execution_count: typeof raw.prompt_number === "number" ? raw.prompt_number : null,
        });
      } else if (raw.cell_type === "heading") {
        const level = Math.min(6, Math.max(1, Number(raw.level) || 1));
        const text = Array.isArray(raw.source) ? raw.source.join("") : String(raw.source ?? "");
        cells.push({ cell_type: "markdown", source: `${"#".repeat(level)} ${text}`, metadata });
      } else {
        const type = raw.cell_type === "markdown" || raw.cell_type === "raw" ? raw.cell_type : "raw";
        cells.push({ cell_type: type, source: raw.source ?? "", metadata });
      }
    }
  }
  const meta = { ...((nb.metadata as Record<string, unknown> | undefined) ?? {}) };
  delete meta.name;
  return { nbformat: 4, nbformat_minor: 0, metadata: meta, cells };
}

export function parseNotebook(text: string, file: string): Notebook {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(file, `not valid JSON (${(e as Error).message})`);
  }
  return asNotebook(parsed, file);
}

export async function readNotebook(file: string): Promise<Notebook> {
  const text = await fs.readFile(file, "utf8");
  return parseNotebook(text, file);
}

/** Serialise like Jupyter does: one-space indentation, trailing newline. */
export function serializeNotebook(nb: Notebook): string {
  return JSON.stringify(nb, null, 1) + "\n";
}

/** Write a file atomically: a temporary file in the same folder, then rename over the target. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  try {
    await fs.writeFile(tmp, data, "utf8");
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export async function writeNotebook(file: string, nb: Notebook): Promise<void> {
  await writeFileAtomic(file, serializeNotebook(nb));
}
