/**
 * Build the notebook that is executed for one submission: the student's solution cells (found by
 * grade_id) inside everything else from the source — test cells with their hidden tests, locked
 * cells. The submission's copies of locked and test cells are never trusted: they are restored
 * from the source and, when they differ from the release version, flagged.
 *
 * Cells without nbgrader tracking (no grade/solution/locked flag) belong to the student, as in
 * nbgrader; they keep their place after the tracked cell that precedes them in the submission.
 */
import { cloneNotebook, sourceText, type Cell, type Notebook } from "./notebook.js";
import { cellPoints, gradeId, isGrade, isSolution, isTask, nbgraderMeta } from "./metadata.js";

export type CellKind =
  /** solution cell graded by the tests that follow it */
  | "solution"
  /** solution + grade: a manually graded answer */
  | "manual"
  /** grade cell that is not a solution: an autograded test */
  | "test"
  /** locked, read-only cell */
  | "locked"
  /** nbgrader task cell (markdown, graded by hand) */
  | "task"
  /** a cell without nbgrader tracking, taken from the submission */
  | "student";

export interface MergedCell {
  /** index in the merged notebook */
  index: number;
  kind: CellKind;
  gradeId?: string;
  /** maximum points, for grade cells */
  maxPoints: number;
  /** the graded cell was not in the submission (deleted, or its id changed) */
  missing: boolean;
  /** the submission's copy of a locked/test cell differed from the release version */
  tampered: boolean;
  /** for manually graded answers: the student left the release stub unchanged */
  unanswered: boolean;
  notes: string[];
}

export interface MergeResult {
  notebook: Notebook;
  cells: MergedCell[];
  /** remarks about the submission as a whole (ignored cells, duplicates) */
  notes: string[];
}

function kindOf(cell: Cell): CellKind {
  if (isTask(cell)) return "task";
  if (isSolution(cell)) return isGrade(cell) ? "manual" : "solution";
  if (isGrade(cell)) return "test";
  return "locked";
}

function clearOutputs(cell: Cell): Cell {
  if (cell.cell_type === "code") {
    cell.outputs = [];
    cell.execution_count = null;
  }
  return cell;
}

function withSource(template: Cell, source: Cell): Cell {
  const cell = clearOutputs(cloneNotebook(template));
  cell.source = cloneNotebook(source.source);
  return cell;
}

/**
 * Merge a submission into the source. `release` is the release version of `source` (used for the
 * stubs of missing solution cells and to detect edits to locked cells).
 */
export function mergeSubmission(source: Notebook, release: Notebook, submission: Notebook): MergeResult {
  const notes: string[] = [];
  const sourceIds = new Set<string>();
  const releaseById = new Map<string, Cell>();
  for (const c of source.cells) {
    const id = gradeId(c);
    if (id !== undefined) sourceIds.add(id);
  }
  for (const c of release.cells) {
    const id = gradeId(c);
    if (id !== undefined) releaseById.set(id, c);
  }

  // Tracked cells of the submission by id, and the student's own cells by the id they follow.
  const subById = new Map<string, Cell>();
  const START = "\u0000start";
  const extras = new Map<string, Cell[]>();
  let anchor = START;
  submission.cells.forEach((cell, i) => {
    const m = nbgraderMeta(cell);
    const id = typeof m?.grade_id === "string" ? m.grade_id : undefined;
    const tracked = m !== undefined && (m.grade || m.solution || m.locked || m.task) === true;
    if (tracked || (id !== undefined && sourceIds.has(id))) {
      if (id !== undefined && sourceIds.has(id) && !subById.has(id)) {
        subById.set(id, cell);
        anchor = id;
        return;
      }
      // As nbgrader does (DeduplicateIds, OverwriteCells): a repeated or unknown grade_id loses
      // its tracking and the cell runs as one of the student's own, where it stands.
      notes.push(
        id !== undefined && sourceIds.has(id)
          ? `cell ${i}: a second cell with grade_id "${id}" was kept as an ordinary cell after the first`
          : `cell ${i}: grade_id ${JSON.stringify(id ?? null)} is not in the assignment; the cell was kept as an ordinary cell`,
      );
    }
    const list = extras.get(anchor) ?? [];
    list.push(cell);
    extras.set(anchor, list);
  });

  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: Math.max(source.nbformat_minor, 4),
    metadata: cloneNotebook(source.metadata),
    cells: [],
  };
  const cells: MergedCell[] = [];
  const pushStudent = (key: string): void => {
    for (const c of extras.get(key) ?? []) {
      const cell = clearOutputs(cloneNotebook(c));
      if (cell.metadata.nbgrader !== undefined) delete cell.metadata.nbgrader;
      cells.push({
        index: nb.cells.length,
        kind: "student",
        maxPoints: 0,
        missing: false,
        tampered: false,
        unanswered: false,
        notes: [],
      });
      nb.cells.push(cell);
    }
  };

  pushStudent(START);
  for (const src of source.cells) {
    const id = gradeId(src);
    if (id === undefined) continue; // untracked source cells are the student's (see above)
    const kind = kindOf(src);
    const rel = releaseById.get(id)!;
    const sub = subById.get(id);
    const info: MergedCell = {
      index: nb.cells.length,
      kind,
      gradeId: id,
      maxPoints: isGrade(src) ? cellPoints(src) : 0,
      missing: sub === undefined,
      tampered: false,
      unanswered: false,
      notes: [],
    };
    let cell: Cell;
    if (kind === "solution" && !sub) {
      // Nothing is put in its place (as in nbgrader): the student's code may well be in a cell
      // that lost its tracking, and a stub after it would undo it.
      notes.push(
        `solution cell "${id}" is not in the submission (deleted, or its metadata changed); nothing was put in its place`,
      );
      pushStudent(id);
      continue;
    }
    if (kind === "solution" || kind === "manual") {
      if (sub) {
        cell = withSource(rel, sub);
        if (sub.cell_type !== src.cell_type) {
          info.notes.push(
            `the cell type was changed from ${src.cell_type} to ${sub.cell_type}; graded as ${src.cell_type}`,
          );
        }
        if (kind === "manual" && sourceText(sub).trim() === sourceText(rel).trim()) {
          info.unanswered = true;
        }
      } else {
        cell = clearOutputs(cloneNotebook(rel));
        info.notes.push(
          `cell "${id}" is missing from the submission (deleted, or its grade_id was changed); the empty release version was used`,
        );
        if (kind === "manual") info.unanswered = true;
      }
    } else {
      // Test, locked and task cells always come from the source (hidden tests included).
      cell = clearOutputs(cloneNotebook(src));
      if (!sub) {
        info.notes.push(
          `cell "${id}" is missing from the submission (deleted, or its grade_id was changed); it was restored from the source` +
            (kind === "test" ? " and scores 0" : ""),
        );
      } else if (
        sourceText(sub) !== sourceText(rel) ||
        sub.cell_type !== rel.cell_type ||
        JSON.stringify(nbgraderMeta(sub)?.points) !== JSON.stringify(nbgraderMeta(rel)?.points)
      ) {
        info.tampered = true;
        info.notes.push(`the submission changed this read-only cell; it was restored from the source`);
      }
    }
    nb.cells.push(cell);
    cells.push(info);
    pushStudent(id);
  }
  return { notebook: nb, cells, notes };
}
