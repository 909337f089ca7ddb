/**
 * What grading writes: the per-submission result (result.json), Gradescope's results.json, the
 * HTML feedback page and the CSV of all submissions.
 */
import type { CellProblem, CellResult } from "./score.js";

export const RESULT_FORMAT = "cnnlab-grade-result/1";

export interface SubmissionResult {
  format: typeof RESULT_FORMAT;
  student: string;
  /** the submitted file */
  submission: string;
  /** SHA-256 of the submitted file's bytes (for --resume) */
  submissionSha256?: string;
  assignment: string;
  /** "graded", or "error" when the submission could not be graded at all */
  status: "graded" | "error";
  /** why the submission could not be graded */
  error?: string;
  score: number;
  maxScore: number;
  /** points still to be given by hand */
  manualMax: number;
  cells: CellResult[];
  problems: CellProblem[];
  /** remarks about the submission (restored cells, ignored cells) */
  notes: string[];
  executor: string;
  timeoutSeconds: number;
  gradedAt: string;
}

export interface GradescopeTest {
  name: string;
  score: number;
  max_score: number;
  output: string;
  status?: "passed" | "failed";
}
export interface GradescopeResults {
  score: number;
  output: string;
  tests: GradescopeTest[];
}

/** Gradescope autograder format. Manually graded cells are left to Gradescope's own questions. */
export function toGradescope(r: SubmissionResult): GradescopeResults {
  const lines: string[] = [];
  if (r.status === "error") lines.push(`This submission could not be graded: ${r.error ?? ""}`);
  const manual = r.cells.filter((c) => c.points === null);
  if (manual.length > 0) {
    lines.push(
      `Needs manual grading (${r.manualMax} points, not included here): ${manual.map((c) => c.id).join(", ")}`,
    );
  }
  lines.push(...r.notes);
  const tests: GradescopeTest[] = r.cells
    .filter((c) => c.points !== null)
    .map((c) => ({
      name: c.id,
      score: c.points ?? 0,
      max_score: c.max,
      status: c.status === "passed" ? "passed" : "failed",
      output: c.output ? `${c.reason}\n\n${c.output}` : c.reason,
    }));
  return { score: r.score, output: lines.join("\n"), tests };
}

/**
 * Totals and statuses recomputed from the cells' points (after points were entered by hand in
 * result.json: a manually graded cell's `points` goes from null to a number).
 */
export function rescore(r: SubmissionResult): SubmissionResult {
  const round = (x: number): number => Math.round(x * 1e6) / 1e6;
  const cells = r.cells.map((c): CellResult => {
    if (c.points === null) return { ...c, status: "needs-manual-grading" };
    const points = round(Math.min(Math.max(Number(c.points) || 0, 0), c.max));
    const status = points >= c.max ? "passed" : points === 0 ? "failed" : "partial";
    const reason = c.status === "needs-manual-grading" ? "graded by hand" : c.reason;
    return { ...c, points, status, reason };
  });
  const score = round(cells.reduce((s, c) => s + (c.points ?? 0), 0));
  const manualMax = round(cells.filter((c) => c.points === null).reduce((s, c) => s + c.max, 0));
  return { ...r, cells, score, manualMax };
}

function csvField(v: string | number | null | undefined): string {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per submission; a column per graded cell (in `ids` order). */
export function gradesCsv(results: SubmissionResult[], ids: string[]): string {
  const header = ["student", "status", "score", "max_score", "manual_pending", ...ids, "flags", "error"];
  const rows = [header.map(csvField).join(",")];
  const sorted = [...results].sort((a, b) => (a.student < b.student ? -1 : a.student > b.student ? 1 : 0));
  for (const r of sorted) {
    const byId = new Map(r.cells.map((c) => [c.id, c]));
    const flags = [
      ...r.cells.filter((c) => c.tampered).map((c) => `tampered:${c.id}`),
      ...r.cells.filter((c) => c.missing).map((c) => `missing:${c.id}`),
    ].join(" ");
    const row = [
      r.student,
      r.status,
      r.score,
      r.maxScore,
      r.manualMax,
      ...ids.map((id) => {
        const c = byId.get(id);
        return c === undefined ? "" : c.points === null ? "manual" : c.points;
      }),
      flags,
      r.error ?? "",
    ];
    rows.push(row.map(csvField).join(","));
  }
  return rows.join("\n") + "\n";
}

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STATUS_LABEL: Record<CellResult["status"], string> = {
  passed: "passed",
  partial: "partial credit",
  failed: "failed",
  "needs-manual-grading": "needs manual grading",
};

/** A self-contained feedback page (no scripts, no external resources). */
export function feedbackHtml(r: SubmissionResult): string {
  const e = escapeHtml;
  const pts = (c: CellResult): string => (c.points === null ? "–" : String(c.points));
  const rows = r.cells
    .map(
      (c) => `<tr class="${c.status}">
<td><a href="#cell-${e(c.id)}">${e(c.id)}</a></td><td>${e(STATUS_LABEL[c.status])}${c.tampered ? ' <span class="flag">restored</span>' : ""}${c.missing ? ' <span class="flag">missing</span>' : ""}</td>
<td class="num">${pts(c)} / ${c.max}</td><td>${e(c.reason)}</td></tr>`,
    )
    .join("\n");
  const details = r.cells
    .filter((c) => c.output !== "")
    .map(
      (c) => `<section id="cell-${e(c.id)}"><h3>${e(c.id)} <small>${pts(c)} / ${c.max}</small></h3>
<pre>${e(c.output)}</pre></section>`,
    )
    .join("\n");
  const problems = r.problems
    .map(
      (p) => `<section><h3>cell ${p.index}${p.id ? ` (${e(p.id)})` : ""}: ${e(p.execution)}</h3>
${p.message ? `<p>${e(p.message)}</p>` : ""}<pre>${e(p.output)}</pre></section>`,
    )
    .join("\n");
  const notes = r.notes.map((n) => `<li>${e(n)}</li>`).join("\n");
  const manual = r.manualMax > 0 ? `<p>${r.manualMax} more points are graded by hand.</p>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Feedback: ${e(r.assignment)} — ${e(r.student)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
tr.passed td:nth-child(2) { color: #1a7f37; }
tr.failed td:nth-child(2) { color: #cf222e; }
tr.partial td:nth-child(2) { color: #9a6700; }
.flag { background: #fff3cd; border: 1px solid #e0c36c; border-radius: 3px; padding: 0 0.3rem; font-size: 0.85em; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; white-space: pre-wrap; }
.score { font-size: 1.4rem; }
</style>
</head>
<body>
<h1>${e(r.assignment)}</h1>
<p>Student: <strong>${e(r.student)}</strong> · graded ${e(r.gradedAt)}</p>
${
  r.status === "error"
    ? `<p class="score">Not graded</p><p>${e(r.error ?? "")}</p>`
    : `<p class="score">Score: <strong>${r.score}</strong> / ${r.maxScore}</p>${manual}`
}
${r.cells.length > 0 ? `<h2>Graded cells</h2>\n<table><thead><tr><th>cell</th><th>result</th><th>points</th><th>reason</th></tr></thead><tbody>\n${rows}\n</tbody></table>` : ""}
${notes ? `<h2>Notes</h2><ul>\n${notes}\n</ul>` : ""}
${problems ? `<h2>Other cells that did not run cleanly</h2>\n${problems}` : ""}
${details ? `<h2>Outputs</h2>\n${details}` : ""}
</body>
</html>
`;
}
