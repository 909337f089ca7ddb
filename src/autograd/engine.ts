import { ones } from "../tensor/creation.js";
import { isBufferReuse, releaseBuffer, setAllocationLog } from "../tensor/dtype.js";
import { shapesEqual, shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { activeRecorder, allocationHook, traced, traceNote } from "../runtime/trace.js";
import { add, contiguousCopy, to } from "../ops/elementwise.js";
import { contiguousData } from "../ops/util.js";
import { donateGradient, isOpBackward } from "./function.js";
import { withGradMode } from "./grad-mode.js";
import type { Node } from "./node.js";

export interface BackwardOptions {
  retainGraph?: boolean;
}

/** Nodes reachable from `root`, parents before children (iterative: deep graphs don't hit the stack limit). */
function topologicalOrder(root: Node): Node[] {
  const postOrder: Node[] = [];
  const visited = new Set<Node>([root]);
  const stack: { node: Node; next: number }[] = [{ node: root, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const inputs = frame.node.inputs;
    let pushed = false;
    while (frame.next < inputs.length) {
      const child = inputs[frame.next++]?.gradFn;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push({ node: child, next: 0 });
        pushed = true;
        break;
      }
    }
    if (!pushed && frame.next >= inputs.length) {
      stack.pop();
      postOrder.push(frame.node);
    }
  }
  return postOrder.reverse();
}

function runHooks(hooks: readonly ((g: Tensor) => Tensor | void)[], grad: Tensor, where: string): Tensor {
  let g = grad;
  for (const hook of hooks) {
    const replaced = hook(g);
    if (replaced instanceof Tensor) {
      if (!shapesEqual(replaced.shape, g.shape)) {
        throw new Error(
          `hook on ${where}: returned a gradient of shape ${shapeToString(replaced.shape)}, expected ${shapeToString(g.shape)}`,
        );
      }
      g = replaced;
    }
  }
  return g;
}

/**
 * Adds the total gradient `grad` of one pass into `leaf.grad`, after the leaf's hooks ran on it
 * (once per pass, as PyTorch's AccumulateGrad does). An existing `.grad` is updated in place, so a
 * reference kept across backward calls sees the sum. `adoptable`: grad's buffer is reachable from
 * nowhere else, so a first gradient may become leaf.grad itself instead of a copy.
 */
function accumulateLeaf(leaf: Tensor, grad: Tensor, adoptable = false): void {
  const g = runHooks(leaf.leafHooks, grad, "a leaf tensor");
  const current = leaf.grad;
  if (current && current.dtype === g.dtype && shapesEqual(current.shape, g.shape) && writable(current)) {
    addInto(current, g);
  } else if (current) {
    leaf.grad = add(current, g);
  } else {
    leaf.grad =
      adoptable && g === grad && leaf.leafHooks.length === 0 && g.isContiguous() ? g : contiguousCopy(g);
  }
}

/** Whether every element of t has a memory cell of its own (no broadcast strides). */
function writable(t: Tensor): boolean {
  return t.shape.every((size, d) => size <= 1 || t.strides[d] !== 0);
}

/** target += g in place (same shape and dtype). */
function addInto(target: Tensor, g: Tensor): void {
  const src = contiguousData(g);
  const data = target.storage.data;
  if (target.isContiguous()) {
    const off = target.offset;
    for (let i = 0; i < src.length; i++) data[off + i] += src[i];
  } else {
    target.forEachPosition((p, i) => {
      data[p] += src[i];
    });
  }
  target.bumpVersion();
}

/**
 * Buffer reuse during one backward pass. A gradient's buffer is handed back to allocate()'s pool
 * (or adopted by a leaf as its .grad) only when allocate() made it during this pass, no user code
 * has seen it (a hook, or a user-defined Function's backward, which may keep what it returns), the
 * op consuming it is a cnnlab op (it keeps no reference), and no other gradient still waiting in
 * the pass, nor any that the consumer returned, shares it.
 */
class PassBuffers {
  /** Buffers allocate() made during this pass that user code has not seen (see allocate()). */
  readonly log = new WeakSet<object>();

  private logged(data: Tensor["storage"]["data"]): boolean {
    return this.log.has(data.buffer) || this.log.has(data);
  }

  /** User code has seen t: its buffer is never reused. */
  seen(t: Tensor): void {
    this.log.delete(t.storage.data.buffer);
    this.log.delete(t.storage.data);
  }

  /** How many of `tensors` use t's buffer (t itself included). */
  private sharers(t: Tensor, tensors: Iterable<Tensor | null | undefined>): number {
    const buffer = t.storage.data.buffer;
    let n = 0;
    for (const o of tensors) if (o && o.storage.data.buffer === buffer) n++;
    return n;
  }

  /**
   * Releases the buffer of `grad`, which a node has just consumed, unless user code has seen it or
   * a gradient still waiting (the node's own results included) shares it.
   */
  consumed(grad: Tensor, pending: Iterable<Tensor>): void {
    const data = grad.storage.data;
    if (this.logged(data) && this.sharers(grad, pending) === 0) {
      releaseBuffer(data);
    }
  }

  /**
   * Whether the op consuming `grad` may overwrite its buffer (mayOverwriteGradient): with buffer
   * reuse on, a whole buffer made in this pass that user code has not seen and that no gradient
   * still waiting shares. What the op returns in it then shares it, so consumed() does not release it.
   */
  donatable(grad: Tensor, pending: Iterable<Tensor>): boolean {
    const data = grad.storage.data;
    return (
      isBufferReuse() &&
      this.logged(data) &&
      grad.offset === 0 &&
      grad.numel() === data.length &&
      grad.isContiguous() &&
      this.sharers(grad, pending) === 0
    );
  }

  /**
   * Whether a leaf may keep `g` as its .grad without copying it: a buffer made in this pass that
   * user code has not seen. From then on it counts as seen, so nothing releases it; other tensors
   * of the pass that share it are only read.
   */
  adoptable(g: Tensor): boolean {
    if (!this.logged(g.storage.data)) return false;
    this.seen(g);
    return true;
  }
}

/** Reverse-mode accumulation from `root` (PyTorch's `tensor.backward()`). */
export function backward(root: Tensor, gradient?: Tensor | null, options: BackwardOptions = {}): void {
  traced("backward", "backward", [root, gradient, options], runBackward);
}

function runBackward(root: Tensor, gradient: Tensor | null | undefined, options: BackwardOptions): void {
  if (!root.requiresGrad) {
    throw new Error(
      "backward: this tensor does not require grad and has no grad_fn (did any input have requiresGrad: true?)",
    );
  }
  let seed: Tensor;
  if (gradient === undefined || gradient === null) {
    if (root.numel() !== 1) {
      throw new Error(
        `backward: grad can be implicitly created only for scalar outputs; this output has shape ${shapeToString(root.shape)}, pass a gradient of that shape`,
      );
    }
    seed = ones(root.shape, { dtype: root.dtype });
  } else {
    if (!(gradient instanceof Tensor)) throw new TypeError("backward: gradient must be a Tensor");
    if (!shapesEqual(gradient.shape, root.shape)) {
      throw new RangeError(
        `backward: gradient has shape ${shapeToString(gradient.shape)} but the output has shape ${shapeToString(root.shape)}`,
      );
    }
    seed = gradient.detach();
  }
  withGradMode(false, () => {
    if (!root.gradFn) {
      accumulateLeaf(root, seed);
      return;
    }
    const order = topologicalOrder(root.gradFn);
    const pending: Pending = { nodes: new Map([[root.gradFn, seed]]), leaves: new Map() };
    const buffers = new PassBuffers();
    const previousLog = setAllocationLog(buffers.log);
    try {
      for (const node of order) runNode(node, pending, buffers, options);
      // every contribution to a leaf is in: its hooks see the total, once
      for (const [leaf, g] of pending.leaves) {
        const before = leaf.grad;
        accumulateLeaf(leaf, g, buffers.adoptable(g));
        traceNote("grads", leaf, [g, before, leaf.grad]);
      }
    } finally {
      setAllocationLog(previousLog);
    }
  });
}

/** Gradients waiting during a pass: per graph node, and per leaf (summed over its uses). */
interface Pending {
  nodes: Map<Node, Tensor>;
  leaves: Map<Tensor, Tensor>;
}

function* waiting(pending: Pending): Iterable<Tensor> {
  yield* pending.nodes.values();
  yield* pending.leaves.values();
}

function runNode(node: Node, pending: Pending, buffers: PassBuffers, options: BackwardOptions): void {
  let grad = pending.nodes.get(node);
  pending.nodes.delete(node);
  if (!grad) return;
  const hooked = node.hooks.length > 0;
  if (hooked) buffers.seen(grad);
  grad = runHooks(node.hooks, grad, node.name);
  if (hooked) buffers.seen(grad);
  if (node.retainTarget) {
    const t = node.retainTarget;
    t.grad = t.grad ? add(t.grad, grad) : contiguousCopy(grad);
  }
  const fromOp = isOpBackward(node.backward);
  // a compiled graph plans its own buffers (and its own in-place kernels): no donation while one is
  // traced or replayed, when allocate() must hand out the arrays the plan expects
  const donate =
    fromOp &&
    activeRecorder() === null &&
    allocationHook() === null &&
    buffers.donatable(grad, waiting(pending));
  const previousDonation = donateGradient(donate ? grad : null);
  let grads: readonly (Tensor | null | undefined)[];
  try {
    grads = node.backward(node.ctx, grad);
  } finally {
    donateGradient(previousDonation);
  }
  if (!options.retainGraph) node.ctx.free();
  // a user-defined Function may have kept the gradient it was given
  if (!fromOp) buffers.seen(grad);
  const returned = node.inputs.map((input, i) => {
    const g = grads[i];
    if (!input || g === null || g === undefined) return null;
    if (!shapesEqual(g.shape, input.shape)) {
      throw new Error(
        `${node.name}: backward returned a gradient of shape ${shapeToString(g.shape)} for input ${i} of shape ${shapeToString(input.shape)}`,
      );
    }
    if (!fromOp) buffers.seen(g);
    return g.dtype !== input.dtype ? to(g, input.dtype) : g;
  });
  // for compile's memory plan: every gradient this node reads or writes, noted after the writes
  const seen = activeRecorder() === null ? null : [grad, ...returned, ...gradsToUpdate(node, pending)];
  node.inputs.forEach((input, i) => {
    const g = returned[i];
    if (!input || !g) return;
    if (input.gradFn) {
      const previous = pending.nodes.get(input.gradFn);
      pending.nodes.set(input.gradFn, previous ? add(previous, g) : g);
    } else {
      const previous = pending.leaves.get(input);
      pending.leaves.set(input, previous ? add(previous, g) : g);
    }
  });
  buffers.consumed(grad, waiting(pending));
  if (seen !== null) traceNote("node", node, [...seen, ...gradsToUpdate(node, pending)]);
}

/** The gradients that accumulating into a node's inputs reads (or has written). */
function gradsToUpdate(node: Node, pending: Pending): (Tensor | null | undefined)[] {
  return node.inputs.map((input) =>
    input === null ? null : input.gradFn ? pending.nodes.get(input.gradFn) : pending.leaves.get(input),
  );
}
