import {
  allocate,
  assertDType,
  castScalar,
  DEFAULT_DTYPE,
  dtypeOfArray,
  isFloating,
  type DType,
  type TypedArray,
} from "./dtype.js";
import { traced } from "../runtime/trace.js";
import { checkOptions } from "./options.js";
import { defaultGenerator } from "./random.js";
import { numel, shapeToString, validateShape } from "./shape.js";
import { Tensor } from "./tensor.js";

export interface CreationOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

const CREATION_KEYS = ["dtype", "requiresGrad"] as const;

export type NestedArray = number | boolean | readonly NestedArray[];

function finish(op: string, t: Tensor, options: CreationOptions): Tensor {
  if (options.requiresGrad) {
    if (!isFloating(t.dtype)) {
      throw new TypeError(`${op}: only floating point tensors can require gradients (dtype ${t.dtype})`);
    }
    t.requiresGrad = true;
  }
  return t;
}

function resolveDType(op: string, options: CreationOptions, fallback: DType = DEFAULT_DTYPE): DType {
  return options.dtype === undefined ? fallback : assertDType(options.dtype, op);
}

/**
 * A tensor from nested arrays or a typed array. Numbers become float32 unless `dtype` says
 * otherwise (JS cannot tell 1.0 from 1); booleans become bool; a typed array keeps its type.
 */
export function tensor(
  values: NestedArray | TypedArray,
  options?: CreationOptions & { shape?: readonly number[] },
): Tensor {
  const opts = checkOptions("tensor", options, [...CREATION_KEYS, "shape"]);
  if (ArrayBuffer.isView(values)) {
    const source = values as TypedArray;
    const dtype = resolveDType("tensor", opts, dtypeOfArray(source));
    const shape = opts.shape ? validateShape(opts.shape, "tensor") : [source.length];
    if (numel(shape) !== source.length) {
      throw new RangeError(`tensor: ${source.length} values cannot fill shape ${shapeToString(shape)}`);
    }
    const data = allocate(dtype, source.length);
    for (let i = 0; i < source.length; i++) data[i] = castScalar(source[i], dtype);
    return finish("tensor", Tensor.fromData(data, shape), opts);
  }
  const shape: number[] = [];
  let probe: NestedArray = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const flat: (number | boolean)[] = [];
  let sawBoolean = false;
  let sawNumber = false;
  const visit = (node: NestedArray, depth: number, path: number[]): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) {
        throw new TypeError(
          `tensor: ragged nested array: element at [${path.join("][")}] is an array, expected a number`,
        );
      }
      if (typeof node === "boolean") sawBoolean = true;
      else if (typeof node === "number") sawNumber = true;
      else
        throw new TypeError(
          `tensor: element at [${path.join("][")}] is ${typeof node}, expected a number or boolean`,
        );
      flat.push(node as number | boolean);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      const got = Array.isArray(node) ? `length ${node.length}` : `a ${typeof node}`;
      throw new TypeError(
        `tensor: ragged nested array: element at [${path.join("][")}] has ${got}, expected length ${shape[depth]} (shape so far ${shapeToString(shape.slice(0, depth + 1))})`,
      );
    }
    node.forEach((child, i) => visit(child, depth + 1, [...path, i]));
  };
  visit(values, 0, []);
  const inferred: DType = sawBoolean && !sawNumber ? "bool" : DEFAULT_DTYPE;
  const dtype = resolveDType("tensor", opts, inferred);
  const data = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = castScalar(Number(flat[i]), dtype);
  return finish("tensor", Tensor.fromData(data, shape), opts);
}

/** A 0-d tensor holding `value`. */
export function scalarTensor(value: number | boolean, dtype: DType): Tensor {
  const data = allocate(dtype, 1);
  data[0] = castScalar(Number(value), dtype);
  return Tensor.fromData(data, []);
}

function shapeArg(op: string, shape: readonly number[] | number): number[] {
  return validateShape(typeof shape === "number" ? [shape] : shape, op);
}

export function full(
  shape: readonly number[] | number,
  value: number | boolean,
  options?: CreationOptions,
): Tensor {
  return traced("create", "full", [shape, value, options], fullNow);
}

function fullNow(
  shape: readonly number[] | number,
  value: number | boolean,
  options?: CreationOptions,
): Tensor {
  const opts = checkOptions("full", options, CREATION_KEYS);
  const dims = shapeArg("full", shape);
  const dtype = resolveDType("full", opts, typeof value === "boolean" ? "bool" : DEFAULT_DTYPE);
  const data = allocate(dtype, numel(dims));
  data.fill(castScalar(Number(value), dtype));
  return finish("full", Tensor.fromData(data, dims), opts);
}

export function zeros(shape: readonly number[] | number, options?: CreationOptions): Tensor {
  return traced("create", "zeros", [shape, options], zerosNow);
}

function zerosNow(shape: readonly number[] | number, options?: CreationOptions): Tensor {
  const opts = checkOptions("zeros", options, CREATION_KEYS);
  const dims = shapeArg("zeros", shape);
  return finish("zeros", Tensor.fromData(allocate(resolveDType("zeros", opts), numel(dims)), dims), opts);
}

