/**
 * The functional ops the layers call, looked up in `F` (src/nn/functional.ts) by name with the
 * PyTorch-like signatures of DESIGN.md. Looking them up at call time keeps the layers usable while
 * a family of ops is still missing from a build: the layer then fails with an error naming the op.
 */
import * as F from "./functional.js";
import type { Tensor } from "../tensor/tensor.js";

type Pair = number | readonly [number, number];

export interface FunctionalContract {
  conv2d(
    x: Tensor,
    weight: Tensor,
    bias?: Tensor | null,
    options?: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number },
  ): Tensor;
  maxPool2d(
    x: Tensor,
    options: { kernelSize: Pair; stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean },
  ): Tensor;
  avgPool2d(
    x: Tensor,
    options: {
      kernelSize: Pair;
      stride?: Pair;
      padding?: Pair;
      ceilMode?: boolean;
      countIncludePad?: boolean;
    },
  ): Tensor;
  adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor;
  batchNorm(
    x: Tensor,
    runningMean: Tensor | null,
    runningVar: Tensor | null,
    weight?: Tensor | null,
    bias?: Tensor | null,
    options?: { training?: boolean; momentum?: number; eps?: number },
  ): Tensor;
  groupNorm(
    x: Tensor,
    numGroups: number,
    weight?: Tensor | null,
    bias?: Tensor | null,
    options?: { eps?: number },
  ): Tensor;
  layerNorm(
    x: Tensor,
    normalizedShape: readonly number[],
    weight?: Tensor | null,
    bias?: Tensor | null,
    options?: { eps?: number },
  ): Tensor;
  localResponseNorm(x: Tensor, size: number, options?: { alpha?: number; beta?: number; k?: number }): Tensor;
  dropout(x: Tensor, options?: { p?: number; training?: boolean }): Tensor;
  softmax(x: Tensor, dim: number): Tensor;
  logSoftmax(x: Tensor, dim: number): Tensor;
  crossEntropy(input: Tensor, target: Tensor, options?: { reduction?: "mean" | "sum" | "none" }): Tensor;
}

const table = F as unknown as Partial<FunctionalContract>;

/** The op `F[name]`, or an error naming the layer and the missing op. */
export function fop<K extends keyof FunctionalContract>(name: K, who: string): FunctionalContract[K] {
  const f = table[name];
  if (typeof f !== "function") {
    throw new Error(`${who}: F.${name} is not available in this build of cnnlab`);
  }
  return f as FunctionalContract[K];
}

/** Whether `F[name]` exists (tests use it to wait for op families still being written). */
export function hasFop(name: keyof FunctionalContract): boolean {
  return typeof table[name] === "function";
}
