/**
 * `nn`: modules (PyTorch's `torch.nn`): `Module`, the layers, `init`, FC→conv conversion and the
 * CS231n reference models. Functional forms live in `F`; `save` / `load` are top-level exports.
 */
export {
  Module,
  Parameter,
  isParameter,
  type ForwardHook,
  type ForwardPreHook,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type StateDict,
} from "./module.js";
export {
  Sequential,
  ModuleList,
  Identity,
  Linear,
  Conv2d,
  ReLU,
  LeakyReLU,
  Tanh,
  Sigmoid,
  Softmax,
  LogSoftmax,
  Flatten,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  GroupNorm,
  LayerNorm,
  LocalResponseNorm,
  Dropout,
  type Pair,
  type LinearOptions,
  type Conv2dOptions,
  type MaxPool2dOptions,
  type AvgPool2dOptions,
  type BatchNormOptions,
  type GroupNormOptions,
  type LayerNormOptions,
  type LocalResponseNormOptions,
} from "./layers.js";
export * as init from "./init.js";
export { linearToConv2d } from "./convert.js";
export { ThreeLayerConvNet, type ThreeLayerConvNetOptions } from "./models.js";
