import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F, type Tensor } from "../../src/index.js";
import { checkOp } from "../helpers/harness.js";

const FAMILY = "loss";

function withBackend(name: string, fn: () => void): void {
  const previous = cn.setBackend(name);
  try {
    fn();
  } finally {
    cn.setBackend(previous);
  }
}

describe.each(cn.listBackends())("losses against PyTorch (%s backend)", (backendName) => {
  const run = (name: string, fn: (...args: any[]) => unknown, opts = {}) =>
    it(name, () => withBackend(backendName, () => checkOp(FAMILY, name, fn, opts)));

  run("cross_entropy", (x: Tensor, y: Tensor) => F.crossEntropy(x, y));
  run("cross_entropy_sum", (x: Tensor, y: Tensor) => F.crossEntropy(x, y, { reduction: "sum" }));
  run("cross_entropy_none", (x: Tensor, y: Tensor) => F.crossEntropy(x, y, { reduction: "none" }));
  run("cross_entropy_weight", (x: Tensor, y: Tensor, w: Tensor) => F.crossEntropy(x, y, { weight: w }));
  run("cross_entropy_ignore", (x: Tensor, y: Tensor) => F.crossEntropy(x, y, { ignoreIndex: 1 }));
  run("cross_entropy_smoothing", (x: Tensor, y: Tensor) => F.crossEntropy(x, y, { labelSmoothing: 0.2 }));
  run("cross_entropy_smoothing_weight_ignore", (x: Tensor, y: Tensor, w: Tensor) =>
    F.crossEntropy(x, y, { weight: w, ignoreIndex: 3, labelSmoothing: 0.1 }),
  );
  run("cross_entropy_smoothing_none", (x: Tensor, y: Tensor) =>
    F.crossEntropy(x, y, { labelSmoothing: 0.3, reduction: "none", ignoreIndex: 0 }),
  );
  run("cross_entropy_4d", (x: Tensor, y: Tensor) => F.crossEntropy(x, y));
  run("cross_entropy_1d", (x: Tensor, y: Tensor) => F.crossEntropy(x, y));
  run("cross_entropy_float32", (x: Tensor, y: Tensor) => F.crossEntropy(x, y));
  run("cross_entropy_small_scores", (x: Tensor, y: Tensor) => F.crossEntropy(x, y));

  run("nll_loss", (x: Tensor, y: Tensor) => F.nllLoss(x, y));
  run("nll_loss_weight_sum", (x: Tensor, y: Tensor, w: Tensor) =>
    F.nllLoss(x, y, { weight: w, reduction: "sum" }),
  );
  run("nll_loss_weight_mean", (x: Tensor, y: Tensor, w: Tensor) => F.nllLoss(x, y, { weight: w }));
  run("nll_loss_none_ignore", (x: Tensor, y: Tensor) =>
    F.nllLoss(x, y, { reduction: "none", ignoreIndex: 3 }),
  );
  run("nll_loss_4d", (x: Tensor, y: Tensor) => F.nllLoss(x, y, { reduction: "sum" }));

  run("mse_loss", (a: Tensor, b: Tensor) => F.mseLoss(a, b));
  run("mse_loss_sum", (a: Tensor, b: Tensor) => F.mseLoss(a, b, { reduction: "sum" }));
  run("mse_loss_none", (a: Tensor, b: Tensor) => F.mseLoss(a, b, { reduction: "none" }));
  run("mse_loss_float32", (a: Tensor, b: Tensor) => F.mseLoss(a, b));

  run("multi_margin", (x: Tensor, y: Tensor) => F.multiMarginLoss(x, y));
  run("multi_margin_sum_margin", (x: Tensor, y: Tensor) =>
    F.multiMarginLoss(x, y, { margin: 0.5, reduction: "sum" }),
  );
  run("multi_margin_p2_none", (x: Tensor, y: Tensor) => F.multiMarginLoss(x, y, { p: 2, reduction: "none" }));
  run("multi_margin_weight", (x: Tensor, y: Tensor, w: Tensor) =>
    F.multiMarginLoss(x, y, { weight: w, margin: 2 }),
  );
  run("multi_margin_float32", (x: Tensor, y: Tensor) => F.multiMarginLoss(x, y));

  run("bce", (p: Tensor, t: Tensor) => F.binaryCrossEntropy(p, t));
  run("bce_weight_sum", (p: Tensor, t: Tensor, w: Tensor) =>
    F.binaryCrossEntropy(p, t, { weight: w, reduction: "sum" }),
  );
  run("bce_with_logits", (x: Tensor, t: Tensor) => F.bceWithLogits(x, t));
  run("bce_with_logits_pos_weight_none", (x: Tensor, t: Tensor, pw: Tensor) =>
    F.bceWithLogits(x, t, { posWeight: pw, reduction: "none" }),
  );

  it("crossEntropy of tiny scores over 10 classes is ln(10) (the CS231n sanity check)", () =>
    withBackend(backendName, () => {
      const x = cn.zeros([4, 10], { dtype: "float64" });
      const y = cn.tensor([0, 3, 9, 5], { dtype: "int32" });
      expect(F.crossEntropy(x, y).item()).toBeCloseTo(Math.log(10), 12);
    }));

  it("non-contiguous inputs give the same losses and gradients as contiguous copies", () =>
    withBackend(backendName, () => {
      const base = cn.randn([6, 5], { dtype: "float64" });
      const y = cn.tensor([0, 4, 2, 1, 3], { dtype: "int32" });
      for (const loss of [
        (s: Tensor) => F.crossEntropy(s, y, { labelSmoothing: 0.1 }),
        (s: Tensor) => F.multiMarginLoss(s, y, { p: 2 }),
        (s: Tensor) => F.nllLoss(F.logSoftmax(s, 1), y),
      ]) {
        const a = base.detach().requiresGrad_(true);
        const b = base.detach().requiresGrad_(true);
        const view = a.t(); // [5, 6] view with swapped strides
        expect(view.isContiguous()).toBe(false);
        const la = loss(view);
        const lb = loss(b.t().contiguous());
        la.backward();
        lb.backward();
        expect(la.item()).toBeCloseTo(lb.item(), 14);
        expect(cn.allclose(a.grad as Tensor, b.grad as Tensor, 1e-12, 1e-14)).toBe(true);
      }
    }));

  it("multiMarginLoss reproduces the CS231n notes' SVM example (scores 13, -7, 11, Δ = 10 → 8)", () =>
    withBackend(backendName, () => {
      const x = cn.tensor([[13, -7, 11]], { dtype: "float64" });
      const y = cn.tensor([0], { dtype: "int32" });
      // the notes sum max(0, s_j - s_y + Δ) = 0 + 8; PyTorch's definition divides by the 3 classes
      expect(F.multiMarginLoss(x, y, { margin: 10, reduction: "sum" }).item()).toBeCloseTo(8 / 3, 12);
    }));
});

