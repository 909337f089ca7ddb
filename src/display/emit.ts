/**
 * The one adapter between cnnlab's displays and whatever shows them. While a cnnlab kernel runs it
 * installs `globalThis[Symbol.for("cnnlab.kernel.display")]`; everything here goes through that
 * hook, or, when it is absent (plain Node, a terminal), to stdout as text. Nothing is written to
 * stderr. No other display file touches the global or the process streams.
 */

/** A MIME bundle: `{ "text/plain": string, "image/png": base64 string, "application/…+json": object }`. */
export type MimeBundle = Record<string, unknown>;

/** The symbol objects implement to display themselves (Deno's and cnnlab's convention). */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as any;

const KERNEL_HOOK = Symbol.for("cnnlab.kernel.display");

export interface EmitOptions {
  /** Tags the output so that a later `update: true` replaces it in place. */
  displayId?: string;
  /** Send update_display_data for `displayId` instead of a new output. */
  update?: boolean;
  metadata?: Record<string, unknown>;
}

interface KernelHook {
  display(bundle: MimeBundle, options?: EmitOptions): void;
  clearOutput(wait?: boolean): void;
}

function kernelHook(): KernelHook | null {
  const hook = (globalThis as any)[KERNEL_HOOK];
  return hook && typeof hook.display === "function" ? (hook as KernelHook) : null;
}

/** True when a kernel (or a test) has installed the display hook. */
export function hasDisplayHook(): boolean {
  return kernelHook() !== null;
}

/** Writes text to stdout (the terminal fallback). */
export function writeStdout(text: string): void {
  const proc = (globalThis as any).process;
  if (proc?.stdout?.write) proc.stdout.write(text);
}

/** Whether stdout is an interactive terminal (then progress lines are redrawn with `\r`). */
export function stdoutIsTTY(): boolean {
  return !!(globalThis as any).process?.stdout?.isTTY;
}

/** Shows a bundle: through the kernel when there is one, else its text/plain on stdout. */
export function emit(bundle: MimeBundle, options: EmitOptions = {}): void {
  const hook = kernelHook();
  if (hook) {
    hook.display(bundle, options);
    return;
  }
  const text = bundle["text/plain"];
  writeStdout((typeof text === "string" ? text : "") + "\n");
}

/** Clears the running cell's output (a no-op outside a kernel). */
export function clearOutput(wait = false): void {
  kernelHook()?.clearOutput(wait);
}

let displayCounter = 0;

/** A display id unique in this process. */
export function newDisplayId(prefix: string): string {
  displayCounter++;
  return `cnnlab-${prefix}-${Date.now().toString(36)}-${displayCounter}`;
}
