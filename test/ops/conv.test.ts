import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F, type Tensor } from "../../src/index.js";
import { checkOp, expectClose } from "../helpers/harness.js";

const FAMILY = "conv";

/** The options each PyTorch case used (see test/fixtures/torch_cases/conv.py). */
const CONV_CASES: [string, F.Conv2dOptions][] = [
  ["conv_basic", {}],
  ["conv_stride2_pad1", { stride: 2, padding: 1 }],
  ["conv_stride2_pad1_float32", { stride: 2, padding: 1 }],
  ["conv_notes_demo", { stride: 2, padding: 1 }],
  ["conv_no_bias", { padding: 1 }],
  ["conv_dilation", { padding: 1, dilation: 2 }],
  ["conv_dilation_rect", { stride: [1, 2], dilation: [2, 1] }],
  ["conv_groups", { padding: 1, groups: 2 }],
  ["conv_depthwise", { stride: 2, groups: 3 }],
  ["conv_rect", { stride: [2, 1], padding: [1, 0] }],
  ["conv_1x1", {}],
  ["conv_unbatched", { padding: 1 }],
  ["conv_groups_float32", { stride: 2, padding: [1, 2], groups: 2 }],
  ["conv_same_even_kernel", { padding: "same" }],
  ["conv_same_dilation", { padding: "same", dilation: [2, 1] }],
  ["conv_valid", { padding: "valid" }],
];

function withBackend(name: string, fn: () => void): void {
  const previous = cn.setBackend(name);
  try {
    fn();
  } finally {
    cn.setBackend(previous);
  }
}

/** Forward and gradients of `op` on float64 inputs, for comparing two implementations. */
function runWithGrads(
  op: typeof F.conv2d,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  opts: F.Conv2dOptions,
  upstreamSeed: number,
): Tensor[] {
  const xs = x.detach().requiresGrad_(true);
  const ws = w.detach().requiresGrad_(true);
  const bs = b ? b.detach().requiresGrad_(true) : null;
  const y = op(xs, ws, bs, opts);
  cn.manualSeed(upstreamSeed);
  const up = cn.randn(y.shape, { dtype: y.dtype });
  y.mul(up).sum().backward();
  return [y, xs.grad as Tensor, ws.grad as Tensor, ...(bs ? [bs.grad as Tensor] : [])];
}

function expectAllClose(a: Tensor[], b: Tensor[], what: string, tol: number): void {
  expect(a.length).toBe(b.length);
  a.forEach((t, i) => expectClose(t, b[i], `${what} [${i}]`, { atol: tol, rtol: 0 }));
}

