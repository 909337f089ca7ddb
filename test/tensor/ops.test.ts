import { describe, it } from "vitest";
import * as cn from "../../src/index.js";
import type { Tensor } from "../../src/index.js";
import { checkOp } from "../helpers/harness.js";

const F = "foundation";

describe.each(cn.listBackends())("tensor ops against PyTorch (%s backend)", (backendName) => {
  const run = (name: string, fn: (...args: any[]) => unknown, opts = {}) =>
    it(name, () => {
      const previous = cn.setBackend(backendName);
      try {
        checkOp(F, name, fn, opts);
      } finally {
        cn.setBackend(previous);
      }
    });

  run("add", (a: Tensor, b: Tensor) => a.add(b));
  run("add_broadcast", (a: Tensor, b: Tensor) => cn.add(a, b));
  run("add_scalar", (a: Tensor) => a.add(2.5));
  run("sub_broadcast", (a: Tensor, b: Tensor) => a.sub(b));
  run("mul_broadcast", (a: Tensor, b: Tensor) => a.mul(b));
  run("div", (a: Tensor, b: Tensor) => a.div(b));
  run("rdiv_scalar", (a: Tensor) => cn.div(3, a));
  run("pow", (a: Tensor, b: Tensor) => a.pow(b));
  run("pow_scalar", (a: Tensor) => a.pow(3));
  run("maximum", (a: Tensor, b: Tensor) => a.maximum(b));
  run("minimum", (a: Tensor, b: Tensor) => cn.minimum(a, b));
  for (const name of ["neg", "abs", "exp", "tanh", "sigmoid", "relu", "sin", "cos", "log", "sqrt"] as const) {
    run(name, (a: Tensor) => (a[name] as () => Tensor).call(a));
  }
  run("clamp", (a: Tensor) => a.clamp(-0.5, 0.7));
  run("where", (a: Tensor, b: Tensor) => cn.where(a.gt(b), a, b.mul(2)));
  run("float32_mul", (a: Tensor, b: Tensor) => a.mul(b));
  run("float32_exp", (a: Tensor) => a.exp());
  run("promote_f32_f64", (a: Tensor, b: Tensor) => a.add(b));

  run("sum_all", (x: Tensor) => x.sum());
  run("sum_dim", (x: Tensor) => x.sum(1));
  run("sum_dims_keepdim", (x: Tensor) => x.sum([0, 2], true));
  run("mean_dim", (x: Tensor) => x.mean(-1));
  run("var_dim", (x: Tensor) => x.var(1));
  run("var_biased", (x: Tensor) => x.var([0, 2], false, { unbiased: false }));
  run("std_all", (x: Tensor) => x.std());
  run("logsumexp", (x: Tensor) => x.logsumexp(2));
  run("max_dim", (x: Tensor) => x.max(1));
  run("min_dim_keepdim", (x: Tensor) => x.min(2, true));
  run("max_all", (x: Tensor) => x.max());
  run("argmax", (x: Tensor) => x.argmax(2));
  run("argmin_flat", (x: Tensor) => x.argmin());

  run("matmul_2d", (a: Tensor, b: Tensor) => a.matmul(b));
  run("matmul_batched_broadcast", (a: Tensor, b: Tensor) => cn.matmul(a, b));
  run("matmul_vec_mat", (a: Tensor, b: Tensor) => a.matmul(b));
  run("matmul_mat_vec", (a: Tensor, b: Tensor) => a.matmul(b));
  run("matmul_dot", (a: Tensor, b: Tensor) => a.matmul(b));
  run("matmul_float32", (a: Tensor, b: Tensor) => a.matmul(b));

  run("reshape_mul", (x: Tensor) => x.reshape(4, 15).mul(cn.arange(15, undefined, 1, { dtype: x.dtype })));
  run("permute_mul", (x: Tensor) => x.permute(2, 0, 1).mul(cn.arange(4, undefined, 1, { dtype: x.dtype })));
  run("transpose_matmul", (a: Tensor, m: Tensor) => a.transpose(0, 1).matmul(m));
  run("expand_mul", (a: Tensor, m: Tensor) => a.expand(3, 4, 2, 3).mul(m));
  run("slice_step", (x: Tensor) => x.slice(null, [1, 4], [null, null, 2]).mul(3));
  run("slice_index", (x: Tensor) => x.slice(1, null, [2]).pow(2));
  run("narrow", (x: Tensor) => x.narrow(2, 1, 3).exp());
  run("cat", (a: Tensor, b: Tensor) => cn.cat([a, b], 1));
  run("stack", (a: Tensor, b: Tensor) => cn.stack([a, b], 2));
  run("split_second", (x: Tensor) => x.split(2, 1)[1].mul(2));
  run("pad", (x: Tensor) => cn.pad(x, [1, 2, 0, 1], { value: 0.5 }));
  run("index_select", (x: Tensor, i: Tensor) => x.indexSelect(1, i));
  run("gather", (x: Tensor, i: Tensor) => x.gather(1, i));
  run("scatter_add", (x: Tensor, i: Tensor, s: Tensor) => x.scatterAdd(1, i, s));
  run("chain_rule", (p: Tensor, q: Tensor) => p.mul(q).sigmoid().sum(0).mul(p.sub(q).tanh().mean(0)).sum());
  run("linspace", () => cn.linspace(-1, 2, 7, { dtype: "float64" }));
  run("linspace_f32", () => cn.linspace(0, 1, 11));
  run("arange_step", () => cn.arange(1, 2.2, 0.3, { dtype: "float64" }));
});
