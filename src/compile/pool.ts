/**
 * maxPool2d's op (ops/pool.ts) for a compiled graph: the same forward and backward, on the kernels
 * of in-place.ts, so that on the wasm and native backends the pool reads and writes the arena's
 * arrays in WebAssembly memory where they are, with no copy in or out.
 */
import { defineOp, type AppliedFunction, type Ctx } from "../autograd/function.js";
import type { Window2d } from "../backend/backend.js";
import { allocate, allocateForOverwrite, type DType, type FloatArray } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData } from "../ops/util.js";
import { maxPool2d, maxPool2dBackward } from "./in-place.js";

/** Max pooling, with the arguments of maxPool2d's op (x, window, indices sink). */
export const MaxPoolInPlace: AppliedFunction<[Tensor, Window2d, { indices?: Tensor }]> = defineOp({
  name: "maxPool2d",
  nodeName: "MaxPool2DWithIndicesBackward",
  forward(
    ctx: Ctx<{ window: Window2d; indices: Int32Array; dtype: DType }>,
    x: Tensor,
    win: Window2d,
    sink: { indices?: Tensor },
  ) {
    const shape = [win.n, win.c, win.ho, win.wo];
    const size = win.n * win.c * win.ho * win.wo;
    // every output and index is written
    const out = allocateForOverwrite(x.dtype, size) as FloatArray;
    const indices = allocateForOverwrite("int32", size) as Int32Array;
    maxPool2d({ ...win, x: contiguousData(x) as FloatArray, out, indices });
    ctx.window = win;
    ctx.indices = indices;
    ctx.dtype = x.dtype;
    sink.indices = Tensor.fromData(indices, shape);
    return Tensor.fromData(out, shape);
  },
  backward(ctx, grad) {
    const win = ctx.window;
    const dx = allocate(ctx.dtype, win.n * win.c * win.h * win.w) as FloatArray;
    maxPool2dBackward({
      ...win,
      x: dx,
      out: contiguousData(grad) as FloatArray,
      indices: ctx.indices,
      xIsZero: true,
    });
    return [Tensor.fromData(dx, [win.n, win.c, win.h, win.w]), null, null];
  },
});
