/**
 * The hooks through which `compile` (src/compile) watches the library run. The core calls these
 * functions at a few central places; with no recorder installed each is one null check.
 *
 * - `traced(kind, name, args, run)`: one replayable call (an op's apply, a backward pass, an
 *   optimizer step, a random tensor...). `run` must compute everything from `args`, so that a
 *   recorder can call it again later on other tensors.
 * - `traceNote(kind, subject, seen)`: something a recorder may want to know (a module's forward, a
 *   node run by the backward pass) but that is not replayed by itself.
 * - `traceRead(what)`: a read of a tensor's values in JavaScript (`.item()`, `.toArray()`, `.data`,
 *   printing); a static graph cannot capture it.
 * - `allocationHook`: lets a recorder watch and serve the typed arrays `allocate()` hands out.
 */
import { registerGlobalState } from "./state.js";

export interface Recorder {
  /** `meta`: what the caller knows about the unit (an op passes its definition). */
  unit<R>(kind: string, name: string, args: unknown[], run: (...args: any[]) => R, meta?: unknown): R;
  note(kind: string, subject: unknown, seen: readonly unknown[]): void;
  read(what: string): void;
}

export interface AllocationHook {
  /** An array to use instead of a fresh one (zero-filled when `zero`), or undefined. */
  take(dtype: string, length: number, zero: boolean): unknown;
  /** Called with every array allocate() hands out (served or fresh). */
  made(array: unknown): void;
}

let recorder: Recorder | null = null;
let allocation: AllocationHook | null = null;

registerGlobalState<[Recorder | null, AllocationHook | null]>({
  name: "runtime/trace: recorder and allocation hook",
  save: () => [recorder, allocation],
  restore: ([r, a]) => {
    recorder = r;
    allocation = a;
  },
});

/** Installs `r` (null: none); returns the previous recorder. */
export function setRecorder(r: Recorder | null): Recorder | null {
  const previous = recorder;
  recorder = r;
  return previous;
}

export function activeRecorder(): Recorder | null {
  return recorder;
}

/** Installs an allocation hook (null: none); returns the previous one. */
export function setAllocationHook(h: AllocationHook | null): AllocationHook | null {
  const previous = allocation;
  allocation = h;
  return previous;
}

export function allocationHook(): AllocationHook | null {
  return allocation;
}

export function traced<A extends unknown[], R>(
  kind: string,
  name: string,
  args: A,
  run: (...args: A) => R,
  meta?: unknown,
): R {
  return recorder === null ? run(...args) : recorder.unit(kind, name, args, run as (...a: any[]) => R, meta);
}

export function traceNote(kind: string, subject: unknown, seen: readonly unknown[] = []): void {
  if (recorder !== null) recorder.note(kind, subject, seen);
}

export function traceRead(what: string): void {
  if (recorder !== null) recorder.read(what);
}
