/**
 * Memory planning. A graph's second call is a replay that watches every array allocate() hands
 * out: when it is made and when it is last used (as a unit's argument or result, as a gradient a
 * backward node reads or returns, or, for what an op with a graph node saw, until that node's
 * backward ran). Arrays still reachable when the call ends (gradients of parameters, optimizer
 * state, results that keep a graph) are persistent. The plan packs the arrays into one arena:
 * arrays whose lifetimes do not overlap share bytes; each persistent array gets two slots used by
 * turns, so a replay can read the previous call's gradient while writing the new one. Later
 * replays take their arrays from the arena in the same order: no allocation per step. On the wasm
 * and native backends the arena is a region of WebAssembly memory that kernels' scratch never
 * uses, so their kernels work on its arrays in place (no copy in or out of WebAssembly memory); a
 * region is kept for the process's life (a graph planned again leaves its old one, since tensors
 * kept from earlier calls may still point there).
 */
import type { Node } from "../autograd/node.js";
import type { AllocationHook, Recorder } from "../runtime/trace.js";
import type { DType, TypedArray } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import { runtime, type WasmRuntime } from "../backend/wasm/runtime.js";
import { forEachTensor } from "./graph.js";

export interface BufferSlot {
  readonly dtype: DType;
  readonly length: number;
  readonly bytes: number;
  /** Time steps (units and backward nodes, in order) of the first and last use. */
  readonly born: number;
  readonly last: number;
  readonly persistent: boolean;
  /** Byte offsets in the arena (two for a persistent array). */
  readonly offsets: readonly number[];
  /** The position in the graph's units of the unit that allocated it. */
  readonly unit: number;
}

export interface MemoryReport {
  /** Bytes of the arena (what a replay uses for the arrays allocate() makes). */
  readonly arenaBytes: number;
  /** What one eager step allocates: the traced call's arrays (compile.ts; the planner's own count is `plannedBytes`). */
  readonly eagerAllocatedBytes: number;
  /** What a replay would allocate with no arena (every planned array once, nothing reused). */
  readonly plannedBytes: number;
  /** The most bytes of the replay's arrays alive at once, each dying right after its last use. */
  readonly peakLiveBytes: number;
  readonly persistentBytes: number;
  readonly buffers: number;
  readonly slots: readonly BufferSlot[];
}

interface Rec {
  dtype: DType;
  length: number;
  bytes: number;
  born: number;
  last: number;
  persistent: boolean;
  unit: number;
}

const ALIGN = 64;
/**
 * At most this many bytes of arenas (all graphs together) go into WebAssembly memory; later ones stay
 * in the JS heap (WebAssembly memory is limited to 4 GiB, and reserved regions are never given back).
 */
const WASM_ARENA_MAX = 1 << 30;

function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  return "bool";
}

/** Watches one replay (installed as recorder and allocation hook). */
export class Planner implements Recorder, AllocationHook {
  private time = 0;
  private unitIndex = -1;
  private readonly recs: Rec[] = [];
  private readonly byBuffer = new Map<ArrayBufferLike, Rec>();
  private readonly waiting = new Map<Node, Rec[]>();
  private bornInUnit: Rec[] = [];

  /** Graph nodes made inside the current unit by the ops it called. */
  private nodesInUnit: Node[] = [];

  unit<R>(_kind: string, _name: string, args: unknown[], run: (...args: any[]) => R): R {
    const result = run(...args);
    if (result instanceof Tensor && result.gradFn !== null) this.nodesInUnit.push(result.gradFn);
    return result;
  }

  note(kind: string, subject: unknown, seen: readonly unknown[]): void {
    if (kind === "node") {
      const recs = this.waiting.get(subject as Node);
      if (recs) {
        for (const r of recs) r.last = Math.max(r.last, this.time);
        this.waiting.delete(subject as Node);
      }
      for (const t of seen) if (t instanceof Tensor) this.touch(t);
      this.time++;
    } else if (kind === "grads") {
      for (const t of seen) if (t instanceof Tensor) this.touch(t);
      this.time++;
    } else if (kind === "optimizer-state") {
      for (const t of seen) if (t instanceof Tensor) this.touch(t);
    }
  }

  read(): void {}

  take(): unknown {
    return undefined;
  }

  made(array: unknown): void {
    const a = array as TypedArray;
    const rec: Rec = {
      dtype: dtypeOf(a),
      length: a.length,
      bytes: a.byteLength,
      born: this.time,
      last: this.time,
      persistent: false,
      unit: this.unitIndex,
    };
    this.recs.push(rec);
    this.byBuffer.set(a.buffer, rec);
    this.bornInUnit.push(rec);
  }

  private touch(t: Tensor): Rec | undefined {
    const rec = this.byBuffer.get(t.storage.data.buffer);
    if (rec) rec.last = Math.max(rec.last, this.time);
    return rec;
  }

  beginUnit(index: number): void {
    this.unitIndex = index;
    this.bornInUnit = [];
    this.nodesInUnit = [];
  }

  /** After a unit ran: its arguments and result were used now; an op's graph node keeps them. */
  endUnit(args: readonly unknown[], result: unknown): void {
    const used: Rec[] = [...this.bornInUnit];
    forEachTensor([args, result], (t) => {
      const r = this.touch(t);
      if (r) used.push(r);
    });
    // saved tensors live until the backward of every node the unit made has run
    const nodes = new Set(this.nodesInUnit);
    if (result instanceof Tensor && result.gradFn !== null) nodes.add(result.gradFn);
    for (const node of nodes) {
      const list = this.waiting.get(node) ?? [];
      list.push(...used);
      this.waiting.set(node, list);
    }
    this.time++;
  }

