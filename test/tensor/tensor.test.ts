import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import {
  arange,
  eye,
  full,
  linspace,
  manualSeed,
  matmul,
  ones,
  rand,
  randint,
  randn,
  tensor,
  zeros,
} from "../../src/index.js";

describe("creation", () => {
  it("infers shape and dtype from nested arrays", () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(tensor([true, false]).dtype).toBe("bool");
    expect(tensor([1, 2], { dtype: "int32" }).data).toBeInstanceOf(Int32Array);
    expect(tensor(new Float64Array([1, 2])).dtype).toBe("float64");
    expect(tensor(3).shape).toEqual([]);
    expect(tensor(3).item()).toBe(3);
  });

  it("names the index of a ragged nested array", () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(
      /ragged nested array: element at \[1\] has length 1, expected length 2/,
    );
    expect(() =>
      tensor([
        [1, 2],
        [3, [4]],
      ] as never),
    ).toThrow(/element at \[1\]\[1\] is an array/);
  });

  it("rejects unknown options and dtypes", () => {
    expect(() => zeros([2], { dtyp: "float64" } as never)).toThrow(
      /zeros: unknown option "dtyp"; known options: dtype, requiresGrad/,
    );
    expect(() => zeros([2], { dtype: "float16" as never })).toThrow(/unknown dtype "float16"/);
    expect(() => zeros([2, -1])).toThrow(/shape\[1\] must be a non-negative integer/);
  });

  it("makes the usual constant tensors", () => {
    expect(ones([2]).toArray()).toEqual([1, 1]);
    expect(full([2], 7, { dtype: "int32" }).toArray()).toEqual([7, 7]);
    expect(eye(2, 3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(2, 8, 3).toArray()).toEqual([2, 5]);
    expect(linspace(0, 1, 5, { dtype: "float64" }).toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(cn.zerosLike(randn([2, 2], { dtype: "float64" })).dtype).toBe("float64");
  });

  it("manualSeed makes random draws reproducible", () => {
    manualSeed(42);
    const a = [randn([5]).toArray(), rand([3]).toArray(), randint(0, 10, [4]).toArray()];
    manualSeed(42);
    const b = [randn([5]).toArray(), rand([3]).toArray(), randint(0, 10, [4]).toArray()];
    expect(b).toEqual(a);
    manualSeed(43);
    expect(randn([5]).toArray()).not.toEqual(a[0]);
  });

  it("draws have the right distribution", () => {
    manualSeed(1);
    const x = randn([20000], { dtype: "float64" });
    expect(Math.abs(x.mean().item())).toBeLessThan(0.03);
    expect(Math.abs(x.std().item() - 1)).toBeLessThan(0.03);
    const u = rand([20000], { dtype: "float64" });
    expect(u.min().item()).toBeGreaterThanOrEqual(0);
    expect(u.max().item()).toBeLessThan(1);
    expect(Math.abs(u.mean().item() - 0.5)).toBeLessThan(0.01);
    const r = randint(3, 6, [1000]);
    expect(new Set(r.toArray()).size).toBe(3);
  });

  it("gives the same sequence on every machine (fixed xoshiro128** stream)", () => {
    const g = new cn.Generator(0);
    const first = [g.nextUint32(), g.nextUint32(), g.nextUint32()];
    const again = new cn.Generator(0);
    expect([again.nextUint32(), again.nextUint32(), again.nextUint32()]).toEqual(first);
    // integer-only arithmetic: values are plain uint32s
    for (const v of first) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });
});

