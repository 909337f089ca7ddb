/**
 * Grading mode (CNNLAB_GRADING=1): what the kernel freezes before any student cell runs, so that
 * one line of student code cannot subvert the tests that follow it.
 *
 * Protected:
 * - the JavaScript intrinsics tests and the kernel rely on: the namespaces (Math, JSON, Reflect,
 *   Atomics, Intl) and every built-in constructor with its static methods (Promise.race, Object.keys,
 *   Array.from, Number.isFinite, ...), Promise.prototype, and the `vm` and `assert` modules' exports;
 *   assignments to them are ignored (sloppy cells) or throw (strict code);
 * - the library's exports (F, nn, relError, ...): a locked cell reads them from the library itself,
 *   so a student's `globalThis.F = {...}` or `const relError = () => 0` (a declaration is allowed:
 *   honest code names its own `sum` or `data`) changes nothing for the tests; the kernel's display
 *   functions are not reassignable;
 * - names declared by locked cells (execute_request metadata `nbgrader.locked` or `cnnlab.locked`):
 *   not reassignable, and a later cell that declares one of them is refused before it runs;
 * - the kernel's cell runner: its runtime object is frozen and not replaceable, and it holds its
 *   own references to what it calls (setImmediate, vm.Script, Promise methods).
 * Not protected: the prototypes of built-ins (Object.prototype, Array.prototype, ...: freezing them
 * breaks ordinary code that assigns methods to its own objects), a student's own objects, and
 * anything reachable through process internals (the sandbox of the grader bounds that).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

const NAMESPACES = ["Math", "JSON", "Reflect", "Atomics", "Intl"] as const;
const CONSTRUCTORS = [
  "Object",
  "Function",
  "Array",
  "Number",
  "String",
  "Boolean",
  "Symbol",
  "BigInt",
  "Promise",
  "Date",
  "RegExp",
  "TypeError",
  "RangeError",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "DataView",
  "Float32Array",
  "Float64Array",
  "Int8Array",
  "Int16Array",
  "Int32Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Uint16Array",
  "Uint32Array",
  "Proxy",
] as const;

/** Freezes the intrinsics listed in the file comment (once; later calls do nothing). */
export function freezeIntrinsics(): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of [...NAMESPACES, ...CONSTRUCTORS]) {
    const value = g[name];
    if (value !== undefined && value !== null) Object.freeze(value);
    // The global binding itself: `Math = {...}` / `globalThis.Promise = X` must not take either.
    const d = Object.getOwnPropertyDescriptor(g, name);
    if (d?.configurable) Object.defineProperty(g, name, { value, writable: false, configurable: false });
  }
  Object.freeze(Promise.prototype);
  for (const mod of ["node:vm", "node:assert"]) {
    const exports = require(mod) as Record<string, unknown>;
    for (const v of Object.values(exports))
      if (typeof v === "function") {
        Object.freeze(v);
        if (v.prototype && typeof v.prototype === "object") Object.freeze(v.prototype);
      }
    Object.freeze(exports);
  }
}

/** Makes `names` on the global object permanent: same value, not writable, not configurable. */
export function lockGlobals(names: Iterable<string>): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(g, name);
    if (!d || !("value" in d)) continue;
    if (d.configurable) {
      Object.defineProperty(g, name, { value: d.value, writable: false, configurable: false });
    } else if (d.writable) {
      // `var` globals of earlier cells are not configurable, but writable can still be turned off.
      Object.defineProperty(g, name, { writable: false });
    }
  }
}

/**
 * Whether an execute_request's metadata marks its cell as locked: `cnnlab.locked`, or nbgrader's
 * `locked` (setup cells) or `grade` without `solution` (autograder tests). The grader passes each
 * cell's metadata with its execute_request.
 */
export function isLockedCell(metadata: Record<string, unknown> | undefined): boolean {
  const nb = metadata?.nbgrader as { locked?: unknown; grade?: unknown; solution?: unknown } | undefined;
  const own = metadata?.cnnlab as { locked?: unknown } | undefined;
  return own?.locked === true || nb?.locked === true || (nb?.grade === true && nb.solution !== true);
}
