import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F, type Tensor } from "../../src/index.js";
import { checkOp } from "../helpers/harness.js";

const FAMILY = "conv";

function withBackend(name: string, fn: () => void): void {
  const previous = cn.setBackend(name);
  try {
    fn();
  } finally {
    cn.setBackend(previous);
  }
}

/** The notes' max-pooling figure: one 4x4 depth slice, 2x2 filters, stride 2. */
const NOTES_SLICE = [
  [1, 1, 2, 4],
  [5, 6, 7, 8],
  [3, 2, 1, 0],
  [1, 2, 3, 4],
];

describe.each(cn.listBackends())("pooling against PyTorch (%s backend)", (backendName) => {
  const run = (name: string, fn: (x: Tensor) => unknown) =>
    it(name, () => withBackend(backendName, () => checkOp(FAMILY, name, fn)));

  run("maxpool_f2_s2", (x) => F.maxPool2d(x, { kernelSize: 2, stride: 2 }));
  run("maxpool_f2_s2_float32", (x) => F.maxPool2d(x, { kernelSize: 2 }));
  run("maxpool_overlap_f3_s2", (x) => F.maxPool2d(x, { kernelSize: 3, stride: 2 }));
  run("maxpool_pad", (x) => F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }));
  run("maxpool_indices", (x) => F.maxPool2d(x, { kernelSize: 2, stride: 2, returnIndices: true }));
  run("maxpool_indices_overlap_pad", (x) =>
    F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, returnIndices: true }),
  );
  run("maxpool_rect", (x) => F.maxPool2d(x, { kernelSize: [2, 3], stride: [2, 1] }));
  run("maxpool_ceil", (x) => F.maxPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true }));
  run("maxpool_dilation", (x) => F.maxPool2d(x, { kernelSize: 2, stride: 1, dilation: 2 }));
  run("maxpool_unbatched", (x) => F.maxPool2d(x, { kernelSize: 2 }));

  run("avgpool_f2_s2", (x) => F.avgPool2d(x, { kernelSize: 2, stride: 2 }));
  run("avgpool_overlap_f3_s2", (x) => F.avgPool2d(x, { kernelSize: 3, stride: 2 }));
  run("avgpool_pad", (x) => F.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }));
  run("avgpool_pad_exclude", (x) =>
    F.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
  );
  run("avgpool_ceil", (x) => F.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }));
  run("avgpool_rect_float32", (x) => F.avgPool2d(x, { kernelSize: [2, 3], stride: [1, 2] }));

  run("adaptive_7_to_3", (x) => F.adaptiveAvgPool2d(x, 3));
  run("adaptive_rect", (x) => F.adaptiveAvgPool2d(x, [2, 3]));
  run("adaptive_keep_height", (x) => F.adaptiveAvgPool2d(x, [null, 2]));
  run("adaptive_upsample", (x) => F.adaptiveAvgPool2d(x, 4));
  run("adaptive_global_float32", (x) => F.adaptiveAvgPool2d(x, 1));

  it("reproduces the notes' max-pooling example and its switches", () => {
    withBackend(backendName, () => {
      const x = cn.tensor([[NOTES_SLICE]], { requiresGrad: true });
      const { output, indices } = F.maxPool2d(x, { kernelSize: 2, stride: 2, returnIndices: true });
      expect(output.toArray()).toEqual([
        [
          [
            [6, 8],
            [3, 4],
          ],
        ],
      ]);
      expect(indices.dtype).toBe("int32");
      // 6 at (1,1), 8 at (1,3), 3 at (2,0), 4 at (3,3) → h*W + w with W = 4.
      expect(indices.toArray()).toEqual([
        [
          [
            [5, 7],
            [8, 15],
          ],
        ],
      ]);
      output
        .mul(
          cn.tensor([
            [
              [
                [10, 20],
                [30, 40],
              ],
            ],
          ]),
        )
        .sum()
        .backward();
      expect((x.grad as Tensor).toArray()).toEqual([
        [
          [
            [0, 0, 0, 0],
            [0, 10, 0, 20],
            [30, 0, 0, 0],
            [0, 0, 0, 40],
          ],
        ],
      ]);
    });
  });

  it("routes a tied maximum's gradient to the first one (as PyTorch)", () => {
    withBackend(backendName, () => {
      const x = cn.ones([1, 1, 2, 2], { dtype: "float64", requiresGrad: true });
      const { output, indices } = F.maxPool2d(x, { kernelSize: 2, returnIndices: true });
      expect(indices.toArray()).toEqual([[[[0]]]]);
      output.sum().backward();
      expect((x.grad as Tensor).toArray()).toEqual([
        [
          [
            [1, 0],
            [0, 0],
          ],
        ],
      ]);
    });
  });

  it("pools a plane overlapped by two windows additively in backward (F=3, S=2)", () => {
    withBackend(backendName, () => {
      // The centre column value 9 is the maximum of both windows of a 3x5 plane.
      const x = cn.tensor(
        [
          [
            [
              [0, 1, 2, 1, 0],
              [1, 2, 9, 2, 1],
              [0, 1, 2, 1, 0],
            ],
          ],
        ],
        { requiresGrad: true },
      );
      const y = F.maxPool2d(x, { kernelSize: 3, stride: 2 });
      expect(y.toArray()).toEqual([[[[9, 9]]]]);
      y.sum().backward();
      expect((x.grad as Tensor).get(0, 0, 1, 2)).toBe(2);
    });
  });
});