describe("views", () => {
  it("reshape/view/permute/transpose/expand/slice/narrow share storage", () => {
    const x = arange(24).reshape(2, 3, 4);
    expect(x.view(6, 4).storage).toBe(x.storage);
    const p = x.permute(2, 0, 1);
    expect(p.storage).toBe(x.storage);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.isContiguous()).toBe(false);
    expect(p.get(3, 1, 2)).toBe(x.get(1, 2, 3));
    const s = x.slice(null, [1, 3], [null, null, 2]);
    expect(s.storage).toBe(x.storage);
    expect(s.toArray()).toEqual([
      [
        [4, 6],
        [8, 10],
      ],
      [
        [16, 18],
        [20, 22],
      ],
    ]);
    expect(x.narrow(2, 1, 2).storage).toBe(x.storage);
    expect(tensor([1, 2]).reshape(2, 1).expand(2, 3).strides).toEqual([1, 0]);
    expect(x.transpose(0, 2).contiguous().isContiguous()).toBe(true);
    expect(x.contiguous()).toBe(x);
  });

  it("view refuses non-contiguous input and reshape copies", () => {
    const x = arange(6).reshape(2, 3).t();
    expect(() => x.view(6)).toThrow(/not compatible with the input's strides.*reshape/);
    expect(x.reshape(6).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it(".data is the storage of a contiguous tensor and refuses views", () => {
    const x = zeros([2, 3]);
    x.data[4] = 9;
    expect(x.get(1, 1)).toBe(9);
    expect(x.get(-1, -2)).toBe(9);
    expect(() => x.t().data).toThrow(/non-contiguous view.*contiguous\(\)/);
    expect(x.slice(1).data).toEqual(new Float32Array([0, 9, 0]));
  });

  it("get/set index checks", () => {
    const x = zeros([2, 2]);
    x.set(5, 0, 1);
    expect(x.toArray()).toEqual([
      [0, 5],
      [0, 0],
    ]);
    expect(() => x.get(2, 0)).toThrow(/index 2 is out of range for dim 0 of size 2/);
    expect(() => x.get(0)).toThrow(/expected 2 indices/);
  });
});

describe("errors name op, argument and shapes", () => {
  it("matmul inner dims", () => {
    expect(() => matmul(zeros([64, 3]), zeros([4, 5]))).toThrow(
      "matmul: [64,3] @ [4,5] — inner dims 3 and 4 differ",
    );
  });
  it("matmul dtype mismatch", () => {
    expect(() => matmul(zeros([2, 3]), zeros([3, 2], { dtype: "float64" }))).toThrow(
      /matmul: dtypes differ.*float32.*float64/,
    );
  });
  it("broadcasting", () => {
    expect(() => zeros([2, 3]).add(zeros([4]))).toThrow(
      "add: shapes [2,3] and [4] cannot be broadcast (dim 1: 3 vs 4)",
    );
  });
  it("reductions out of range", () => {
    expect(() => zeros([2, 3]).sum(2)).toThrow(/sum: dim 2 is out of range for a tensor of rank 2/);
  });
  it("item on a big tensor", () => {
    expect(() => zeros([2]).item()).toThrow(/one-element tensor.*\[2\]/);
  });
  it("reshape with the wrong size", () => {
    expect(() => zeros([2, 3]).reshape(4, 2)).toThrow(
      "reshape: shape [4,2] is invalid for input [2,3] of size 6",
    );
  });
});

describe("dtype rules", () => {
  it("promote like PyTorch", () => {
    expect(zeros([1]).add(zeros([1], { dtype: "float64" })).dtype).toBe("float64");
    expect(zeros([1], { dtype: "int32" }).add(1).dtype).toBe("int32");
    expect(zeros([1], { dtype: "int32" }).add(0.5).dtype).toBe("float32");
    expect(zeros([1], { dtype: "int32" }).div(2).dtype).toBe("float32");
    expect(zeros([2]).gt(0).dtype).toBe("bool");
    expect(tensor([true, true]).sum().dtype).toBe("int32");
  });
  it("converts with to/double/float", () => {
    const x = tensor([1.7, -1.7]);
    expect(x.double().dtype).toBe("float64");
    expect(x.to("int32").toArray()).toEqual([1, -1]);
    expect(x.to("bool").toArray()).toEqual([true, true]);
  });
});

describe("toString prints like PyTorch", () => {
  it("small tensors", () => {
    expect(tensor([[1, 2]], { dtype: "float64", requiresGrad: true }).toString()).toBe(
      "tensor([[1., 2.]], dtype=torch.float64, requires_grad=True)",
    );
    expect(tensor([0.5, 1.25]).toString()).toBe("tensor([0.5000, 1.2500])");
    expect(tensor([1, 2], { dtype: "int32" }).toString()).toBe("tensor([1, 2], dtype=torch.int32)");
    expect(tensor([true, false]).toString()).toBe("tensor([ True, False])");
    expect(tensor([1e-5, 1]).toString()).toBe("tensor([1.0000e-05, 1.0000e+00])");
    expect(tensor([1, 2], { requiresGrad: true }).mul(2).toString()).toBe(
      "tensor([2., 4.], grad_fn=<MulBackward>)",
    );
  });
  it("summarises big tensors with ...", () => {
    const s = arange(2000).toString();
    expect(s).toBe("tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.])");
  });
});

describe("cat/stack/split", () => {
  it("splits into views and cat joins them back", () => {
    const x = arange(10).reshape(2, 5);
    const parts = x.split([2, 3], 1);
    expect(parts.map((p) => p.shape)).toEqual([
      [2, 2],
      [2, 3],
    ]);
    expect(cn.cat(parts, 1).toArray()).toEqual(x.toArray());
    expect(cn.stack([x, x]).shape).toEqual([2, 2, 5]);
    expect(() => cn.cat([zeros([2, 3]), zeros([3, 3])], 1)).toThrow(
      /tensors\[1\] has shape \[3,3\], which does not match tensors\[0\] \[2,3\] outside dim 1/,
    );
  });
});
