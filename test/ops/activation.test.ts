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

describe.each(cn.listBackends())(
  "softmax, linear and activations against PyTorch (%s backend)",
  (backendName) => {
    const run = (name: string, fn: (...args: any[]) => unknown, opts = {}) =>
      it(name, () => withBackend(backendName, () => checkOp(FAMILY, name, fn, opts)));

    run("softmax_dim1", (x: Tensor) => F.softmax(x, 1));
    run("softmax_dim0", (x: Tensor) => F.softmax(x, 0));
    run("softmax_4d_channel", (x: Tensor) => F.softmax(x, 1));
    // scores ×300: a naive exp would overflow
    run("softmax_large", (x: Tensor) => F.softmax(x, -1));
    run("log_softmax_dim1", (x: Tensor) => F.logSoftmax(x, 1));
    run("log_softmax_last_4d", (x: Tensor) => F.logSoftmax(x, -1));
    run("log_softmax_float32", (x: Tensor) => F.logSoftmax(x, 1));
    run("softmax_float32", (x: Tensor) => F.softmax(x, 1));

    run("linear", (x: Tensor, w: Tensor, b: Tensor) => F.linear(x, w, b));
    run("linear_nobias_3d", (x: Tensor, w: Tensor) => F.linear(x, w));
    run("linear_float32", (x: Tensor, w: Tensor, b: Tensor) => F.linear(x, w, b));

    run("hardtanh", (x: Tensor) => F.hardtanh(x));
    run("hardtanh_range", (x: Tensor) => F.hardtanh(x, -0.5, 2));
    run("elu", (x: Tensor) => F.elu(x));
    run("elu_alpha", (x: Tensor) => F.elu(x, 0.7));
    run("gelu", (x: Tensor) => F.gelu(x));
    run("gelu_wide", (x: Tensor) => F.gelu(x));
    run("gelu_tanh", (x: Tensor) => F.gelu(x, { approximate: "tanh" }));
    run("gelu_float32", (x: Tensor) => F.gelu(x));

    it("softmax rows sum to 1 and logSoftmax is its logarithm", () =>
      withBackend(backendName, () => {
        const x = cn.randn([3, 5], { dtype: "float64" });
        const p = F.softmax(x, 1);
        for (const s of p.sum(1).toArray() as number[]) expect(s).toBeCloseTo(1, 14);
        expect(cn.allclose(F.logSoftmax(x, 1), p.log(), 1e-12, 1e-14)).toBe(true);
      }));

    it("softmax of a 0-d tensor is 1", () =>
      withBackend(backendName, () => {
        expect(F.softmax(cn.tensor(3.5), 0).item()).toBe(1);
        expect(F.logSoftmax(cn.tensor(3.5), -1).item()).toBe(0);
      }));
  },
);

describe("activation errors", () => {
  it("linear names both shapes and dtypes", () => {
    expect(() => F.linear(cn.randn([2, 5]), cn.randn([3, 4]))).toThrow(
      "linear: input [2,5] has 5 features but weight [3,4] expects 4",
    );
    expect(() => F.linear(cn.randn([2, 4]), cn.randn([3, 4]), cn.randn([4]))).toThrow(
      "linear: bias [4] must be [3] for weight [3,4]",
    );
    expect(() => F.linear(cn.randn([2, 4]), cn.randn([3, 4], { dtype: "float64" }))).toThrow(
      /linear: input \[2,4\] is float32 but weight \[3,4\] is float64/,
    );
  });
  it("softmax needs an integer dim in range", () => {
    expect(() => F.softmax(cn.randn([2, 3]), undefined as never)).toThrow(/softmax: dim must be an integer/);
    expect(() => F.logSoftmax(cn.randn([2, 3]), 2)).toThrow(/logSoftmax/);
    expect(() => F.softmax(cn.tensor([1, 2], { dtype: "int32" }), 0)).toThrow(
      /softmax: input must be float32 or float64, got int32/,
    );
  });
  it("gelu refuses an unknown approximation or option", () => {
    expect(() => F.gelu(cn.randn([2]), { approximate: "erf" as never })).toThrow(
      'gelu: approximate must be "none" or "tanh", got "erf"',
    );
    expect(() => F.gelu(cn.randn([2]), { approx: "tanh" } as never)).toThrow('gelu: unknown option "approx"');
  });
});
