import { backend } from "../backend/index.js";
import { composite, defineOp, type Ctx } from "../autograd/function.js";
import { allocate, promoteTypes } from "../tensor/dtype.js";
import { normalizeDim, numel, shapesEqual, shapeToString, type Shape } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { to } from "./elementwise.js";
import { contiguousData, requireTensor } from "./util.js";
import { narrow, slice, unsqueeze, type SliceSpec } from "./view.js";

// ---------------------------------------------------------------- cat / stack / split

const Cat = defineOp({
  name: "cat",
  forward(ctx: Ctx<{ sizes: number[]; dim: number }>, dim: number, ...parts: Tensor[]) {
    ctx.sizes = parts.map((p) => p.shape[dim]);
    ctx.dim = dim;
    const shape = [...parts[0].shape];
    shape[dim] = parts.reduce((s, p) => s + p.shape[dim], 0);
    const dtype = parts.reduce((d, p) => promoteTypes(d, p.dtype), parts[0].dtype);
    const out = allocate(dtype, numel(shape));
    const outer = numel(shape.slice(0, dim));
    const inner = numel(shape.slice(dim + 1));
    const rows = parts.map((p) => p.shape[dim] * inner);
    backend().cat(
      parts.map((p) => contiguousData(p)),
      rows,
      outer,
      out,
    );
    return Tensor.fromData(out, shape);
  },
  backward(ctx, g) {
    const grads: (Tensor | null)[] = [null];
    let start = 0;
    for (const size of ctx.sizes as number[]) {
      grads.push(narrow(g, ctx.dim, start, size));
      start += size;
    }
    return grads;
  },
});

/** Joins tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0)
    throw new TypeError("cat: expected a non-empty array of tensors");
  tensors.forEach((t, i) => requireTensor(t, "cat", `tensors[${i}]`));
  const first = tensors[0];
  const zeroDim = tensors.findIndex((t) => t.ndim === 0);
  if (zeroDim >= 0) {
    throw new RangeError(
      `cat: tensors[${zeroDim}] is zero-dimensional and cannot be concatenated; use stack, or reshape it to [1]`,
    );
  }
  const d = normalizeDim(dim, first.ndim, "cat");
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new RangeError(
        `cat: tensors[${i}] has shape ${shapeToString(t.shape)}, which does not match tensors[0] ${shapeToString(first.shape)} outside dim ${d}`,
      );
    }
  });
  const dtype = tensors.reduce((acc, t) => promoteTypes(acc, t.dtype), first.dtype);
  return Cat.apply(d, ...tensors.map((t) => to(t, dtype)));
}

/** Joins tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0)
    throw new TypeError("stack: expected a non-empty array of tensors");
  const first = tensors[0];
  tensors.forEach((t, i) => {
    requireTensor(t, "stack", `tensors[${i}]`);
    if (!shapesEqual(t.shape, first.shape)) {
      throw new RangeError(
        `stack: tensors[${i}] has shape ${shapeToString(t.shape)} but tensors[0] has ${shapeToString(first.shape)}`,
      );
    }
  });
  const d = normalizeDim(dim, first.ndim + 1, "stack");
  return composite("StackBackward", () =>
    cat(
      tensors.map((t) => unsqueeze(t, d)),
      d,
    ),
  );
}

/** Views of consecutive pieces along `dim`: each of `size` (the last may be smaller), or of the listed sizes. */
export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = normalizeDim(dim, x.ndim, "split");
  const total = x.shape[d];
  let sizes: number[];
  if (typeof sizeOrSections === "number") {
    if (!Number.isInteger(sizeOrSections) || sizeOrSections <= 0)
      throw new RangeError(`split: size must be a positive integer, got ${sizeOrSections}`);
    sizes = [];
    for (let s = 0; s < total; s += sizeOrSections) sizes.push(Math.min(sizeOrSections, total - s));
  } else {
    sizes = [...sizeOrSections];
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sum !== total)
      throw new RangeError(
        `split: sizes ${shapeToString(sizes)} sum to ${sum} but dim ${d} has size ${total}`,
      );
  }
  let start = 0;
  return sizes.map((size) => {
    const from = start;
    const part = composite("SplitBackward", () => narrow(x, d, from, size));
    start += size;
    return part;
  });
}

