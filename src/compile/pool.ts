/**
 * maxPool2d's op (ops/pool.ts) for a compiled graph, on the kernels of in-place.ts, so that on the
 * wasm and native backends the pool reads and writes the arena's arrays in WebAssembly memory where
 * they are, with no copy in or out.
 */
import { maxPoolOp } from "../ops/pool.js";
import { maxPool2d, maxPool2dBackward } from "./in-place.js";

/** Max pooling, with the arguments of maxPool2d's op (x, window, indices sink). */
export const MaxPoolInPlace = maxPoolOp({ forward: maxPool2d, backward: maxPool2dBackward });
