/**
 * What a cell reads from the person at the notebook: `await input(prompt)`, `await prompt(message)`
 * and `process.stdin` (so `readline` works), all through the Jupyter stdin channel.
 *
 * The protocol side is the handler's (handler.ts `requestInput`): it sends an `input_request` on the
 * stdin channel to the client that sent the running execute_request, with that request's header
 * as parent, and resolves on the `input_reply`. It refuses when the request said
 * `allow_stdin: false` (nbconvert, `jupyter execute`), when no cell runs, and it rejects a waiting
 * request with `KeyboardInterrupt` on an interrupt. This file builds the cell-facing functions on
 * that and replaces `process.stdin` with a stream that reads a line per input request.
 */
import { Readable } from "node:stream";

/** Thrown by input() and reads of process.stdin when the frontend cannot answer input requests. */
export class StdinNotImplementedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StdinNotImplementedError";
  }
}

/** Where an input request comes from: a call of input()/prompt(), or a read of process.stdin. */
export type InputSource = "input" | "stdin";

/** Asks the frontend for one line (handler.ts `requestInput`). */
export type RequestInput = (prompt: string, password: boolean, source: InputSource) => Promise<string>;

/** The declarations of the globals below, for the kernel globals declaration the checker uses. */
export const STDIN_GLOBAL_DECLARATIONS = `
  /** Ask the person at the notebook for one line of text (an input box under the cell). With password: true the frontend hides what is typed. Fails with StdinNotImplementedError when the frontend does not answer input requests (nbconvert). */
  function input(prompt?: string, options?: { password?: boolean }): Promise<string>;
  /** Like the browser's prompt(), but asynchronous: await prompt("name?", "default"). An empty answer gives defaultValue when there is one. */
  function prompt(message?: string, defaultValue?: string): Promise<string>;
`;

export interface InputApi {
  input(prompt?: unknown, options?: { password?: boolean }): Promise<string>;
  prompt(message?: unknown, defaultValue?: unknown): Promise<string>;
}

export function makeInputApi(request: RequestInput): InputApi {
  return {
    input(prompt = "", options = {}) {
      return request(String(prompt), !!options?.password, "input");
    },
    async prompt(message = "", defaultValue) {
      const value = await request(String(message), false, "input");
      return value === "" && defaultValue !== undefined ? String(defaultValue) : value;
    },
  };
}

/**
 * `process.stdin` of the kernel: each read asks the frontend for a line (an input request without
 * prompt: whatever the code wrote before, such as readline's question, is already in the cell's
 * output). When no line can come (stdin not allowed, no cell running), the running cell fails with
 * the reason instead of waiting for ever; a stream left waiting when its cell ended is discarded,
 * and the next access of process.stdin gets a fresh one.
 */
export class KernelStdin extends Readable {
  readonly isTTY = false;
  #reading = false;

  constructor(
    readonly request: RequestInput,
    readonly failCell: (error: Error) => void,
  ) {
    super({ encoding: "utf8" });
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.request("", false, "stdin").then(
      (line) => {
        this.#reading = false;
        this.push(`${line}\n`);
      },
      (e: unknown) => {
        this.#reading = false;
        const error =
          e instanceof StdinNotImplementedError
            ? new StdinNotImplementedError(`${e.message}. ${STDIN_ALTERNATIVE}`)
            : (e as Error);
        // A line will never arrive on this stream: drop it (readers keep waiting on a dead stream,
        // which is why the cell is failed) and let process.stdin make a new one.
        this.destroy();
        if (e instanceof StdinNotImplementedError) this.failCell(error);
      },
    );
  }
}

export const STDIN_ALTERNATIVE =
  "In a notebook, ask for a line with `await input(prompt)` (or await readline/promises' question in the same cell)";

export interface StdinGlobalsOptions {
  request: RequestInput;
  /** Fails the running cell with an error (an awaiting cell ends with it at once). */
  failCell: (error: Error) => void;
  target?: Record<string, unknown>;
}

/** Installs input, prompt and a process.stdin that reads through input requests. */
export function installStdinGlobals(options: StdinGlobalsOptions): InputApi {
  const api = makeInputApi(options.request);
  const g = options.target ?? (globalThis as Record<string, unknown>);
  for (const [name, fn] of Object.entries(api)) {
    Object.defineProperty(g, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
  let stream: KernelStdin | undefined;
  Object.defineProperty(process, "stdin", {
    configurable: true,
    enumerable: true,
    get() {
      if (!stream || stream.destroyed) stream = new KernelStdin(options.request, options.failCell);
      return stream;
    },
  });
  return api;
}
