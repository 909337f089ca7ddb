/**
 * The built-in `tslab` module, so notebooks written for tslab (the TypeScript kernel) run
 * unchanged: `import * as tslab from "tslab"` gives tslab's public API (its src/public.ts as of
 * tslab 1.0.22), implemented on the kernel's display hook (display.ts):
 *
 * - `tslab.display.<kind>(value)`: one display_data whose bundle holds one MIME type (as tslab
 *   sends it, no text/plain): html, markdown, latex, svg, javascript, text take a string; png,
 *   jpeg, gif, pdf take bytes (sent base64; a string is taken as base64 already); `raw(mime, data)`
 *   any MIME type.
 * - `tslab.newDisplay()`: a display with its own display_id; its first call sends display_data,
 *   every later call update_display_data, so the output is replaced in place.
 * - `tslab.versions`: `{ tslab, typescript, node, cnnlab }`. `tslab` is not a tslab release: it is
 *   `1.0.22+cnnlab.<cnnlab version>`, the tslab API level this module implements, with semver
 *   build metadata saying who provides it.
 */
import { randomBytes } from "node:crypto";
// TypeScript is CommonJS: require() loads it without the ES module loader's scan of its 9 MB
// source for export names (seconds on a busy machine, and the first cell waits for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import ts = require("typescript");
import { KERNEL_DISPLAY_HOOK, type KernelDisplayHook } from "./display.js";
import { packageVersion } from "./paths.js";

/** The tslab release whose public API this module implements. */
export const TSLAB_API_LEVEL = "1.0.22";

export interface TslabVersions {
  tslab: string;
  typescript: string;
  node: string;
  cnnlab: string;
}

export interface TslabDisplay {
  javascript(s: string): void;
  html(s: string): void;
  markdown(s: string): void;
  latex(s: string): void;
  svg(s: string): void;
  png(b: Uint8Array): void;
  jpeg(b: Uint8Array): void;
  gif(b: Uint8Array): void;
  pdf(b: Uint8Array): void;
  text(s: string): void;
  raw(contentType: string, b: string | Uint8Array): void;
}

export interface TslabModule {
  versions: TslabVersions;
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

/** What the checker sees for `import ... from "tslab"`. */
export const TSLAB_DTS = `/** tslab's public API, provided by the cnnlab kernel (kernel/tslab-module.ts). */
export interface Versions {
  /** The tslab API level implemented, with build metadata: "${TSLAB_API_LEVEL}+cnnlab.<cnnlab version>". */
  tslab: string;
  typescript: string;
  node: string;
  /** The cnnlab version that provides this module. */
  cnnlab: string;
}
/** The version strings of the kernel and its dependencies. */
export declare const versions: Versions;
export interface Display {
  javascript(s: string): void;
  html(s: string): void;
  markdown(s: string): void;
  latex(s: string): void;
  svg(s: string): void;
  png(b: Uint8Array): void;
  jpeg(b: Uint8Array): void;
  gif(b: Uint8Array): void;
  pdf(b: Uint8Array): void;
  text(s: string): void;
  /** Display data of any MIME type; bytes are sent base64, a string as it is. */
  raw(contentType: string, b: string | Uint8Array): void;
}
/** Returns a new Display whose calls all show in, and overwrite, one output. */
export declare function newDisplay(): Display;
/** Display rich content (HTML, Markdown, LaTeX, SVG, images, PDF...) in the notebook. */
export declare const display: Display;
/** The module itself, for \`import tslab from "tslab"\` (tslab is a CommonJS module). */
declare const tslab: { versions: Versions; display: Display; newDisplay: typeof newDisplay };
export default tslab;
`;

function currentHook(): KernelDisplayHook {
  const hook = (globalThis as Record<PropertyKey, unknown>)[KERNEL_DISPLAY_HOOK] as
    KernelDisplayHook | undefined;
  if (!hook)
    throw new Error("tslab.display: no kernel display is installed (not running in a cnnlab kernel)");
  return hook;
}

class Display implements TslabDisplay {
  #shown = false;
  constructor(
    readonly id: string | undefined,
    readonly hook: () => KernelDisplayHook,
  ) {}
  javascript(s: string): void {
    this.raw("text/javascript", s);
  }
  html(s: string): void {
    this.raw("text/html", s);
  }
  markdown(s: string): void {
    this.raw("text/markdown", s);
  }
  latex(s: string): void {
    this.raw("text/latex", s);
  }
  svg(s: string): void {
    this.raw("image/svg+xml", s);
  }
  png(b: Uint8Array): void {
    this.raw("image/png", b);
  }
  jpeg(b: Uint8Array): void {
    this.raw("image/jpeg", b);
  }
  gif(b: Uint8Array): void {
    this.raw("image/gif", b);
  }
  pdf(b: Uint8Array): void {
    this.raw("application/pdf", b);
  }
  text(s: string): void {
    this.raw("text/plain", s);
  }
  raw(contentType: string, b: string | Uint8Array): void {
    if (typeof contentType !== "string" || !contentType.includes("/"))
      throw new TypeError(
        `tslab.display.raw: contentType must be a MIME type such as "text/html", got ${String(contentType)}`,
      );
    if (typeof b !== "string" && !(b instanceof Uint8Array))
      throw new TypeError(
        `tslab.display.raw(${contentType}): data must be a string or a Uint8Array, got ${typeof b}`,
      );
    const update = this.id !== undefined && this.#shown;
    this.hook().display({ [contentType]: b }, { displayId: this.id, update });
    if (this.id !== undefined) this.#shown = true;
  }
}

let shared: TslabModule | undefined;
/** The kernel's one tslab module: `import` and `require` of "tslab" both give this instance. */
export function tslabModule(): TslabModule {
  shared ??= makeTslabModule();
  return shared;
}

/** Builds a module (hook: where displays go; the kernel's display hook by default). */
export function makeTslabModule(hook: () => KernelDisplayHook = currentHook): TslabModule {
  const versions: TslabVersions = Object.freeze({
    tslab: `${TSLAB_API_LEVEL}+cnnlab.${packageVersion()}`,
    typescript: ts.version,
    node: process.version,
    cnnlab: packageVersion(),
  });
  const mod = {
    versions,
    display: new Display(undefined, hook),
    newDisplay: () => new Display(randomBytes(8).toString("hex"), hook),
  } satisfies TslabModule;
  // Default import of a CommonJS module (tslab's own form) is the module itself.
  Object.defineProperty(mod, "default", { value: mod, enumerable: false });
  return Object.freeze(mod);
}
