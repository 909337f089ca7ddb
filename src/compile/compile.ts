/**
 * `compile(fn)`: the static-graph half of the CS231n notes' "static vs dynamic" section. The first
 * call with a given signature runs `fn` eagerly and records its graph (forward, the backward that
 * `loss.backward()` asks for, the optimizer's update); later calls with that signature replay the
 * recorded units without running `fn`'s JavaScript, the second one planning memory and the rest
 * taking every array from one arena.
 */
import { isGradEnabled } from "../autograd/grad-mode.js";
import { backend } from "../backend/index.js";
import { activeRecorder, setAllocationHook, setRecorder } from "../runtime/trace.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import {
  bind,
  forEachTensor,
  resolve,
  type GraphInfo,
  type Ref,
  type Unit,
  type BackwardStep,
} from "./graph.js";
import { fuse } from "./fuse.js";
import { Arena, Planner, type MemoryReport } from "./plan.js";
import { TraceRecorder, type ModuleLike } from "./trace.js";

export interface CompileOptions {
  /** Name in messages and displays (default: the function's name). */
  name?: string;
  /** How many signatures may be traced before a new one is refused (default 8). */
  maxSignatures?: number;
  /** Plan memory and replay from one arena (default true). */
  arena?: boolean;
  /** Fuse ops where it pays (default true; see fuse.ts). */
  fuse?: boolean;
}

export interface CompiledGraph extends GraphInfo {
  /** What the last replay took from the arena, and what it had to allocate outside it. */
  readonly lastReplay: { served: number; fresh: number } | null;
  /** Whether the arena is a region of WebAssembly memory (wasm and native backends: kernels need no copies). */
  readonly arenaInWasm: boolean;
}

export type CompiledFunction<F extends (...args: any[]) => any> = ((
  ...args: Parameters<F>
) => ReturnType<F>) & {
  readonly compiledName: string;
  /** The signatures traced so far, in order. */
  readonly signatures: readonly string[];
  /** The graph of signature i. */
  graph(i?: number): CompiledGraph;
  readonly maxSignatures: number;
};

interface Guard {
  module: ModuleLike;
  training: boolean;
  params: Tensor[];
}

interface Entry {
  key: string;
  signature: string;
  units: Unit[];
  tracedUnits: Unit[];
  backwardSteps: BackwardStep[];
  output: Ref;
  valueCount: number;
  guards: Guard[];
  /** Tensors whose .grad (and optimizer state) outlive a call. */
  known: Tensor[];
  optimizers: TraceRecorder["optimizers"];
  replays: number;
  memory: MemoryReport | null;
  arena: Arena | null;
  replans: number;
  lastReplay: { served: number; fresh: number } | null;
  /** Bytes the traced call (an eager step) allocated. */
  eagerBytes: number;
}

/** A key for the arguments: tensors by shape, dtype and requiresGrad, other values by value. */
function describe(value: unknown, depth = 0): string {
  if (value instanceof Tensor) {
    return `${shapeToString(value.shape)} ${value.dtype}${value.requiresGrad ? " requiresGrad" : ""}`;
  }
  if (value === null || value === undefined) return String(value);
  if (typeof value === "function") return "function";
  if (typeof value !== "object") return JSON.stringify(value);
  if (depth > 4) return "...";
  if (Array.isArray(value)) return `[${value.map((v) => describe(v, depth + 1)).join(", ")}]`;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return `<${proto?.constructor?.name ?? "object"}>`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${k}: ${describe(v, depth + 1)}`)
    .join(", ")}}`;
}

function signatureOf(args: readonly unknown[], fnParams: readonly string[]): string {
  const parts = args.map((a, i) => `${fnParams[i] ?? `arg${i}`}: ${describe(a)}`);
  parts.push(`grad ${isGradEnabled() ? "on" : "off"}`);
  return parts.join(", ");
}

