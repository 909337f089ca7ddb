import type { Backend } from "../backend.js";
import { gemm } from "./gemm.js";

/** The reference backend: plain loops over typed arrays. */
export const jsBackend: Backend = {
  name: "js",
  gemm,
};
