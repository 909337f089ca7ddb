/** The reference kernels: plain loops over typed arrays (the dispatch table's last resort for each kernel). */
export { gemm } from "./gemm.js";
export { col2im, im2col, conv2dNaiveForward, conv2dNaiveBackward } from "./conv.js";
export { gemmConv2dForward, gemmConv2dBackward } from "./conv-gemm.js";
export { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pool.js";
export { reluBackward, reluForward } from "./activation.js";
export * as norm from "./norm.js";
export * as softmax from "./softmax.js";
export * as loss from "./loss.js";
export * as indexing from "./indexing.js";
