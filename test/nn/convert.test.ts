/**
 * The notes' "Converting FC layers to CONV layers": a converted classifier slid over a larger image
 * gives, in one pass, the scores of every window that cropping and evaluating would give.
 */
import { describe, expect, it } from "vitest";
import { manualSeed, nn, noGrad, randn, Tensor } from "../../src/index.js";
import { withoutInit } from "../../src/nn/layers.js";
import { expectClose } from "../helpers/harness.js";

describe("linearToConv2d", () => {
  it("a Linear over a flattened [C, H, W] volume becomes an H×W conv with P=0, S=1, K=outputs", () => {
    manualSeed(0);
    const linear = new nn.Linear(4 * 3 * 3, 5, { dtype: "float64" });
    const conv = nn.linearToConv2d(linear, [4, 3, 3]);
    expect(conv.kernelSize).toEqual([3, 3]);
    expect(conv.padding).toEqual([0, 0]);
    expect(conv.stride).toEqual([1, 1]);
    expect(conv.outChannels).toBe(5);
    expect(conv.weight.requiresGrad).toBe(true);
    const x = randn([2, 4, 3, 3], { dtype: "float64" });
    const y = conv.forward(x);
    expect(y.shape).toEqual([2, 5, 1, 1]);
    expectClose(y.reshape([2, 5]), linear.forward(x.flatten(1)), "conv vs linear", {
      atol: 1e-12,
      rtol: 1e-12,
    });
    // the conv owns its weights: changing the Linear afterwards does not change it
    noGrad(() => linear.weight.fill_(0));
    expect(Math.abs(conv.weight.sum().item())).toBeGreaterThan(0);
  });

  it("works without a bias and refuses shapes that do not match the layer", () => {
    const linear = new nn.Linear(8, 3, { bias: false });
    expect(nn.linearToConv2d(linear, [8, 1, 1]).bias).toBeNull();
    expect(() => nn.linearToConv2d(linear, [2, 2, 3])).toThrow(
      "linearToConv2d: inputShape [2, 2, 3] has 12 elements but the Linear layer takes 8 features",
    );
    expect(() => nn.linearToConv2d(linear, [8, 1] as never)).toThrow(/inputShape must be \[C, H, W\]/);
  });

  it("a converted classifier evaluates a larger image in one pass: its score map equals evaluating every crop", () => {
    // Scaled-down version of the notes' example (224 → 7×7×512; 384 → 12×12×512 → 6×6 scores):
    // 16×16 images → 8×3×3 features (total stride 4); 28×28 images → 8×6×6 features → 4×4 scores.
    manualSeed(1);
    const dtype = "float64";
    const features = new nn.Sequential(
      new nn.Conv2d(3, 4, 3, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(4, 8, 2, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
    );
    const fc1 = new nn.Linear(8 * 3 * 3, 16, { dtype });
    const fc2 = new nn.Linear(16, 10, { dtype });
    const classifier = new nn.Sequential(features, new nn.Flatten(), fc1, new nn.ReLU(), fc2);
    const fullyConv = new nn.Sequential(
      features,
      nn.linearToConv2d(fc1, [8, 3, 3]),
      new nn.ReLU(),
      nn.linearToConv2d(fc2, [16, 1, 1]),
    );

    const small = randn([2, 3, 16, 16], { dtype });
    expect(features.forward(small).shape).toEqual([2, 8, 3, 3]);
    expectClose(fullyConv.forward(small).reshape([2, 10]), classifier.forward(small), "same image size", {
      atol: 1e-12,
      rtol: 1e-10,
    });

    const big = randn([2, 3, 28, 28], { dtype });
    expect(features.forward(big).shape).toEqual([2, 8, 6, 6]);
    const scores = fullyConv.forward(big);
    expect(scores.shape).toEqual([2, 10, 4, 4]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const crop = big.slice(null, null, [4 * i, 4 * i + 16], [4 * j, 4 * j + 16]);
        expectClose(
          scores.slice(null, null, i, j),
          classifier.forward(crop),
          `score map at (${i}, ${j}) vs the crop at rows ${4 * i}.., columns ${4 * j}..`,
          { atol: 1e-12, rtol: 1e-10 },
        );
      }
    }
  });

  it("the notes' shape: 7×7×512 → 4096 becomes F=7, P=0, S=1, K=4096 with a 1×1×4096 output", () => {
    // 102.8 M weights: filled with a cheap deterministic pattern instead of 102.8 M random draws
    const linear = withoutInit(() => new nn.Linear(7 * 7 * 512, 4096));
    const w = linear.weight.data;
    for (let i = 0; i < w.length; i++) w[i] = (((i * 2654435761) >>> 0) % 2001) / 1000 - 1;
    nn.init.uniform(linear.bias as Tensor, -0.1, 0.1);
    manualSeed(2);
    const conv = nn.linearToConv2d(linear, [512, 7, 7]);
    expect(conv.weight.shape).toEqual([4096, 512, 7, 7]);
    expect(conv.kernelSize).toEqual([7, 7]);
    expect(conv.padding).toEqual([0, 0]);
    expect(conv.stride).toEqual([1, 1]);
    const x = randn([1, 512, 7, 7]);
    const y = noGrad(() => conv.forward(x));
    expect(y.shape).toEqual([1, 4096, 1, 1]);
    // W x + b computed as [4096, 25088] @ [25088, 1] (no transposed copy of the big matrix)
    const reference = noGrad(() =>
      linear.weight
        .matmul(x.reshape([25088, 1]))
        .reshape([4096])
        .add(linear.bias as Tensor),
    );
    expectClose(y.reshape([4096]), reference, "7×7×512 → 4096", { atol: 1e-3, rtol: 1e-4 });
  }, 120_000);
});
