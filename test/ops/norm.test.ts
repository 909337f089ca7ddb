import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F, type Tensor } from "../../src/index.js";
import { checkOp, decode, expectClose, loadFixtures } from "../helpers/harness.js";

const FAMILY = "norm";

function withBackend(name: string, fn: () => void): void {
  const previous = cn.setBackend(name);
  try {
    fn();
  } finally {
    cn.setBackend(previous);
  }
}

describe.each(cn.listBackends())("normalization layers against PyTorch (%s backend)", (backendName) => {
  const run = (name: string, fn: (...args: any[]) => unknown, opts = {}) =>
    it(name, () => withBackend(backendName, () => checkOp(FAMILY, name, fn, opts)));

  const train =
    (options: { momentum?: number; eps?: number } = {}) =>
    (x: Tensor, rm: Tensor, rv: Tensor, w?: Tensor, b?: Tensor) => {
      const y = F.batchNorm(x, rm, rv, w, b, { training: true, ...options });
      return [y, rm, rv];
    };
  run("batchnorm2d_train", train());
  run("batchnorm1d_train", train({ momentum: 0.3, eps: 1e-3 }));
  run("batchnorm2d_train_noaffine", train());
  run("batchnorm2d_train_float32", train());
  run("batchnorm3d_input_train", train());
  run("batchnorm2d_eval", (x: Tensor, rm: Tensor, rv: Tensor, w: Tensor, b: Tensor) =>
    F.batchNorm(x, rm, rv, w, b, { training: false }),
  );
  run("batchnorm1d_eval_float32", (x: Tensor, rm: Tensor, rv: Tensor, w: Tensor, b: Tensor) =>
    F.batchNorm(x, rm, rv, w, b, { eps: 1e-3 }),
  );

  run("groupnorm", (x: Tensor, w: Tensor, b: Tensor) => F.groupNorm(x, 3, w, b));
  run("groupnorm_one_group_noaffine", (x: Tensor) => F.groupNorm(x, 1, null, null, { eps: 1e-3 }));
  run("groupnorm_per_channel_float32", (x: Tensor, w: Tensor, b: Tensor) => F.groupNorm(x, 6, w, b));
  run("groupnorm_weight_only_3d", (x: Tensor, w: Tensor) => F.groupNorm(x, 2, w));
  run("groupnorm_bias_only", (x: Tensor, b: Tensor) => F.groupNorm(x, 3, null, b));
  run("groupnorm_2d_input", (x: Tensor, w: Tensor, b: Tensor) => F.groupNorm(x, 2, w, b));

  run("layernorm_last", (x: Tensor, w: Tensor, b: Tensor) => F.layerNorm(x, 4, w, b));
  run("layernorm_chw", (x: Tensor, w: Tensor, b: Tensor) => F.layerNorm(x, [3, 5, 5], w, b, { eps: 1e-4 }));
  run("layernorm_weight_only", (x: Tensor, w: Tensor) => F.layerNorm(x, [4], w));
  run("layernorm_noaffine_float32", (x: Tensor) => F.layerNorm(x, [5]));

  run("lrn_default", (x: Tensor) => F.localResponseNorm(x, 5));
  run("lrn_strong", (x: Tensor) => F.localResponseNorm(x, 3, { alpha: 0.5, beta: 0.75, k: 2 }));
  run("lrn_even_size_3d", (x: Tensor) => F.localResponseNorm(x, 4, { alpha: 0.3, beta: 0.6, k: 1.5 }));
  run("lrn_float32", (x: Tensor) => F.localResponseNorm(x, 5, { alpha: 0.2, k: 1 }));

  it("batchNorm in training mode: output has per-channel mean 0 and variance 1, running stats follow PyTorch over several steps", () =>
    withBackend(backendName, () => {
      const c = loadFixtures(FAMILY).batchnorm2d_train;
      const x = decode(c.args[0]) as Tensor;
      const rm = cn.zeros([3], { dtype: "float64" });
      const rv = cn.ones([3], { dtype: "float64" });
      const y = F.batchNorm(x, rm, rv, null, null, { training: true });
      const perChannel = y.permute(1, 0, 2, 3).reshape(3, -1);
      expectClose(perChannel.mean(1), cn.zeros([3], { dtype: "float64" }), "mean", { atol: 1e-12 });
      // biased variance of the normalized output is var/(var+eps), just under 1
      const v = perChannel.var(1, false, { unbiased: false });
      const batchVar = x.permute(1, 0, 2, 3).reshape(3, -1).var(1, false, { unbiased: false });
      expectClose(v, batchVar.div(batchVar.add(1e-5)), "variance", { atol: 1e-12 });
      // running stats after one step from (0, 1): 0.1·mean and 0.9 + 0.1·unbiased var
      const m = x.permute(1, 0, 2, 3).reshape(3, -1);
      expectClose(rm, m.mean(1).mul(0.1), "running mean", { atol: 1e-12 });
      expectClose(rv, m.var(1).mul(0.1).add(0.9), "running var", { atol: 1e-12 });
      // a second step applies the same moving average to the new values
      const before = rm.clone();
      F.batchNorm(x.mul(2), rm, rv, null, null, { training: true, momentum: 0.5 });
      expectClose(rm, before.mul(0.5).add(m.mean(1).mul(2).mul(0.5)), "running mean, step 2", {
        atol: 1e-12,
      });
    }));

  it("non-contiguous inputs give the same outputs and gradients as contiguous copies", () =>
    withBackend(backendName, () => {
      const base = cn.randn([3, 4, 6, 5], { dtype: "float64" });
      const w = cn.rand([4], { dtype: "float64" });
      for (const layer of [
        (x: Tensor) => F.batchNorm(x, null, null, w, null, { training: true }),
        (x: Tensor) => F.groupNorm(x, 2, w, w),
        (x: Tensor) => F.layerNorm(x, [5, 6]),
        (x: Tensor) => F.localResponseNorm(x, 3, { alpha: 0.5 }),
      ]) {
        const a = base.detach().requiresGrad_(true);
        const b = base.detach().requiresGrad_(true);
        const g = cn.randn([3, 4, 5, 6], { dtype: "float64" });
        const xa = a.transpose(2, 3); // [3, 4, 5, 6] view with swapped strides
        expect(xa.isContiguous()).toBe(false);
        const ya = layer(xa);
        const yb = layer(b.transpose(2, 3).contiguous());
        expect(cn.allclose(ya, yb, 1e-12, 1e-14)).toBe(true);
        ya.mul(g).sum().backward();
        yb.mul(g).sum().backward();
        expect(cn.allclose(a.grad as Tensor, b.grad as Tensor, 1e-12, 1e-14)).toBe(true);
      }
    }));

  it("batchNorm in eval mode uses the running statistics and leaves them alone", () =>
    withBackend(backendName, () => {
      const x = cn.tensor(
        [
          [1, 2],
          [3, 6],
        ],
        { dtype: "float64" },
      );
      const rm = cn.tensor([1, 2], { dtype: "float64" });
      const rv = cn.tensor([4, 16], { dtype: "float64" });
      const y = F.batchNorm(x, rm, rv, null, null, { eps: 0 });
      expect(y.toArray()).toEqual([
        [0, 0],
        [1, 1],
      ]);
      expect(rm.toArray()).toEqual([1, 2]);
      expect(rv.toArray()).toEqual([4, 16]);
    }));

  it("batchNorm training updates running stats that autograd tracks nowhere, and the graph stays valid", () =>
    withBackend(backendName, () => {
      const x = cn.randn([4, 2, 3, 3], { dtype: "float64", requiresGrad: true });
      const rm = cn.zeros([2], { dtype: "float64" });
      const rv = cn.ones([2], { dtype: "float64" });
      const w = cn.ones([2], { dtype: "float64", requiresGrad: true });
      const y = F.batchNorm(x, rm, rv, w, null, { training: true });
      expect(rm.requiresGrad).toBe(false);
      y.mul(y).sum().backward();
      expect(x.grad?.shape).toEqual([4, 2, 3, 3]);
      expect(w.grad?.shape).toEqual([2]);
    }));

  it("batchNorm without running stats in training mode works (PyTorch allows None)", () =>
    withBackend(backendName, () => {
      const c = loadFixtures(FAMILY).batchnorm2d_train_noaffine;
      const x = decode(c.args[0]) as Tensor;
      const expected = decode(c.outputs[0]) as Tensor;
      expectClose(F.batchNorm(x, null, null, null, null, { training: true }), expected, "output");
    }));
});

