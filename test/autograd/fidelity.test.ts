/**
 * Behaviours where cnnlab used to give a different answer from PyTorch 1.13, each against a case
 * that test/fixtures/torch_cases/fidelity.py records from PyTorch.
 */
import { describe, expect, it } from "vitest";
import { F, optim, tensor, Tensor } from "../../src/index.js";
import { checkOp, expectClose, fixtureValues } from "../helpers/harness.js";

const FAM = "fidelity";
const f64 = { dtype: "float64" as const, requiresGrad: true };
const noGradcheck = { gradcheck: false as const };

describe("gradients at the edges (PyTorch fixtures)", () => {
  it("runs a leaf's hook once, on the gradient summed over its uses", () => {
    const ref = fixtureValues(FAM, "leaf_hook_reused");
    const x = tensor([1, 2, 3], f64);
    let calls = 0;
    x.registerHook((g) => {
      calls++;
      return g.clamp(-1, 1);
    });
    x.mul(3).add(x.mul(2)).sum().backward();
    expectClose(x.grad!, ref.grad as Tensor, "x.grad");
    expect(calls).toBe(ref.calls);
  });

  it("gives std a zero gradient where the std is 0", () => {
    checkOp(FAM, "std_zero_row", (t: Tensor) => t.std(1), noGradcheck);
    checkOp(FAM, "std_zero_all", (t: Tensor) => t.std(), noGradcheck);
  });

  it("gives binaryCrossEntropy finite gradients on saturated probabilities", () => {
    checkOp(FAM, "bce_saturated", (z: Tensor, t: Tensor) => F.binaryCrossEntropy(z.sigmoid(), t), {
      ...noGradcheck,
      atol: 1e-30,
    });
    checkOp(
      FAM,
      "bce_exact_probabilities",
      (p: Tensor, t: Tensor) => F.binaryCrossEntropy(p, t, { reduction: "sum" }),
      noGradcheck,
    );
  });

  it("splits the gradient between ties of max()/min()/amax/amin, not of max(dim)", () => {
    checkOp(FAM, "max_all_tie", (t: Tensor) => t.max(), noGradcheck);
    checkOp(FAM, "min_all_tie", (t: Tensor) => t.min(), noGradcheck);
    checkOp(FAM, "amax_tie", (t: Tensor) => t.amax(1), noGradcheck);
    checkOp(FAM, "amax_dims_tie", (t: Tensor) => t.amax([0, 2], true), noGradcheck);
    checkOp(FAM, "amin_tie", (t: Tensor) => t.amin(0), noGradcheck);
    checkOp(FAM, "max_dim_tie_goes_to_index", (t: Tensor) => t.max(1), noGradcheck);
  });

  it("gives pow a zero gradient where the exponent is 0, also at base 0", () => {
    checkOp(FAM, "pow_zero_scalar", (t: Tensor) => t.pow(0), noGradcheck);
    checkOp(FAM, "pow_zero_tensor", (a: Tensor, b: Tensor) => a.pow(b), noGradcheck);
  });

  it("gives round, floor and sign zero gradients", () => {
    checkOp(FAM, "round_grad", (t: Tensor) => t.round(), noGradcheck);
    checkOp(FAM, "floor_grad", (t: Tensor) => t.floor(), noGradcheck);
    checkOp(FAM, "sign_grad", (t: Tensor) => t.sign(), noGradcheck);
  });
});

describe("autograd semantics (PyTorch fixtures)", () => {
  it("accumulates into .grad in place and allows a second backward through ops that saved nothing", () => {
    const ref = fixtureValues(FAM, "grad_accumulates_in_place");
    const x = tensor([1, 2], f64);
    x.mul(2).sum().backward();
    const kept = x.grad!;
    x.mul(2).sum().backward();
    expectClose(kept, ref.kept as Tensor, "the .grad kept across the second backward");
    expect(kept === x.grad).toBe(ref.same);
    const y = x.add(1).sum();
    y.backward();
    y.backward();
    expectClose(x.grad!, ref.final as Tensor, "x.grad");
    // an op that saved tensors still refuses a second pass
    const z = x.mul(x).sum();
    z.backward();
    expect(() => z.backward()).toThrow(/mul: Trying to backward through the graph a second time/);
  });

  it("lets mul's other input change in place when only the other gradient is needed", () => {
    const ref = fixtureValues(FAM, "mul_saved_only_needed");
    const w = tensor([1, 2], f64);
    const data = tensor([3, 4], { dtype: "float64" });
    const y = w.mul(data).sum();
    const opt = new optim.SGD([w], { lr: 0.1 });
    w.grad = tensor([1, 1], { dtype: "float64" });
    opt.step();
    y.backward();
    expectClose(w.detach(), ref.w as Tensor, "w");
    expectClose(w.grad!, ref.grad as Tensor, "w.grad");
    // the saved input that the gradient does need is still checked
    const v = tensor([1, 2], f64);
    const d2 = tensor([3, 4], { dtype: "float64" });
    const y2 = d2.mul(v).sum();
    d2.add_(1);
    expect(() => y2.backward()).toThrow(/mul: saved tensor .* was modified in place/);
  });
});
