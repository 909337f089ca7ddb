/**
 * Sanity checks of CS231n assignment 2's ThreeLayerConvNet (conv – relu – 2×2 max pool – affine –
 * relu – affine – softmax) built from cnnlab's layers.
 */
import { describe, expect, it } from "vitest";
import { F, gradcheck, manualSeed, nn, optim, randint, randn, Tensor } from "../../src/index.js";

/** Puts `tensors` into the model's parameter slots (in namedParameters order). */
function setParameters(model: nn.Module, names: string[], tensors: Tensor[]): void {
  names.forEach((name, i) => {
    const path = name.split(".");
    let owner: any = model;
    for (const part of path.slice(0, -1)) owner = owner[part];
    owner[path[path.length - 1]] = tensors[i];
  });
}

describe("ThreeLayerConvNet", () => {
  it("has CS231n's architecture and initialisation (normal × weightScale, zero biases)", () => {
    manualSeed(0);
    const model = new nn.ThreeLayerConvNet({ weightScale: 1e-2 });
    const shapes = Object.fromEntries(model.namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes).toEqual({
      "conv.weight": [32, 3, 7, 7],
      "conv.bias": [32],
      "fc1.weight": [100, 32 * 16 * 16],
      "fc1.bias": [100],
      "fc2.weight": [10, 100],
      "fc2.bias": [10],
    });
    expect(model.conv.padding).toEqual([3, 3]);
    for (const [name, p] of model.namedParameters()) {
      const d = p.data;
      let s2 = 0;
      for (const v of d) s2 += v * v;
      if (name.endsWith("bias")) expect(s2, name).toBe(0);
      else expect(Math.sqrt(s2 / d.length) / 1e-2, name).toBeCloseTo(1, 1);
    }
    expect(model.forward(randn([2, 3, 32, 32])).shape).toEqual([2, 10]);
  });

  it("initial loss with small weights is ln(10) ≈ 2.3026", () => {
    manualSeed(1);
    const model = new nn.ThreeLayerConvNet({ weightScale: 1e-3 });
    const x = randn([8, 3, 32, 32]);
    const y = randint(0, 10, [8]);
    expect(model.loss(x, y).item()).toBeCloseTo(Math.log(10), 3);
  });

  it("overfits 50 random samples to 100% training accuracy", () => {
    manualSeed(2);
    const model = new nn.ThreeLayerConvNet({
      inputDim: [3, 16, 16],
      numFilters: 8,
      filterSize: 7,
      hiddenDim: 100,
      weightScale: 1e-2,
    });
    const x = randn([50, 3, 16, 16]);
    const y = randint(0, 10, [50]);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const losses: number[] = [];
    let accuracy = 0;
    for (let step = 0; step < 300; step++) {
      opt.zeroGrad();
      const scores = model.forward(x);
      const loss = F.crossEntropy(scores, y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
      const predicted = scores.argmax(1).toArray() as number[];
      const labels = y.toArray() as number[];
      accuracy = predicted.filter((p, i) => p === labels[i]).length / labels.length;
      if (accuracy === 1 && step >= 20) break;
    }
    expect(losses[0]).toBeCloseTo(Math.log(10), 1);
    expect(accuracy).toBe(1);
    expect(losses[losses.length - 1]).toBeLessThan(0.5);
  }, 300_000);

  it("passes a float64 gradcheck in CS231n's small setting (2 inputs of 3×16×16, 3 filters of 3×3, hidden 7)", () => {
    manualSeed(3);
    const model = new nn.ThreeLayerConvNet({
      inputDim: [3, 16, 16],
      numFilters: 3,
      filterSize: 3,
      hiddenDim: 7,
      dtype: "float64",
    });
    const x = randn([2, 3, 16, 16], { dtype: "float64", requiresGrad: true });
    const y = randint(0, 10, [2]);
    const named = model.namedParameters();
    const names = named.map(([n]) => n);
    const result = gradcheck(
      (input: Tensor, ...params: Tensor[]) => {
        setParameters(model, names, params);
        return model.loss(input, y);
      },
      [x, ...named.map(([, p]) => p)],
    );
    expect(result.passed, result.toString()).toBe(true);
    expect(result.inputs).toHaveLength(1 + names.length);
    expect(result.inputs.every((c) => !c.sampled)).toBe(true);
  }, 300_000);

  it("rejects settings the architecture cannot take", () => {
    expect(() => new nn.ThreeLayerConvNet({ filterSize: 4 })).toThrow(/filterSize must be odd/);
    expect(() => new nn.ThreeLayerConvNet({ inputDim: [3, 15, 16] })).toThrow(/needs even H and W/);
    expect(() => new nn.ThreeLayerConvNet({ hidden: 3 } as never)).toThrow(/unknown option "hidden"/);
  });
});
