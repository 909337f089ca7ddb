import { describe, expect, it } from "vitest";
import {
  defineFunction,
  gradCheckSparse,
  gradcheck,
  manualSeed,
  numericalGradient,
  numericalGradientArray,
  randn,
  relError,
  tensor,
  type Tensor,
} from "../../src/index.js";

const WrongSquare = defineFunction({
  name: "wrongSquare",
  forward(ctx, x: Tensor) {
    ctx.saveForBackward(x);
    return x.mul(x);
  },
  backward(ctx, g) {
    const [x] = ctx.savedTensors;
    return [g.mul(x).mul(2).add(x.gt(0.5).to(g.dtype).mul(0.1))]; // wrong where x > 0.5
  },
});

describe("gradcheck", () => {
  it("passes for correct gradients and reports per-input errors", () => {
    manualSeed(0);
    const a = randn([3, 4], { dtype: "float64", requiresGrad: true });
    const b = randn([4], { dtype: "float64", requiresGrad: true });
    const r = gradcheck((a, b) => a.mul(b).tanh(), [a, b]);
    expect(r.passed).toBe(true);
    expect(r.inputs.map((i) => i.shape)).toEqual([[3, 4], [4]]);
    for (const i of r.inputs) {
      expect(i.maxRelError).toBeLessThan(1e-6);
      expect(i.checked).toBe(i.total);
    }
    expect(r.warnings).toEqual([]);
  });

  it("fails for a wrong backward and names the worst coordinate", () => {
    const x = tensor([0.1, 0.9, 0.2], { dtype: "float64", requiresGrad: true });
    const r = gradcheck((x) => WrongSquare.apply(x), [x]);
    expect(r.passed).toBe(false);
    expect(r.inputs[0].worstIndex).toEqual([1]);
    expect(r.inputs[0].analytic - r.inputs[0].numerical).toBeCloseTo(0.1 * (1 / 1), 0);
    expect(r.toString()).toMatch(/FAILED[\s\S]*FAIL at \[1\]/);
    expect(() => gradcheck((x) => WrongSquare.apply(x), [x], { raiseOnFailure: true })).toThrow(
      /gradcheck FAILED/,
    );
  });

  it("warns that float32 is not trustworthy", () => {
    const x = randn([3], { requiresGrad: true });
    const r = gradcheck((x) => x.exp(), [x], { eps: 1e-3, atol: 1e-2, rtol: 1e-2 });
    expect(r.warnings.join()).toMatch(/float32.*float64/);
  });

  it("samples coordinates of big inputs, seeded, and says so", () => {
    const x = randn([100, 100], { dtype: "float64", requiresGrad: true });
    const r = gradcheck((x) => x.sigmoid().sum(), [x], { samples: 50 });
    expect(r.passed).toBe(true);
    expect(r.inputs[0]).toMatchObject({ sampled: true, checked: 50, total: 10000 });
    expect(r.warnings.join()).toMatch(/checked on 50 seeded random coordinates/);
  });

  it("rejects unknown options", () => {
    expect(() => gradcheck((x) => x, [randn([1], { requiresGrad: true })], { epsilon: 1 } as never)).toThrow(
      /gradcheck: unknown option "epsilon"/,
    );
  });
});

describe("CS231n helpers", () => {
  it("numericalGradient matches the analytic gradient of a scalar function", () => {
    const x = tensor([0.3, -1.2, 2], { dtype: "float64" });
    const g = numericalGradient((x) => x.pow(3).sum(), x);
    const expected = x.pow(2).mul(3);
    expect(relError(g, expected)).toBeLessThan(1e-8);
  });

  it("numericalGradientArray computes the gradient of sum(f(x) * dout)", () => {
    const x = tensor([[0.5, -0.25]], { dtype: "float64" });
    const dout = tensor([[2, 3]], { dtype: "float64" });
    const g = numericalGradientArray((x) => x.mul(x), x, dout);
    expect(relError(g, tensor([[2 * 0.5 * 2, 2 * -0.25 * 3]], { dtype: "float64" }))).toBeLessThan(1e-9);
  });

  it("gradCheckSparse compares at seeded random coordinates", () => {
    const x = randn([10, 10], { dtype: "float64" });
    const analytic = x.mul(2);
    const checks = gradCheckSparse((x) => x.pow(2).sum(), x, analytic, { numChecks: 5, seed: 3 });
    expect(checks).toHaveLength(5);
    for (const c of checks) expect(c.relError).toBeLessThan(1e-7);
    expect(gradCheckSparse((x) => x.pow(2).sum(), x, analytic, { numChecks: 5, seed: 3 })).toEqual(checks);
  });

  it("relError is max |a-b| / max(1e-8, |a|+|b|)", () => {
    expect(relError(1, 1)).toBe(0);
    expect(relError([1, 2], [1, 3])).toBeCloseTo(1 / 5, 15);
    expect(relError(0, 1e-9)).toBeCloseTo(1e-9 / 1e-8, 15);
  });

  it("float32 finite differences are too coarse: float64 is needed", () => {
    manualSeed(5);
    const x64 = randn([20], { dtype: "float64" });
    const f = (x: Tensor) => x.mul(x).sum();
    const exact = x64.mul(2);
    const err64 = relError(numericalGradient(f, x64), exact);
    const err32 = relError(numericalGradient(f, x64.float()), exact.float());
    expect(err64).toBeLessThan(1e-8);
    expect(err32).toBeGreaterThan(1e-3);
  });
});
