/** The evaluation engine interface the protocol handler talks to (a fake one in unit tests). */
import type { DisplayPayload } from "./display.js";

/** Where an engine sends what cells print and display, while they run and after. */
export interface EngineIO {
  stdout(text: string): void;
  stderr(text: string): void;
  display(payload: DisplayPayload, displayId: string | undefined, update: boolean): void;
  clearOutput(wait: boolean): void;
  /**
   * Ask the frontend for a line of input (stdin.ts); rejects with StdinNotImplementedError when
   * the running request does not allow stdin. Absent in engines' test doubles.
   */
  input?(prompt: string, password: boolean, source: "input" | "stdin"): Promise<string>;
  /**
   * An error raised after its cell ended (unhandled rejection, exception in a timer); `origin` is
   * the `origin` of the execution that caused it, when known.
   */
  lateError(error: ErrorInfo, origin?: unknown): void;
}

export interface ErrorInfo {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** `payload` carries e.g. a pager page ({ source: "page", data, start }) for `name?` help cells. */
export type ExecuteOutcome =
  | { status: "ok"; result?: DisplayPayload; payload?: Record<string, unknown>[] }
  | ({ status: "error" } & ErrorInfo);

export interface ExecuteOptions {
  executionCount: number;
  silent: boolean;
  /** Identifies the request (the handler passes its header): late errors are reported against it. */
  origin?: unknown;
  /** The execute_request's metadata (grading mode reads `nbgrader.locked` / `cnnlab.locked`). */
  metadata?: Record<string, unknown>;
}

export interface CompleteResult {
  matches: string[];
  /** Unicode code point offsets into the code. */
  cursorStart: number;
  cursorEnd: number;
  metadata?: Record<string, unknown>;
}

export interface InspectResult {
  found: boolean;
  data: Record<string, unknown>;
}

export type IsCompleteResult =
  { status: "complete" | "invalid" | "unknown" } | { status: "incomplete"; indent: string };

export interface LanguageInfo {
  name: string;
  version: string;
  mimetype: string;
  file_extension: string;
  pygments_lexer: string;
  codemirror_mode: string | Record<string, unknown>;
  nbconvert_exporter: string;
}

export interface Engine {
  readonly languageInfo: LanguageInfo;
  readonly banner: string;
  /** Resolves when the engine can execute (library loaded). */
  ready(): Promise<void>;
  setIO(io: EngineIO): void;
  execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome>;
  /** cursorPos is in Unicode code points. */
  complete(code: string, cursorPos: number): Promise<CompleteResult>;
  inspect(code: string, cursorPos: number, detailLevel: number): Promise<InspectResult>;
  isComplete(code: string): Promise<IsCompleteResult>;
  /** Interrupt the running cell if it was asked to stop (interrupt.ts); fails an awaiting cell at once. */
  interrupt(): void;
}

/** Convert a Unicode code point offset to a UTF-16 offset and back. */
export function codePointsToUtf16(text: string, cp: number): number {
  let i = 0;
  let n = 0;
  while (n < cp && i < text.length) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
    n++;
  }
  return i;
}

export function utf16ToCodePoints(text: string, offset: number): number {
  let n = 0;
  for (let i = 0; i < offset && i < text.length; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return n;
}
