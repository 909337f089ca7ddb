/**
 * maxPool2d's op (ops/pool.ts) for a compiled graph, on the kernels of in-place.ts, so that on the
 * wasm and native backends the pool reads and writes the arena's arrays in WebAssembly memory where
 * they are, with no copy in or out; and ReLU followed by max pooling as one op, for windows that
 * tile the input (fuse.ts).
 */
import { maxPoolOp } from "../ops/pool.js";
import { maxPool2d, maxPool2dBackward, reluMaxPool2d, reluMaxPool2dBackward } from "./in-place.js";

/** Max pooling, with the arguments of maxPool2d's op (x, window, indices sink). */
export const MaxPoolInPlace = maxPoolOp({ forward: maxPool2d, backward: maxPool2dBackward });

/**
 * maxPool2d(relu(x)) with the arguments of maxPool2d's op, for windows that tile x: relu(x) is
 * never stored (the pool applies ReLU to each value it reads), and backward writes the input
 * gradient in one pass (the maximum's gradient masked by [pooled > 0], zero elsewhere) instead of
 * zeroing it, scattering into it and masking it. Same numbers as the two ops, bit for bit.
 */
export const ReluMaxPoolInPlace = maxPoolOp({
  name: "relu+maxPool2d",
  nodeName: "ReluMaxPool2DWithIndicesBackward",
  forward: reluMaxPool2d,
  backward: reluMaxPool2dBackward,
  readsOutput: true,
  writesEveryGradient: true,
});