  /** The call ended: `reachable` tensors (parameters' gradients, optimizer state, outputs) stay alive. */
  finish(reachable: Iterable<Tensor>): MemoryReport {
    for (const t of reachable) {
      const r = this.byBuffer.get(t.storage.data.buffer);
      if (r) r.persistent = true;
    }
    for (const recs of this.waiting.values()) for (const r of recs) r.persistent = true;
    return pack(this.recs, this.time);
  }
}

/** First-fit packing, largest arrays first, of lifetimes into byte ranges. */
function pack(recs: readonly Rec[], end: number): MemoryReport {
  const placed: { from: number; to: number; start: number; size: number }[] = [];
  const offsets = new Map<Rec, number[]>();
  const order = [...recs].sort((a, b) => b.bytes - a.bytes);
  const place = (from: number, to: number, bytes: number): number => {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    const overlapping = placed.filter((p) => p.from <= to && from <= p.to).sort((a, b) => a.start - b.start);
    let start = 0;
    for (const p of overlapping) {
      if (start + size <= p.start) break;
      start = Math.max(start, p.start + p.size);
    }
    placed.push({ from, to, start, size });
    return start;
  };
  for (const r of order) {
    if (r.persistent) offsets.set(r, [place(0, end, r.bytes), place(0, end, r.bytes)]);
    else offsets.set(r, [place(r.born, r.last, r.bytes)]);
  }
  const arenaBytes = placed.reduce((m, p) => Math.max(m, p.start + p.size), 0);
  let peakLiveBytes = 0;
  for (let t = 0; t <= end; t++) {
    let live = 0;
    for (const r of recs) if (r.persistent || (r.born <= t && t <= r.last)) live += r.bytes;
    peakLiveBytes = Math.max(peakLiveBytes, live);
  }
  return {
    arenaBytes,
    eagerAllocatedBytes: recs.reduce((s, r) => s + r.bytes, 0),
    plannedBytes: recs.reduce((s, r) => s + r.bytes, 0),
    peakLiveBytes,
    persistentBytes: recs.filter((r) => r.persistent).reduce((s, r) => s + r.bytes, 0),
    buffers: recs.length,
    slots: recs.map((r) => ({ ...r, offsets: offsets.get(r) as number[] })),
  };
}

function view(buffer: ArrayBufferLike, dtype: DType, offset: number, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, offset, length);
    case "float64":
      return new Float64Array(buffer, offset, length);
    case "int32":
      return new Int32Array(buffer, offset, length);
    case "bool":
      return new Uint8Array(buffer, offset, length);
  }
}

let zeroBytes = new ArrayBuffer(0);
/** A zero-filled array of `a`'s type and length in the JS heap (views of one buffer, grown as needed). */
function zerosLike(a: TypedArray): TypedArray {
  if (zeroBytes.byteLength < a.byteLength) zeroBytes = new ArrayBuffer(a.byteLength);
  return view(zeroBytes, dtypeOf(a), 0, a.length);
}

/** Serves a replay's allocations from the arena, in the planned order. */
export class Arena implements AllocationHook {
  private readonly views: TypedArray[][];
  private next = 0;
  private parity = 0;
  /** Per slot that take() zeroes, zeros to copy in (see take). */
  private readonly zeros: (TypedArray | undefined)[] = [];
  /** Allocations of the current replay that matched the plan, and those that did not (made fresh). */
  served = 0;
  fresh = 0;

  /** The WebAssembly memory region the arena lives in, if it does (see the constructor). */
  private readonly region: { rt: WasmRuntime; offset: number } | null = null;

  /**
   * With `inWasm` and a WebAssembly runtime, the arena is a reserved region of WebAssembly memory:
   * the WebAssembly (and native) kernels then read and write its arrays where they are instead of
   * copying them in and out. Otherwise it is an ordinary ArrayBuffer.
   */
  constructor(
    readonly memory: MemoryReport,
    inWasm = false,
  ) {
    const rt = inWasm ? runtime() : null;
    let buffer: ArrayBufferLike;
    let base = 0;
    if (rt !== null && rt.reservedBytes + memory.arenaBytes <= WASM_ARENA_MAX) {
      const r = rt.reserve(memory.arenaBytes + ALIGN);
      buffer = r.buffer;
      base = r.offset;
      this.region = { rt, offset: r.offset };
    } else {
      // a little slack so that no slot spans the whole buffer (the engine never pools slices)
      buffer = new ArrayBuffer(memory.arenaBytes + ALIGN);
    }
    this.views = memory.slots.map((s) => s.offsets.map((o) => view(buffer, s.dtype, base + o, s.length)));
  }

  /** Whether the arena lives in WebAssembly memory. */
  get inWasm(): boolean {
    return this.region !== null;
  }

  begin(): void {
    this.next = 0;
    this.served = 0;
    this.fresh = 0;
    this.parity ^= 1;
  }

  take(dtype: string, length: number, zero: boolean): unknown {
    const i = this.next++;
    const slot = this.memory.slots[i];
    if (this.fresh > 0 || slot === undefined || slot.dtype !== dtype || slot.length !== length) {
      this.fresh++;
      return undefined;
    }
    const views = this.views[i];
    const a = views.length === 2 ? views[this.parity] : views[0];
    if (zero) {
      // fill() on shared (WebAssembly) memory takes about twice as long as copying zeros in
      if (this.region !== null) a.set((this.zeros[i] ??= zerosLike(a)));
      else a.fill(0);
    }
    this.served++;
    return a;
  }

  made(): void {}

  /** Whether the replay allocated exactly as planned. */
  get matched(): boolean {
    return this.fresh === 0 && this.next === this.memory.slots.length;
  }
}