export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = normalizeDim(dim, x.ndim, "chunk");
  return split(x, Math.max(1, Math.ceil(x.shape[d] / chunks)), d);
}

// ---------------------------------------------------------------- pad

const Pad = defineOp({
  name: "pad",
  nodeName: "ConstantPadNdBackward",
  forward(
    ctx: Ctx<{ before: number[]; inputShape: Shape }>,
    x: Tensor,
    before: number[],
    after: number[],
    value: number,
  ) {
    ctx.before = before;
    ctx.inputShape = x.shape;
    const shape = x.shape.map((s, d) => s + before[d] + after[d]);
    const out = allocate(x.dtype, numel(shape));
    if (value !== 0) out.fill(value);
    backend().pad(contiguousData(x), x.shape, before, shape, out);
    return Tensor.fromData(out, shape);
  },
  backward(ctx, g) {
    const specs: SliceSpec[] = (ctx.inputShape as number[]).map(
      (s, d) => [ctx.before[d], ctx.before[d] + s] as const,
    );
    return [slice(g, ...specs), null, null, null];
  },
});

/**
 * Pads with a constant, PyTorch's `F.pad` convention: `pads` lists (before, after) pairs starting
 * from the LAST dimension, e.g. [1, 1, 2, 2] pads W by 1 and H by 2 on each side.
 */
export function pad(
  x: Tensor,
  pads: readonly number[],
  options?: { mode?: "constant"; value?: number },
): Tensor {
  requireTensor(x, "pad", "input");
  if (options?.mode !== undefined && options.mode !== "constant") {
    throw new TypeError(`pad: only mode "constant" is supported, got "${options.mode}"`);
  }
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new RangeError(
      `pad: pads ${shapeToString(pads)} must hold (before, after) pairs for at most ${x.ndim} dims`,
    );
  }
  const before = new Array<number>(x.ndim).fill(0);
  const after = new Array<number>(x.ndim).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    const d = x.ndim - 1 - i;
    for (const v of [pads[2 * i], pads[2 * i + 1]]) {
      if (!Number.isInteger(v) || v < 0)
        throw new RangeError(`pad: padding must be non-negative integers, got ${shapeToString(pads)}`);
    }
    before[d] = pads[2 * i];
    after[d] = pads[2 * i + 1];
  }
  return Pad.apply(x, before, after, options?.value ?? 0);
}

// ---------------------------------------------------------------- index ops

function checkIndex(op: string, index: Tensor): Int32Array {
  requireTensor(index, op, "index");
  if (index.dtype !== "int32")
    throw new TypeError(`${op}: index must be an int32 tensor, got ${index.dtype}`);
  return contiguousData(index) as Int32Array;
}

function indexAddRaw(
  shape: readonly number[],
  dim: number,
  idx: Int32Array,
  src: Tensor,
  dtype: Tensor["dtype"],
): Tensor {
  const out = allocate(dtype, numel(shape));
  const outer = numel(shape.slice(0, dim));
  const inner = numel(shape.slice(dim + 1));
  backend().indexAdd(contiguousData(src), outer, shape[dim], inner, idx, out);
  return Tensor.fromData(out, shape);
}

const IndexSelect = defineOp({
  name: "indexSelect",
  forward(
    ctx: Ctx<{ idx: Int32Array; dim: number; inputShape: Shape }>,
    x: Tensor,
    dim: number,
    index: Tensor,
  ) {
    const idx = checkIndex("indexSelect", index);
    const size = x.shape[dim];
    for (const v of idx) {
      if (v < 0 || v >= size)
        throw new RangeError(`indexSelect: index ${v} is out of range for dim ${dim} of size ${size}`);
    }
    ctx.idx = idx;
    ctx.dim = dim;
    ctx.inputShape = x.shape;
    const shape = [...x.shape];
    shape[dim] = idx.length;
    const out = allocate(x.dtype, numel(shape));
    const outer = numel(x.shape.slice(0, dim));
    const inner = numel(x.shape.slice(dim + 1));
    backend().indexSelect(contiguousData(x), outer, size, inner, idx, out);
    return Tensor.fromData(out, shape);
  },
  backward(ctx, g) {
    return [indexAddRaw(ctx.inputShape, ctx.dim, ctx.idx, g, g.dtype), null, null];
  },
});

