/**
 * Reference models from the CS231n notes and assignments, built from `nn` layers.
 */
import { noGrad } from "../autograd/grad-mode.js";
import type { DType } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import * as F from "./functional.js";
import { normal, zeros } from "./init.js";
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU } from "./layers.js";
import { Module } from "./module.js";

export interface ThreeLayerConvNetOptions {
  /** [C, H, W] of one input image (default [3, 32, 32]). */
  inputDim?: readonly [number, number, number] | readonly number[];
  /** Number of conv filters (default 32). */
  numFilters?: number;
  /** Filter size F (odd; padding (F - 1) / 2 keeps H and W; default 7). */
  filterSize?: number;
  /** Units of the hidden affine layer (default 100). */
  hiddenDim?: number;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Standard deviation of the normal initial weights (default 1e-3); biases start at 0. */
  weightScale?: number;
  dtype?: DType;
}

const KEYS = ["inputDim", "numFilters", "filterSize", "hiddenDim", "numClasses", "weightScale", "dtype"];

/**
 * CS231n assignment 2's three-layer ConvNet: conv (F×F, stride 1, "same" padding) – relu –
 * 2×2 max pool – affine – relu – affine – softmax. `forward` returns the class scores;
 * `loss(x, y)` is the softmax (cross-entropy) loss of those scores.
 */
export class ThreeLayerConvNet extends Module {
  conv: Conv2d;
  relu1 = new ReLU();
  pool = new MaxPool2d(2, { stride: 2 });
  flatten = new Flatten();
  fc1: Linear;
  relu2 = new ReLU();
  fc2: Linear;

  constructor(options: ThreeLayerConvNetOptions = {}) {
    super();
    const opts = checkOptions("ThreeLayerConvNet", options, KEYS);
    const [c, h, w] = opts.inputDim ?? [3, 32, 32];
    const numFilters = opts.numFilters ?? 32;
    const filterSize = opts.filterSize ?? 7;
    const hiddenDim = opts.hiddenDim ?? 100;
    const numClasses = opts.numClasses ?? 10;
    const weightScale = opts.weightScale ?? 1e-3;
    const dtype = opts.dtype ?? "float32";
    if (filterSize % 2 !== 1) {
      throw new RangeError(
        `ThreeLayerConvNet: filterSize must be odd to keep the spatial size, got ${filterSize}`,
      );
    }
    if (h % 2 !== 0 || w % 2 !== 0) {
      throw new RangeError(
        `ThreeLayerConvNet: the 2×2 pool needs even H and W, got inputDim [${c}, ${h}, ${w}]`,
      );
    }
    this.conv = new Conv2d(c, numFilters, filterSize, { padding: (filterSize - 1) / 2, dtype });
    this.fc1 = new Linear(numFilters * (h / 2) * (w / 2), hiddenDim, { dtype });
    this.fc2 = new Linear(hiddenDim, numClasses, { dtype });
    noGrad(() => {
      for (const layer of [this.conv, this.fc1, this.fc2]) {
        normal(layer.weight, 0, weightScale);
        if (layer.bias) zeros(layer.bias);
      }
    });
  }

  /** Class scores [N, numClasses] of images [N, C, H, W]. */
  override forward(x: Tensor): Tensor {
    const a = this.pool.forward(this.relu1.forward(this.conv.forward(x)));
    const hidden = this.relu2.forward(this.fc1.forward(this.flatten.forward(a)));
    return this.fc2.forward(hidden);
  }

  /** Mean softmax loss of the scores of `x` against integer labels `y`. */
  loss(x: Tensor, y: Tensor): Tensor {
    return F.crossEntropy(this.forward(x), y);
  }
}
