/**
 * Normalization layers: `batchNorm` (hand-written forward and backward, training and eval, running
 * statistics), `layerNorm` and `groupNorm` (a hand-written row normalization plus a composed affine
 * step), `localResponseNorm` (composed, PyTorch's definition).
 */
import { backend } from "../backend/index.js";
import type { LrnConfig } from "../backend/backend.js";
import { composite, defineOp } from "../autograd/function.js";
import { allocate, type DType, type FloatArray } from "../tensor/dtype.js";
import { numel, shapesEqual, shapeToString } from "../tensor/shape.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import { add, assignInPlace, mul } from "./elementwise.js";
import { contiguousData, requireFloating, requireTensor } from "./util.js";
import { reshape } from "./view.js";

function sameDtype(op: string, x: Tensor, t: Tensor, name: string): void {
  if (t.dtype !== x.dtype) {
    throw new TypeError(
      `${op}: ${name} ${shapeToString(t.shape)} is ${t.dtype} but input ${shapeToString(x.shape)} is ${x.dtype}; convert with .to("${x.dtype}")`,
    );
  }
}

function perChannel(
  op: string,
  x: Tensor,
  t: Tensor | null | undefined,
  name: string,
  channels: number,
): Tensor | null {
  if (t === null || t === undefined) return null;
  requireTensor(t, op, name);
  if (t.ndim !== 1 || t.shape[0] !== channels) {
    throw new RangeError(
      `${op}: ${name} ${shapeToString(t.shape)} must be [${channels}], one value per channel of input ${shapeToString(x.shape)}`,
    );
  }
  sameDtype(op, x, t, name);
  return t;
}

function checkEps(op: string, eps: unknown): number {
  if (eps === undefined) return 1e-5;
  if (typeof eps !== "number" || !(eps >= 0)) {
    throw new RangeError(`${op}: eps must be a non-negative number, got ${String(eps)}`);
  }
  return eps;
}

// ---------------------------------------------------------------- batch norm

interface BatchNormConfig {
  training: boolean;
  momentum: number;
  eps: number;
}

/** Exponential moving average of one running statistic, written in place outside autograd. */
function updateRunning(stat: Tensor, batch: Float64Array, momentum: number, factor: number): void {
  const old = contiguousData(stat);
  const next = allocate(stat.dtype, batch.length);
  for (let ch = 0; ch < batch.length; ch++)
    next[ch] = (1 - momentum) * old[ch] + momentum * batch[ch] * factor;
  assignInPlace(stat, Tensor.fromData(next, [batch.length]), "batchNorm");
}

/** Per-channel statistics and normalization of a contiguous [N, C, S] block. */
const BatchNormFn = defineOp({
  name: "batchNorm",
  nodeName: "NativeBatchNormBackward",
  forward(
    ctx,
    x: Tensor,
    weight: Tensor | null,
    bias: Tensor | null,
    runningMean: Tensor | null,
    runningVar: Tensor | null,
    cfg: BatchNormConfig,
  ) {
    const n = x.shape[0];
    const c = x.shape[1];
    const s = numel(x.shape.slice(2));
    const xd = contiguousData(x);
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    if (cfg.training) {
      backend().channelMoments(xd, n, c, s, mean, variance);
      // running statistics: moving averages with the unbiased variance, as PyTorch does
      if (runningMean) updateRunning(runningMean, mean, cfg.momentum, 1);
      if (runningVar) updateRunning(runningVar, variance, cfg.momentum, (n * s) / (n * s - 1));
    } else {
      mean.set(contiguousData(runningMean as Tensor));
      variance.set(contiguousData(runningVar as Tensor));
    }
    const w = weight ? contiguousData(weight) : null;
    const b = bias ? contiguousData(bias) : null;
    const invstd = new Float64Array(c);
    const scale = new Float64Array(c);
    const shift = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      invstd[ch] = 1 / Math.sqrt(variance[ch] + cfg.eps);
      scale[ch] = invstd[ch] * (w ? w[ch] : 1);
      shift[ch] = (b ? b[ch] : 0) - mean[ch] * scale[ch];
    }
    const out = allocate(x.dtype, xd.length) as FloatArray;
    backend().channelAffine(xd, n, c, s, scale, shift, out);
    ctx.saveForBackward(x, weight);
    Object.assign(ctx, { mean, invstd, n, c, s, training: cfg.training });
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const [x, weight] = ctx.savedTensors;
    const { mean, invstd, n, c, s, training } = ctx as unknown as {
      mean: Float64Array;
      invstd: Float64Array;
      n: number;
      c: number;
      s: number;
      training: boolean;
    };
    const dtype: DType = g.dtype;
    const sumDy = new Float64Array(c);
    const sumDyXhat = new Float64Array(c);
    const dx = ctx.needsInputGrad[0] ? (allocate(dtype, x.numel()) as FloatArray) : null;
    backend().batchNormBackward(
      contiguousData(x),
      contiguousData(g),
      n,
      c,
      s,
      mean,
      invstd,
      weight ? contiguousData(weight) : null,
      training,
      sumDy,
      sumDyXhat,
      dx,
    );
    const perChannelGrad = (values: Float64Array) => {
      const out = allocate(dtype, c);
      out.set(values);
      return Tensor.fromData(out, [c]);
    };
    return [
      dx ? Tensor.fromData(dx, x.shape) : null,
      ctx.needsInputGrad[1] ? perChannelGrad(sumDyXhat) : null,
      ctx.needsInputGrad[2] ? perChannelGrad(sumDy) : null,
      null,
      null,
      null,
    ];
  },
});

