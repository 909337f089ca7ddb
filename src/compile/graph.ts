/**
 * A traced graph: the units (op applies, backward passes, optimizer steps, random tensors, in-place
 * writes) that one call of a compiled function ran, in order, with where each argument comes from.
 */
import { Tensor } from "../tensor/tensor.js";
import type { MemoryReport } from "./plan.js";

/** Where a unit's argument (or the function's result) comes from at replay time. */
export type Ref =
  /** the tensor a unit produced (by value id) */
  | { kind: "value"; id: number }
  /** a tensor argument of the compiled function, by its path in the arguments */
  | { kind: "input"; path: readonly (string | number)[] }
  /** a tensor reached through the closure (a parameter, a buffer, a constant): the same object */
  | { kind: "state"; tensor: Tensor }
  /** the `.grad` of a tensor, read when the unit runs */
  | { kind: "grad"; of: Ref }
  /** a view made outside any unit (detach, ...) over the memory of another tensor */
  | { kind: "alias"; of: Ref; shape: readonly number[]; strides: readonly number[]; offset: number }
  | { kind: "const"; value: unknown }
  | { kind: "array"; items: Ref[] }
  | { kind: "object"; entries: [string, Ref][] };

export interface Unit {
  /** Position in the traced order (fusion keeps the numbers of the units it replaces). */
  readonly index: number;
  /** "op", "backward", "optimizer", "create", "inplace", or "fused" */
  readonly kind: string;
  readonly name: string;
  readonly args: Ref[];
  readonly run: (...args: any[]) => unknown;
  /** The unit's result: value ids for the tensors it produced, refs for those it passed through. */
  readonly result: Ref;
  /** Shapes and dtypes of the tensors in the result (for display). */
  readonly outputs: { id: number; shape: readonly number[]; dtype: string; requiresGrad?: boolean }[];
  /** The units whose fused kernel this unit runs (fused units only). */
  readonly fusedFrom?: readonly string[];
  /** An op's definition (what fusion builds on). */
  readonly def?: unknown;
}

/** A backward node the engine ran inside a backward unit (for display). */
export interface BackwardStep {
  readonly name: string;
  /** The traced forward unit whose node it is (its `index`). */
  readonly forward: number;
  /** The traced forward units whose nodes it sends gradients to. */
  readonly feeds: readonly number[];
  /** Whether it sends a gradient to a leaf (a parameter or an input). */
  readonly toLeaf: boolean;
  /** The backward unit it ran in. */
  readonly unit: number;
}

export interface GraphInfo {
  /** The signature this graph was traced for, e.g. "x: [64,3,32,32] float32, grad on". */
  readonly signature: string;
  /** The units a replay runs (after fusion). */
  readonly units: readonly Unit[];
  /** The units as traced (before fusion). */
  readonly tracedUnits: readonly Unit[];
  readonly backwardSteps: readonly BackwardStep[];
  /** Memory of the planned replay (null until the graph has been planned, at its second call). */
  readonly memory: MemoryReport | null;
  /** How many times it was replayed. */
  readonly replays: number;
}

/** Walks a value of the user's world (arguments or results) and calls `f` on each tensor with its path. */
export function forEachTensor(
  value: unknown,
  f: (t: Tensor, path: (string | number)[]) => void,
  path: (string | number)[] = [],
  depth = 0,
): void {
  if (value instanceof Tensor) f(value, path);
  else if (depth > 4 || value === null || typeof value !== "object") return;
  else if (Array.isArray(value)) value.forEach((v, i) => forEachTensor(v, f, [...path, i], depth + 1));
  else if (isPlainObject(value))
    for (const [k, v] of Object.entries(value)) forEachTensor(v, f, [...path, k], depth + 1);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function containsTensor(value: unknown, depth = 0): boolean {
  if (value instanceof Tensor) return true;
  if (depth > 4 || value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => containsTensor(v, depth + 1));
  if (isPlainObject(value)) return Object.values(value).some((v) => containsTensor(v, depth + 1));
  return false;
}

/** The value a ref stands for, given the replay's values and the call's arguments. */
export function resolve(
  ref: Ref,
  values: readonly (Tensor | undefined)[],
  args: readonly unknown[],
): unknown {
  switch (ref.kind) {
    case "value": {
      const t = values[ref.id];
      if (t === undefined)
        throw new Error(`compile: internal error, value ${ref.id} used before it was made`);
      return t;
    }
    case "input": {
      let v: any = args;
      for (const key of ref.path) v = v?.[key];
      return v;
    }
    case "state":
      return ref.tensor;
    case "grad": {
      const of = resolve(ref.of, values, args) as Tensor;
      return of.grad;
    }
    case "alias": {
      const of = resolve(ref.of, values, args) as Tensor;
      return new Tensor(of.storage, ref.shape, ref.strides, ref.offset, of.dtype);
    }
    case "const":
      return ref.value;
    case "array":
      return ref.items.map((r) => resolve(r, values, args));
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, r] of ref.entries) out[k] = resolve(r, values, args);
      return out;
    }
  }
}

/** Binds the tensors of a unit's replay result to the value ids its trace recorded. */
export function bind(ref: Ref, result: unknown, values: (Tensor | undefined)[]): void {
  if (ref.kind === "value") {
    if (!(result instanceof Tensor)) {
      throw new Error(`compile: the replay produced ${typeof result} where the trace produced a tensor`);
    }
    values[ref.id] = result;
  } else if (ref.kind === "array" && Array.isArray(result)) {
    ref.items.forEach((r, i) => bind(r, result[i], values));
  } else if (ref.kind === "object" && result !== null && typeof result === "object") {
    for (const [k, r] of ref.entries) bind(r, (result as Record<string, unknown>)[k], values);
  }
}
