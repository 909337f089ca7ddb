/**
 * Losses: `nllLoss`, `crossEntropy` (log-softmax + NLL, both hand-written), `mseLoss`,
 * `multiMarginLoss` (the CS231n multiclass SVM loss, hand-written), `binaryCrossEntropy`,
 * `bceWithLogits`. PyTorch's definitions and option names in TypeScript spelling.
 */
import { backend } from "../backend/index.js";
import { composite, defineOp, type Ctx } from "../autograd/function.js";
import { allocate, type FloatArray } from "../tensor/dtype.js";
import { numel, shapesEqual, shapeToString, type Shape } from "../tensor/shape.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import { logSoftmax } from "./activation.js";
import { abs, add, clamp, div, exp, log, mul, neg, relu, sub, where } from "./elementwise.js";
import { mean, sum } from "./reduce.js";
import { contiguousData, requireFloating, requireTensor } from "./util.js";
import { expand, reshape } from "./view.js";

export type Reduction = "mean" | "sum" | "none";

function checkReduction(op: string, reduction: unknown): Reduction {
  if (reduction === undefined) return "mean";
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new TypeError(`${op}: reduction must be "mean", "sum" or "none", got ${JSON.stringify(reduction)}`);
  }
  return reduction;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === "mean" ? mean(loss) : reduction === "sum" ? sum(loss) : loss;
}

function sameShape(op: string, input: Tensor, target: Tensor): void {
  if (!shapesEqual(input.shape, target.shape)) {
    throw new RangeError(
      `${op}: target ${shapeToString(target.shape)} must have the same shape as input ${shapeToString(input.shape)}`,
    );
  }
}

function sameDtype(op: string, a: Tensor, an: string, b: Tensor, bn: string): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(
      `${op}: ${an} is ${a.dtype} but ${bn} is ${b.dtype}; convert one with .to("${a.dtype}") or .to("${b.dtype}")`,
    );
  }
}

function multiIndex(flat: number, shape: readonly number[]): string {
  if (shape.length <= 1) return String(flat);
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]);
    flat = Math.floor(flat / shape[d]);
  }
  return idx.join(",");
}

// ---------------------------------------------------------------- class-index targets

interface ClassLayout {
  /** Number of samples (N times the spatial size). */
  batch: number;
  classes: number;
  /** Product of the dims after the class dim. */
  spatial: number;
  /** Shape of the per-sample loss (the target's shape). */
  lossShape: number[];
}

/** Checks input [C] / [N, C] / [N, C, d1, ...] against an int32 target [] / [N] / [N, d1, ...]. */
function classLayout(op: string, input: Tensor, target: Tensor, weight: Tensor | null): ClassLayout {
  requireTensor(input, op, "input");
  requireTensor(target, op, "target");
  requireFloating(input, op, "input");
  if (target.dtype !== "int32") {
    throw new TypeError(
      `${op}: target must be int32 class indices (shape ${shapeToString(target.shape)}), got ${target.dtype}; ` +
        `convert with target.to("int32")${target.dtype === "float32" || target.dtype === "float64" ? " (class probabilities are not supported)" : ""}`,
    );
  }
  if (input.ndim === 0) throw new RangeError(`${op}: input must be [C] or [N, C, ...], got a 0-d tensor`);
  let expected: number[];
  let classes: number;
  let spatial: number;
  if (input.ndim === 1) {
    expected = [];
    classes = input.shape[0];
    spatial = 1;
  } else {
    expected = [input.shape[0], ...input.shape.slice(2)];
    classes = input.shape[1];
    spatial = numel(input.shape.slice(2));
  }
  if (!shapesEqual(target.shape, expected)) {
    throw new RangeError(
      `${op}: input ${shapeToString(input.shape)} (${classes} classes in dim ${input.ndim === 1 ? 0 : 1}) needs target of shape ${shapeToString(expected)}, got target ${shapeToString(target.shape)}`,
    );
  }
  if (weight) {
    requireTensor(weight, op, "weight");
    if (weight.ndim !== 1 || weight.shape[0] !== classes) {
      throw new RangeError(
        `${op}: weight ${shapeToString(weight.shape)} must be [${classes}], one per class of input ${shapeToString(input.shape)}`,
      );
    }
    sameDtype(op, input, "input", weight, "weight");
  }
  return { batch: numel(expected), classes, spatial, lossShape: expected };
}

