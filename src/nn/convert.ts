/**
 * The notes' "Converting FC layers to CONV layers": a fully connected layer that looks at a whole
 * [C, H, W] volume is a convolution whose filters are as large as the volume (F = H×W, P = 0,
 * S = 1, K = number of outputs). Slid over a larger volume, the converted network evaluates every
 * window in one pass and returns a spatial map of scores.
 */
import { Tensor } from "../tensor/tensor.js";
import { Conv2d, Linear, withoutInit } from "./layers.js";

/**
 * A Conv2d computing the same function as `linear` on inputs of shape [N, C, H, W] that a
 * `Flatten` would have turned into the linear layer's [N, C·H·W] input (PyTorch's C, H, W order).
 * E.g. `linearToConv2d(new Linear(7 * 7 * 512, 4096), [512, 7, 7])` is a Conv2d with 4096 filters of
 * 512×7×7, whose output on a 512×7×7 volume is 4096×1×1. The weights are copied.
 */
export function linearToConv2d(
  linear: Linear,
  inputShape: readonly [number, number, number] | readonly number[],
): Conv2d {
  if (!(linear instanceof Linear)) {
    throw new TypeError(
      `linearToConv2d: expected an nn.Linear, got ${linear === null ? "null" : typeof linear}`,
    );
  }
  if (
    !Array.isArray(inputShape) ||
    inputShape.length !== 3 ||
    !inputShape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new TypeError(
      `linearToConv2d: inputShape must be [C, H, W] of positive integers, got ${JSON.stringify(inputShape)}`,
    );
  }
  const [c, h, w] = inputShape;
  if (c * h * w !== linear.inFeatures) {
    throw new RangeError(
      `linearToConv2d: inputShape [${c}, ${h}, ${w}] has ${c * h * w} elements but the Linear layer takes ${linear.inFeatures} features`,
    );
  }
  const dtype = linear.weight.dtype as "float32" | "float64";
  const conv = withoutInit(
    () => new Conv2d(c, linear.outFeatures, [h, w], { bias: linear.bias !== null, dtype }),
  );
  // a typed-array copy (memcpy speed: VGG's first FC layer has 102.8 M weights)
  const weight = linear.weight.detach().contiguous().data.slice();
  conv.registerParameter("weight", Tensor.fromData(weight, [linear.outFeatures, c, h, w]));
  if (linear.bias)
    conv.registerParameter(
      "bias",
      Tensor.fromData(linear.bias.detach().contiguous().data.slice(), [linear.outFeatures]),
    );
  return conv;
}