describe.each(cn.listBackends())("conv2d (%s backend)", (backendName) => {
  for (const [name, opts] of CONV_CASES) {
    it(`${name}: conv2d matches PyTorch (forward, grads, float64 gradcheck)`, () => {
      withBackend(backendName, () =>
        checkOp(FAMILY, name, (x: Tensor, w: Tensor, b?: Tensor) => F.conv2d(x, w, b ?? null, opts)),
      );
    });
    it(`${name}: conv2dNaive matches PyTorch`, () => {
      withBackend(backendName, () =>
        checkOp(FAMILY, name, (x: Tensor, w: Tensor, b?: Tensor) => F.conv2dNaive(x, w, b ?? null, opts)),
      );
    });
  }

  it("accepts options in place of the bias", () => {
    withBackend(backendName, () =>
      checkOp(FAMILY, "conv_no_bias", (x: Tensor, w: Tensor) => F.conv2d(x, w, { padding: 1 }), {
        gradcheck: false,
      }),
    );
  });

  const agreeCases: [string, number[], number[], boolean, F.Conv2dOptions][] = [
    ["stride 2 + padding", [3, 3, 9, 8], [5, 3, 3, 3], true, { stride: 2, padding: 1 }],
    ["dilation + rectangular", [2, 2, 10, 9], [4, 2, 3, 2], false, { dilation: [2, 3], padding: [2, 1] }],
    ["groups", [2, 6, 7, 7], [9, 2, 3, 3], true, { groups: 3, stride: [1, 2], padding: 1 }],
    ["5x5 kernel, padding 2", [2, 3, 8, 8], [4, 3, 5, 5], true, { padding: 2 }],
  ];
  for (const [what, xShape, wShape, bias, opts] of agreeCases) {
    it(`conv2d and conv2dNaive agree to 1e-12 in float64: ${what}`, () => {
      withBackend(backendName, () => {
        cn.manualSeed(7);
        const x = cn.randn(xShape, { dtype: "float64" });
        const w = cn.randn(wShape, { dtype: "float64" });
        const b = bias ? cn.randn([wShape[0]], { dtype: "float64" }) : null;
        const fast = runWithGrads(F.conv2d, x, w, b, opts, 11);
        const naive = runWithGrads(F.conv2dNaive, x, w, b, opts, 11);
        expectAllClose(fast, naive, what, 1e-12);
      });
    });
  }

  it("processes a batch larger than one im2col chunk (matches conv2dNaive)", () => {
    withBackend(backendName, () => {
      cn.manualSeed(3);
      // 16*9*32*32 = 147,456 column entries per image: 30 images need several chunks of 2^20.
      const x = cn.randn([30, 16, 32, 32], { dtype: "float64" });
      const w = cn.randn([2, 16, 3, 3], { dtype: "float64" });
      const b = cn.randn([2], { dtype: "float64" });
      const fast = runWithGrads(F.conv2d, x, w, b, { padding: 1 }, 5);
      const naive = runWithGrads(F.conv2dNaive, x, w, b, { padding: 1 }, 5);
      expectAllClose(fast, naive, "chunked", 1e-10);
    });
  });

  it("accepts non-contiguous inputs and weights (views) and sends gradients through them", () => {
    withBackend(backendName, () => {
      cn.manualSeed(12);
      const base = cn.randn([2, 3, 7, 6], { dtype: "float64", requiresGrad: true });
      const wBase = cn.randn([3, 3, 4, 2], { dtype: "float64", requiresGrad: true });
      const xv = base.transpose(2, 3); // [2, 3, 6, 7], a strided view
      const wv = wBase.permute(2, 1, 0, 3); // [4, 3, 3, 2]
      const opts = { stride: 2, padding: 1 };
      const fast = runWithGrads(F.conv2d, xv, wv, null, opts, 4);
      const ref = runWithGrads(F.conv2dNaive, xv.contiguous(), wv.contiguous(), null, opts, 4);
      expectAllClose(fast, ref, "views", 1e-12);
      F.conv2d(xv, wv, null, opts).sum().backward();
      expect((base.grad as Tensor).shape).toEqual([2, 3, 7, 6]);
      expect((wBase.grad as Tensor).shape).toEqual([3, 3, 4, 2]);
    });
  });

  it("gives the weight gradient alone when the input needs none", () => {
    withBackend(backendName, () => {
      cn.manualSeed(5);
      const x = cn.randn([2, 3, 6, 6], { dtype: "float64" });
      const w = cn.randn([4, 3, 3, 3], { dtype: "float64", requiresGrad: true });
      F.conv2d(x, w, null, { stride: 2 }).sum().backward();
      expect(x.grad).toBeNull();
      const w2 = w.detach().requiresGrad_(true);
      F.conv2dNaive(x, w2, null, { stride: 2 }).sum().backward();
      expectClose(w.grad as Tensor, w2.grad as Tensor, "dw", { atol: 1e-12, rtol: 0 });
    });
  });
});

