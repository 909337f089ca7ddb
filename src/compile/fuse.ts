/**
 * Fusion: rewrites of a traced graph that compute the same numbers with fewer passes over memory.
 * The backward follows by itself, since a replay's ops build their own graph nodes.
 *
 * - maxPool2d runs the same kernels on the arena's arrays where they are (pool.ts, in-place.ts).
 * - ReLU whose only use is a max-pool with windows that tile its input becomes part of the pool:
 *   applied to each value the pool reads, never stored; the backward writes the input gradient in
 *   one pass (pool.ts). This comes before the conv/linear epilogue below, which it saves more than.
 * - ReLU after a linear or conv2d op (through a reshape) becomes the op's epilogue: applied in
 *   place to the op's output, its backward masks the incoming gradient with that output before the
 *   op's own backward runs.
 * - optimizer.step() runs its update of every parameter of a group in one kernel call (sgdUpdate,
 *   adamUpdate: the per-parameter arithmetic, bit for bit), zeroGrad() in one loop without an op
 *   per gradient. RMSprop and Adagrad keep their per-parameter updates.
 * - A chain of unary elementwise ops (tanh, exp, neg, sigmoid, ...) whose result needs no gradient
 *   runs as one loop (each step rounded to float32 as the separate ops store it).
 */
import { defineOp, type AppliedFunction, type FunctionDef } from "../autograd/function.js";
import { isFloatArray, reluBackward as jsReluBackward, reluForward } from "../backend/js/activation.js";
import { relu, reluBackward } from "./in-place.js";
import { allocate, allocateForOverwrite } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import { pointwiseOf } from "../ops/elementwise.js";
import { contiguousData } from "../ops/util.js";
import type { FusedMeta } from "../optim/optimizer.js";
import type { Ref, Unit } from "./graph.js";
import { MaxPoolInPlace, ReluMaxPoolInPlace } from "./pool.js";
import { windowsTile } from "../backend/js/pool.js";
import type { Window2d } from "../backend/backend.js";

/** Ops whose backward reads only their inputs, so their output may be changed in place. */
const EPILOGUE_OPS = new Set(["linear", "conv2d"]);

const epilogues = new WeakMap<FunctionDef<any[]>, AppliedFunction<any[]>>();

/** `def` followed by ReLU in place on its output. */
function withReluEpilogue(def: FunctionDef<any[]>): AppliedFunction<any[]> {
  let op = epilogues.get(def);
  if (op) return op;
  op = defineOp<any[], { reluOutput: Tensor }>({
    name: `${def.name}+relu`,
    forward(ctx, ...args) {
      const out = def.forward(ctx, ...args);
      const d = out.data;
      if (isFloatArray(d)) relu(d, d);
      else reluForward(d, d);
      ctx.reluOutput = out;
      return out;
    },
    backward(ctx, g) {
      const y = ctx.reluOutput;
      const masked = allocateForOverwrite(g.dtype, g.numel());
      const gd = contiguousData(g);
      const yd = contiguousData(y);
      if (isFloatArray(gd) && isFloatArray(yd) && isFloatArray(masked)) reluBackward(gd, yd, masked);
      else jsReluBackward(gd, yd, masked);
      return def.backward(ctx, Tensor.fromData(masked, g.shape));
    },
  });
  epilogues.set(def, op);
  return op;
}

function countUses(ref: Ref, uses: Map<number, number>): void {
  switch (ref.kind) {
    case "value":
      uses.set(ref.id, (uses.get(ref.id) ?? 0) + 1);
      return;
    case "grad":
    case "alias":
      countUses(ref.of, uses);
      return;
    case "array":
      ref.items.forEach((r) => countUses(r, uses));
      return;
    case "object":
      ref.entries.forEach(([, r]) => countUses(r, uses));
      return;
    default:
      return;
  }
}

const identity = (t: Tensor): Tensor => t;

/** One loop over a contiguous float input applying `fs` in order, as the separate ops would. */
function pointwiseChain(fs: readonly ((v: number) => number)[], steps: readonly Unit[]) {
  return (x: Tensor): Tensor => {
    if (!x.isContiguous() || (x.dtype !== "float32" && x.dtype !== "float64")) {
      // the separate ops (their kernels handle strides and other dtypes)
      return steps.reduce((t, u) => u.run(t) as Tensor, x);
    }
    const d = x.data;
    const out = allocate(x.dtype, d.length);
    const k = fs.length;
    if (x.dtype === "float32") {
      for (let i = 0; i < d.length; i++) {
        let v = d[i];
        for (let j = 0; j < k; j++) v = Math.fround(fs[j](v));
        out[i] = v;
      }
    } else {
      for (let i = 0; i < d.length; i++) {
        let v = d[i];
        for (let j = 0; j < k; j++) v = fs[j](v);
        out[i] = v;
      }
    }
    return Tensor.fromData(out, x.shape);
  };
}

/** What an optimizer unit offers to run fused (see Optimizer.step / zeroGrad), if anything. */
function fusedMetaOf(u: Unit): FusedMeta["fused"] | null {
  if (u.kind !== "optimizer" || u.def === null || typeof u.def !== "object") return null;
  const f = (u.def as Partial<FusedMeta>).fused;
  return f && typeof f.run === "function" ? f : null;
}

function valueId(ref: Ref | undefined): number | null {
  return ref !== undefined && ref.kind === "value" ? ref.id : null;
}

/** Whether `ref` is a tensor the graph made, or a view of one (not a parameter, input or gradient). */
function madeInGraph(ref: Ref | undefined): boolean {
  return ref?.kind === "value" || (ref?.kind === "alias" && madeInGraph(ref.of));
}

