import { backend } from "../backend/index.js";
import { composite, defineOp, type AppliedFunction } from "../autograd/function.js";
import { allocate, allocateForOverwrite, type FloatArray } from "../tensor/dtype.js";
import { broadcastShapes, numel, shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData, requireFloating, requireTensor } from "./util.js";
import { expand, reshape, squeeze, transpose, unsqueeze } from "./view.js";

/** A [batch, rows, cols] operand as contiguous data, using the transpose flag instead of copying a transposed view. */
function operand(t: Tensor): { data: FloatArray; trans: boolean } {
  const [, r, c] = t.shape;
  const s = t.strides;
  if (t.isContiguous()) return { data: t.data as FloatArray, trans: false };
  const batchOk = t.shape[0] === 1 || s[0] === r * c;
  if (
    batchOk &&
    (r === 1 || s[1] === 1) &&
    (c === 1 || s[2] === r) &&
    t.offset + numel(t.shape) <= t.storage.data.length
  ) {
    return { data: t.storage.data.subarray(t.offset, t.offset + numel(t.shape)) as FloatArray, trans: true };
  }
  return { data: contiguousData(t) as FloatArray, trans: false };
}

/** Batched [B,m,k] @ [B,k,n] with equal batch sizes; the building block of matmul. */
const Bmm: AppliedFunction<[Tensor, Tensor]> = defineOp({
  name: "matmul",
  forward(ctx, a: Tensor, b: Tensor) {
    ctx.saveForBackward(a, b);
    const [batch, m, k] = a.shape;
    const n = b.shape[2];
    const out = allocateForOverwrite(a.dtype, batch * m * n) as FloatArray; // gemm writes all of it
    const A = operand(a);
    const B = operand(b);
    const be = backend();
    for (let i = 0; i < batch; i++) {
      be.gemm({
        transA: A.trans,
        transB: B.trans,
        m,
        n,
        k,
        a: A.data.subarray(i * m * k, (i + 1) * m * k),
        b: B.data.subarray(i * k * n, (i + 1) * k * n),
        c: out.subarray(i * m * n, (i + 1) * m * n),
        accumulate: false,
      });
    }
    return Tensor.fromData(out, [batch, m, n]);
  },
  backward(ctx, g) {
    const [a, b] = ctx.savedTensors;
    return [
      ctx.needsInputGrad[0] ? Bmm.apply(g, transpose(b, 1, 2)) : null,
      ctx.needsInputGrad[1] ? Bmm.apply(transpose(a, 1, 2), g) : null,
    ];
  },
});

/**
 * Matrix product with PyTorch's rules: 1-d operands are promoted to a row/column and squeezed
 * after, and leading (batch) dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireTensor(a, "matmul", "input");
  requireTensor(b, "matmul", "other");
  if (a.ndim === 0 || b.ndim === 0) {
    throw new RangeError(
      `matmul: both arguments need at least 1 dimension, got ${shapeToString(a.shape)} @ ${shapeToString(b.shape)}`,
    );
  }
  const k1 = a.shape[a.ndim - 1];
  const k2 = b.ndim === 1 ? b.shape[0] : b.shape[b.ndim - 2];
  if (k1 !== k2) {
    throw new RangeError(
      `matmul: ${shapeToString(a.shape)} @ ${shapeToString(b.shape)} — inner dims ${k1} and ${k2} differ`,
    );
  }
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `matmul: dtypes differ (${shapeToString(a.shape)} ${a.dtype} @ ${shapeToString(b.shape)} ${b.dtype}); convert one with .to(...)`,
    );
  }
  requireFloating(a, "matmul", "input");
  // a 1-d operand is a row (a) or a column (b)
  const aShape = a.ndim === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.ndim === 1 ? [b.shape[0], 1] : b.shape;
  const batchShape = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2), "matmul");
  const [m, k] = aShape.slice(-2);
  const n = bShape[bShape.length - 1];
  const batch = numel(batchShape);
  // shown as one node with PyTorch's name; the reshapes around the batched product are internal
  const name =
    a.ndim === 1 && b.ndim === 1
      ? "DotBackward"
      : a.ndim <= 2 && b.ndim === 1
        ? "MvBackward"
        : a.ndim <= 2 && b.ndim <= 2
          ? "MmBackward"
          : "BmmBackward";
  return composite(name, () => {
    const a2 = a.ndim === 1 ? unsqueeze(a, 0) : a;
    const b2 = b.ndim === 1 ? unsqueeze(b, 1) : b;
    const a3 = reshape(expand(a2, [...batchShape, m, k]), [batch, m, k]);
    const b3 = reshape(expand(b2, [...batchShape, k, n]), [batch, k, n]);
    let out = reshape(Bmm.apply(a3, b3), [...batchShape, m, n]);
    if (a.ndim === 1) out = squeeze(out, -2);
    if (b.ndim === 1) out = squeeze(out, -1);
    return out;
  });
}

/**
 * The affine map y = x W^T + b as one function: the GEMM reads W [out, in] with the transpose flag,
 * the bias is the GEMM's starting value, and backward writes dW = g^T x straight into W's layout
 * (the composed matmul(x, W.t()) would make a transposed gradient that the leaf has to copy).
 * x is [rows, in] (callers flatten leading dims), b is [out] or null.
 */
