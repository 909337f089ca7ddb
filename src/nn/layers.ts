/**
 * The layers of `nn`: PyTorch's modules with PyTorch's default initialisations, drawing from the
 * default generator (so `manualSeed(n)` before building a model makes it reproducible).
 */
import { noGrad } from "../autograd/grad-mode.js";
import { zeros, ones } from "../tensor/creation.js";
import { assertDType, type DType } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { leakyRelu, relu, sigmoid, tanh } from "../ops/elementwise.js";
import { flatten } from "../ops/view.js";
import * as F from "./functional.js";
import { calculateFanInAndFanOut, kaimingUniform, uniform } from "./init.js";
import { Module } from "./module.js";
import { pair, samePadding, type Size2d } from "../backend/geometry.js";
import { registerGlobalState } from "../runtime/state.js";

export type Pair = Size2d;

function positiveInt(op: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${op}: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function floatDType(op: string, dtype: DType | undefined): "float32" | "float64" {
  const d = assertDType(dtype ?? "float32", op);
  if (d !== "float32" && d !== "float64")
    throw new TypeError(`${op}: dtype must be float32 or float64, got ${d}`);
  return d;
}

function requireInput(op: string, x: unknown, ranks: number[], what: string): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: input must be a tensor, got ${typeof x}`);
  if (!ranks.includes(x.ndim)) {
    throw new RangeError(`${op}: expected ${what} input, got shape ${shapeToString(x.shape)}`);
  }
  return x;
}

function requireChannels(op: string, x: Tensor, expected: number, what = "channels"): void {
  if (x.shape[1] !== expected) {
    throw new RangeError(
      `${op}: expected ${expected} ${what} in dimension 1, input ${shapeToString(x.shape)} has ${x.shape[1]}`,
    );
  }
}

let initEnabled = true;

registerGlobalState<boolean>({
  name: "nn/layers: initEnabled",
  save: () => initEnabled,
  restore: (saved) => {
    initEnabled = saved;
  },
});

/** Builds modules without drawing their default initial values (for weights about to be overwritten). */
export function withoutInit<T>(fn: () => T): T {
  const previous = initEnabled;
  initEnabled = false;
  try {
    return fn();
  } finally {
    initEnabled = previous;
  }
}

const fmt = (p: readonly number[]) => `[${p.join(", ")}]`;

// ------------------------------------------------------------------------------- containers

/**
 * What Sequential and ModuleList share: children named "0", "1", ... as in PyTorch, their count,
 * indexing (negative from the end), a checked append, and iteration.
 */
abstract class ModuleContainer extends Module {
  /** Registers `m` as the next child; `where` names the call in the error for a non-Module. */
  protected push(m: unknown, where: string): void {
    if (!(m instanceof Module)) {
      throw new TypeError(`${where} must be a Module, got ${m === null ? "null" : typeof m}`);
    }
    this.registerModule(String(this.length), m);
  }

  get length(): number {
    return this.children().length;
  }

  /** The i-th child (negative counts from the end). */
  at(i: number): Module {
    const kids = this.children();
    const k = i < 0 ? i + kids.length : i;
    if (!Number.isInteger(k) || k < 0 || k >= kids.length) {
      throw new RangeError(
        `${this.constructor.name}.at: index ${i} is out of range for ${kids.length} modules`,
      );
    }
    return kids[k];
  }

  /** Adds a module at the end; returns this. */
  append(m: Module): this {
    this.push(m, `${this.constructor.name}.append: the module`);
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
}

/** Runs its children in order; children are named "0", "1", ... as in PyTorch. */
export class Sequential extends ModuleContainer {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.push(m, `Sequential: argument ${i}`));
  }

  override forward(x: Tensor): Tensor {
    let out: unknown = x;
    for (const m of this.children()) out = m.forward(out);
    return out as Tensor;
  }
}

/** Holds modules in a list (named "0", "1", ...) so they are registered; has no forward. */
export class ModuleList extends ModuleContainer {
  constructor(modules: Iterable<Module> = []) {
    super();
    let i = 0;
    for (const m of modules) this.push(m, `ModuleList: module ${i++}`);
  }
}

/** Returns its input unchanged. */
export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }
}

// ------------------------------------------------------------------------------- affine layers

export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  dtype?: DType;
}

/** y = x Wᵀ + b with W of shape [outFeatures, inFeatures]. */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight!: Tensor;
  bias!: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options?: LinearOptions) {
    super();
    const opts = checkOptions("Linear", options, ["bias", "dtype"]);
    this.inFeatures = positiveInt("Linear", "inFeatures", inFeatures);
    this.outFeatures = positiveInt("Linear", "outFeatures", outFeatures);
    const dtype = floatDType("Linear", opts.dtype);
    this.registerParameter("weight", zeros([outFeatures, inFeatures], { dtype }));
    this.registerParameter("bias", opts.bias === false ? null : zeros([outFeatures], { dtype }));
    if (initEnabled) this.resetParameters();
  }

  /** PyTorch's default: W ~ kaimingUniform(a = √5) = U(±1/√in), b ~ U(±1/√in). */
  resetParameters(): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform(this.bias, -bound, bound);
    }
  }

  override forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor) || x.ndim === 0) {
      throw new TypeError(`Linear: input must be a tensor with at least 1 dimension`);
    }
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new RangeError(
        `Linear: input ${shapeToString(x.shape)} has ${x.shape[x.ndim - 1]} features in its last dimension, this layer expects ${this.inFeatures}`,
      );
    }
    if (x.dtype !== this.weight.dtype) {
      throw new TypeError(
        `Linear: input dtype ${x.dtype} differs from the weight's ${this.weight.dtype}; convert the input with .to("${this.weight.dtype}") or the layer with .to("${x.dtype}")`,
      );
    }
    return F.linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding per side, or "valid" (none) or "same" (output size = input size; stride 1 only). */
  padding?: Pair | "same" | "valid";
  dilation?: Pair;
  groups?: number;
  /** Learn an additive bias per output channel (default true). */
  bias?: boolean;
  dtype?: DType;
}

