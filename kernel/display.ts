/**
 * The kernel's display adapter: turns values into Jupyter MIME bundles and gives cells
 * `display`, `updateDisplay` and `clearOutput`.
 *
 * ## Contract for library code (cnnlab's live plots, progress bars, ...)
 *
 * While a cnnlab kernel runs, it sets
 *
 * ```ts
 * globalThis[Symbol.for("cnnlab.kernel.display")] = {
 *   display(bundle, { displayId, update, metadata }),
 *   clearOutput(wait),
 * }
 * ```
 *
 * - `bundle` is a plain MIME bundle: `{ "text/plain": string, "text/html"?: string,
 *   "image/png"?: Uint8Array | base64 string, "application/json"?: object, ... }`.
 *   Bytes (`Uint8Array`/`Buffer`) are sent base64-encoded; JSON MIME types
 *   (`application/json`, `*+json`) are sent as JSON objects (a string value is parsed).
 * - `displayId` (optional string) tags the output so it can be replaced later.
 * - `update: true` sends `update_display_data` for `displayId` (replacing the earlier output in
 *   place) instead of a new `display_data`. `update` without `displayId` is an error.
 * - `metadata` (optional) is the output's metadata (e.g. `{ "image/png": { width: 200 } }`).
 * - `clearOutput(wait)` clears the current cell's output; with `wait = true` the front end clears
 *   it just before the next output arrives (flicker-free animation).
 *
 * The output belongs to the cell that is running (or that ran last). Calls are synchronous and
 * cheap: messages go to the kernel's socket thread at once, so a synchronous training loop can
 * update a chart while it runs. When the hook is absent (plain Node, tests), library code should
 * fall back to doing nothing or returning the bundle.
 *
 * Values display themselves through `[Symbol.for("Jupyter.display")]()` returning a MIME bundle
 * (Deno's convention); the kernel uses it for a cell's last value and for `display(obj)`.
 */
import { inspect } from "node:util";

export const KERNEL_DISPLAY_HOOK: unique symbol = Symbol.for("cnnlab.kernel.display") as any;
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as any;

export type MimeBundle = Record<string, unknown>;

export interface DisplayOptions {
  displayId?: string;
  update?: boolean;
  metadata?: Record<string, unknown>;
}

/** The object the kernel installs at `globalThis[Symbol.for("cnnlab.kernel.display")]`. */
export interface KernelDisplayHook {
  display(bundle: MimeBundle, options?: DisplayOptions): void;
  clearOutput(wait?: boolean): void;
}

/** A normalised bundle ready to be sent: bytes base64, JSON as objects, text as strings. */
export interface DisplayPayload {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

function isJsonMime(mime: string): boolean {
  return mime === "application/json" || mime.endsWith("+json");
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array || (ArrayBuffer.isView(v) && (v as any).BYTES_PER_ELEMENT === 1);
}

/** Normalise a MIME bundle's values for the wire. */
export function normalizeBundle(bundle: MimeBundle): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(bundle)) {
    if (value === undefined) continue;
    if (isBytes(value)) {
      out[mime] = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
    } else if (isJsonMime(mime)) {
      if (typeof value === "string") {
        try {
          out[mime] = JSON.parse(value);
        } catch {
          out[mime] = value;
        }
      } else {
        out[mime] = JSON.parse(JSON.stringify(value));
      }
    } else if (typeof value === "string") {
      out[mime] = value;
    } else {
      out[mime] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    }
  }
  return out;
}

/** True for a plain object whose keys all look like MIME types, e.g. `{ "text/html": "<b>" }`. */
export function isRawBundle(value: unknown): value is MimeBundle {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => /^[a-z]+\/[\w.+-]+$/i.test(k));
}

export function plainText(value: unknown): string {
  return inspect(value, { depth: 4, colors: false, maxArrayLength: 100, breakLength: 100 });
}

/** The display payload of any value: its Jupyter.display bundle, a raw bundle, or inspect text. */
export function toDisplay(value: unknown, metadata: Record<string, unknown> = {}): DisplayPayload {
  const fn =
    value !== null && (typeof value === "object" || typeof value === "function")
      ? (value as any)[JUPYTER_DISPLAY]
      : undefined;
  if (typeof fn === "function") {
    const result = fn.call(value);
    if (result && typeof result === "object") {
      const r = result as Record<string, unknown>;
      if (
        r.data &&
        typeof r.data === "object" &&
        Object.keys(r).every((k) => k === "data" || k === "metadata")
      ) {
        return {
          data: normalizeBundle(r.data as MimeBundle),
          metadata: { ...((r.metadata as object) ?? {}), ...metadata },
        };
      }
      const data = normalizeBundle(r);
      if (data["text/plain"] === undefined) data["text/plain"] = plainText(value);
      return { data, metadata };
    }
  }
  if (isRawBundle(value)) return { data: normalizeBundle(value), metadata };
  return { data: { "text/plain": plainText(value) }, metadata };
}

/** The display functions given to cells, built on a hook. */
export interface CellDisplayApi {
  display(obj: unknown, options?: { displayId?: string; metadata?: Record<string, unknown> }): void;
  updateDisplay(displayId: string, obj: unknown): void;
  clearOutput(options?: { wait?: boolean } | boolean): void;
}

/** Sink of display payloads, implemented by the kernel. */
export interface DisplaySink {
  displayData(payload: DisplayPayload, displayId: string | undefined, update: boolean): void;
  clearOutput(wait: boolean): void;
}

export function makeHook(sink: DisplaySink): KernelDisplayHook {
  return {
    display(bundle: MimeBundle, options: DisplayOptions = {}) {
      if (options.update && !options.displayId) throw new Error("display: update needs a displayId");
      sink.displayData(
        { data: normalizeBundle(bundle), metadata: options.metadata ?? {} },
        options.displayId,
        !!options.update,
      );
    },
    clearOutput(wait = false) {
      sink.clearOutput(wait);
    },
  };
}

export function makeCellDisplayApi(sink: DisplaySink): CellDisplayApi {
  return {
    display(obj, options = {}) {
      sink.displayData(toDisplay(obj, options.metadata), options.displayId, false);
    },
    updateDisplay(displayId, obj) {
      if (typeof displayId !== "string" || displayId === "")
        throw new Error("updateDisplay: displayId must be a non-empty string");
      sink.displayData(toDisplay(obj), displayId, true);
    },
    clearOutput(options = {}) {
      sink.clearOutput(typeof options === "boolean" ? options : !!options.wait);
    },
  };
}