export interface BatchNormOptions {
  /** Use batch statistics and update the running ones (default false, as PyTorch's F.batch_norm). */
  training?: boolean;
  /** Weight of the new batch statistics in the running averages (default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalization over dim 1 of [N, C] or [N, C, ...] (spatial batch norm for [N, C, H, W]),
 * PyTorch's `F.batch_norm`. In training it normalizes with the batch mean and biased variance and
 * updates `runningMean`/`runningVar` in place (unbiased variance, momentum); in eval it uses them.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null | undefined,
  runningVar: Tensor | null | undefined,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options?: BatchNormOptions,
): Tensor {
  const op = "batchNorm";
  const opts = checkOptions(op, options, ["training", "momentum", "eps"]);
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  if (x.ndim < 2) {
    throw new RangeError(
      `${op}: input must be [N, C] or [N, C, ...] (e.g. [N, C, H, W]), got ${shapeToString(x.shape)}`,
    );
  }
  const training = opts.training ?? false;
  if (typeof training !== "boolean")
    throw new TypeError(`${op}: training must be a boolean, got ${typeof training}`);
  if (opts.momentum === null) {
    throw new TypeError(
      `${op}: momentum must be a number, got null (the cumulative average of momentum: null is a feature of nn.BatchNorm1d/2d, which passes F.batchNorm the factor of each step)`,
    );
  }
  const momentum = opts.momentum ?? 0.1;
  if (typeof momentum !== "number" || !Number.isFinite(momentum)) {
    throw new TypeError(`${op}: momentum must be a number, got ${String(momentum)}`);
  }
  const eps = checkEps(op, opts.eps);
  const c = x.shape[1];
  const rm = perChannel(op, x, runningMean, "runningMean", c);
  const rv = perChannel(op, x, runningVar, "runningVar", c);
  const w = perChannel(op, x, weight, "weight", c);
  const b = perChannel(op, x, bias, "bias", c);
  if (!training && (!rm || !rv)) {
    throw new TypeError(`${op}: eval mode (training: false) needs runningMean and runningVar`);
  }
  if (training && x.numel() / c <= 1) {
    throw new RangeError(
      `${op}: training needs more than 1 value per channel, input ${shapeToString(x.shape)} has ${x.numel() / c}`,
    );
  }
  return BatchNormFn.apply(x, w, b, rm, rv, { training, momentum, eps });
}

// ---------------------------------------------------------------- layer norm / group norm

/** Normalizes each row of a contiguous [rows, size] block to zero mean and unit (biased) variance. */
const RowNormalize = defineOp({
  name: "rowNormalize",
  forward(ctx, x: Tensor, rows: number, size: number, eps: number) {
    const out = allocate(x.dtype, x.numel()) as FloatArray;
    // x̂ is kept in float64 so the backward is exact even for float32 inputs
    const xhat = new Float64Array(x.numel());
    const invstd = new Float64Array(rows);
    backend().rowNormalize(contiguousData(x), rows, size, eps, out, xhat, invstd);
    Object.assign(ctx, { xhat, invstd, rows, size });
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const { xhat, invstd, rows, size } = ctx as unknown as {
      xhat: Float64Array;
      invstd: Float64Array;
      rows: number;
      size: number;
    };
    const dx = allocate(g.dtype, g.numel()) as FloatArray;
    backend().rowNormalizeBackward(contiguousData(g), xhat, invstd, rows, size, dx);
    return [Tensor.fromData(dx, g.shape), null, null, null];
  },
});

/** y = x·weight[ch] + bias[ch] over dim 1 of [N, C, ...] (either may be null). */
const ChannelAffine = defineOp({
  name: "channelAffine",
  forward(ctx, x: Tensor, weight: Tensor | null, bias: Tensor | null) {
    const n = x.shape[0];
    const c = x.shape[1];
    const s = numel(x.shape.slice(2));
    const w = weight ? contiguousData(weight) : null;
    const b = bias ? contiguousData(bias) : null;
    const scale = new Float64Array(c);
    const shift = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      scale[ch] = w ? w[ch] : 1;
      shift[ch] = b ? b[ch] : 0;
    }
    const out = allocate(x.dtype, x.numel()) as FloatArray;
    backend().channelAffine(contiguousData(x), n, c, s, scale, shift, out);
    ctx.saveForBackward(x, weight);
    Object.assign(ctx, { n, c, s });
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const [x, weight] = ctx.savedTensors;
    const { n, c, s } = ctx as unknown as { n: number; c: number; s: number };
    const dx = ctx.needsInputGrad[0] ? (allocate(g.dtype, x.numel()) as FloatArray) : null;
    const dw = new Float64Array(c);
    const db = new Float64Array(c);
    backend().channelAffineBackward(
      contiguousData(x),
      contiguousData(g),
      n,
      c,
      s,
      weight ? contiguousData(weight) : null,
      dx,
      dw,
      db,
    );
    const perChannelGrad = (values: Float64Array) => {
      const out = allocate(g.dtype, c);
      out.set(values);
      return Tensor.fromData(out, [c]);
    };
    return [
      dx ? Tensor.fromData(dx, x.shape) : null,
      ctx.needsInputGrad[1] ? perChannelGrad(dw) : null,
      ctx.needsInputGrad[2] ? perChannelGrad(db) : null,
    ];
  },
});

