/**
 * Tracing: the first call of a compiled function runs eagerly with a recorder installed, which
 * writes down every unit the library runs at the top level (nested units belong to the one that
 * called them) and where each of its tensor arguments came from.
 */
import type { Node } from "../autograd/node.js";
import type { Recorder } from "../runtime/trace.js";
import { Storage, Tensor } from "../tensor/tensor.js";
import {
  containsTensor,
  forEachTensor,
  isPlainObject,
  type BackwardStep,
  type Ref,
  type Unit,
} from "./graph.js";

/** A read of tensor values inside a compiled function (a static graph cannot capture it). */
export class CaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaptureError";
  }
}

const LIBRARY_DIR = new URL("../", import.meta.url).pathname;

/** Where user code called into the library: a notebook cell's line if there is one, else the first non-library frame. */
export function callSite(stack: string | undefined): string | null {
  const frames = (stack ?? "").split("\n").slice(1);
  const cell = frames.map((f) => /(cell\[\d+\]):(\d+)(?::\d+)?/.exec(f)).find((m) => m !== null);
  if (cell) return `${cell[1]} line ${cell[2]}`;
  for (const f of frames) {
    const m = /\(?((?:file:\/\/)?[^\s()]+):(\d+):\d+\)?\s*$/.exec(f);
    if (!m) continue;
    const file = m[1].replace(/^file:\/\//, "");
    if (file.startsWith("node:") || file.startsWith(LIBRARY_DIR) || file.includes("/node_modules/")) continue;
    return `${file.split("/").slice(-2).join("/")} line ${m[2]}`;
  }
  return null;
}

function frameFile(frame: string): string | null {
  const m = /\(?((?:file:\/\/)?[^\s()]+):\d+:\d+\)?\s*$/.exec(frame);
  return m ? m[1].replace(/^file:\/\//, "") : null;
}

/** Whether the frame that called the tensor method (below the hooks) is the library's own code. */
function calledFromLibrary(stack: string | undefined): boolean {
  const frames = (stack ?? "").split("\n").slice(1);
  for (const f of frames) {
    const file = frameFile(f);
    if (file === null) continue;
    if (/\/(runtime\/trace|tensor\/tensor|compile\/trace)\.[jt]s$/.test(file)) continue;
    if (file.startsWith("node:")) continue;
    return file.startsWith(LIBRARY_DIR);
  }
  return false;
}

export interface ModuleLike {
  training: boolean;
  parameters(): Tensor[];
  typeName(): string;
}

export class TraceRecorder implements Recorder {
  readonly units: Unit[] = [];
  readonly backwardSteps: BackwardStep[] = [];
  readonly modules = new Set<ModuleLike>();
  readonly optimizers = new Set<{ state: Map<Tensor, Record<string, unknown>> }>();
  /** Every tensor seen in the trace and its ref. */
  readonly refs = new Map<Tensor, Ref>();
  private readonly storages = new Map<Storage, Ref>();
  private readonly nodeUnit = new Map<Node, number>();
  private depth = 0;
  private backwardUnit = -1;
  nextId = 0;

  constructor(
    private readonly fnName: string,
    args: readonly unknown[],
  ) {
    forEachTensor(args, (t, path) => {
      if (!this.refs.has(t)) this.refs.set(t, { kind: "input", path });
    });
  }

  unit<R>(kind: string, name: string, args: unknown[], run: (...args: any[]) => R, meta?: unknown): R {
    if (this.depth > 0) return run(...args);
    if (kind === "optimizer" && typeof args[0] === "function") {
      throw this.error(
        `${name}(closure) re-evaluates the loss in JavaScript, which a static graph cannot capture`,
        "call step() without a closure inside the compiled function",
      );
    }
    const index = this.units.length;
    const refArgs = args.map((a) => this.encode(a));
    if (kind === "backward") this.backwardUnit = index;
    this.depth++;
    let result: R;
    try {
      result = run(...args);
    } finally {
      this.depth--;
    }
    const outputs: Unit["outputs"] = [];
    const resultRef = this.encodeResult(result, outputs);
    if (kind === "op" && result instanceof Tensor && result.gradFn !== null) {
      if (!this.nodeUnit.has(result.gradFn)) this.nodeUnit.set(result.gradFn, index);
    }
    this.units.push({ index, kind, name, args: refArgs, run, result: resultRef, outputs, def: meta });
    return result;
  }

  note(kind: string, subject: unknown): void {
    if (kind === "module") this.modules.add(subject as ModuleLike);
    else if (kind === "optimizer-state") this.optimizers.add(subject as never);
    else if (kind === "node") {
      const node = subject as Node;
      const feeds: number[] = [];
      let toLeaf = false;
      for (const input of node.inputs) {
        if (input === null) continue;
        if (input.gradFn === null) toLeaf = true;
        else feeds.push(this.nodeUnit.get(input.gradFn) ?? -1);
      }
      this.backwardSteps.push({
        name: node.name,
        forward: this.nodeUnit.get(node) ?? -1,
        feeds,
        toLeaf,
        unit: this.backwardUnit,
      });
    }
  }

  read(what: string): void {
    if (this.depth > 0) return;
    // library code may read values outside a unit to check its arguments (a target's class range);
    // only a read that user code asks for is refused
    if (calledFromLibrary(new Error().stack)) return;
    throw this.error(
      `${what} reads a tensor's values in JavaScript, which a static graph cannot capture`,
      "return the tensor from the compiled function and read it outside, or leave this code uncompiled",
    );
  }

  private error(what: string, fix: string): CaptureError {
    const where = callSite(new Error().stack);
    return new CaptureError(
      `compile(${this.fnName}): ${what}${where ? ` (at ${where})` : ""}; ${fix}. ` +
        "Nothing was compiled; see the README's compile section.",
    );
  }

  /** The ref of an argument. */
  private encode(value: unknown): Ref {
    if (value instanceof Tensor) return this.tensorRef(value);
    if (Array.isArray(value) && containsTensor(value)) {
      return { kind: "array", items: value.map((v) => this.encode(v)) };
    }
    if (isPlainObject(value) && containsTensor(value)) {
      return { kind: "object", entries: Object.entries(value).map(([k, v]) => [k, this.encode(v)]) };
    }
    return { kind: "const", value };
  }

  /** The ref of a tensor the trace has not made itself: a .grad, a view of a known tensor, or state. */
  private tensorRef(t: Tensor): Ref {
    const known = this.refs.get(t);
    if (known) return known;
    for (const [k, r] of this.refs) {
      if (k.grad === t) return { kind: "grad", of: r };
    }
    const owner = this.storages.get(t.storage);
    const ref: Ref = owner
      ? { kind: "alias", of: owner, shape: t.shape, strides: t.strides, offset: t.offset }
      : { kind: "state", tensor: t };
    this.refs.set(t, ref);
    return ref;
  }

  private encodeResult(value: unknown, outputs: Unit["outputs"]): Ref {
    if (value instanceof Tensor) {
      const known = this.refs.get(value);
      if (known) return known;
      const ref: Ref = { kind: "value", id: this.nextId++ };
      this.refs.set(value, ref);
      if (!this.storages.has(value.storage)) this.storages.set(value.storage, ref);
      outputs.push({ id: ref.id, shape: value.shape, dtype: value.dtype, requiresGrad: value.requiresGrad });
      return ref;
    }
    if (Array.isArray(value) && containsTensor(value)) {
      return { kind: "array", items: value.map((v) => this.encodeResult(v, outputs)) };
    }
    return { kind: "const", value };
  }

  /** The ref of the compiled function's result (tensors, arrays and objects of them, numbers). */
  encodeOutput(value: unknown): Ref {
    return this.encode(value);
  }
}
