/**
 * Behaviours where cnnlab used to give a different answer from PyTorch 1.13, each against a case
 * that test/fixtures/torch_cases/fidelity.py records from PyTorch.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cat,
  F,
  listBackends,
  ones,
  optim,
  rand,
  randn,
  setBackend,
  stack,
  tensor,
  Tensor,
  where,
  zeros,
} from "../../src/index.js";
import { autogradGraph } from "../../src/display/graph.js";
import { checkOp, expectClose, fixtureValues } from "../helpers/harness.js";

const FAM = "fidelity";
const f64 = { dtype: "float64" as const, requiresGrad: true };
const noGradcheck = { gradcheck: false as const };

/** Same dtype and values as the PyTorch result. */
function same(actual: Tensor, expected: unknown, what: string): void {
  const e = expected as Tensor;
  expect(actual.dtype, `${what}: dtype`).toBe(e.dtype);
  if (e.dtype === "int32" || e.dtype === "bool") expect(actual.toArray(), what).toEqual(e.toArray());
  else expectClose(actual, e, what);
}

describe.each(listBackends())("PyTorch fidelity (%s backend)", (backendName) => {
  let previous = "";
  beforeEach(() => {
    previous = setBackend(backendName);
  });
  afterEach(() => {
    setBackend(previous);
  });

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

  describe("values and types (PyTorch fixtures)", () => {
    it("promotes with a 0-d operand by PyTorch's category rule", () => {
      const ref = fixtureValues(FAM, "promote_zero_dim");
      const f32 = tensor([3, 4]);
      const i32 = tensor([3, 4], { dtype: "int32" });
      const d0 = tensor(2, { dtype: "float64" });
      same(f32.mul(d0), ref.f32_f64, "float32 [2] × float64 0-d");
      same(i32.mul(d0), ref.i32_f64, "int32 [2] × float64 0-d");
      same(i32.mul(tensor(2)), ref.i32_f32, "int32 [2] × float32 0-d");
      same(tensor(1).mul(d0), ref.zero_zero, "float32 0-d × float64 0-d");
      same(
        tensor(2, { dtype: "int32" }).mul(ones([2], { dtype: "float64" })),
        ref.zero_int_dimmed_f64,
        "int32 0-d × float64 [2]",
      );
      same(where(tensor([true, false]), f32, d0), ref.where, "where(float32 [2], float64 0-d)");
      same(tensor([true, false]).mul(tensor(3, { dtype: "int32" })), ref.bool_i32, "bool [2] × int32 0-d");
      // the point of the rule: a float32 pipeline stays float32
      expect(
        f32
          .mul(d0)
          .reshape([1, 2])
          .matmul(ones([2, 1])).dtype,
      ).toBe("float32");
    });

    it("refuses in-place writes into an expanded view, except a uniform fill", () => {
      const ref = fixtureValues(FAM, "inplace_expanded");
      const e = tensor([[1, 2, 3]]);
      expect(ref.add_refused).toBe(true);
      expect(() => e.expand(2, 3).add_(ones([2, 3]))).toThrow(
        "add_: more than one element of this [2,3] tensor refers to the same memory (dim 0 is expanded); call .clone() first",
      );
      expect(ref.copy_refused).toBe(true);
      expect(() => e.expand(2, 3).copy_(ones([2, 3]))).toThrow(/copy_: more than one element/);
      same(e.clone().expand(2, 3).fill_(7), ref.fill, "fill_ of an expanded view");
      expect(e.toArray()).toEqual([[1, 2, 3]]);
    });

    it("follows PyTorch's int32 rules: refusals, clamp promotion, exact products", () => {
      const ref = fixtureValues(FAM, "int32_rules");
      const int = (v: number[]) => tensor(v, { dtype: "int32" });
      expect([ref.mul_refused, ref.div_refused, ref.pow_refused]).toEqual([true, true, true]);
      expect(() => int([1, 2]).mul_(1.5)).toThrow(
        "mul_: the result type float32 can't be cast to the tensor's dtype int32; convert the tensor first (e.g. .float())",
      );
      expect(() => int([1, 2]).div_(2)).toThrow(/div_: the result type float32 can't be cast/);
      expect(() => int([1, 2, 3]).pow(-1)).toThrow(
        /pow: integers to negative integer powers are not allowed/,
      );
      same(int([1, 2, 3]).pow(2), ref.pow_two, "int32 pow(2)");
      same(int([1, 2, 3]).clamp(-1.5, 2.5), ref.clamp, "int32 clamp(-1.5, 2.5)");
      same(int([-3, 2, 3]).clamp(-1, 2), ref.clamp_int, "int32 clamp(-1, 2)");
      same(
        int([123456789, -2147483648, 65536]).mul(int([987654321, -1, 65536])),
        ref.product,
        "int32 products",
      );
    });

    it("gives sign(NaN) = 0", () => {
      same(tensor([NaN, -0, -2, 3]).sign(), fixtureValues(FAM, "sign_nan").sign, "sign");
    });

    it("refuses F.batchNorm momentum: null with a message pointing at the module", () => {
      expect(fixtureValues(FAM, "batch_norm_momentum_none").refused).toBe(true);
      expect(() =>
        F.batchNorm(ones([4, 3]), zeros([3]), ones([3]), null, null, {
          training: true,
          momentum: null as unknown as number,
        }),
      ).toThrow(/batchNorm: momentum must be a number, got null .*nn\.BatchNorm1d\/2d/);
    });
  });

  describe("0-d and empty reductions (PyTorch fixtures)", () => {
    it("reduces a 0-d tensor over dim 0 / -1 to its value", () => {
      checkOp(FAM, "zero_dim_sum", (t: Tensor) => t.sum(0));
      checkOp(FAM, "zero_dim_sum_keepdim", (t: Tensor) => t.sum(-1, true));
      checkOp(FAM, "zero_dim_mean", (t: Tensor) => t.mean(0));
      checkOp(FAM, "zero_dim_max", (t: Tensor) => t.max(0));
      checkOp(FAM, "zero_dim_argmax", (t: Tensor) => t.argmax(0));
      checkOp(FAM, "zero_dim_logsumexp", (t: Tensor) => t.logsumexp(0));
      checkOp(FAM, "zero_dim_amax", (t: Tensor) => t.amax(0));
      const ref = fixtureValues(FAM, "zero_dim_var");
      const z = tensor(2.5, { dtype: "float64" });
      same(z.var(0), ref.var, "var(0) of a 0-d tensor");
      same(z.std(0, false, { unbiased: false }), ref.std, "std(0, unbiased=False) of a 0-d tensor");
    });

    it("reduces over an empty dim where PyTorch does, and names the op where it refuses", () => {
      const ref = fixtureValues(FAM, "empty_dim");
      const e = zeros([2, 0]);
      same(e.logsumexp(1), ref.logsumexp, "logsumexp over an empty dim");
      same(e.sum(1), ref.sum, "sum over an empty dim");
      same(e.mean(1), ref.mean, "mean over an empty dim");
      expect([ref.max_refused, ref.amax_refused, ref.argmax_refused]).toEqual([true, true, true]);
      const empty = (op: string) =>
        `${op}: cannot reduce over an empty dimension (dim 1 has size 0 in input [2,0]); this op has no identity`;
      expect(() => e.max(1)).toThrow(empty("max"));
      expect(() => e.min(1)).toThrow(empty("min"));
      expect(() => e.amax(1)).toThrow(empty("amax"));
      expect(() => e.argmax(1)).toThrow(empty("argmax"));
    });

    it("refuses cat of 0-d tensors by name and stacks them", () => {
      const ref = fixtureValues(FAM, "cat_zero_dim");
      expect(ref.refused).toBe(true);
      expect(() => cat([tensor(1), tensor(2)])).toThrow(
        "cat: tensors[0] is zero-dimensional and cannot be concatenated; use stack, or reshape it to [1]",
      );
      same(stack([tensor(1), tensor(2)]), ref.stack, "stack of 0-d tensors");
    });

    it("sums over several dims at once, on contiguous and permuted inputs", () => {
      checkOp(FAM, "sum_dims_023", (t: Tensor) => t.sum([0, 2, 3]));
      checkOp(FAM, "sum_dims_023_permuted", (t: Tensor) => t.permute(0, 3, 1, 2).sum([0, 2, 3]));
      checkOp(FAM, "sum_dims_01_keepdim", (t: Tensor) => t.sum([0, 1], true));
      checkOp(FAM, "max_dims_02", (t: Tensor) => t.amax([0, 2]));
    });
  });
});

describe("the graph the student sees (PyTorch's node names)", () => {
  const torchNames = fixtureValues(FAM, "node_names").names as Record<string, string>;
  const a = randn([3, 3], { requiresGrad: true });
  const v = randn([3], { requiresGrad: true });
  const b3 = randn([2, 3, 3], { requiresGrad: true });
  const x = randn([2, 3, 8, 8], { requiresGrad: true });
  const w = randn([4, 3], { requiresGrad: true });
  const bias = randn([4], { requiresGrad: true });
  const cases: Record<string, () => Tensor> = {
    mm: () => a.matmul(a),
    mv: () => a.matmul(v),
    dot: () => v.matmul(v),
    linear: () => F.linear(a, w, bias),
    linear_no_bias: () => F.linear(a, w),
    conv2d: () => F.conv2d(x, randn([4, 3, 3, 3]), randn([4])),
    max_pool2d: () => F.maxPool2d(x, { kernelSize: 2 }),
    avg_pool2d: () => F.avgPool2d(x, { kernelSize: 2 }),
    adaptive_avg_pool2d: () => F.adaptiveAvgPool2d(x, [2, 2]),
    batch_norm: () => F.batchNorm(x, null, null, null, null, { training: true }),
    layer_norm: () => F.layerNorm(a, [3]),
    group_norm: () => F.groupNorm(x, 3),
    cross_entropy: () => F.crossEntropy(a, tensor([0, 1, 2], { dtype: "int32" })),
    mse_loss: () => F.mseLoss(a, a.detach()),
    bce_with_logits: () => F.bceWithLogits(a, a.detach()),
    bce: () => F.binaryCrossEntropy(a.sigmoid(), rand([3, 3])),
    softmax: () => F.softmax(a, 1),
    view: () => a.view(9),
    t: () => a.t(),
    transpose: () => a.transpose(0, 1),
    permute: () => a.permute(1, 0),
    unsqueeze: () => a.unsqueeze(0),
    squeeze: () => a.unsqueeze(0).squeeze(0),
    select: () => a.select(0, 1),
    slice: () => a.narrow(1, 0, 2),
    to: () => a.to("float64"),
    square: () => a.square(),
    mean: () => a.mean(),
    mean_dim: () => a.mean(1),
    sum: () => a.sum(),
    var: () => a.var(),
    std: () => a.std(),
    amax: () => a.amax(1),
    max: () => a.max(),
    max_dim: () => a.max(1).values,
    logsumexp: () => a.logsumexp(1),
    cat: () => cat([a, a]),
    stack: () => stack([a, a]),
    pad: () => F.pad(a, [1, 1]),
    split: () => a.split(1)[0],
    add_alpha: () => a.add(a, 2),
    expand: () => v.expand(3, 3),
    where: () => where(a.gt(0), a, 0),
    clamp: () => a.clamp(0, 1),
    round: () => a.round(),
    dropout: () => F.dropout(a, { p: 0.5, training: true }),
  };

  it.each(Object.keys(cases))("%s has PyTorch's grad_fn name, in grad_fn, the repr and the graph", (key) => {
    const t = cases[key]();
    expect(t.gradFn?.name).toBe(torchNames[key]);
    expect(t.toString()).toContain(`grad_fn=<${torchNames[key]}>`);
    const ops = autogradGraph(t).nodes.filter((n) => n.kind === "op");
    expect(ops[0].lines[0]).toBe(torchNames[key]);
  });

  it("draws a.matmul(a).relu().sum() as PyTorch's chain, without internal reshapes", () => {
    const g = autogradGraph(a.matmul(a).relu().sum());
    const ops = g.nodes.filter((n) => n.kind === "op").map((n) => n.lines[0]);
    expect(ops.join(" > ")).toBe(torchNames.chain_mm_relu_sum);
    // the two uses of a enter the product once
    const leaves = g.nodes.filter((n) => n.kind === "leaf");
    expect(leaves).toHaveLength(1);
    // the hidden nodes still run in backward
    a.grad = null;
    a.matmul(a).relu().sum().backward();
    expect(a.grad).not.toBeNull();
  });

  it("shows a batched product as BmmBackward where PyTorch wraps it in an UnsafeViewBackward", () => {
    expect(torchNames.bmm).toBe("UnsafeViewBackward");
    expect(b3.matmul(randn([2, 3, 3])).gradFn?.name).toBe("BmmBackward");
  });
});