export function ones(shape: readonly number[] | number, options?: CreationOptions): Tensor {
  checkOptions("ones", options, CREATION_KEYS);
  return full(shape, 1, { dtype: options?.dtype ?? DEFAULT_DTYPE, requiresGrad: options?.requiresGrad });
}

/** Values start, start+step, ... below end (PyTorch's `arange`). */
export function arange(start: number, end?: number, step = 1, options?: CreationOptions): Tensor {
  const opts = checkOptions("arange", options, CREATION_KEYS);
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new RangeError(`arange: step must be a non-zero finite number, got ${step}`);
  if ((end - start) / step < 0) {
    throw new RangeError(
      `arange: upper bound and lower bound inconsistent with step sign (start ${start}, end ${end}, step ${step})`,
    );
  }
  const n = Math.ceil((end - start) / step);
  const dtype = resolveDType("arange", opts);
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = castScalar(start + i * step, dtype);
  return finish("arange", Tensor.fromData(data, [n]), opts);
}

/** `steps` evenly spaced values from start to end inclusive, with PyTorch's symmetric formula. */
export function linspace(start: number, end: number, steps: number, options?: CreationOptions): Tensor {
  const opts = checkOptions("linspace", options, CREATION_KEYS);
  if (!Number.isInteger(steps) || steps < 0)
    throw new RangeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = resolveDType("linspace", opts);
  const data = allocate(dtype, steps);
  if (steps === 1) data[0] = castScalar(start, dtype);
  else if (steps > 1) {
    const step = (end - start) / (steps - 1);
    const half = Math.floor(steps / 2);
    for (let i = 0; i < steps; i++) {
      data[i] = castScalar(i < half ? start + step * i : end - step * (steps - 1 - i), dtype);
    }
  }
  return finish("linspace", Tensor.fromData(data, [steps]), opts);
}

export function eye(n: number, m: number = n, options?: CreationOptions): Tensor {
  const opts = checkOptions("eye", options, CREATION_KEYS);
  const dims = validateShape([n, m], "eye");
  const dtype = resolveDType("eye", opts);
  const data = allocate(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish("eye", Tensor.fromData(data, dims), opts);
}

function randomFill(
  op: string,
  shape: readonly number[] | number,
  options: CreationOptions | undefined,
  draw: () => number,
): Tensor {
  // a unit of its own for compile: a replay draws fresh numbers from the same generator
  return traced("create", op, [shape, options], (s: readonly number[] | number, o?: CreationOptions) =>
    randomFillNow(op, s, o, draw),
  );
}

function randomFillNow(
  op: string,
  shape: readonly number[] | number,
  options: CreationOptions | undefined,
  draw: () => number,
): Tensor {
  const opts = checkOptions(op, options, CREATION_KEYS);
  const dims = shapeArg(op, shape);
  const dtype = resolveDType(op, opts);
  if (!isFloating(dtype)) throw new TypeError(`${op}: dtype must be float32 or float64, got ${dtype}`);
  const data = allocate(dtype, numel(dims));
  for (let i = 0; i < data.length; i++) data[i] = draw();
  return finish(op, Tensor.fromData(data, dims), opts);
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[] | number, options?: CreationOptions): Tensor {
  return randomFill("rand", shape, options, () => defaultGenerator.random());
}

/** Standard normal samples. */
export function randn(shape: readonly number[] | number, options?: CreationOptions): Tensor {
  return randomFill("randn", shape, options, () => defaultGenerator.normal());
}

/** Integers uniform in [low, high), int32 by default. */
export function randint(
  low: number,
  high: number,
  shape: readonly number[] | number,
  options?: CreationOptions,
): Tensor {
  return traced("create", "randint", [low, high, shape, options], randintNow);
}

function randintNow(
  low: number,
  high: number,
  shape: readonly number[] | number,
  options?: CreationOptions,
): Tensor {
  const opts = checkOptions("randint", options, CREATION_KEYS);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new RangeError(`randint: need integers low < high, got low=${low}, high=${high}`);
  }
  const dims = shapeArg("randint", shape);
  const dtype = resolveDType("randint", opts, "int32");
  const data = allocate(dtype, numel(dims));
  for (let i = 0; i < data.length; i++) data[i] = defaultGenerator.integer(low, high);
  return finish("randint", Tensor.fromData(data, dims), opts);
}

const likeOptions = (t: Tensor, options?: CreationOptions): CreationOptions => ({
  dtype: options?.dtype ?? t.dtype,
  requiresGrad: options?.requiresGrad,
});

export const zerosLike = (t: Tensor, options?: CreationOptions): Tensor =>
  zeros(t.shape, likeOptions(t, options));
export const onesLike = (t: Tensor, options?: CreationOptions): Tensor =>
  ones(t.shape, likeOptions(t, options));
export const fullLike = (t: Tensor, value: number, options?: CreationOptions): Tensor =>
  full(t.shape, value, likeOptions(t, options));
export const randLike = (t: Tensor, options?: CreationOptions): Tensor =>
  rand(t.shape, likeOptions(t, options));
export const randnLike = (t: Tensor, options?: CreationOptions): Tensor =>
  randn(t.shape, likeOptions(t, options));
export const randintLike = (t: Tensor, low: number, high: number, options?: CreationOptions): Tensor =>
  randint(low, high, t.shape, { dtype: options?.dtype ?? t.dtype, requiresGrad: options?.requiresGrad });