/**
 * The maxPool2d unit that ReLU's result `reluId` feeds, if the two can run as one op: the pool is
 * the result's only use, its windows tile its input, and no unit changes a tensor the graph made in
 * place (the fused backward reads the pool's output, maybe through a view, where ReLU's backward
 * would read ReLU's input).
 */
function poolAfterRelu(units: readonly Unit[], reluId: number): Unit | null {
  const pool = units.find((v) => v.kind === "op" && v.name === "maxPool2d" && valueId(v.args[0]) === reluId);
  const win = pool?.args[1];
  if (!pool || win?.kind !== "const" || !windowsTile(win.value as Window2d)) return null;
  const changed = units.some((v) => v.kind === "inplace" && madeInGraph(v.args[0]));
  return changed ? null : pool;
}

/** The fused graph and its value count (fusion adds values). */
export function fuse(
  units: readonly Unit[],
  output: Ref,
  valueCount: number,
): { units: Unit[]; valueCount: number } {
  const uses = new Map<number, number>();
  for (const u of units) u.args.forEach((r) => countUses(r, uses));
  countUses(output, uses);
  const usedOnce = (id: number | null) => id !== null && uses.get(id) === 1;
  const out: Unit[] = [];
  const producer = new Map<number, Unit>();
  /** The original units behind each fused elementwise chain. */
  const chains = new Map<Unit, Unit[]>();
  const next = valueCount;
  const push = (u: Unit) => {
    out.push(u);
    const id = valueId(u.result);
    if (id !== null) producer.set(id, u);
  };
  /** maxPool2d units that take ReLU into their kernel. */
  const poolsWithRelu = new Set<Unit>();
  for (const u of units) {
    const input = valueId(u.args[0]);
    const from = input === null ? undefined : producer.get(input);
    // relu → maxPool2d (windows tiling the input)  ⇒  one op, ReLU applied as the pool reads
    const reluId = u.kind === "op" && u.name === "relu" ? valueId(u.result) : null;
    const pool = reluId !== null && usedOnce(reluId) ? poolAfterRelu(units, reluId) : null;
    if (pool) {
      poolsWithRelu.add(pool);
      push({
        ...u,
        kind: "fused",
        name: "relu (in the max-pool)",
        run: identity,
        fusedFrom: ["relu", "maxPool2d"],
      });
      continue;
    }
    if (poolsWithRelu.has(u)) {
      push({
        ...u,
        kind: "fused",
        name: "relu+maxPool2d",
        run: (...a: unknown[]) =>
          ReluMaxPoolInPlace.apply(...(a as Parameters<typeof ReluMaxPoolInPlace.apply>)),
        fusedFrom: ["relu", "maxPool2d"],
      });
      continue;
    }
    // maxPool2d: the same op on the kernels that work in WebAssembly memory in place (pool.ts)
    if (u.kind === "op" && u.name === "maxPool2d") {
      push({
        ...u,
        kind: "fused",
        name: "maxPool2d (in place)",
        run: (...a: unknown[]) => MaxPoolInPlace.apply(...(a as Parameters<typeof MaxPoolInPlace.apply>)),
        fusedFrom: ["maxPool2d"],
      });
      continue;
    }
    // linear/conv2d [→ reshape] → relu  ⇒  linear/conv2d with a ReLU epilogue
    if (u.kind === "op" && u.name === "relu" && usedOnce(input) && from) {
      let producerUnit: Unit | undefined = from;
      if (from.kind === "op" && from.name === "reshape") {
        const z = valueId(from.args[0]);
        producerUnit = usedOnce(z) ? producer.get(z as number) : undefined;
      }
      if (producerUnit?.kind === "op" && EPILOGUE_OPS.has(producerUnit.name) && producerUnit.def) {
        const op = withReluEpilogue(producerUnit.def as FunctionDef<any[]>);
        const fusedFrom = [producerUnit.name, "relu"];
        out[out.indexOf(producerUnit)] = {
          ...producerUnit,
          kind: "fused",
          name: `${producerUnit.name}+relu`,
          run: (...a: unknown[]) => op.apply(...a),
          fusedFrom,
        };
        push({ ...u, kind: "fused", name: "relu (in the epilogue)", run: identity, fusedFrom });
        continue;
      }
    }
    // optimizer.step() / zeroGrad(): one kernel call over all parameters (per group)
    const fusedUpdate = fusedMetaOf(u);
    if (fusedUpdate) {
      const count = fusedUpdate.count();
      const fusedFrom = [`${count} per-parameter ${u.name.endsWith(".zeroGrad") ? "clears" : "updates"}`];
      push({
        ...u,
        name: `${u.name} (one ${fusedUpdate.kernel} over ${count} parameters)`,
        run: fusedUpdate.run,
        fusedFrom,
      });
      continue;
    }
    // unary elementwise op after unary elementwise op(s), no gradient needed: one loop
    const f = pointwiseOf(u.def);
    if (u.kind === "op" && f && from && usedOnce(input) && u.outputs[0]?.requiresGrad === false) {
      const chain = chains.get(from) ?? (pointwiseOf(from.def) && from.kind === "op" ? [from] : null);
      if (chain && chain.every((c) => c.outputs[0]?.requiresGrad === false)) {
        const steps = [...chain, u];
        const fs = steps.map((c) => pointwiseOf(c.def) as (v: number) => number);
        const names = steps.map((c) => c.name);
        const fused: Unit = {
          ...steps[0],
          kind: "fused",
          name: names.join("→"),
          run: pointwiseChain(fs, steps),
          result: u.result,
          outputs: u.outputs,
          fusedFrom: names,
        };
        out[out.indexOf(from)] = fused;
        chains.set(fused, steps);
        const id = valueId(u.result);
        if (id !== null) producer.set(id, fused);
        continue;
      }
    }
    push(u);
  }
  return { units: out, valueCount: next };
}
