import { ones } from "../tensor/creation.js";
import { releaseBuffer, setAllocationLog } from "../tensor/dtype.js";
import { shapesEqual, shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { traced, traceNote } from "../runtime/trace.js";
import { add, contiguousCopy, to } from "../ops/elementwise.js";
import { isOpBackward } from "./function.js";
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
 * Adds `grad` into `leaf.grad`. `adoptable`: grad's buffer is reachable from nowhere else, so a first
 * gradient may become leaf.grad itself instead of a copy (PyTorch's AccumulateGrad does the same).
 */
function accumulateLeaf(leaf: Tensor, grad: Tensor, adoptable = false): void {
  const g = runHooks(leaf.leafHooks, grad, "a leaf tensor");
  if (leaf.grad) leaf.grad = add(leaf.grad, g);
  else
    leaf.grad =
      adoptable && g === grad && leaf.leafHooks.length === 0 && g.isContiguous() ? g : contiguousCopy(g);
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
    const pending = new Map<Node, Tensor>([[root.gradFn, seed]]);
    const buffers = new PassBuffers();
    const previousLog = setAllocationLog(buffers.log);
    try {
      for (const node of order) runNode(node, pending, buffers, options);
    } finally {
      setAllocationLog(previousLog);
    }
  });
}

function runNode(
  node: Node,
  pending: Map<Node, Tensor>,
  buffers: PassBuffers,
  options: BackwardOptions,
): void {
  let grad = pending.get(node);
  pending.delete(node);
  if (!grad) return;
  const hooked = node.hooks.length > 0;
  if (hooked) buffers.seen(grad);
  grad = runHooks(node.hooks, grad, node.name);
  if (hooked) buffers.seen(grad);
  if (node.retainTarget) {
    const t = node.retainTarget;
    t.grad = t.grad ? add(t.grad, grad) : contiguousCopy(grad);
  }
  if (node.ctx.isFreed) {
    throw new Error(
      `${node.name}: Trying to backward through the graph a second time (or to read saved tensors after they were freed). ` +
        "Saved tensors are freed after .backward(); pass { retainGraph: true } to the first backward to keep them.",
    );
  }
  const grads = node.backward(node.ctx, grad);
  if (!options.retainGraph) node.ctx.free();
  const fromOp = isOpBackward(node.backward);
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
  traceNote("node", node, [grad, ...returned]);
  node.inputs.forEach((input, i) => {
    const g = returned[i];
    if (!input || !g) return;
    if (input.gradFn) {
      const previous = pending.get(input.gradFn);
      pending.set(input.gradFn, previous ? add(previous, g) : g);
    } else {
      accumulateLeaf(input, g, buffers.adoptable(g));
    }
  });
  buffers.consumed(grad, pending.values());
}