function normalizeRows(x: Tensor, rows: number, size: number, eps: number): Tensor {
  const flat = reshape(x, [rows, size]);
  return reshape(RowNormalize.apply(flat, rows, size, eps), x.shape);
}

export interface EpsOptions {
  eps?: number;
}

/**
 * Layer normalization over the trailing dims `normalizedShape` (PyTorch's `F.layer_norm`), with an
 * optional elementwise affine `weight`/`bias` of shape `normalizedShape`.
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  options?: EpsOptions,
): Tensor {
  const op = "layerNorm";
  const opts = checkOptions(op, options, ["eps"]);
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  const eps = checkEps(op, opts.eps);
  const shape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
  const k = shape.length;
  if (k === 0 || k > x.ndim || !shapesEqual(x.shape.slice(x.ndim - k), shape)) {
    throw new RangeError(
      `${op}: normalizedShape ${shapeToString(shape)} must match the trailing dims of input ${shapeToString(x.shape)}`,
    );
  }
  for (const [t, name] of [
    [weight, "weight"],
    [bias, "bias"],
  ] as const) {
    if (t === null || t === undefined) continue;
    requireTensor(t, op, name);
    if (!shapesEqual(t.shape, shape)) {
      throw new RangeError(
        `${op}: ${name} ${shapeToString(t.shape)} must have normalizedShape ${shapeToString(shape)}`,
      );
    }
    sameDtype(op, x, t, name);
  }
  const size = numel(shape);
  return composite("NativeLayerNormBackward", () => {
    let out = normalizeRows(x, x.numel() / Math.max(size, 1), size, eps);
    if (weight) out = mul(out, weight);
    if (bias) out = add(out, bias);
    return out;
  });
}

/**
 * Group normalization (PyTorch's `F.group_norm`): the C channels of [N, C, ...] split into
 * `numGroups` groups, each normalized over its channels and positions; per-channel affine after.
 */
