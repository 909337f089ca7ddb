/**
 * `nn.init`: in-place initialisers (PyTorch's `torch.nn.init`), drawing from the default generator
 * so that `manualSeed` makes models reproducible. Each works under `noGrad` on a parameter and
 * returns the tensor it filled.
 */
import { noGrad } from "../autograd/grad-mode.js";
import { allocate, isFloating } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { defaultGenerator } from "../tensor/random.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";

export type Nonlinearity =
  | "linear"
  | "conv1d"
  | "conv2d"
  | "conv3d"
  | "sigmoid"
  | "tanh"
  | "relu"
  | "leakyRelu"
  | "leaky_relu"
  | "selu";

export type FanMode = "fanIn" | "fanOut" | "fan_in" | "fan_out";

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (only used with `leakyRelu`); default 0. */
  a?: number;
  /** "fanIn" (default) keeps the forward variance, "fanOut" the backward variance. */
  mode?: FanMode;
  /** Default "leakyRelu" (with a = 0 that is ReLU's gain √2), as in PyTorch. */
  nonlinearity?: Nonlinearity;
}

const KAIMING_KEYS = ["a", "mode", "nonlinearity"];

/** The recommended gain for a nonlinearity (PyTorch's `calculate_gain`). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case "linear":
    case "conv1d":
    case "conv2d":
    case "conv3d":
    case "sigmoid":
      return 1;
    case "tanh":
      return 5 / 3;
    case "relu":
      return Math.SQRT2;
    case "leakyRelu":
    case "leaky_relu": {
      const slope = param ?? 0.01;
      if (typeof slope !== "number" || !Number.isFinite(slope)) {
        throw new TypeError(`calculateGain: negative slope ${slope} is not a valid number`);
      }
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case "selu":
      return 3 / 4;
    default:
      throw new TypeError(
        `calculateGain: unsupported nonlinearity ${JSON.stringify(nonlinearity)}; expected linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leakyRelu or selu`,
      );
  }
}

/**
 * PyTorch's fan computation: fanIn = shape[1] × receptive field, fanOut = shape[0] × receptive
 * field, where the receptive field is the product of shape[2:]. Needs at least 2 dimensions.
 */
export function calculateFanInAndFanOut(t: Tensor, op = "init"): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) {
    throw new RangeError(
      `${op}: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (shape ${shapeToString(t.shape)})`,
    );
  }
  let receptive = 1;
  for (let i = 2; i < t.ndim; i++) receptive *= t.shape[i];
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

function fanOf(t: Tensor, mode: FanMode, op: string): number {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t, op);
  if (mode === "fanIn" || mode === "fan_in") return fanIn;
  if (mode === "fanOut" || mode === "fan_out") return fanOut;
  throw new TypeError(`${op}: mode must be "fanIn" or "fanOut", got ${JSON.stringify(mode)}`);
}

type Distribution = "uniform" | "normal" | "constant";

/** Fills a typed array from a distribution (kept monomorphic per array type for speed). */
function draw(data: Float32Array | Float64Array, kind: Distribution, a: number, b: number): void {
  const n = data.length;
  const g = defaultGenerator;
  if (kind === "constant") {
    data.fill(a);
  } else if (kind === "uniform") {
    const width = b - a;
    for (let i = 0; i < n; i++) data[i] = a + width * g.random();
  } else {
    for (let i = 0; i < n; i++) data[i] = a + b * g.normal();
  }
}

/**
 * Writes samples into every element of `t` (in place, outside autograd); returns t.
 * uniform: U(a, b); normal: N(a, b²); constant: a.
 */
function fill(t: Tensor, op: string, kind: Distribution, a: number, b = 0): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a tensor, got ${typeof t}`);
  if (!isFloating(t.dtype))
    throw new TypeError(`${op}: expected a float32 or float64 tensor, got ${t.dtype}`);
  if (t.isContiguous()) {
    const data = t.data as Float32Array | Float64Array;
    if (data instanceof Float32Array) draw(data, kind, a, b);
    else draw(data, kind, a, b);
    t.bumpVersion();
  } else {
    const values = allocate(t.dtype, t.numel()) as Float32Array | Float64Array;
    draw(values, kind, a, b);
    noGrad(() => t.copy_(Tensor.fromData(values, t.shape)));
  }
  return t;
}

function requireNumber(op: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`${op}: ${name} must be a finite number, got ${String(value)}`);
  }
  return value;
}

/** Fills `t` with samples of U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1): Tensor {
  requireNumber("init.uniform", "a", a);
  requireNumber("init.uniform", "b", b);
  if (b < a) throw new RangeError(`init.uniform: expected a <= b, got a=${a}, b=${b}`);
  return fill(t, "init.uniform", "uniform", a, b);
}

/** Fills `t` with samples of N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1): Tensor {
  requireNumber("init.normal", "mean", mean);
  requireNumber("init.normal", "std", std);
  if (std < 0) throw new RangeError(`init.normal: std must be >= 0, got ${std}`);
  return fill(t, "init.normal", "normal", mean, std);
}

/** Fills `t` with `value`. */
export function constant(t: Tensor, value: number): Tensor {
  requireNumber("init.constant", "value", value);
  return fill(t, "init.constant", "constant", value);
}

export function zeros(t: Tensor): Tensor {
  return fill(t, "init.zeros", "constant", 0);
}

export function ones(t: Tensor): Tensor {
  return fill(t, "init.ones", "constant", 1);
}

function kaimingStd(t: Tensor, op: string, options?: KaimingOptions): number {
  const opts = checkOptions(op, options, KAIMING_KEYS);
  const a = requireNumber(op, "a", opts.a ?? 0);
  const fan = fanOf(t, opts.mode ?? "fanIn", op);
  const gain = calculateGain(opts.nonlinearity ?? "leakyRelu", a);
  return gain / Math.sqrt(fan);
}

/**
 * He et al. (2015) uniform: U(-bound, bound) with bound = gain × √(3 / fan). PyTorch's default
 * conv and linear weights are `kaimingUniform(w, {a: Math.sqrt(5)})`, i.e. bound = 1/√fanIn.
 */
export function kaimingUniform(t: Tensor, options?: KaimingOptions): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, "init.kaimingUniform", options);
  return fill(t, "init.kaimingUniform", "uniform", -bound, bound);
}

/** He et al. (2015) normal: N(0, std²) with std = gain / √fan (the notes' `w = randn(n) * sqrt(2/n)`). */
export function kaimingNormal(t: Tensor, options?: KaimingOptions): Tensor {
  const std = kaimingStd(t, "init.kaimingNormal", options);
  return fill(t, "init.kaimingNormal", "normal", 0, std);
}

/** Glorot & Bengio (2010) uniform: bound = gain × √(6 / (fanIn + fanOut)). */
export function xavierUniform(t: Tensor, gain = 1): Tensor {
  requireNumber("init.xavierUniform", "gain", gain);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t, "init.xavierUniform");
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return fill(t, "init.xavierUniform", "uniform", -bound, bound);
}

/** Glorot & Bengio (2010) normal: std = gain × √(2 / (fanIn + fanOut)). */
export function xavierNormal(t: Tensor, gain = 1): Tensor {
  requireNumber("init.xavierNormal", "gain", gain);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t, "init.xavierNormal");
  const std = gain * Math.sqrt(2 / (fanIn + fanOut));
  return fill(t, "init.xavierNormal", "normal", 0, std);
}
