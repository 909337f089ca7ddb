import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { manualSeed, nn, noGrad, randn, Tensor, zeros } from "../../src/index.js";

interface InitFacts {
  gains: Record<string, number>;
  fans: { shape: number[]; fanIn: number; fanOut: number }[];
}

const facts = (
  JSON.parse(readFileSync(fileURLToPath(new URL("../fixtures/nn.json", import.meta.url)), "utf8")) as {
    init: InitFacts;
  }
).init;

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const d = t.contiguous().data;
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of d) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / d.length;
  let v2 = 0;
  for (const v of d) v2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(v2 / d.length), min, max };
}

describe("nn.init", () => {
  it("calculateGain matches PyTorch's calculate_gain", () => {
    const g = facts.gains;
    expect(nn.init.calculateGain("linear")).toBeCloseTo(g.linear, 14);
    expect(nn.init.calculateGain("conv2d")).toBeCloseTo(g.conv2d, 14);
    expect(nn.init.calculateGain("sigmoid")).toBeCloseTo(g.sigmoid, 14);
    expect(nn.init.calculateGain("tanh")).toBeCloseTo(g.tanh, 14);
    expect(nn.init.calculateGain("relu")).toBeCloseTo(g.relu, 14);
    expect(nn.init.calculateGain("leakyRelu")).toBeCloseTo(g.leaky_relu, 14);
    expect(nn.init.calculateGain("leaky_relu", 0.2)).toBeCloseTo(g["leaky_relu_0.2"], 14);
    expect(nn.init.calculateGain("leakyRelu", Math.sqrt(5))).toBeCloseTo(g.leaky_relu_sqrt5, 14);
    expect(nn.init.calculateGain("selu")).toBeCloseTo(g.selu, 14);
    expect(() => nn.init.calculateGain("swish" as never)).toThrow(/unsupported nonlinearity "swish"/);
  });

  it("fan in / fan out match PyTorch's _calculate_fan_in_and_fan_out", () => {
    for (const f of facts.fans) {
      expect(nn.init.calculateFanInAndFanOut(zeros(f.shape))).toEqual({ fanIn: f.fanIn, fanOut: f.fanOut });
    }
    expect(() => nn.init.kaimingNormal(zeros([5]))).toThrow(/fewer than 2 dimensions \(shape \[5\]\)/);
  });

  it("kaimingNormal works in place on a parameter, returns it, and has std √(2/fanIn)", () => {
    manualSeed(0);
    const w = new nn.Linear(500, 400).weight;
    const storage = w.storage;
    expect(nn.init.kaimingNormal(w)).toBe(w);
    expect(w.storage).toBe(storage);
    const s = stats(w);
    expect(Math.abs(s.mean)).toBeLessThan(0.002);
    expect(s.std / Math.sqrt(2 / 500)).toBeCloseTo(1, 1);
    nn.init.kaimingNormal(w, { mode: "fanOut", nonlinearity: "relu" });
    expect(stats(w).std / Math.sqrt(2 / 400)).toBeCloseTo(1, 1);
  });

  it("kaimingUniform / xavierUniform / uniform stay inside their bounds and fill them", () => {
    manualSeed(1);
    const t = zeros([300, 200]);
    const bound = Math.sqrt(6 / 200); // gain √2 × √(3 / fanIn)
    let s = stats(nn.init.kaimingUniform(t));
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeGreaterThan(0.99 * bound);
    const xb = Math.sqrt(6 / 500);
    s = stats(nn.init.xavierUniform(t));
    expect(s.max).toBeLessThanOrEqual(xb);
    expect(s.min).toBeLessThan(-0.99 * xb);
    s = stats(nn.init.uniform(t, -2, 3));
    expect(s.min).toBeGreaterThanOrEqual(-2);
    expect(s.max).toBeLessThan(3);
    expect(s.mean).toBeCloseTo(0.5, 1);
  });

  it("xavierNormal and normal have the requested spread", () => {
    manualSeed(2);
    const t = zeros([300, 200], { dtype: "float64" });
    expect(stats(nn.init.xavierNormal(t, 2)).std / (2 * Math.sqrt(2 / 500))).toBeCloseTo(1, 1);
    const s = stats(nn.init.normal(t, 3, 0.5));
    expect(s.mean).toBeCloseTo(3, 2);
    expect(s.std).toBeCloseTo(0.5, 2);
  });

  it("zeros, ones, constant fill; non-contiguous views are filled through copy", () => {
    const t = randn([3, 4]);
    expect(nn.init.zeros(t).toArray().flat()).toEqual(Array(12).fill(0));
    expect(nn.init.ones(t).toArray().flat()).toEqual(Array(12).fill(1));
    expect(nn.init.constant(t, 2.5).toArray().flat()).toEqual(Array(12).fill(2.5));
    const view = t.t();
    nn.init.constant(view, -1);
    expect(t.toArray().flat()).toEqual(Array(12).fill(-1));
    expect(() => nn.init.zeros(zeros([2], { dtype: "int32" }))).toThrow(/float32 or float64/);
  });

  it("PyTorch's default Linear/Conv2d init: weights and biases in ±1/√fanIn", () => {
    manualSeed(3);
    const conv = new nn.Conv2d(8, 64, 3);
    const b = 1 / Math.sqrt(8 * 9);
    for (const t of [conv.weight, conv.bias as Tensor]) {
      const s = stats(t);
      expect(s.max).toBeLessThanOrEqual(b);
      expect(s.min).toBeGreaterThanOrEqual(-b);
    }
    expect(stats(conv.weight).max).toBeGreaterThan(0.98 * b);
    const lin = new nn.Linear(100, 300);
    expect(stats(lin.weight).std * Math.sqrt(3) * Math.sqrt(100)).toBeCloseTo(1, 1);
  });

  it("init is reproducible under manualSeed and leaves no autograd history", () => {
    manualSeed(4);
    const a = nn.init.kaimingNormal(zeros([3, 3], { requiresGrad: true }));
    manualSeed(4);
    const b = nn.init.kaimingNormal(zeros([3, 3], { requiresGrad: true }));
    expect(a.toArray()).toEqual(b.toArray());
    expect(a.gradFn).toBeNull();
    expect(noGrad(() => a.requiresGrad)).toBe(true);
  });
});