describe("conv2d validation", () => {
  const x = cn.zeros([2, 5, 8, 8]);
  const w = cn.zeros([4, 3, 3, 3]);
  it("names the channel mismatch", () => {
    expect(() => F.conv2d(x, w)).toThrow(
      "conv2d: weight [4,3,3,3] expects 3 input channels, input [2,5,8,8] has 5",
    );
    expect(() => F.conv2dNaive(x, w)).toThrow("conv2dNaive: weight [4,3,3,3] expects 3");
    expect(() => F.conv2d(cn.zeros([1, 5, 4, 4]), cn.zeros([4, 2, 3, 3]), null, { groups: 2 })).toThrow(
      "conv2d: weight [4,2,3,3] with groups=2 expects 2*2 = 4 input channels, input [1,5,4,4] has 5",
    );
    expect(() => F.conv2d(cn.zeros([1, 4, 4, 4]), cn.zeros([5, 2, 3, 3]), null, { groups: 2 })).toThrow(
      "conv2d: weight [5,2,3,3] has 5 output channels, not divisible by groups=2",
    );
  });
  it("refuses mismatched dtypes", () => {
    const w64 = cn.zeros([4, 5, 3, 3], { dtype: "float64" });
    expect(() => F.conv2d(x, w64)).toThrow("conv2d: input is float32 but weight is float64");
    const b64 = cn.zeros([4], { dtype: "float64" });
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), b64)).toThrow(
      "conv2d: input is float32 but bias is float64",
    );
    expect(() => F.conv2d(cn.zeros([1, 1, 3, 3], { dtype: "int32" }), cn.zeros([1, 1, 1, 1]))).toThrow(
      "conv2d: input must be float32 or float64, got int32",
    );
  });
  it("refuses a kernel bigger than the (padded) input", () => {
    expect(() => F.conv2d(cn.zeros([1, 1, 3, 3]), cn.zeros([1, 1, 5, 5]))).toThrow(
      "conv2d: kernel 5x5 is larger than the padded input 3x3 (input [1,1,3,3], padding 0x0)",
    );
    expect(() => F.conv2d(cn.zeros([1, 1, 5, 5]), cn.zeros([1, 1, 3, 3]), null, { dilation: 3 })).toThrow(
      "conv2d: kernel 3x3 (dilation 3x3 spans 7x7) is larger than the padded input 5x5",
    );
  });
  it("checks shapes, bias and options", () => {
    expect(() => F.conv2d(cn.zeros([8, 8]), w)).toThrow(
      "conv2d: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got [8,8]",
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3]))).toThrow("conv2d: weight must be 4-D");
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), cn.zeros([3]))).toThrow(
      "conv2d: bias must be 1-D [4] (one per output channel of weight [4,5,3,3]), got [3]",
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { stride: 0 })).toThrow(
      "conv2d: stride must be a positive integer or a pair [h, w] of them, got 0",
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { padding: [1, -1] })).toThrow(
      "conv2d: padding must be a non-negative integer or a pair [h, w] of them, got [1,-1]",
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { padding: "same", stride: 2 })).toThrow(
      'conv2d: padding "same" needs stride 1, got stride 2x2',
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { padding: "full" as "same" })).toThrow(
      'conv2d: padding must be a number, [h, w], "same" or "valid", got "full"',
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { groups: 1.5 })).toThrow(
      "conv2d: groups must be a positive integer, got 1.5",
    );
    expect(() => F.conv2d(x, cn.zeros([4, 5, 3, 3]), null, { pad: 1 } as F.Conv2dOptions)).toThrow(
      'conv2d: unknown option "pad"',
    );
  });
});

describe.each(cn.listBackends())("im2col / col2im (%s backend)", (backendName) => {
  const IM2COL: [string, F.Im2colOptions][] = [
    ["im2col_f3_p1_s2", { kernelSize: 3, padding: 1, stride: 2 }],
    ["im2col_rect", { kernelSize: [2, 3], padding: [1, 0], stride: [1, 2] }],
    ["im2col_float32", { kernelSize: 2, stride: 2 }],
  ];
  for (const [name, opts] of IM2COL) {
    it(`${name} matches PyTorch's unfold in the notes' layout (with gradient)`, () => {
      withBackend(backendName, () => checkOp(FAMILY, name, (x: Tensor) => F.im2col(x, opts)));
    });
  }
  const COL2IM: [string, number[], F.Im2colOptions][] = [
    ["col2im_f3_p1_s2", [2, 3, 5, 5], { kernelSize: 3, padding: 1, stride: 2 }],
    ["col2im_rect_float32", [2, 2, 4, 7], { kernelSize: [2, 3], padding: [1, 0], stride: [1, 2] }],
  ];
  for (const [name, shape, opts] of COL2IM) {
    it(`${name} matches PyTorch's fold (with gradient)`, () => {
      withBackend(backendName, () => checkOp(FAMILY, name, (c: Tensor) => F.col2im(c, shape, opts)));
    });
  }

  interface NotesCase {
    xShape: number[];
    kernelSize: [number, number];
    padding: number;
    stride: number;
    x: number[];
    colsShape: number[];
    cols: number[];
    upstream: number[];
    col2im: number[];
  }
  const path = fileURLToPath(new URL("../fixtures/im2col_notes.json", import.meta.url));
  const notes = (JSON.parse(readFileSync(path, "utf8")) as { cases: Record<string, NotesCase> }).cases;
  for (const [name, c] of Object.entries(notes)) {
    it(`reproduces the notes' numpy im2col_indices / col2im_indices: ${name}`, () => {
      withBackend(backendName, () => {
        const opts = { kernelSize: c.kernelSize, padding: c.padding, stride: c.stride };
        const x = cn.tensor(Float64Array.from(c.x), { dtype: "float64", shape: c.xShape });
        const cols = F.im2col(x, opts);
        expect(cols.shape).toEqual(c.colsShape);
        expect(Array.from(cols.data)).toEqual(c.cols);
        const up = cn.tensor(Float64Array.from(c.upstream), {
          dtype: "float64",
          shape: c.colsShape,
        });
        const folded = F.col2im(up, c.xShape, opts);
        const expected = cn.tensor(Float64Array.from(c.col2im), {
          dtype: "float64",
          shape: c.xShape,
        });
        expectClose(folded, expected, `${name} col2im`, { atol: 1e-12, rtol: 0 });
      });
    });
  }

  it("col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>", () => {
    withBackend(backendName, () => {
      cn.manualSeed(9);
      const opts = { kernelSize: [3, 2] as [number, number], padding: 1, stride: [2, 1] as [number, number] };
      const x = cn.randn([2, 3, 7, 6], { dtype: "float64" });
      const cols = F.im2col(x, opts);
      const y = cn.randn(cols.shape, { dtype: "float64" });
      const lhs = cols.mul(y).sum().item();
      const rhs = x
        .mul(F.col2im(y, x.shape, opts))
        .sum()
        .item();
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-10 * Math.max(1, Math.abs(lhs)));
    });
  });
});

