import { afterEach, describe, expect, it } from "vitest";
import { F, Function, manualSeed, nn, ones, randint, randn, Tensor, type Context } from "../../src/index.js";
import { donateGradient } from "../../src/autograd/function.js";
import { allocate, POOL_MIN_BYTES, pooledBufferBytes, setBufferReuse } from "../../src/tensor/dtype.js";

// Gradients of these shapes are far above the pool's minimum size.
const ROWS = 64;
const COLS = 4096;
const N = ROWS * COLS;

/** Takes every pooled array of N float32 and scribbles on it: a tensor still using one would change. */
function churn(): void {
  for (let i = 0; i < 16; i++) allocate("float32", N).fill(-7);
}

function big(seed: number): Tensor {
  manualSeed(seed);
  return randn([ROWS, COLS], { requiresGrad: true });
}

afterEach(() => setBufferReuse(true));

describe("buffer reuse in backward", () => {
  it("hands the buffers of consumed intermediate gradients to the pool", () => {
    expect(N * 4).toBeGreaterThan(POOL_MIN_BYTES);
    setBufferReuse(true);
    const x = big(1);
    x.mul(2).relu().mul(3).sum().backward();
    expect(pooledBufferBytes()).toBeGreaterThanOrEqual(N * 4);
    const xd = x.data;
    const g = x.grad!.data;
    expect(Array.from(g, (v, i) => v === (xd[i] > 0 ? 6 : 0)).every(Boolean)).toBe(true);
  });

  it("gives bit-identical gradients with and without reuse over several training steps", () => {
    const step = (reuse: boolean): number[][] => {
      setBufferReuse(reuse);
      manualSeed(3);
      const model = new nn.ThreeLayerConvNet({ inputDim: [3, 16, 16], numFilters: 16, hiddenDim: 20 });
      const x = randn([32, 3, 16, 16]);
      const y = randint(0, 10, [32]);
      const grads: number[][] = [];
      for (let s = 0; s < 3; s++) {
        model.zeroGrad();
        F.crossEntropy(model.forward(x), y).backward();
        for (const p of model.parameters()) grads.push(Array.from(p.grad!.data));
        for (const p of model.parameters()) p.data.set(p.data.map((v, i) => v - 0.01 * p.grad!.data[i]));
      }
      if (reuse) expect(pooledBufferBytes()).toBeGreaterThan(0);
      return grads;
    };
    expect(step(true)).toEqual(step(false));
  });

  it("never reuses a gradient that a hook has seen, nor the one it returned", () => {
    const x = big(4);
    const h = x.mul(2);
    const seen: Tensor[] = [];
    h.registerHook((g) => {
      seen.push(g);
      const replacement = g.mul(1);
      seen.push(replacement);
      return replacement;
    });
    h.mul(5).sum().backward();
    churn();
    expect(new Set(seen[0].data)).toEqual(new Set([5]));
    expect(new Set(seen[1].data)).toEqual(new Set([5]));
    expect(new Set(x.grad!.data)).toEqual(new Set([10]));
    // the hooked gradient shared with another branch (add gives both the same tensor): that
    // branch consuming it must not free what the hook kept (both orders of the branches)
    for (const hookedFirst of [true, false]) {
      const z = big(14);
      const a = z.mul(2);
      const kept: Tensor[] = [];
      a.registerHook((g) => {
        kept.push(g);
        return g.mul(1);
      });
      const b = z.mul(3);
      (hookedFirst ? a.add(b) : b.add(a)).mul(5).sum().backward();
      churn();
      expect(new Set(kept[0].data)).toEqual(new Set([5]));
    }
  });

  it("never reuses what a user-defined Function was given or returned", () => {
    const given: Tensor[] = [];
    const returned: Tensor[] = [];
    class Keep extends Function {
      static override forward(_ctx: Context, a: Tensor): Tensor {
        return a.mul(1);
      }
      static override backward(_ctx: Context, g: Tensor): Tensor[] {
        given.push(g);
        const r = g.mul(2);
        returned.push(r);
        return [r];
      }
    }
    const x = big(5);
    (Keep.apply(x.mul(3)) as Tensor).mul(4).sum().backward();
    churn();
    expect(new Set(given[0].toArray().flat())).toEqual(new Set([4]));
    expect(new Set(returned[0].toArray().flat())).toEqual(new Set([8]));
    expect(new Set(x.grad!.toArray().flat())).toEqual(new Set([24]));
    // applied to a leaf: what the Function returned (and keeps) must not become the leaf's .grad
    const leaf = big(13);
    (Keep.apply(leaf) as Tensor).sum().backward();
    returned[1].data.fill(-1);
    expect(new Set(leaf.grad!.data)).toEqual(new Set([2]));
  });

  it("keeps a gradient shared by two waiting inputs until both have used it", () => {
    // add's backward hands one gradient to both branches. The longer branch allocates arrays of
    // that size after its first op; were the gradient released then, they would take its buffer
    // and overwrite what the other branch has still to read. (Both orders of the branches.)
    for (const longFirst of [true, false]) {
      const x = big(6);
      const long = x.mul(3).mul(0.5).mul(4);
      const y = longFirst ? long.add(x.mul(2)) : x.mul(2).add(long);
      y.mul(7).sum().backward();
      expect(new Set(x.grad!.toArray().flat())).toEqual(new Set([56]));
    }
  });

  it("lets a leaf keep a fresh gradient as its .grad, and never reuses it afterwards", () => {
    const w = big(7);
    const x = randn([ROWS, ROWS]);
    x.matmul(w).sum().backward();
    const expected = w.grad!.toArray();
    // more passes that release buffers of the same size, then scribbling on the pool
    for (let i = 0; i < 3; i++)
      big(8 + i)
        .mul(2)
        .relu()
        .mul(3)
        .sum()
        .backward();
    churn();
    expect(w.grad!.toArray()).toEqual(expected);
  });

  it("never reuses the gradient passed to backward() or a retained gradient", () => {
    const x = big(11);
    const h = x.mul(2);
    h.retainGrad();
    const seed = ones([ROWS, COLS]);
    h.mul(3).backward(seed);
    churn();
    expect(new Set(seed.toArray().flat())).toEqual(new Set([1]));
    expect(new Set(h.grad!.toArray().flat())).toEqual(new Set([3]));
    expect(new Set(x.grad!.toArray().flat())).toEqual(new Set([6]));
  });

  it("lets ReLU's backward write into the gradient it is handed, with the same result", () => {
    const x = big(13);
    const y = x.relu();
    const node = y.gradFn!;
    const g1 = randn([ROWS, COLS]);
    const kept = node.backward(node.ctx, g1)[0]!;
    const g2 = g1.clone();
    const previous = donateGradient(g2);
    let inPlace: Tensor;
    try {
      inPlace = node.backward(node.ctx, g2)[0]!;
    } finally {
      donateGradient(previous);
    }
    expect(kept.storage.data).not.toBe(g1.storage.data);
    expect(inPlace.storage.data).toBe(g2.storage.data);
    expect(inPlace.data.every((v, i) => Object.is(v, kept.data[i]))).toBe(true);
    // and through the engine, with reuse on and off
    const grads = [true, false].map((reuse) => {
      setBufferReuse(reuse);
      const x = big(13);
      x.mul(2).relu().mul(3).sum().backward();
      return Array.from(x.grad!.data);
    });
    expect(grads[0].every((v, i) => v === grads[1][i])).toBe(true);
  });

  it("never lets ReLU's backward overwrite a gradient a hook saw, one retained, or one shared", () => {
    const x = big(14);
    const kept = x.mul(3).relu();
    kept.retainGrad();
    const hooked = x.mul(5).relu();
    const seen: Tensor[] = [];
    hooked.registerHook((g) => void seen.push(g));
    // add's backward gives both ReLUs one gradient: the first must leave it for the second
    const y = kept.add(x.mul(-2).relu()).add(hooked.mul(1));
    y.mul(7).sum().backward();
    churn();
    expect(new Set(kept.grad!.toArray().flat())).toEqual(new Set([7]));
    expect(new Set(seen[0].toArray().flat())).toEqual(new Set([7]));
    const xd = x.data;
    const g = x.grad!.data;
    expect(
      Array.from(g, (v, i) => v === (xd[i] > 0 ? 7 * 3 + 7 * 5 : xd[i] < 0 ? 7 * -2 : 0)).every(Boolean),
    ).toBe(true);
  });

  it("can be switched off", () => {
    setBufferReuse(false);
    big(12).mul(2).relu().mul(3).sum().backward();
    expect(pooledBufferBytes()).toBe(0);
  });
});
