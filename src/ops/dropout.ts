/**
 * Inverted dropout (CS231n: scale at training time so inference is the identity), drawing its mask
 * from the seeded default generator, so `manualSeed(n)` makes it reproducible.
 */
import { traced } from "../runtime/trace.js";
import { allocate } from "../tensor/dtype.js";
import { defaultGenerator } from "../tensor/random.js";
import { shapeToString } from "../tensor/shape.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import { mul } from "./elementwise.js";
import { requireFloating, requireTensor } from "./util.js";

export interface DropoutOptions {
  /** Probability of zeroing an element (default 0.5). */
  p?: number;
  /** Dropout only acts in training (default true, as PyTorch's F.dropout). */
  training?: boolean;
}

function settings(
  op: string,
  x: Tensor,
  options: DropoutOptions | undefined,
): { p: number; training: boolean } {
  const opts = checkOptions(op, options, ["p", "training"]);
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  const p = opts.p ?? 0.5;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(`${op}: p must be a probability between 0 and 1, got ${String(p)}`);
  }
  const training = opts.training ?? true;
  if (typeof training !== "boolean")
    throw new TypeError(`${op}: training must be a boolean, got ${typeof training}`);
  return { p, training };
}

/** A mask of `count` values, each 1/(1−p) with probability 1−p and 0 otherwise. */
function dropoutMask(x: Tensor, count: number, p: number, shape: readonly number[]): Tensor {
  // a unit of its own for compile: a replay draws a fresh mask from the same generator
  return traced("create", "dropoutMask", [x, count, p, shape], drawMask);
}

function drawMask(x: Tensor, count: number, p: number, shape: readonly number[]): Tensor {
  const mask = allocate(x.dtype, count);
  const keep = 1 - p;
  const scale = p === 1 ? 0 : 1 / keep;
  // keep an element when a uniform 32-bit draw falls below (1 − p)·2³²
  const threshold = keep * 4294967296;
  for (let i = 0; i < count; i++) mask[i] = defaultGenerator.nextUint32() < threshold ? scale : 0;
  return Tensor.fromData(mask, shape);
}

/**
 * Inverted dropout (PyTorch's `F.dropout`): in training each element is zeroed with probability
 * `p` and the survivors are scaled by 1/(1−p); with `training: false` or `p = 0` it returns `x`.
 * The backward multiplies by the same mask.
 */
export function dropout(x: Tensor, options?: DropoutOptions): Tensor {
  const { p, training } = settings("dropout", x, options);
  if (!training || p === 0) return x;
  return mul(x, dropoutMask(x, x.numel(), p, x.shape));
}

/**
 * Channel dropout (PyTorch's `F.dropout2d`): zeroes whole channels of [N, C, H, W] (or [C, H, W])
 * with probability `p` and scales the kept ones by 1/(1−p).
 */
export function dropout2d(x: Tensor, options?: DropoutOptions): Tensor {
  const { p, training } = settings("dropout2d", x, options);
  if (x.ndim !== 3 && x.ndim !== 4) {
    throw new RangeError(`dropout2d: input must be [N, C, H, W] or [C, H, W], got ${shapeToString(x.shape)}`);
  }
  if (!training || p === 0) return x;
  const channels = x.ndim === 4 ? [x.shape[0], x.shape[1]] : [x.shape[0]];
  const count = channels.reduce((a, b) => a * b, 1);
  return mul(x, dropoutMask(x, count, p, [...channels, 1, 1]));
}