describe("normalization layer errors", () => {
  const x = cn.randn([2, 3, 4, 4]);
  it("batchNorm names shapes, dtypes and options", () => {
    expect(() => F.batchNorm(x, cn.zeros([4]), cn.ones([3]), null, null, { training: true })).toThrow(
      "batchNorm: runningMean [4] must be [3], one value per channel of input [2,3,4,4]",
    );
    expect(() => F.batchNorm(x, null, null, null, null, {})).toThrow(
      /eval mode .* needs runningMean and runningVar/,
    );
    expect(() => F.batchNorm(x, null, null, null, null, { training: true, mometum: 0.1 } as never)).toThrow(
      'batchNorm: unknown option "mometum"',
    );
    expect(() => F.batchNorm(cn.randn([4]), null, null, null, null, { training: true })).toThrow(
      /batchNorm: input must be \[N, C\].*got \[4\]/,
    );
    expect(() => F.batchNorm(cn.randn([1, 3]), null, null, null, null, { training: true })).toThrow(
      "batchNorm: training needs more than 1 value per channel, input [1,3] has 1",
    );
    expect(() =>
      F.batchNorm(x, cn.zeros([3], { dtype: "float64" }), cn.ones([3]), null, null, { training: true }),
    ).toThrow(/runningMean \[3\] is float64 but input \[2,3,4,4\] is float32/);
  });
  it("groupNorm and layerNorm name the mismatch", () => {
    expect(() => F.groupNorm(x, 2)).toThrow(
      "groupNorm: numGroups 2 must be a positive divisor of the 3 channels of input [2,3,4,4]",
    );
    expect(() => F.groupNorm(x, 3, cn.ones([4]))).toThrow("groupNorm: weight [4] must be [3]");
    expect(() => F.layerNorm(x, [4, 5])).toThrow(
      "layerNorm: normalizedShape [4,5] must match the trailing dims of input [2,3,4,4]",
    );
    expect(() => F.layerNorm(x, [4], cn.ones([5]))).toThrow(
      "layerNorm: weight [5] must have normalizedShape [4]",
    );
    expect(() => F.layerNorm(x, [4], null, null, { epsilon: 1 } as never)).toThrow(
      'layerNorm: unknown option "epsilon"',
    );
  });
  it("localResponseNorm checks rank, size and options", () => {
    expect(() => F.localResponseNorm(cn.randn([2, 3]), 3)).toThrow(
      "localResponseNorm: input must be [N, C, ...] with at least 3 dims, got [2,3]",
    );
    expect(() => F.localResponseNorm(x, 0)).toThrow(/size must be a positive integer/);
    expect(() => F.localResponseNorm(x, 3, { n: 2 } as never)).toThrow(
      'localResponseNorm: unknown option "n"',
    );
  });
});
