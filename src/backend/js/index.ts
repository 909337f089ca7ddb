import type { Backend } from "../backend.js";
import { gemm } from "./gemm.js";
import { col2im, im2col } from "./conv.js";
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from "./pool.js";
import { reluBackward, reluForward } from "./activation.js";

/** The reference backend: plain loops over typed arrays. */
export const jsBackend: Backend = {
  name: "js",
  gemm,
  im2col,
  col2im,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  relu: reluForward,
  reluBackward,
};