/** Entries of `x` along `dim` at the positions in the 1-d int32 `index`. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  requireTensor(x, "indexSelect", "input");
  const d = normalizeDim(dim, x.ndim, "indexSelect");
  if (index.ndim !== 1)
    throw new RangeError(`indexSelect: index must be 1-d, got shape ${shapeToString(index.shape)}`);
  return IndexSelect.apply(x, d, index);
}

/** Checks an index for gather/scatterAdd against the input's shape: same rank, within it, values in range. */
function checkGatherIndex(
  op: string,
  xShape: readonly number[],
  dim: number,
  index: Tensor,
  idx: Int32Array,
): void {
  const ishape = index.shape;
  if (ishape.length !== xShape.length) {
    throw new RangeError(
      `${op}: index has rank ${ishape.length} but input has rank ${xShape.length} (${shapeToString(ishape)} vs ${shapeToString(xShape)})`,
    );
  }
  ishape.forEach((s, d) => {
    if (d !== dim && s > xShape[d]) {
      throw new RangeError(
        `${op}: index shape ${shapeToString(ishape)} exceeds input shape ${shapeToString(xShape)} at dim ${d}`,
      );
    }
  });
  for (const v of idx) {
    if (v < 0 || v >= xShape[dim])
      throw new RangeError(`${op}: index ${v} is out of range for dim ${dim} of size ${xShape[dim]}`);
  }
}

const Gather = defineOp({
  name: "gather",
  forward(ctx: Ctx<{ dim: number; inputShape: Shape }>, x: Tensor, dim: number, index: Tensor) {
    const idx = checkIndex("gather", index);
    ctx.saveForBackward(index);
    ctx.dim = dim;
    ctx.inputShape = x.shape;
    checkGatherIndex("gather", x.shape, dim, index, idx);
    const out = allocate(x.dtype, idx.length);
    backend().gather(contiguousData(x), x.shape, dim, idx, index.shape, out);
    return Tensor.fromData(out, index.shape);
  },
  backward(ctx, g) {
    const [index] = ctx.savedTensors;
    const zerosGrad = Tensor.fromData(allocate(g.dtype, numel(ctx.inputShape)), ctx.inputShape);
    return [scatterAdd(zerosGrad, ctx.dim, index, g), null, null];
  },
});

/** out[i][j] = x[index[i][j]][j] for dim 0, and so on (PyTorch's `gather`). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  requireTensor(x, "gather", "input");
  return Gather.apply(x, normalizeDim(dim, x.ndim, "gather"), index);
}

const ScatterAdd = defineOp({
  name: "scatterAdd",
  forward(ctx: Ctx<{ dim: number }>, x: Tensor, dim: number, index: Tensor, src: Tensor) {
    const idx = checkIndex("scatterAdd", index);
    if (!index.shape.every((s, d) => s <= src.shape[d])) {
      throw new RangeError(
        `scatterAdd: index shape ${shapeToString(index.shape)} exceeds src shape ${shapeToString(src.shape)}`,
      );
    }
    ctx.saveForBackward(index);
    ctx.dim = dim;
    checkGatherIndex("scatterAdd", x.shape, dim, index, idx);
    const out = contiguousData(x).slice();
    backend().scatterAdd(out, x.shape, dim, idx, index.shape, contiguousData(src), src.shape);
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const [index] = ctx.savedTensors;
    return [g, null, null, ctx.needsInputGrad[3] ? gather(g, ctx.dim, index) : null];
  },
});

/** A copy of `x` with src's values added at the positions index names along dim (PyTorch's `scatter_add`). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  requireTensor(x, "scatterAdd", "input");
  requireTensor(src, "scatterAdd", "src");
  return ScatterAdd.apply(x, normalizeDim(dim, x.ndim, "scatterAdd"), index, to(src, x.dtype));
}
