/**
 * nbgrader cell metadata (schema version 3): predicates, validation and checksums that match
 * nbgrader's, so a notebook prepared here can be graded by nbgrader and the other way round.
 */
import { createHash } from "node:crypto";
import { sourceText, type Cell, type NbgraderMetadata, type Notebook } from "./notebook.js";

export const SCHEMA_VERSION = 3;

export function nbgraderMeta(cell: Cell): NbgraderMetadata | undefined {
  const m = cell.metadata?.nbgrader;
  return typeof m === "object" && m !== null ? m : undefined;
}

export function isGrade(cell: Cell): boolean {
  return nbgraderMeta(cell)?.grade === true;
}

export function isSolution(cell: Cell): boolean {
  return nbgraderMeta(cell)?.solution === true;
}

/** nbgrader's rule: solution cells are never locked, grade cells always are, others say so. */
export function isLocked(cell: Cell): boolean {
  const m = nbgraderMeta(cell);
  if (!m) return false;
  if (m.solution === true) return false;
  if (m.grade === true) return true;
  return m.locked === true;
}

export function isTask(cell: Cell): boolean {
  return nbgraderMeta(cell)?.task === true;
}

/** A cell that nbgrader tracks by id (grade, solution or locked). */
export function gradeId(cell: Cell): string | undefined {
  const m = nbgraderMeta(cell);
  if (!m) return undefined;
  if (!(m.grade === true || m.solution === true || m.locked === true || m.task === true)) {
    return undefined;
  }
  return typeof m.grade_id === "string" && m.grade_id !== "" ? m.grade_id : undefined;
}

export function cellPoints(cell: Cell): number {
  const p = nbgraderMeta(cell)?.points;
  return typeof p === "number" && Number.isFinite(p) ? p : 0;
}

/** Python's repr() of a float, as nbgrader's checksum hashes `str(float(points))`. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // Shortest round-trip digits, as both JavaScript and Python produce them.
  const [mant, expStr] = Math.abs(x).toExponential().split("e") as [string, string];
  const exp = Number(expStr);
  const digits = mant.replace(".", "");
  const sign = x < 0 ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  let body: string;
  if (exp >= 0) {
    const intLen = exp + 1;
    if (digits.length <= intLen) body = digits + "0".repeat(intLen - digits.length) + ".0";
    else body = `${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  } else {
    body = `0.${"0".repeat(-exp - 1)}${digits}`;
  }
  return sign + body;
}

const pyBool = (b: boolean): string => (b ? "True" : "False");

/**
 * nbgrader's checksum: md5 over the source, the cell type, the grade/solution/locked flags
 * (as Python prints booleans), the grade id and, for grade cells, the points as a Python float.
 */
export function computeChecksum(cell: Cell): string {
  const m = nbgraderMeta(cell);
  const h = createHash("md5");
  h.update(sourceText(cell), "utf8");
  h.update(cell.cell_type, "utf8");
  h.update(pyBool(isGrade(cell)), "utf8");
  h.update(pyBool(isSolution(cell)), "utf8");
  h.update(pyBool(isLocked(cell)), "utf8");
  h.update(String(m?.grade_id ?? ""), "utf8");
  if (isGrade(cell)) h.update(pythonFloatRepr(Number(m?.points ?? 0)), "utf8");
  return h.digest("hex");
}

/** The notebook's nbgrader metadata is invalid; `problems` name each offending cell. */
export class MetadataError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid nbgrader metadata:\n  - ${problems.join("\n  - ")}`);
    this.name = "MetadataError";
  }
}

const ALLOWED_KEYS = new Set([
  "schema_version",
  "grade",
  "solution",
  "locked",
  "task",
  "grade_id",
  "points",
  "checksum",
  "cell_type",
]);
const ID_PATTERN = /^[a-zA-Z0-9_-]+$/;

/** A short, human name for a cell in error messages: its index, id and first line. */
export function describeCell(cell: Cell, index: number): string {
  const id = nbgraderMeta(cell)?.grade_id;
  const first = sourceText(cell).split("\n")[0]!.trim().slice(0, 40);
  const idPart = typeof id === "string" && id !== "" ? ` "${id}"` : "";
  return `cell ${index}${idPart} (${cell.cell_type}${first ? `: ${JSON.stringify(first)}` : ""})`;
}

/** Problems with the nbgrader metadata of a notebook, one message per problem; [] when valid. */
export function metadataProblems(nb: Notebook): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  nb.cells.forEach((cell, i) => {
    const raw = cell.metadata?.nbgrader;
    if (raw === undefined) return;
    const where = describeCell(cell, i);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push(`${where}: metadata.nbgrader is not an object`);
      return;
    }
    const m = raw as NbgraderMetadata;
    for (const key of Object.keys(m)) {
      if (!ALLOWED_KEYS.has(key)) problems.push(`${where}: unknown nbgrader key "${key}"`);
    }
    if (m.schema_version !== undefined && m.schema_version !== SCHEMA_VERSION) {
      problems.push(
        `${where}: schema_version is ${JSON.stringify(m.schema_version)}, expected ${SCHEMA_VERSION}`,
      );
    }
    for (const key of ["grade", "solution", "locked", "task"] as const) {
      if (m[key] !== undefined && typeof m[key] !== "boolean") {
        problems.push(`${where}: "${key}" must be true or false, found ${JSON.stringify(m[key])}`);
      }
    }
    const tracked = m.grade === true || m.solution === true || m.locked === true || m.task === true;
    if (tracked) {
      if (typeof m.grade_id !== "string" || m.grade_id === "") {
        problems.push(`${where}: grade, solution, locked and task cells need a non-empty grade_id`);
      } else if (!ID_PATTERN.test(m.grade_id)) {
        problems.push(
          `${where}: grade_id ${JSON.stringify(m.grade_id)} may only contain letters, digits, "_" and "-"`,
        );
      } else {
        const prev = seen.get(m.grade_id);
        if (prev !== undefined) {
          problems.push(`${where}: duplicate grade_id "${m.grade_id}" (also cell ${prev})`);
        } else {
          seen.set(m.grade_id, i);
        }
      }
    }
    if (m.grade === true) {
      if (m.points === undefined) {
        problems.push(`${where}: grade cell has no "points"`);
      } else if (typeof m.points !== "number" || !Number.isFinite(m.points) || m.points < 0) {
        problems.push(`${where}: points must be a number >= 0, found ${JSON.stringify(m.points)}`);
      }
    }
    if (m.task === true) {
      if (cell.cell_type !== "markdown") problems.push(`${where}: task cells must be markdown`);
    } else if (cell.cell_type === "markdown") {
      if (m.grade === true && m.solution !== true) {
        problems.push(`${where}: a graded markdown cell must also be a solution cell`);
      }
      if (m.solution === true && m.grade !== true) {
        problems.push(`${where}: a markdown solution cell must also be a grade cell`);
      }
    }
    if (m.checksum !== undefined && (typeof m.checksum !== "string" || m.checksum.length !== 32)) {
      problems.push(`${where}: checksum must be a 32-character md5 hex string`);
    }
  });
  return problems;
}

export function validateMetadata(nb: Notebook, file: string): void {
  const problems = metadataProblems(nb);
  if (problems.length > 0) throw new MetadataError(file, problems);
}