/** Parameter names of a function, for readable signatures. */
function parameterNames(fn: (...args: any[]) => unknown): string[] {
  const src = Function.prototype.toString.call(fn);
  const m = /^[^(]*\(([^)]*)\)/.exec(src) ?? /^\s*(?:async\s*)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (!m) return [];
  return m[1]
    .split(",")
    .map((p) =>
      p
        .trim()
        .replace(/[:=].*$/s, "")
        .trim(),
    )
    .filter((p) => /^[A-Za-z_$][\w$]*$/.test(p));
}

function guardsHold(guards: readonly Guard[]): boolean {
  for (const g of guards) {
    if (g.module.training !== g.training) return false;
    const now = g.module.parameters();
    if (now.length !== g.params.length) return false;
    for (let i = 0; i < now.length; i++) if (now[i] !== g.params[i]) return false;
  }
  return true;
}

function describeGuards(guards: readonly Guard[]): string {
  const modes = guards.filter((g, i) => i === 0 || g.training !== guards[0].training);
  return modes.map((g) => `${g.module.typeName()} ${g.training ? "train" : "eval"}`).join(", ");
}

/** A copy of a replay's result tensor in fresh memory (the arena is reused by the next call). */
function detachOutput(t: Tensor): Tensor {
  if (t.gradFn !== null) return t;
  return Tensor.fromData(t.contiguous().data.slice(), t.shape);
}

function copyOutputs(value: unknown, ref: Ref): unknown {
  if (value instanceof Tensor)
    return ref.kind === "value" || ref.kind === "alias" ? detachOutput(value) : value;
  if (ref.kind === "array" && Array.isArray(value)) return value.map((v, i) => copyOutputs(v, ref.items[i]));
  if (ref.kind === "object" && value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, r] of ref.entries) out[k] = copyOutputs((value as Record<string, unknown>)[k], r);
    return out;
  }
  return value;
}

/**
 * Compiles `fn` into a function with the same signature that traces once per signature and then
 * replays a planned static graph. See the README's compile section for what can be captured.
 */