/** Throws naming the first target index that is neither a valid class nor ignoreIndex. */
function checkTargets(
  op: string,
  t: Int32Array,
  shape: readonly number[],
  classes: number,
  ignore: number,
): void {
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (c !== ignore && (c < 0 || c >= classes)) {
      throw new RangeError(
        `${op}: target[${multiIndex(i, shape)}] = ${c} is out of range for ${classes} classes (valid: 0..${classes - 1}${ignore < 0 || ignore >= classes ? `, or ignoreIndex ${ignore}` : ""})`,
      );
    }
  }
}

const NllLoss = defineOp({
  name: "nllLoss",
  forward(
    ctx: Ctx<{
      layout: ClassLayout;
      sampleWeight: Float64Array;
      wsum: number;
      inputShape: Shape;
      reduction: Reduction;
      ignore: number;
    }>,
    input: Tensor,
    target: Tensor,
    weight: Tensor | null,
    reduction: Reduction,
    ignore: number,
    L: ClassLayout,
  ) {
    const t = contiguousData(target) as Int32Array;
    const loss = new Float64Array(L.batch);
    const sampleWeight = new Float64Array(L.batch);
    backend().nllLoss(
      contiguousData(input),
      t,
      weight ? contiguousData(weight) : null,
      { classes: L.classes, spatial: L.spatial, ignore },
      loss,
      sampleWeight,
    );
    let total = 0;
    let wsum = 0;
    for (let i = 0; i < loss.length; i++) {
      total += loss[i];
      wsum += sampleWeight[i];
    }
    ctx.saveForBackward(target);
    Object.assign(ctx, { layout: L, sampleWeight, wsum, inputShape: input.shape, reduction, ignore });
    if (reduction === "none") {
      const out = allocate(input.dtype, L.batch);
      out.set(loss);
      return Tensor.fromData(out, L.lossShape);
    }
    const out = allocate(input.dtype, 1);
    out[0] = reduction === "sum" ? total : total / wsum;
    return Tensor.fromData(out, []);
  },
  backward(ctx, g) {
    const [target] = ctx.savedTensors;
    const L = ctx.layout;
    const dx = allocate(g.dtype, L.batch * L.classes) as FloatArray;
    const gd = contiguousData(g);
    const scaled = ctx.reduction === "mean" ? gd[0] / ctx.wsum : gd[0];
    backend().nllLossBackward(
      contiguousData(target) as Int32Array,
      ctx.sampleWeight,
      ctx.reduction === "none" ? gd : Float64Array.of(scaled),
      ctx.reduction === "none",
      { classes: L.classes, spatial: L.spatial, ignore: ctx.ignore },
      dx,
    );
    return [Tensor.fromData(dx, ctx.inputShape), null, null, null, null, null];
  },
});

export interface NllLossOptions {
  reduction?: Reduction;
  /** A manual rescaling weight per class, shape [C]. */
  weight?: Tensor | null;
  /** Targets equal to this value contribute nothing (default -100, as in PyTorch). */
  ignoreIndex?: number;
}

function nllLossChecked(
  op: string,
  input: Tensor,
  target: Tensor,
  weight: Tensor | null,
  reduction: Reduction,
  ignore: number,
): { loss: Tensor; layout: ClassLayout } {
  const layout = classLayout(op, input, target, weight);
  checkTargets(op, contiguousData(target) as Int32Array, target.shape, layout.classes, ignore);
  return { loss: NllLoss.apply(input, target, weight, reduction, ignore, layout), layout };
}

/**
 * Negative log-likelihood of log-probabilities `input` [N, C, ...] at int32 class indices `target`
 * [N, ...] (PyTorch's `F.nll_loss`). The mean divides by the summed weights of the counted targets.
 */
export function nllLoss(input: Tensor, target: Tensor, options?: NllLossOptions): Tensor {
  const opts = checkOptions("nllLoss", options, ["reduction", "weight", "ignoreIndex"]);
  const reduction = checkReduction("nllLoss", opts.reduction);
  const ignore = opts.ignoreIndex ?? -100;
  return nllLossChecked("nllLoss", input, target, opts.weight ?? null, reduction, ignore).loss;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** Mixes the one-hot target with the uniform distribution: 0 (default) to 1. */
  labelSmoothing?: number;
}

