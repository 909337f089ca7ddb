// One geometry for conv and pool hyper-parameters: the same parser, error class and wording for
// layers, ops and transforms; PyTorch's output sizes (values from torch 1.13's max_pool2d/conv2d).
import { describe, expect, it } from "vitest";
import { F, nn, zeros, data } from "../../src/index.js";
import { convGeometry, pair, samePadding, windowOutputSize } from "../../src/backend/geometry.js";

describe("pair", () => {
  it("reads one integer or [h, w], with a fallback for undefined and null", () => {
    expect(pair("op", "stride", 2, 1, 1)).toEqual([2, 2]);
    expect(pair("op", "stride", [1, 3], 1, 1)).toEqual([1, 3]);
    expect(pair("op", "stride", undefined, [4, 5], 1)).toEqual([4, 5]);
    expect(pair("op", "padding", null, 0, 0)).toEqual([0, 0]);
    expect(pair("op", "padding", [0, 2], 0, 0)).toEqual([0, 2]);
  });

  it("refuses everything else with one RangeError wording", () => {
    for (const bad of [0, -1, 1.5, "2", [1], [1, 2, 3], [1, 0], {}]) {
      expect(() => pair("op", "stride", bad, 1, 1)).toThrow(RangeError);
    }
    expect(() => pair("op", "stride", [1, 0], 1, 1)).toThrow(
      "op: stride must be a positive integer or a pair [h, w] of them, got [1,0]",
    );
    expect(() => pair("op", "padding", -1, 0, 0)).toThrow(
      "op: padding must be a non-negative integer or a pair [h, w] of them, got -1",
    );
  });

  it("is what nn layers, F ops and transforms report (the same class and wording everywhere)", () => {
    const wording = /stride must be a positive integer or a pair \[h, w\] of them, got 0$/;
    const cases: [string, () => unknown][] = [
      ["nn.Conv2d", () => new nn.Conv2d(1, 1, 3, { stride: 0 })],
      ["F.conv2d", () => F.conv2d(zeros([1, 1, 4, 4]), zeros([1, 1, 3, 3]), null, { stride: 0 })],
      ["nn.MaxPool2d", () => new nn.MaxPool2d(2, { stride: 0 })],
      ["F.maxPool2d", () => F.maxPool2d(zeros([1, 1, 4, 4]), { kernelSize: 2, stride: 0 })],
      ["F.avgPool2d", () => F.avgPool2d(zeros([1, 1, 4, 4]), { kernelSize: 2, stride: 0 })],
    ];
    for (const [what, fn] of cases) {
      expect(fn, what).toThrow(RangeError);
      expect(fn, what).toThrow(wording);
    }
    expect(() => data.randomCrop(2, { padding: -1 })).toThrow(
      "randomCrop: padding must be a non-negative integer or a pair [h, w] of them, got -1",
    );
    expect(() => data.randomCrop(0)).toThrow(
      "randomCrop: size must be a positive integer or a pair [h, w] of them, got 0",
    );
  });
});

describe("output sizes and padding", () => {
  it("match PyTorch's max_pool2d sizes, ceil mode included", () => {
    // torch.nn.functional.max_pool2d(torch.zeros(1, 1, size, size), k, s, p, ceil_mode=...)
    expect(windowOutputSize(5, 2, 2, 0, 1, true)).toBe(3);
    expect(windowOutputSize(4, 3, 2, 1, 1, true)).toBe(3);
    expect(windowOutputSize(6, 3, 2, 1, 1, true)).toBe(4);
    expect(windowOutputSize(7, 3, 3, 0, 1, true)).toBe(3);
    expect(windowOutputSize(32, 2, 2, 0, 1)).toBe(16);
  });

  it("gives conv2d's geometry (torch: [1,1,10,9] * [1,1,3,2], stride (2,1), padding (1,0), dilation (2,3) -> 4x6)", () => {
    const g = convGeometry("conv2d", [1, 1, 10, 9], [1, 1, 3, 2], {
      stride: [2, 1],
      padding: [1, 0],
      dilation: [2, 3],
      groups: 1,
    });
    expect([g.ho, g.wo]).toEqual([4, 6]);
    expect(() =>
      convGeometry("conv2d", [1, 5, 4, 4], [4, 2, 3, 3], {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 2,
      }),
    ).toThrow("conv2d: weight [4,2,3,3] with groups=2 expects 2*2 = 4 input channels, input [1,5,4,4] has 5");
  });

  it('"same" padding: half each side, the odd remainder at the bottom/right, stride 1 only', () => {
    expect(samePadding("op", [3, 4], [1, 1], [1, 1])).toEqual({ padding: [1, 1], extra: [0, 1] });
    expect(samePadding("op", [3, 3], [1, 1], [2, 1])).toEqual({ padding: [2, 1], extra: [0, 0] });
    expect(() => samePadding("op", [3, 3], [2, 1], [1, 1])).toThrow(
      'op: padding "same" needs stride 1, got stride 2x1',
    );
  });
});
