import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F } from "../../src/index.js";

function withBackend(name: string, fn: () => void): void {
  const previous = cn.setBackend(name);
  try {
    fn();
  } finally {
    cn.setBackend(previous);
  }
}

describe.each(cn.listBackends())("dropout (%s backend)", (backendName) => {
  it("zeroes elements and scales the survivors by 1/(1-p); the seed fixes the mask", () =>
    withBackend(backendName, () => {
      const x = cn.ones([20, 50], { dtype: "float64" });
      cn.manualSeed(7);
      const a = F.dropout(x, { p: 0.3 });
      cn.manualSeed(7);
      const b = F.dropout(x, { p: 0.3 });
      expect(a.toArray()).toEqual(b.toArray());
      const values = [...a.data];
      for (const v of values) expect(v === 0 || Math.abs(v - 1 / 0.7) < 1e-15).toBe(true);
      const kept = values.filter((v) => v !== 0).length / values.length;
      // 1000 Bernoulli(0.7) draws: the kept fraction is 0.7 ± 0.0145 (1 sd); 5 sd bounds
      expect(kept).toBeGreaterThan(0.7 - 5 * 0.0145);
      expect(kept).toBeLessThan(0.7 + 5 * 0.0145);
      // inverted dropout keeps the expected value: the mean stays near 1
      const m = a.mean().item();
      expect(Math.abs(m - kept / 0.7)).toBeLessThan(1e-12);
      expect(m).toBeGreaterThan(1 - 5 * 0.0207);
      expect(m).toBeLessThan(1 + 5 * 0.0207);
      // a different seed gives a different mask
      cn.manualSeed(8);
      expect(F.dropout(x, { p: 0.3 }).toArray()).not.toEqual(a.toArray());
    }));

  it("backward multiplies by the same mask as the forward", () =>
    withBackend(backendName, () => {
      cn.manualSeed(3);
      const x = cn.randn([6, 7], { dtype: "float64", requiresGrad: true });
      const y = F.dropout(x, { p: 0.4 });
      const g = cn.randn([6, 7], { dtype: "float64" });
      y.mul(g).sum().backward();
      const xs = x.detach().data;
      const ys = y.detach().data;
      const gs = g.data;
      const dx = (x.grad as cn.Tensor).data;
      let dropped = 0;
      for (let i = 0; i < xs.length; i++) {
        const maskValue = ys[i] / xs[i]; // 0 or 1/(1-p)
        expect([0, 1 / 0.6].some((m) => Math.abs(maskValue - m) < 1e-12)).toBe(true);
        expect(dx[i]).toBeCloseTo(gs[i] * maskValue, 12);
        if (maskValue === 0) dropped++;
      }
      expect(dropped).toBeGreaterThan(0);
      expect(dropped).toBeLessThan(xs.length);
    }));

  it("passes a float64 gradcheck with the mask fixed by reseeding", () =>
    withBackend(backendName, () => {
      const x = cn.randn([3, 4, 5], { dtype: "float64", requiresGrad: true });
      const fixedMask = (t: cn.Tensor) => {
        cn.manualSeed(21);
        return F.dropout(t, { p: 0.35 });
      };
      const result = cn.gradcheck(fixedMask, [x]);
      expect(result.passed, result.toString()).toBe(true);
      const fixedChannels = (t: cn.Tensor) => {
        cn.manualSeed(22);
        return F.dropout2d(t.reshape(3, 4, 5, 1), { p: 0.5 });
      };
      const result2d = cn.gradcheck(fixedChannels, [x]);
      expect(result2d.passed, result2d.toString()).toBe(true);
    }));

  it("p = 0 and eval mode are the identity; p = 1 zeroes everything", () =>
    withBackend(backendName, () => {
      const x = cn.randn([3, 4], { requiresGrad: true });
      expect(F.dropout(x, { p: 0 })).toBe(x);
      expect(F.dropout(x, { p: 0.5, training: false })).toBe(x);
      expect(F.dropout2d(cn.randn([2, 3, 2, 2]), { training: false }).shape).toEqual([2, 3, 2, 2]);
      const z = F.dropout(x, { p: 1 });
      expect(z.shape).toEqual([3, 4]);
      expect([...z.data].every((v) => v === 0)).toBe(true);
      z.sum().backward();
      expect([...(x.grad as cn.Tensor).data].every((v) => v === 0)).toBe(true);
    }));

  it("keeps the dtype", () =>
    withBackend(backendName, () => {
      expect(F.dropout(cn.ones([4], { dtype: "float64" })).dtype).toBe("float64");
      expect(F.dropout(cn.ones([4])).dtype).toBe("float32");
    }));

  it("dropout2d drops whole channels", () =>
    withBackend(backendName, () => {
      cn.manualSeed(11);
      const x = cn.ones([4, 6, 3, 3], { dtype: "float64" });
      const y = F.dropout2d(x, { p: 0.5 });
      const perChannel = y.reshape(4, 6, 9);
      let zeroChannels = 0;
      for (let n = 0; n < 4; n++) {
        for (let c = 0; c < 6; c++) {
          const vals = (perChannel.get(n, c, 0) === 0 ? [0] : [2]) as number[];
          for (let k = 0; k < 9; k++) expect(perChannel.get(n, c, k)).toBe(vals[0]);
          if (vals[0] === 0) zeroChannels++;
        }
      }
      expect(zeroChannels).toBeGreaterThan(0);
      expect(zeroChannels).toBeLessThan(24);
      expect(F.dropout2d(cn.ones([6, 3, 3]), { p: 0.5 }).shape).toEqual([6, 3, 3]);
    }));
});

describe("dropout errors", () => {
  it("names bad probabilities, options and shapes", () => {
    const x = cn.randn([2, 3]);
    expect(() => F.dropout(x, { p: 1.5 })).toThrow(
      "dropout: p must be a probability between 0 and 1, got 1.5",
    );
    expect(() => F.dropout(x, { rate: 0.5 } as never)).toThrow('dropout: unknown option "rate"');
    expect(() => F.dropout(cn.tensor([1, 2], { dtype: "int32" }))).toThrow(
      /dropout: input must be float32 or float64/,
    );
    expect(() => F.dropout2d(x)).toThrow("dropout2d: input must be [N, C, H, W] or [C, H, W], got [2,3]");
  });
});