/**
 * Softmax cross-entropy of raw scores `input` [N, C, ...] against int32 class indices `target`
 * [N, ...] (PyTorch's `F.cross_entropy`): nllLoss(logSoftmax(input, 1), target).
 */
export function crossEntropy(input: Tensor, target: Tensor, options?: CrossEntropyOptions): Tensor {
  const op = "crossEntropy";
  const opts = checkOptions(op, options, ["reduction", "weight", "ignoreIndex", "labelSmoothing"]);
  const reduction = checkReduction(op, opts.reduction);
  const ignore = opts.ignoreIndex ?? -100;
  const ls = opts.labelSmoothing ?? 0;
  if (typeof ls !== "number" || !(ls >= 0 && ls <= 1)) {
    throw new RangeError(`${op}: labelSmoothing must be a number in [0, 1], got ${String(ls)}`);
  }
  const weight = opts.weight ?? null;
  classLayout(op, input, target, weight);
  const classDim = input.ndim === 1 ? 0 : 1;
  const logp = logSoftmax(input, classDim);
  const { loss: nll, layout } = nllLossChecked(op, logp, target, weight, reduction, ignore);
  if (ls === 0) return nll;
  // smoothing term: −Σ_c w_c log p_c per sample, 0 for ignored samples
  const wb = weight
    ? reshape(
        weight,
        input.ndim === 1 ? [layout.classes] : [1, layout.classes, ...input.shape.slice(2).map(() => 1)],
      )
    : null;
  let smooth = neg(sum(wb ? mul(logp, wb) : logp, classDim));
  const t = contiguousData(target) as Int32Array;
  const keep = allocate("bool", t.length);
  let kept = 0;
  let keptWeight = 0;
  const w = weight ? contiguousData(weight) : null;
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== ignore) {
      keep[i] = 1;
      kept++;
      keptWeight += w ? w[t[i]] : 1;
    }
  }
  if (kept < t.length) smooth = where(Tensor.fromData(keep, target.shape), smooth, 0);
  let smoothLoss: Tensor;
  if (reduction === "none") smoothLoss = smooth;
  else if (reduction === "sum") smoothLoss = sum(smooth);
  else smoothLoss = mul(sum(smooth), 1 / (w ? keptWeight : kept));
  return add(mul(nll, 1 - ls), mul(smoothLoss, ls / layout.classes));
}

// ---------------------------------------------------------------- regression and binary losses

export interface ReductionOptions {
  reduction?: Reduction;
}

/** Mean squared error (PyTorch's `F.mse_loss`); input and target must have the same shape. */
export function mseLoss(input: Tensor, target: Tensor, options?: ReductionOptions): Tensor {
  const op = "mseLoss";
  const opts = checkOptions(op, options, ["reduction"]);
  const reduction = checkReduction(op, opts.reduction);
  requireTensor(input, op, "input");
  requireTensor(target, op, "target");
  requireFloating(input, op, "input");
  requireFloating(target, op, "target");
  sameShape(op, input, target);
  return composite("MseLossBackward", () => {
    const d = sub(input, target);
    return reduce(mul(d, d), reduction);
  });
}

export interface BinaryCrossEntropyOptions extends ReductionOptions {
  /** Per-element rescaling weight, broadcast to the input's shape. */
  weight?: Tensor | null;
}

/**
 * Binary cross-entropy of probabilities `input` in [0, 1] (PyTorch's `F.binary_cross_entropy`,
 * including its clamping of the logarithms at −100).
 */
export function binaryCrossEntropy(
  input: Tensor,
  target: Tensor,
  options?: BinaryCrossEntropyOptions,
): Tensor {
  const op = "binaryCrossEntropy";
  const opts = checkOptions(op, options, ["reduction", "weight"]);
  const reduction = checkReduction(op, opts.reduction);
  requireTensor(input, op, "input");
  requireTensor(target, op, "target");
  requireFloating(input, op, "input");
  requireFloating(target, op, "target");
  sameShape(op, input, target);
  const x = contiguousData(input);
  for (let i = 0; i < x.length; i++) {
    if (!(x[i] >= 0 && x[i] <= 1)) {
      throw new RangeError(
        `${op}: input[${multiIndex(i, input.shape)}] = ${x[i]} is not a probability in [0, 1]; use bceWithLogits for raw scores`,
      );
    }
  }
  return BinaryCrossEntropy.apply(input, target, opts.weight ?? null, reduction);
}