/** 2-d convolution over [N, C, H, W] with weight [outChannels, inChannels / groups, kh, kw]. */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  /** The padding option as given when it was "same" or "valid". */
  readonly paddingMode: "same" | "valid" | null;
  weight!: Tensor;
  bias!: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options?: Conv2dOptions) {
    super();
    const opts = checkOptions("Conv2d", options, [
      "stride",
      "padding",
      "dilation",
      "groups",
      "bias",
      "dtype",
    ]);
    this.inChannels = positiveInt("Conv2d", "inChannels", inChannels);
    this.outChannels = positiveInt("Conv2d", "outChannels", outChannels);
    this.kernelSize = pair("Conv2d", "kernelSize", kernelSize, 1, 1);
    this.stride = pair("Conv2d", "stride", opts.stride ?? 1, 1, 1);
    this.dilation = pair("Conv2d", "dilation", opts.dilation ?? 1, 1, 1);
    this.groups = positiveInt("Conv2d", "groups", opts.groups ?? 1);
    const padding = opts.padding ?? 0;
    this.paddingMode = padding === "same" || padding === "valid" ? padding : null;
    if (padding === "valid") {
      this.padding = [0, 0];
    } else if (padding === "same") {
      // checked here (stride 1), applied by F.conv2d (an odd total's extra row/column included)
      this.padding = samePadding("Conv2d", this.kernelSize, this.stride, this.dilation).padding;
    } else {
      this.padding = pair("Conv2d", "padding", padding, 0, 0);
    }
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new RangeError(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${this.groups})`,
      );
    }
    const dtype = floatDType("Conv2d", opts.dtype);
    const [kh, kw] = this.kernelSize;
    this.registerParameter("weight", zeros([outChannels, inChannels / this.groups, kh, kw], { dtype }));
    this.registerParameter("bias", opts.bias === false ? null : zeros([outChannels], { dtype }));
    if (initEnabled) this.resetParameters();
  }

  /** PyTorch's default: W ~ kaimingUniform(a = √5) = U(±1/√fanIn), b ~ U(±1/√fanIn). */
  resetParameters(): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform(this.bias, -bound, bound);
    }
  }

  override forward(x: Tensor): Tensor {
    requireInput("Conv2d", x, [4], "a 4-d [N, C, H, W]");
    // the channel check is F.conv2d's (src/backend/geometry.ts, convGeometry)
    const opts: { stride: Pair; padding: Pair | "same"; dilation: Pair; groups: number } = {
      stride: this.stride,
      padding: this.paddingMode === "same" ? "same" : this.padding,
      dilation: this.dilation,
      groups: this.groups,
    };
    return F.conv2d(x, this.weight, this.bias, opts);
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernelSize=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}`;
    if (this.paddingMode === "same") s += `, padding="same"`;
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${fmt(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${fmt(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ", bias=false";
    return s;
  }
}

// ------------------------------------------------------------------------------- activations

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class LeakyReLU extends Module {
  readonly negativeSlope: number;
  constructor(negativeSlope = 0.01) {
    super();
    if (typeof negativeSlope !== "number" || !Number.isFinite(negativeSlope)) {
      throw new TypeError(`LeakyReLU: negativeSlope must be a finite number, got ${String(negativeSlope)}`);
    }
    this.negativeSlope = negativeSlope;
  }
  override forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
}

export class Tanh extends Module {
  override forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

export class Sigmoid extends Module {
  override forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Softmax extends Module {
  constructor(readonly dim: number) {
    super();
    if (!Number.isInteger(dim)) throw new TypeError(`Softmax: dim must be an integer, got ${String(dim)}`);
  }
  override forward(x: Tensor): Tensor {
    return F.softmax(x, this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

export class LogSoftmax extends Module {
  constructor(readonly dim: number) {
    super();
    if (!Number.isInteger(dim)) throw new TypeError(`LogSoftmax: dim must be an integer, got ${String(dim)}`);
  }
  override forward(x: Tensor): Tensor {
    return F.logSoftmax(x, this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

// ------------------------------------------------------------------------------- shape and pooling

/** Flattens dimensions startDim..endDim (default 1..-1: everything but the batch). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}

export interface MaxPool2dOptions {
  /** Default: the kernel size (non-overlapping windows). */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  /** Default: the kernel size (non-overlapping windows). */
  stride?: Pair;
  padding?: Pair;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
  /** Count padded zeros in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

/** Max pooling over [N, C, H, W] windows (the notes' F=2, S=2 is `new MaxPool2d(2)`; F=3, S=2 overlaps). */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;
  constructor(kernelSize: Pair, options?: MaxPool2dOptions) {
    super();
    const opts = checkOptions("MaxPool2d", options, ["stride", "padding", "dilation", "ceilMode"]);
    this.kernelSize = pair("MaxPool2d", "kernelSize", kernelSize, 1, 1);
    this.stride = pair("MaxPool2d", "stride", opts.stride ?? this.kernelSize, 1, 1);
    this.padding = pair("MaxPool2d", "padding", opts.padding ?? 0, 0, 0);
    this.dilation = pair("MaxPool2d", "dilation", opts.dilation ?? 1, 1, 1);
    this.ceilMode = opts.ceilMode ?? false;
  }
  override forward(x: Tensor): Tensor {
    requireInput("MaxPool2d", x, [4], "a 4-d [N, C, H, W]");
    const dilated = this.dilation[0] !== 1 || this.dilation[1] !== 1;
    return F.maxPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      ...(dilated ? { dilation: this.dilation } : {}),
      ...(this.ceilMode ? { ceilMode: true } : {}),
    });
  }
  override extraRepr(): string {
    let s = `kernelSize=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}, padding=${fmt(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${fmt(this.dilation)}`;
    if (this.ceilMode) s += ", ceilMode=true";
    return s;
  }
}

/** Average pooling over [N, C, H, W] windows. */
export class AvgPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  constructor(kernelSize: Pair, options?: AvgPool2dOptions) {
    super();
    const opts = checkOptions("AvgPool2d", options, ["stride", "padding", "ceilMode", "countIncludePad"]);
    this.kernelSize = pair("AvgPool2d", "kernelSize", kernelSize, 1, 1);
    this.stride = pair("AvgPool2d", "stride", opts.stride ?? this.kernelSize, 1, 1);
    this.padding = pair("AvgPool2d", "padding", opts.padding ?? 0, 0, 0);
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
  }
  override forward(x: Tensor): Tensor {
    requireInput("AvgPool2d", x, [4], "a 4-d [N, C, H, W]");
    return F.avgPool2d(x, {
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      ...(this.ceilMode ? { ceilMode: true } : {}),
      ...(this.countIncludePad ? {} : { countIncludePad: false }),
    });
  }
  override extraRepr(): string {
    let s = `kernelSize=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}, padding=${fmt(this.padding)}`;
    if (this.ceilMode) s += ", ceilMode=true";
    if (!this.countIncludePad) s += ", countIncludePad=false";
    return s;
  }
}

/** Average pooling to a fixed output size (e.g. 1 for global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];
  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair("AdaptiveAvgPool2d", "outputSize", outputSize, 1, 1);
  }
  override forward(x: Tensor): Tensor {
    requireInput("AdaptiveAvgPool2d", x, [4], "a 4-d [N, C, H, W]");
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `outputSize=${fmt(this.outputSize)}`;
  }
}

// ------------------------------------------------------------------------------- normalization

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average (default 0.1); null: cumulative average. */
  momentum?: number | null;
  /** Learn a per-channel scale and shift (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default true). */
  trackRunningStats?: boolean;
  dtype?: DType;
}

const BN_KEYS = ["eps", "momentum", "affine", "trackRunningStats", "dtype"];

abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight!: Tensor | null;
  bias!: Tensor | null;
  running_mean!: Tensor | null;
  running_var!: Tensor | null;
  num_batches_tracked!: Tensor | null;

  constructor(op: string, numFeatures: number, options?: BatchNormOptions) {
    super();
    const opts = checkOptions(op, options, BN_KEYS);
    this.numFeatures = positiveInt(op, "numFeatures", numFeatures);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const dtype = floatDType(op, opts.dtype);
    this.registerParameter("weight", this.affine ? ones([numFeatures], { dtype }) : null);
    this.registerParameter("bias", this.affine ? zeros([numFeatures], { dtype }) : null);
    const track = this.trackRunningStats;
    this.registerBuffer("running_mean", track ? zeros([numFeatures], { dtype }) : null);
    this.registerBuffer("running_var", track ? ones([numFeatures], { dtype }) : null);
    this.registerBuffer("num_batches_tracked", track ? zeros([], { dtype: "int32" }) : null);
  }

  protected abstract checkInput(x: Tensor): void;

  /** Running statistics back to mean 0, variance 1, count 0. */
  resetRunningStats(): void {
    noGrad(() => {
      this.running_mean?.zero_();
      this.running_var?.fill_(1);
      this.num_batches_tracked?.zero_();
    });
  }

  override forward(x: Tensor): Tensor {
    this.checkInput(x);
    requireChannels(this.typeName(), x, this.numFeatures, "features");
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats && this.num_batches_tracked) {
      const counter = this.num_batches_tracked;
      noGrad(() => counter.add_(1));
      if (this.momentum === null) factor = 1 / counter.item();
    }
    const useBatchStats = this.training || this.running_mean === null;
    const keepStats = !this.training || this.trackRunningStats;
    return F.batchNorm(
      x,
      keepStats ? this.running_mean : null,
      keepStats ? this.running_var : null,
      this.weight,
      this.bias,
      { training: useBatchStats, momentum: factor, eps: this.eps },
    );
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}

/** Batch normalization over [N, C, H, W] per channel (Ioffe & Szegedy 2015). */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, options?: BatchNormOptions) {
    super("BatchNorm2d", numFeatures, options);
  }
  protected checkInput(x: Tensor): void {
    requireInput("BatchNorm2d", x, [4], "a 4-d [N, C, H, W]");
  }
}

/** Batch normalization over [N, C] or [N, C, L] per feature. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, options?: BatchNormOptions) {
    super("BatchNorm1d", numFeatures, options);
  }
  protected checkInput(x: Tensor): void {
    requireInput("BatchNorm1d", x, [2, 3], "a 2-d [N, C] or 3-d [N, C, L]");
  }
}

export interface GroupNormOptions {
  eps?: number;
  /** Learn a per-channel scale and shift (default true). */
  affine?: boolean;
  dtype?: DType;
}

/** Group normalization (Wu & He 2018): statistics over each group of channels of each sample. */
export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;
  weight!: Tensor | null;
  bias!: Tensor | null;

  constructor(numGroups: number, numChannels: number, options?: GroupNormOptions) {
    super();
    const opts = checkOptions("GroupNorm", options, ["eps", "affine", "dtype"]);
    this.numGroups = positiveInt("GroupNorm", "numGroups", numGroups);
    this.numChannels = positiveInt("GroupNorm", "numChannels", numChannels);
    if (numChannels % numGroups !== 0) {
      throw new RangeError(
        `GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`,
      );
    }
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? true;
    const dtype = floatDType("GroupNorm", opts.dtype);
    this.registerParameter("weight", this.affine ? ones([numChannels], { dtype }) : null);
    this.registerParameter("bias", this.affine ? zeros([numChannels], { dtype }) : null);
  }

  override forward(x: Tensor): Tensor {
    requireInput("GroupNorm", x, [2, 3, 4, 5], "an [N, C, ...]");
    requireChannels("GroupNorm", x, this.numChannels);
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps });
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.eps}, affine=${this.affine}`;
  }
}

export interface LayerNormOptions {
  eps?: number;
  /** Learn an elementwise scale and shift (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also learn the shift (default true). */
  bias?: boolean;
  dtype?: DType;
}

/** Layer normalization (Ba et al. 2016) over the last dimensions given by `normalizedShape`. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight!: Tensor | null;
  bias!: Tensor | null;

  constructor(normalizedShape: number | readonly number[], options?: LayerNormOptions) {
    super();
    const opts = checkOptions("LayerNorm", options, ["eps", "elementwiseAffine", "bias", "dtype"]);
    this.normalizedShape = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    this.normalizedShape.forEach((d) => positiveInt("LayerNorm", "normalizedShape", d));
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    const dtype = floatDType("LayerNorm", opts.dtype);
    const affine = this.elementwiseAffine;
    this.registerParameter("weight", affine ? ones(this.normalizedShape, { dtype }) : null);
    this.registerParameter(
      "bias",
      affine && opts.bias !== false ? zeros(this.normalizedShape, { dtype }) : null,
    );
  }

  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, { eps: this.eps });
  }

  override extraRepr(): string {
    return `${fmt(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}`;
  }
}

export interface LocalResponseNormOptions {
  alpha?: number;
  beta?: number;
  k?: number;
}

/** The notes' local response normalization across `size` neighbouring channels (AlexNet). */
export class LocalResponseNorm extends Module {
  readonly size: number;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;
  constructor(size: number, options?: LocalResponseNormOptions) {
    super();
    const opts = checkOptions("LocalResponseNorm", options, ["alpha", "beta", "k"]);
    this.size = positiveInt("LocalResponseNorm", "size", size);
    this.alpha = opts.alpha ?? 1e-4;
    this.beta = opts.beta ?? 0.75;
    this.k = opts.k ?? 1;
  }
  override forward(x: Tensor): Tensor {
    return F.localResponseNorm(x, this.size, {
      alpha: this.alpha,
      beta: this.beta,
      k: this.k,
    });
  }
  override extraRepr(): string {
    return `${this.size}, alpha=${this.alpha}, beta=${this.beta}, k=${this.k}`;
  }
}

/** Inverted dropout: zeroes each element with probability p in training, identity in eval. */
export class Dropout extends Module {
  readonly p: number;
  constructor(p = 0.5) {
    super();
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new RangeError(`Dropout: p must be a probability between 0 and 1, got ${String(p)}`);
    }
    this.p = p;
  }
  override forward(x: Tensor): Tensor {
    return F.dropout(x, { p: this.p, training: this.training });
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