describe("pooling validation", () => {
  const x = cn.zeros([2, 3, 4, 4]);
  it("refuses a kernel bigger than the input", () => {
    expect(() => F.maxPool2d(x, { kernelSize: 5 })).toThrow(
      "maxPool2d: kernel 5x5 is larger than the padded input 4x4 (input [2,3,4,4], padding 0x0)",
    );
    expect(() => F.avgPool2d(x, { kernelSize: [2, 6] })).toThrow(
      "avgPool2d: kernel 2x6 is larger than the padded input 4x4",
    );
  });
  it("refuses padding over half the kernel", () => {
    expect(() => F.maxPool2d(x, { kernelSize: 2, padding: 2 })).toThrow(
      "maxPool2d: padding 2x2 must be at most half the kernel size 2x2 (input [2,3,4,4])",
    );
  });
  it("checks inputs and options", () => {
    expect(() => F.maxPool2d(cn.zeros([4, 4]), { kernelSize: 2 })).toThrow(
      "maxPool2d: input must be 4-D [N, C, H, W] (or 3-D [C, H, W]), got [4,4]",
    );
    expect(() => F.maxPool2d(cn.zeros([1, 1, 4, 4], { dtype: "int32" }), { kernelSize: 2 })).toThrow(
      "maxPool2d: input must be float32 or float64, got int32",
    );
    expect(() => F.maxPool2d(x, { kernelSize: 0 })).toThrow(
      "maxPool2d: kernelSize must be a positive integer",
    );
    expect(() => F.maxPool2d(x, { kernelSize: 2, stride: [1, 0] })).toThrow(
      "maxPool2d: stride must be a positive integer or a pair [h, w] of them, got [1,0]",
    );
    expect(() => F.maxPool2d(x, {} as F.MaxPool2dOptions)).toThrow(
      "maxPool2d: options.kernelSize is required",
    );
    expect(() => F.avgPool2d(x, { kernelSize: 2, size: 2 } as F.AvgPool2dOptions)).toThrow(
      'avgPool2d: unknown option "size"',
    );
    expect(() => F.adaptiveAvgPool2d(x, 0)).toThrow(
      "adaptiveAvgPool2d: outputSize must be a positive integer or a pair [h, w] of them (null keeps the input size), got 0",
    );
  });
  it("defaults the stride to the kernel size", () => {
    expect(F.maxPool2d(cn.zeros([1, 1, 6, 6]), { kernelSize: 3 }).shape).toEqual([1, 1, 2, 2]);
    expect(F.avgPool2d(cn.zeros([1, 1, 6, 6]), { kernelSize: 2 }).shape).toEqual([1, 1, 3, 3]);
  });
});