/** Broadcasts the gradient of a reduced loss back over the elements. */
function unreduce(g: Tensor, shape: readonly number[], reduction: Reduction): Tensor {
  if (reduction === "none") return g;
  const scale = reduction === "mean" ? 1 / numel(shape) : 1;
  return expand(
    reshape(
      mul(g, scale),
      shape.map(() => 1),
    ),
    shape,
  );
}

// The logarithms are clamped at −100 and the input gradient's denominator x(1 − x) at 1e-12, as
// in PyTorch, so saturated probabilities (exactly 0 or 1) give finite gradients.
const BCE_EPS = 1e-12;
const BinaryCrossEntropy = defineOp({
  name: "binaryCrossEntropy",
  forward(
    ctx: Ctx<{ reduction: Reduction }>,
    input: Tensor,
    target: Tensor,
    weight: Tensor | null,
    reduction: Reduction,
  ) {
    ctx.saveForBackward(input, target, weight);
    ctx.reduction = reduction;
    const logP = clamp(log(input), -100);
    const log1mP = clamp(log(sub(1, input)), -100);
    let loss = neg(add(mul(target, logP), mul(sub(1, target), log1mP)));
    if (weight) loss = mul(loss, weight);
    return reduce(loss, reduction);
  },
  backward(ctx, g) {
    const [x, t, w] = ctx.savedTensors;
    let ge = unreduce(g, x.shape, ctx.reduction);
    if (w) ge = mul(ge, w);
    const gx = ctx.needsInputGrad[0] ? mul(ge, div(sub(x, t), clamp(mul(sub(1, x), x), BCE_EPS))) : null;
    const gt = ctx.needsInputGrad[1] ? mul(ge, sub(clamp(log(sub(1, x)), -100), clamp(log(x), -100))) : null;
    return [gx, gt, null, null];
  },
});

export interface BceWithLogitsOptions extends BinaryCrossEntropyOptions {
  /** Weight of the positive examples, broadcast over the last (class) dim. */
  posWeight?: Tensor | null;
}

/**
 * Sigmoid + binary cross-entropy in one numerically stable expression
 * (PyTorch's `F.binary_cross_entropy_with_logits`).
 */
export function bceWithLogits(input: Tensor, target: Tensor, options?: BceWithLogitsOptions): Tensor {
  const op = "bceWithLogits";
  const opts = checkOptions(op, options, ["reduction", "weight", "posWeight"]);
  const reduction = checkReduction(op, opts.reduction);
  requireTensor(input, op, "input");
  requireTensor(target, op, "target");
  requireFloating(input, op, "input");
  requireFloating(target, op, "target");
  sameShape(op, input, target);
  return composite("BinaryCrossEntropyWithLogitsBackward", () => {
    // log(1 + e^{-x}) = relu(-x) + log(1 + e^{-|x|})
    const softplusNeg = add(relu(neg(input)), log(add(exp(neg(abs(input))), 1)));
    const pw = opts.posWeight;
    const scale = pw ? add(mul(sub(pw, 1), target), 1) : null;
    let loss = add(mul(sub(1, target), input), scale ? mul(scale, softplusNeg) : softplusNeg);
    if (opts.weight) loss = mul(loss, opts.weight);
    return reduce(loss, reduction);
  });
}

// ---------------------------------------------------------------- multiclass SVM

interface MarginConfig {
  margin: number;
  p: number;
  reduction: Reduction;
}