const Linear: AppliedFunction<[Tensor, Tensor, Tensor | null]> = defineOp({
  name: "linear",
  forward(ctx, x: Tensor, w: Tensor, b: Tensor | null) {
    ctx.saveForBackward(x, w);
    const [rows, inF] = x.shape;
    const outF = w.shape[0];
    // written whole: bias rows then an accumulating gemm, or a gemm that overwrites
    const out = allocateForOverwrite(x.dtype, rows * outF) as FloatArray;
    if (b) {
      const bd = contiguousData(b) as FloatArray;
      for (let r = 0; r < rows; r++) out.set(bd, r * outF);
    }
    backend().gemm({
      transA: false,
      transB: true,
      m: rows,
      n: outF,
      k: inF,
      a: contiguousData(x) as FloatArray,
      b: contiguousData(w) as FloatArray,
      c: out,
      accumulate: b !== null,
    });
    return Tensor.fromData(out, [rows, outF]);
  },
  backward(ctx, g) {
    const [x, w] = ctx.savedTensors;
    const [needX, needW, needB] = ctx.needsInputGrad;
    const [rows, inF] = x.shape;
    const outF = w.shape[0];
    const gd = contiguousData(g) as FloatArray;
    /** op(A) [m, k] @ B [k, n] as a new [m, n] tensor. */
    const product = (transA: boolean, m: number, n: number, k: number, a: Tensor, b: Tensor): Tensor => {
      const c = allocateForOverwrite(a.dtype, m * n) as FloatArray; // gemm writes all of it
      const aData = a === g ? gd : (contiguousData(a) as FloatArray);
      backend().gemm({
        transA,
        transB: false,
        m,
        n,
        k,
        a: aData,
        b: contiguousData(b) as FloatArray,
        c,
        accumulate: false,
      });
      return Tensor.fromData(c, [m, n]);
    };
    const dx = needX ? product(false, rows, inF, outF, g, w) : null;
    const dw = needW ? product(true, outF, inF, rows, g, x) : null;
    let db: Tensor | null = null;
    if (needB) {
      const d = allocate(g.dtype, outF) as FloatArray;
      for (let r = 0; r < rows; r++) for (let j = 0, q = r * outF; j < outF; j++, q++) d[j] += gd[q];
      db = Tensor.fromData(d, [outF]);
    }
    return [dx, dw, db];
  },
});

/**
 * x @ w.T + b with w of shape [out, in] and x of shape [..., in] (PyTorch's `F.linear`); the
 * caller has checked shapes and dtypes.
 */
export function linearRaw(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const inF = x.shape[x.ndim - 1];
  const lead = x.shape.slice(0, -1);
  // PyTorch's node: the product plus bias is an addmm, without bias an mm
  return composite(b ? "AddmmBackward" : "MmBackward", () => {
    const y = Linear.apply(reshape(x, [numel(lead), inF]), w, b);
    return reshape(y, [...lead, w.shape[0]]);
  });
}
