/** nbgrader-compatible grading: assign, autograde, feedback (the CLI in src/cli calls these). */
export { assign, releaseNotebook, replaceRegions, notebookLanguage, DEFAULT_CODE_STUBS } from "./assign.js";
export type { AssignResult, ReleaseOptions } from "./assign.js";
export { autograde, feedback, studentName, threadsPerKernel, DEFAULT_TIMEOUT_SECONDS } from "./autograde.js";
export type { AutogradeOptions, AutogradeSummary } from "./autograde.js";
export { computeChecksum, metadataProblems, validateMetadata, MetadataError } from "./metadata.js";
export { mergeSubmission } from "./merge.js";
export type { MergeResult, MergedCell, CellKind } from "./merge.js";
export { runCellsInSession } from "./executor.js";
export type {
  CellExecution,
  CellStatus,
  ExecuteOptions,
  ExecutionResult,
  KernelSession,
  NotebookExecutor,
  RunOutcome,
} from "./executor.js";
export { scoreCell, scoreNotebook, partialCredit, outputExcerpt } from "./score.js";
export type { CellResult, CellProblem, GradeStatus } from "./score.js";
export { toGradescope, gradesCsv, feedbackHtml } from "./report.js";
export type { SubmissionResult, GradescopeResults } from "./report.js";
export { readNotebook, parseNotebook, writeNotebook, NotebookFormatError } from "./notebook.js";
export type { Notebook, Cell, Output } from "./notebook.js";