export function compile<F extends (...args: any[]) => any>(
  fn: F,
  options: CompileOptions = {},
): CompiledFunction<F> {
  if (typeof fn !== "function") throw new TypeError(`compile: expected a function, got ${typeof fn}`);
  const name = options.name ?? (fn.name || "fn");
  const maxSignatures = options.maxSignatures ?? 8;
  if (!Number.isInteger(maxSignatures) || maxSignatures < 1) {
    throw new RangeError(`compile(${name}): maxSignatures must be a positive integer, got ${maxSignatures}`);
  }
  const useArena = options.arena ?? true;
  const useFusion = options.fuse ?? true;
  const paramNames = parameterNames(fn);
  const entries: Entry[] = [];

  const trace = (args: unknown[], key: string, signature: string): unknown => {
    if (entries.length >= maxSignatures) {
      throw new Error(
        `compile(${name}): a new signature (${signature}) would be number ${entries.length + 1}, but maxSignatures is ${maxSignatures}; ` +
          `traced so far: ${entries.map((e) => `(${e.signature})`).join("; ")}. ` +
          "Keep shapes fixed (e.g. drop or pad the last batch) or raise maxSignatures.",
      );
    }
    const recorder = new TraceRecorder(name, args);
    const previous = setRecorder(recorder);
    // what the eager (traced) call allocates, for the memory report
    let eagerBytes = 0;
    const previousHook = setAllocationHook({
      take: () => undefined,
      made: (a) => {
        eagerBytes += (a as ArrayBufferView).byteLength;
      },
    });
    let result: unknown;
    try {
      result = fn(...args);
    } finally {
      setRecorder(previous);
      setAllocationHook(previousHook);
    }
    if (result instanceof Promise) {
      throw new Error(
        `compile(${name}): the function returned a promise; compile synchronous functions only`,
      );
    }
    const known = [...recorder.refs.entries()]
      .filter(([, r]) => r.kind === "state" || r.kind === "input")
      .map(([t]) => t);
    const guards = [...recorder.modules].map((m) => ({
      module: m,
      training: m.training,
      params: m.parameters(),
    }));
    const guardText = describeGuards(guards);
    const output = recorder.encodeOutput(result);
    const graph = useFusion
      ? fuse(recorder.units, output, recorder.nextId)
      : { units: recorder.units, valueCount: recorder.nextId };
    entries.push({
      key,
      signature: guardText ? `${signature}, ${guardText}` : signature,
      units: graph.units,
      tracedUnits: recorder.units,
      backwardSteps: recorder.backwardSteps,
      output,
      valueCount: graph.valueCount,
      guards,
      known,
      optimizers: recorder.optimizers,
      replays: 0,
      memory: null,
      arena: null,
      replans: 0,
      lastReplay: null,
      eagerBytes,
    });
    return result;
  };

  const replay = (entry: Entry, args: unknown[]): unknown => {
    const planning = useArena && entry.arena === null && entry.replans < 3 ? new Planner() : null;
    const arena = planning ? null : entry.arena;
    arena?.begin();
    const previousRecorder = setRecorder(planning);
    const previousHook = setAllocationHook(planning ?? arena);
    const values: (Tensor | undefined)[] = new Array(entry.valueCount);
    let result: unknown;
    try {
      for (let i = 0; i < entry.units.length; i++) {
        const u = entry.units[i];
        planning?.beginUnit(i);
        const a = u.args.map((r) => resolve(r, values, args));
        const out = u.run(...a);
        bind(u.result, out, values);
        planning?.endUnit(a, out);
      }
      result = resolve(entry.output, values, args);
    } finally {
      setRecorder(previousRecorder);
      setAllocationHook(previousHook);
    }
    entry.replays++;
    if (planning) {
      const reachable: Tensor[] = [];
      for (const t of entry.known) if (t.grad) reachable.push(t.grad);
      forEachTensor(args, (t) => {
        if (t.grad) reachable.push(t.grad);
      });
      for (const o of entry.optimizers)
        for (const s of o.state.values())
          for (const v of Object.values(s)) if (v instanceof Tensor) reachable.push(v);
      forEachTensor(result, (t) => {
        if (t.gradFn !== null) reachable.push(t);
      });
      entry.memory = { ...planning.finish(reachable), eagerAllocatedBytes: entry.eagerBytes };
      // on the wasm and native backends, in WebAssembly memory (kernels then need no copies)
      entry.arena = new Arena(entry.memory, backend().name !== "js");
    } else if (arena) {
      entry.lastReplay = { served: arena.served, fresh: arena.fresh };
      if (!arena.matched) {
        // the replay allocated differently from the plan: plan again at the next call
        entry.arena = null;
        entry.replans++;
      }
    }
    return copyOutputs(result, entry.output);
  };

  const compiled = (...args: unknown[]): unknown => {
    // called while another compiled function traces: its ops belong to that trace
    if (activeRecorder() instanceof TraceRecorder) return fn(...args);
    const key = signatureOf(args, paramNames);
    const entry = entries.find((e) => e.key === key && guardsHold(e.guards));
    if (entry === undefined) return trace(args, key, key);
    return replay(entry, args);
  };

  const graphInfo = (i = 0): CompiledGraph => {
    const e = entries[i];
    if (e === undefined) {
      throw new RangeError(
        `compile(${name}).graph: no signature ${i}; ${entries.length} traced so far (call the function first)`,
      );
    }
    return {
      signature: e.signature,
      units: e.units,
      tracedUnits: e.tracedUnits,
      backwardSteps: e.backwardSteps,
      memory: e.memory,
      replays: e.replays,
      lastReplay: e.lastReplay,
      arenaInWasm: e.arena?.inWasm ?? false,
    };
  };

  Object.defineProperties(compiled, {
    compiledName: { value: name },
    signatures: { get: () => entries.map((e) => e.signature) },
    graph: { value: graphInfo },
    maxSignatures: { value: maxSignatures },
  });
  return compiled as unknown as CompiledFunction<F>;
}