const MultiMargin = defineOp({
  name: "multiMarginLoss",
  forward(ctx, x: Tensor, target: Tensor, weight: Tensor | null, cfg: MarginConfig) {
    const n = x.ndim === 1 ? 1 : x.shape[0];
    const c = x.shape[x.ndim - 1];
    const loss = new Float64Array(n);
    backend().multiMarginLoss(
      contiguousData(x),
      contiguousData(target) as Int32Array,
      weight ? contiguousData(weight) : null,
      { n, c, margin: cfg.margin, p: cfg.p },
      loss,
    );
    ctx.saveForBackward(x, target, weight);
    Object.assign(ctx, { n, c, cfg });
    if (cfg.reduction === "none") {
      const out = allocate(x.dtype, n);
      out.set(loss);
      return Tensor.fromData(out, x.ndim === 1 ? [] : [n]);
    }
    let total = 0;
    for (let i = 0; i < n; i++) total += loss[i];
    const out = allocate(x.dtype, 1);
    out[0] = cfg.reduction === "sum" ? total : total / n;
    return Tensor.fromData(out, []);
  },
  backward(ctx, g) {
    const [x, target, weight] = ctx.savedTensors;
    const { n, c, cfg } = ctx as unknown as { n: number; c: number; cfg: MarginConfig };
    const gd = contiguousData(g);
    const shared = cfg.reduction === "mean" ? gd[0] / n : gd[0];
    const dx = allocate(g.dtype, n * c) as FloatArray;
    backend().multiMarginLossBackward(
      contiguousData(x),
      contiguousData(target) as Int32Array,
      weight ? contiguousData(weight) : null,
      { n, c, margin: cfg.margin, p: cfg.p },
      cfg.reduction === "none" ? gd : Float64Array.of(shared),
      cfg.reduction === "none",
      dx,
    );
    return [Tensor.fromData(dx, x.shape), null, null, null];
  },
});

export interface MultiMarginLossOptions extends ReductionOptions {
  /** The SVM margin Δ (default 1). */
  margin?: number;
  /** 1 (hinge, default) or 2 (squared hinge). */
  p?: number;
  weight?: Tensor | null;
}

/**
 * The multiclass SVM loss of CS231n (PyTorch's `F.multi_margin_loss`): for scores x [N, C] and
 * int32 labels y [N], Σ_{j≠y} max(0, margin − x_y + x_j)^p / C per sample.
 */
export function multiMarginLoss(x: Tensor, target: Tensor, options?: MultiMarginLossOptions): Tensor {
  const op = "multiMarginLoss";
  const opts = checkOptions(op, options, ["reduction", "margin", "p", "weight"]);
  const reduction = checkReduction(op, opts.reduction);
  const margin = opts.margin ?? 1;
  const p = opts.p ?? 1;
  if (p !== 1 && p !== 2) throw new RangeError(`${op}: p must be 1 or 2, got ${String(p)}`);
  if (typeof margin !== "number" || !Number.isFinite(margin)) {
    throw new TypeError(`${op}: margin must be a finite number, got ${String(margin)}`);
  }
  requireTensor(x, op, "input");
  requireTensor(target, op, "target");
  requireFloating(x, op, "input");
  if (x.ndim !== 1 && x.ndim !== 2) {
    throw new RangeError(`${op}: input must be [N, C] (or [C]), got ${shapeToString(x.shape)}`);
  }
  if (target.dtype !== "int32") {
    throw new TypeError(
      `${op}: target must be int32 class indices (shape ${shapeToString(target.shape)}), got ${target.dtype}; convert with target.to("int32")`,
    );
  }
  const n = x.ndim === 1 ? 1 : x.shape[0];
  const c = x.shape[x.ndim - 1];
  if (target.numel() !== n || (x.ndim === 2 && target.ndim !== 1)) {
    throw new RangeError(
      `${op}: input ${shapeToString(x.shape)} needs target of shape ${x.ndim === 2 ? `[${n}]` : "[] or [1]"}, got target ${shapeToString(target.shape)}`,
    );
  }
  const weight = opts.weight ?? null;
  if (weight) {
    requireTensor(weight, op, "weight");
    if (weight.ndim !== 1 || weight.shape[0] !== c) {
      throw new RangeError(`${op}: weight ${shapeToString(weight.shape)} must be [${c}], one per class`);
    }
    sameDtype(op, x, "input", weight, "weight");
  }
  checkTargets(op, contiguousData(target) as Int32Array, target.shape, c, Number.NaN);
  return MultiMargin.apply(x, target, weight, { margin, p, reduction });
}
