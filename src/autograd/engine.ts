import { ones } from "../tensor/creation.js";
import { shapesEqual, shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { add, contiguousCopy, to } from "../ops/elementwise.js";
import { withGradMode } from "./grad_mode.js";
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

function accumulateLeaf(leaf: Tensor, grad: Tensor): void {
  const g = runHooks(leaf.leafHooks, grad, "a leaf tensor");
  leaf.grad = leaf.grad ? add(leaf.grad, g) : contiguousCopy(g);
}

/** Reverse-mode accumulation from `root` (PyTorch's `tensor.backward()`). */
export function backward(root: Tensor, gradient?: Tensor | null, options: BackwardOptions = {}): void {
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
    for (const node of order) {
      let grad = pending.get(node);
      pending.delete(node);
      if (!grad) continue;
      grad = runHooks(node.hooks, grad, node.name);
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
      node.inputs.forEach((input, i) => {
        if (!input) return;
        let g = grads[i];
        if (g === null || g === undefined) return;
        if (!shapesEqual(g.shape, input.shape)) {
          throw new Error(
            `${node.name}: backward returned a gradient of shape ${shapeToString(g.shape)} for input ${i} of shape ${shapeToString(input.shape)}`,
          );
        }
        if (g.dtype !== input.dtype) g = to(g, input.dtype);
        if (input.gradFn) {
          const previous = pending.get(input.gradFn);
          pending.set(input.gradFn, previous ? add(previous, g) : g);
        } else {
          accumulateLeaf(input, g);
        }
      });
    }
  });
}