export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  options?: EpsOptions,
): Tensor {
  const op = "groupNorm";
  const opts = checkOptions(op, options, ["eps"]);
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  const eps = checkEps(op, opts.eps);
  if (x.ndim < 2) throw new RangeError(`${op}: input must be [N, C, ...], got ${shapeToString(x.shape)}`);
  const c = x.shape[1];
  if (!Number.isInteger(numGroups) || numGroups <= 0 || c % numGroups !== 0) {
    throw new RangeError(
      `${op}: numGroups ${numGroups} must be a positive divisor of the ${c} channels of input ${shapeToString(x.shape)}`,
    );
  }
  const w = perChannel(op, x, weight, "weight", c);
  const b = perChannel(op, x, bias, "bias", c);
  const n = x.shape[0];
  const rows = n * numGroups;
  return composite("NativeGroupNormBackward", () => {
    const out = normalizeRows(x, rows, rows === 0 ? 0 : x.numel() / rows, eps);
    return w || b ? ChannelAffine.apply(out, w, b) : out;
  });
}

// ---------------------------------------------------------------- local response norm

const LocalResponseNormFn = defineOp({
  name: "localResponseNorm",
  forward(ctx, x: Tensor, cfg: LrnConfig) {
    const n = x.shape[0];
    const c = x.shape[1];
    const s = numel(x.shape.slice(2));
    const total = x.numel();
    const out = allocate(x.dtype, total) as FloatArray;
    const scale = new Float64Array(total);
    const powed = new Float64Array(total);
    backend().lrn(contiguousData(x), n, c, s, cfg, out, scale, powed);
    ctx.saveForBackward(x);
    Object.assign(ctx, { n, c, s, cfg, scale, powed });
    return Tensor.fromData(out, x.shape);
  },
  backward(ctx, g) {
    const [x] = ctx.savedTensors;
    const { n, c, s, cfg, scale, powed } = ctx as unknown as {
      n: number;
      c: number;
      s: number;
      cfg: LrnConfig;
      scale: Float64Array;
      powed: Float64Array;
    };
    const dx = allocate(g.dtype, x.numel()) as FloatArray;
    backend().lrnBackward(contiguousData(x), contiguousData(g), n, c, s, cfg, scale, powed, dx);
    return [Tensor.fromData(dx, x.shape), null];
  },
});

export interface LocalResponseNormOptions {
  alpha?: number;
  beta?: number;
  k?: number;
}

/**
 * Local response normalization across channels (PyTorch's `F.local_response_norm`, hand-written):
 * b_c = a_c / (k + alpha/size · Σ_{c' near c} a_{c'}²)^beta, the window covering `size` channels
 * (size/2 before, (size−1)/2 after, zero outside).
 */
export function localResponseNorm(x: Tensor, size: number, options?: LocalResponseNormOptions): Tensor {
  const op = "localResponseNorm";
  const opts = checkOptions(op, options, ["alpha", "beta", "k"]);
  requireTensor(x, op, "input");
  requireFloating(x, op, "input");
  if (x.ndim < 3) {
    throw new RangeError(
      `${op}: input must be [N, C, ...] with at least 3 dims, got ${shapeToString(x.shape)}`,
    );
  }
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`${op}: size must be a positive integer (channels in the window), got ${size}`);
  }
  const alpha = opts.alpha ?? 1e-4;
  const beta = opts.beta ?? 0.75;
  const k = opts.k ?? 1;
  for (const [name, v] of [
    ["alpha", alpha],
    ["beta", beta],
    ["k", k],
  ] as const) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new TypeError(`${op}: ${name} must be a finite number, got ${String(v)}`);
    }
  }
  return LocalResponseNormFn.apply(x, { size, alpha, beta, k });
}