describe("the notes' sizes", () => {
  it("7x7 input, 3x3 filter: stride 1 gives 5x5, stride 2 gives 3x3, stride 3 does not fit", () => {
    const x = cn.zeros([1, 1, 7, 7]);
    expect(F.im2col(x, { kernelSize: 3, stride: 1 }).shape).toEqual([9, 25]);
    expect(F.im2col(x, { kernelSize: 3, stride: 2 }).shape).toEqual([9, 9]);
    expect(F.conv2d(x, cn.zeros([1, 1, 3, 3]), null, { stride: 2 }).shape).toEqual([1, 1, 3, 3]);
    expect(() => F.im2col(x, { kernelSize: 3, stride: 3 })).toThrow("(7-3+0)/3+1 = 2.33, not an integer");
  });
  it("AlexNet's first layer: 227x227x3, F=11, S=4 gives X_col 363 x 3025 and a 55x55 output", () => {
    const x = cn.zeros([1, 3, 227, 227]);
    expect(F.im2col(x, { kernelSize: 11, stride: 4 }).shape).toEqual([363, 3025]);
    expect(F.conv2d(x, cn.zeros([2, 3, 11, 11]), null, { stride: 4 }).shape).toEqual([1, 2, 55, 55]);
  });
  it("pooling 224x224 with F=2, S=2 gives 112x112", () => {
    expect(F.maxPool2d(cn.zeros([1, 2, 224, 224]), { kernelSize: 2, stride: 2 }).shape).toEqual([
      1, 2, 112, 112,
    ]);
  });
});

describe("im2col validation", () => {
  it("refuses hyper-parameters that don't fit, naming the numbers", () => {
    const x = cn.zeros([1, 3, 10, 10]);
    expect(() => F.im2col(x, { kernelSize: 3, padding: 0, stride: 2 })).toThrow(
      "(10-3+0)/2+1 = 4.5, not an integer",
    );
    expect(() => F.im2col(x, { kernelSize: 3, padding: 0, stride: 2 })).toThrow(
      "im2col: the height does not fit: (10-3+0)/2+1 = 4.5, not an integer (input [1,3,10,10], kernel 3x3, padding 0x0, stride 2x2)",
    );
    expect(() => F.im2col(cn.zeros([1, 1, 5, 10]), { kernelSize: 3, stride: 2 })).toThrow(
      "im2col: the width does not fit: (10-3+0)/2+1 = 4.5",
    );
    expect(() => F.col2im(cn.zeros([27, 16]), [1, 3, 10, 10], { kernelSize: 3, stride: 2 })).toThrow(
      "col2im: the height does not fit: (10-3+0)/2+1 = 4.5, not an integer",
    );
  });
  it("refuses a kernel bigger than the input", () => {
    expect(() => F.im2col(cn.zeros([1, 1, 3, 3]), { kernelSize: 5 })).toThrow(
      "im2col: the height does not fit: kernel 5 is larger than the padded input 3",
    );
  });
  it("checks the cols shape of col2im and the options", () => {
    expect(() =>
      F.col2im(cn.zeros([27, 10]), [2, 3, 5, 5], { kernelSize: 3, padding: 1, stride: 2 }),
    ).toThrow(
      "col2im: cols [27,10] does not match xShape [2,3,5,5] with kernel 3x3, stride 2x2, padding 1x1: expected [27,18]",
    );
    expect(() => F.im2col(cn.zeros([3, 5, 5]), { kernelSize: 3 })).toThrow(
      "im2col: input must be 4-D [N, C, H, W]",
    );
    expect(() => F.im2col(cn.zeros([1, 3, 5, 5]), {} as F.Im2colOptions)).toThrow(
      "im2col: options.kernelSize is required",
    );
  });
});
