import { activeRecorder, traced } from "../runtime/trace.js";
import { Tensor } from "../tensor/tensor.js";
import { isFloating } from "../tensor/dtype.js";
import { isGradEnabled, withGradMode } from "./grad-mode.js";
import { Context, Node, recordedNodes, type BackwardFn, type Ctx, type OpContext } from "./node.js";
import { registerGlobalState } from "../runtime/state.js";

export { Context, type Ctx } from "./node.js";

/**
 * A differentiable operation, PyTorch `torch.autograd.Function` style: `forward` computes the
 * result (with autograd off) and saves what `backward` needs through `ctx.saveForBackward`;
 * `backward` returns one gradient per forward argument, `null` where there is none. `C` is the
 * context's type: `Context` (any field) for user functions, `Ctx<S>` for cnnlab's ops.
 */
export interface FunctionDef<Args extends unknown[], C extends OpContext = Context> {
  name: string;
  /** The graph node's name when it is not `name` capitalised + "Backward" (PyTorch's, e.g. "ConvolutionBackward"). */
  nodeName?: string;
  forward(ctx: C, ...args: Args): Tensor;
  backward(ctx: C, gradOutput: Tensor): readonly (Tensor | null | undefined)[];
}

export interface AppliedFunction<Args extends unknown[]> {
  readonly name: string;
  apply(...args: Args): Tensor;
}

export function defineFunction<Args extends unknown[], C extends OpContext = Context>(
  def: FunctionDef<Args, C>,
): AppliedFunction<Args> {
  const nodeName = def.nodeName ?? `${def.name[0].toUpperCase()}${def.name.slice(1)}Backward`;
  return {
    name: def.name,
    apply(...args: Args): Tensor {
      return applyFunction(def, nodeName, args);
    },
  };
}

const opBackwards = new WeakSet<BackwardFn>();

/** The gradient the op backward running now was handed to overwrite (see mayOverwriteGradient). */
let donatedGradient: Tensor | null = null;

// A backward cut short by an interrupt leaves its donation behind (termination skips the engine's
// finally); between cells there is none.
registerGlobalState<null>({
  name: "autograd/function: donatedGradient",
  save: () => null,
  restore: () => {
    donatedGradient = null;
  },
});

/**
 * Whether the op backward running now may write its result into the buffer of `g`, the gradient it
 * was given: the engine says so when that buffer was made during this pass, no user code has seen
 * it and nothing else reads it after this node (engine.ts, PassBuffers.donatable). An elementwise
 * backward (ReLU's) then returns its result in that buffer instead of a fresh one.
 */
export function mayOverwriteGradient(g: Tensor): boolean {
  return g === donatedGradient;
}

/** The engine's side of mayOverwriteGradient: hands `g` (or nothing) over; returns the previous one. */
export function donateGradient(g: Tensor | null): Tensor | null {
  const previous = donatedGradient;
  donatedGradient = g;
  return previous;
}

/**
 * defineFunction for cnnlab's own ops. Their backward functions keep no reference to the gradient
 * they are given, so once one has run the engine may reuse that gradient's buffer (a user-defined
 * Function might store it, so its gradients are never reused; CNNLAB_DEBUG_BUFFERS=1 checks it).
 * The fields an op keeps for backward are typed by annotating forward's context,
 * `forward(ctx: Ctx<{ shapes: Shape[] }>, ...)`; backward's `ctx` then has the same type.
 */
export function defineOp<Args extends unknown[], S extends object = object>(
  def: FunctionDef<Args, Ctx<S>>,
): AppliedFunction<Args> {
  opBackwards.add(def.backward as unknown as BackwardFn);
  return defineFunction(def);
}

/** Whether `backward` belongs to an op made by defineOp. */
export function isOpBackward(backward: BackwardFn): boolean {
  return opBackwards.has(backward);
}

function applyFunction<Args extends unknown[]>(def: FunctionDef<Args>, nodeName: string, args: Args): Tensor {
  if (activeRecorder() === null) return applyRecorded(def, nodeName, args);
  return traced("op", def.name, args, (...a: Args) => applyRecorded(def, nodeName, a), def);
}

function applyRecorded<Args extends unknown[]>(def: FunctionDef<Args>, nodeName: string, args: Args): Tensor {
  const needsInputGrad = args.map((a) => a instanceof Tensor && a.requiresGrad);
  const ctx = new Context(def.name, needsInputGrad);
  let out = withGradMode(false, () => def.forward(ctx, ...args));
  if (!(out instanceof Tensor)) {
    throw new TypeError(`${def.name}: forward must return a Tensor, got ${typeof out}`);
  }
  const record = isGradEnabled() && needsInputGrad.some(Boolean) && isFloating(out.dtype);
  if (!record) return out;
  // The output must be a fresh tensor object: it gets its own graph node.
  if (args.includes(out)) out = new Tensor(out.storage, out.shape, out.strides, out.offset, out.dtype);
  const inputs = args.map((a, i) => (needsInputGrad[i] ? (a as Tensor) : null));
  out.attachGraph(new Node(nodeName, def.backward, ctx, inputs, out.shape, out.dtype));
  return out;
}

/**
 * Runs `compose`, an op written as several recorded ops (matmul's reshapes around a batched
 * product, layer norm's normalise-then-scale), and presents what it recorded as one node named
 * `nodeName`, as PyTorch shows it: the output's node takes the name, the nodes recorded before it
 * inside the composition are hidden from displays (backward still runs each of them).
 */
export function composite(nodeName: string, compose: () => Tensor): Tensor {
  const start = recordedNodes();
  const out = compose();
  const top = out.gradFn;
  if (!top || top.seq < start) return out;
  top.name = nodeName;
  const seen = new Set<Node>([top]);
  const stack: Node[] = [top];
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (const input of node.inputs) {
      const prev = input?.gradFn;
      if (!prev || prev.seq < start || seen.has(prev)) continue;
      seen.add(prev);
      prev.hidden = true;
      stack.push(prev);
    }
  }
  return out;
}

/**
 * Class form of a custom op: subclass and define static `forward(ctx, ...args)` and
 * `backward(ctx, grad)`, then call `MyOp.apply(...args)`.
 */
export abstract class Function {
  static forward(_ctx: Context, ..._args: any[]): Tensor {
    throw new Error(`${this.name}: static forward(ctx, ...args) is not implemented`);
  }

  static backward(_ctx: Context, _grad: Tensor): (Tensor | null | undefined)[] {
    throw new Error(`${this.name}: static backward(ctx, grad) is not implemented`);
  }

  static apply(...args: any[]): Tensor {
    const cls = this as unknown as {
      name: string;
      forward: FunctionDef<any[]>["forward"];
      backward: BackwardFn;
    };
    const def: FunctionDef<any[]> = {
      name: cls.name,
      forward: (ctx, ...a) => cls.forward(ctx, ...a),
      backward: (ctx, g) => cls.backward(ctx, g),
    };
    return applyFunction(def, `${cls.name}Backward`, args);
  }
}
