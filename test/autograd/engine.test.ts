import { describe, expect, it } from "vitest";
import {
  Context,
  defineFunction,
  enableGrad,
  Function,
  noGrad,
  ones,
  randn,
  tensor,
  Tensor,
  zeros,
} from "../../src/index.js";

describe("autograd engine", () => {
  it("accumulates gradients on leaves across backward calls", () => {
    const x = tensor([1, 2, 3], { dtype: "float64", requiresGrad: true });
    x.mul(x).sum().backward();
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([2 + 3, 4 + 3, 6 + 3]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  it("sums gradients of a tensor used twice (diamond graph)", () => {
    const x = tensor([2], { dtype: "float64", requiresGrad: true });
    const a = x.mul(3);
    const y = a.mul(a).add(a); // 9x^2 + 3x → 18x + 3
    y.sum().backward();
    expect(x.grad!.item()).toBe(18 * 2 + 3);
  });

  it("handles a chain of 100,000 ops without overflowing the stack", () => {
    const x = tensor([1], { dtype: "float64", requiresGrad: true });
    let y: Tensor = x;
    for (let i = 0; i < 100_000; i++) y = y.add(1e-6);
    y.sum().backward();
    expect(x.grad!.item()).toBe(1);
  });

  it("frees the graph after backward and explains a second backward", () => {
    const x = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time.*retainGraph/s);
  });

  it("keeps the graph with retainGraph", () => {
    const x = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.toArray()).toEqual([2 * Math.exp(1), 2 * Math.exp(2)]);
  });

  it("requires an explicit gradient for non-scalar outputs", () => {
    const x = randn([2, 3], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/only for scalar outputs.*\[2,3\]/);
    y.backward(ones([2, 3]));
    expect(x.grad!.toArray()).toEqual([
      [2, 2, 2],
      [2, 2, 2],
    ]);
    expect(() => x.mul(2).backward(ones([3]))).toThrow(
      /gradient has shape \[3\] but the output has shape \[2,3\]/,
    );
  });

  it("refuses backward on tensors that need no grad", () => {
    expect(() => tensor([1, 2]).sum().backward()).toThrow(/does not require grad/);
  });

  it("records nothing inside noGrad and records again inside enableGrad", () => {
    const x = randn([3], { requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = noGrad(() => enableGrad(() => x.mul(2)));
    expect(z.requiresGrad).toBe(true);
  });

  it("detach cuts the graph and shares storage", () => {
    const x = randn([3], { requiresGrad: true });
    const d = x.mul(2).detach();
    expect(d.requiresGrad).toBe(false);
    const y = x.mul(d).sum();
    y.backward();
    expect(x.grad!.toArray()).toEqual(d.toArray());
  });

  it("runs tensor hooks and lets them replace the gradient", () => {
    const x = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const seen: number[][] = [];
    const h = x.registerHook((g) => {
      seen.push(g.toArray());
      return g.mul(10);
    });
    x.mul(3).sum().backward();
    expect(seen).toEqual([[3, 3]]);
    expect(x.grad!.toArray()).toEqual([30, 30]);
    h.remove();
    x.zeroGrad();
    x.mul(3).sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 3]);
  });

  it("hooks and retainGrad work on intermediate tensors", () => {
    const x = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const h = x.mul(2);
    h.retainGrad();
    let hooked: number[] = [];
    h.registerHook((g) => {
      hooked = g.toArray();
    });
    h.pow(2).sum().backward();
    expect(h.grad!.toArray()).toEqual([4, 8]);
    expect(hooked).toEqual([4, 8]);
    expect(x.grad!.toArray()).toEqual([8, 16]);
  });

  it("detects a saved tensor modified in place before backward", () => {
    const x = randn([3], { requiresGrad: true });
    const y = x.mul(2);
    const w = zeros([3]);
    const z = y.mul(w); // saves w
    noGrad(() => w.add_(1));
    expect(() => z.sum().backward()).toThrow(/modified in place after it was saved/);
  });

  it("refuses in-place changes of tensors autograd tracks", () => {
    const x = randn([3], { requiresGrad: true });
    expect(() => x.add_(1)).toThrow(/leaf tensor that requires grad cannot be modified in place.*noGrad/);
    expect(() => x.mul(2).mul_(2)).toThrow(
      /in-place modification of a tensor that is part of the autograd graph/,
    );
    expect(() => x.set(1, 0)).toThrow(/in place/);
    noGrad(() => x.sub_(x));
    expect(x.toArray()).toEqual([0, 0, 0]);
  });

  it("supports custom ops in the Function style (defineFunction and class form)", () => {
    const Cube = defineFunction({
      name: "cube",
      forward(ctx: Context, x: Tensor) {
        ctx.saveForBackward(x);
        return x.mul(x).mul(x);
      },
      backward(ctx, g) {
        const [x] = ctx.savedTensors;
        return [g.mul(x.mul(x).mul(3))];
      },
    });
    const x = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const y = Cube.apply(x);
    expect(y.gradFn!.name).toBe("CubeBackward");
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([3, 12]);

    class Scale extends Function {
      static override forward(ctx: Context, x: Tensor, factor: number): Tensor {
        ctx.factor = factor;
        return x.mul(factor);
      }
      static override backward(ctx: Context, g: Tensor) {
        return [g.mul(ctx.factor), null];
      }
    }
    const z = tensor([1, 2], { dtype: "float64", requiresGrad: true });
    Scale.apply(z, 5).sum().backward();
    expect(z.grad!.toArray()).toEqual([5, 5]);
  });

  it("asserts that a custom backward returns gradients of the right shape", () => {
    const Bad = defineFunction({
      name: "bad",
      forward(_ctx, x: Tensor) {
        return x.mul(2);
      },
      backward(_ctx, g) {
        return [g.sum()];
      },
    });
    const x = randn([2, 2], { requiresGrad: true });
    expect(() => Bad.apply(x).sum().backward()).toThrow(
      /BadBackward: backward returned a gradient of shape \[\] for input 0 of shape \[2,2\]/,
    );
  });

  it("casts gradients to each input's dtype across promotion", () => {
    const a = randn([2], { requiresGrad: true });
    const b = randn([2], { dtype: "float64", requiresGrad: true });
    const y = a.mul(b);
    expect(y.dtype).toBe("float64");
    y.sum().backward();
    expect(a.grad!.dtype).toBe("float32");
    expect(b.grad!.dtype).toBe("float64");
  });

  it("only floating tensors can require grad", () => {
    expect(() => tensor([1, 2], { dtype: "int32", requiresGrad: true })).toThrow(/floating point/);
  });
});