describe("loss errors", () => {
  const x = cn.randn([3, 4]);
  const y = cn.tensor([0, 3, 1], { dtype: "int32" });
  it("crossEntropy wants int32 class indices", () => {
    expect(() => F.crossEntropy(x, cn.tensor([0, 3, 1]))).toThrow(
      /crossEntropy: target must be int32 class indices \(shape \[3\]\), got float32; convert with target.to\("int32"\)/,
    );
    expect(() => F.nllLoss(x, cn.tensor([true, false, true]))).toThrow(
      /nllLoss: target must be int32.*got bool/,
    );
  });
  it("an out-of-range class names the index and value", () => {
    expect(() => F.crossEntropy(x, cn.tensor([0, 4, 1], { dtype: "int32" }))).toThrow(
      "crossEntropy: target[1] = 4 is out of range for 4 classes (valid: 0..3, or ignoreIndex -100)",
    );
    expect(() =>
      F.nllLoss(
        cn.randn([2, 3, 2]),
        cn.tensor(
          [
            [0, 1],
            [2, -1],
          ],
          { dtype: "int32" },
        ),
      ),
    ).toThrow("nllLoss: target[1,1] = -1 is out of range for 3 classes");
    expect(() => F.multiMarginLoss(x, cn.tensor([0, 7, 1], { dtype: "int32" }))).toThrow(
      "multiMarginLoss: target[1] = 7 is out of range for 4 classes (valid: 0..3)",
    );
    // an ignored target is not an error
    expect(() => F.crossEntropy(x, cn.tensor([0, -100, 1], { dtype: "int32" }))).not.toThrow();
  });
  it("shape mismatches name both shapes", () => {
    expect(() => F.crossEntropy(x, cn.tensor([0, 1], { dtype: "int32" }))).toThrow(
      "crossEntropy: input [3,4] (4 classes in dim 1) needs target of shape [3], got target [2]",
    );
    expect(() => F.mseLoss(x, cn.randn([3, 5]))).toThrow(
      "mseLoss: target [3,5] must have the same shape as input [3,4]",
    );
    expect(() => F.crossEntropy(x, y, { weight: cn.ones([3]) })).toThrow(
      "crossEntropy: weight [3] must be [4], one per class of input [3,4]",
    );
    expect(() => F.multiMarginLoss(x, cn.tensor([0, 1], { dtype: "int32" }))).toThrow(
      "multiMarginLoss: input [3,4] needs target of shape [3], got target [2]",
    );
    expect(() => F.binaryCrossEntropy(cn.rand([2, 2]), cn.rand([2]))).toThrow(
      "binaryCrossEntropy: target [2] must have the same shape as input [2,2]",
    );
  });
  it("unknown options and bad option values are refused", () => {
    expect(() => F.crossEntropy(x, y, { reduce: "sum" } as never)).toThrow(
      'crossEntropy: unknown option "reduce"',
    );
    expect(() => F.crossEntropy(x, y, { reduction: "avg" as never })).toThrow(
      'crossEntropy: reduction must be "mean", "sum" or "none", got "avg"',
    );
    expect(() => F.crossEntropy(x, y, { labelSmoothing: 1.5 })).toThrow(
      /labelSmoothing must be a number in \[0, 1\]/,
    );
    expect(() => F.multiMarginLoss(x, y, { p: 3 })).toThrow("multiMarginLoss: p must be 1 or 2, got 3");
    expect(() => F.mseLoss(x, x, { weight: 2 } as never)).toThrow('mseLoss: unknown option "weight"');
  });
  it("binaryCrossEntropy refuses values that are not probabilities", () => {
    expect(() => F.binaryCrossEntropy(cn.tensor([0.5, 1.5]), cn.tensor([0, 1]))).toThrow(
      "binaryCrossEntropy: input[1] = 1.5 is not a probability in [0, 1]",
    );
  });
});
