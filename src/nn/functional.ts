/** `F`: the functional forms of the layers, PyTorch's `torch.nn.functional` in TypeScript spelling. */
export { relu, sigmoid, tanh, leakyRelu } from "../ops/elementwise.js";
export { pad } from "../ops/indexing.js";
export { flatten } from "../ops/view.js";
export * from "../ops/conv.js";
export * from "../ops/pool.js";
export * from "../ops/norm.js";
export * from "../ops/loss.js";
export * from "../ops/activation.js";
export * from "../ops/dropout.js";
