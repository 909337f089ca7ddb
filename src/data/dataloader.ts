/** DataLoader: batches of a dataset, in order or in a seeded random order that changes every epoch. */
import { stack } from "../ops/indexing.js";
import { contiguous, select } from "../ops/view.js";
import { allocate } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { defaultGenerator, Generator } from "../tensor/random.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { tensor } from "../tensor/creation.js";
import { TensorDataset, type DatasetLike } from "./dataset.js";

/** What batching makes of an item type: tensors and numbers become tensors with a batch dim. */
export type Collated<T> = T extends Tensor
  ? Tensor
  : T extends number | boolean
    ? Tensor
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Collated<T[K]> }
      : T extends object
        ? { [K in keyof T]: Collated<T[K]> }
        : T[];

export interface DataLoaderOptions<T, B> {
  /** Items per batch (default 1). */
  batchSize?: number;
  /** A new random order every epoch (default false). */
  shuffle?: boolean;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Seed of the loader's own generator: the same seed gives the same sequence of epochs. Without it the
   * global generator (`manualSeed`) is used. */
  seed?: number;
  /** A generator to draw the orders from (instead of `seed`). */
  generator?: Generator;
  /** Turns a list of items into a batch (default: `collate`). */
  collate?: (items: T[]) => B;
}

const KNOWN = ["batchSize", "shuffle", "dropLast", "seed", "generator", "collate"];

/** Stacks equal-shaped tensors along a new first dim without autograd (copies the data once). */
function stackRaw(items: Tensor[], where: string): Tensor {
  const first = items[0];
  items.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new RangeError(
        `${where}: item ${i} has shape ${shapeToString(t.shape)} but item 0 has ${shapeToString(first.shape)}; a batch needs equal shapes`,
      );
    }
  });
  if (items.some((t) => t.dtype !== first.dtype || t.requiresGrad)) return stack(items, 0);
  const size = first.numel();
  const out = allocate(first.dtype, size * items.length);
  items.forEach((t, i) => out.set(contiguous(t).data, i * size));
  return Tensor.fromData(out, [items.length, ...first.shape]);
}

/**
 * PyTorch's default collation: tensors are stacked (new dim 0); integers become an int32 tensor,
 * other numbers float64, booleans bool; arrays and objects are collated position by position / key by key.
 */
export function collate<T>(items: T[]): Collated<T> {
  return collateAt(items, "collate") as Collated<T>;
}

function collateAt(items: unknown[], where: string): unknown {
  if (items.length === 0) throw new RangeError(`${where}: cannot make a batch of no items`);
  const first = items[0];
  if (first instanceof Tensor) {
    items.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`${where}: item ${i} is not a tensor, item 0 is`);
    });
    return stackRaw(items as Tensor[], where);
  }
  if (typeof first === "number") {
    if (!items.every((v) => typeof v === "number"))
      throw new TypeError(`${where}: items mix numbers and other values`);
    const nums = items as number[];
    const ints = nums.every((v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31);
    return tensor(nums, { dtype: ints ? "int32" : "float64" });
  }
  if (typeof first === "boolean") return tensor(items as boolean[], { dtype: "bool" });
  if (Array.isArray(first)) {
    const n = first.length;
    items.forEach((it, i) => {
      if (!Array.isArray(it) || it.length !== n) {
        throw new RangeError(`${where}: item ${i} is not an array of ${n} values like item 0`);
      }
    });
    return first.map((_, k) =>
      collateAt(
        items.map((it) => (it as unknown[])[k]),
        `${where}[${k}]`,
      ),
    );
  }
  if (first !== null && typeof first === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) {
      out[key] = collateAt(
        items.map((it) => (it as Record<string, unknown>)[key]),
        `${where}.${key}`,
      );
    }
    return out;
  }
  return [...items];
}

/** Rows `indices` of `t` (along dim 0) as a new contiguous tensor. */
function takeRows(t: Tensor, indices: Int32Array): Tensor {
  if (t.requiresGrad) return stack(Array.from(indices, (i) => select(t, 0, i)));
  const src = contiguous(t).data;
  const row = t.shape[0] === 0 ? 0 : src.length / t.shape[0];
  const out = allocate(t.dtype, row * indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    out.set(src.subarray(i * row, (i + 1) * row), k * row);
  }
  return Tensor.fromData(out, [indices.length, ...t.shape.slice(1)]);
}

/**
 * Iterates over a dataset in batches: `for (const [x, y] of loader) ...`. Each `for` loop is one
 * epoch; with `shuffle` every epoch draws a new permutation from the loader's generator.
 */
export class DataLoader<T = unknown, B = Collated<T>> implements Iterable<B> {
  readonly dataset: DatasetLike<T>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Generator;
  /** Epochs started so far. */
  epoch = 0;
  private readonly collateFn: ((items: T[]) => B) | null;

  constructor(dataset: DatasetLike<T>, options?: DataLoaderOptions<T, B>) {
    const o = checkOptions("DataLoader", options, KNOWN);
    if (
      dataset === null ||
      typeof dataset !== "object" ||
      typeof dataset.get !== "function" ||
      typeof dataset.length !== "number"
    ) {
      throw new TypeError("DataLoader: the dataset must have a numeric length and a get(index) method");
    }
    this.dataset = dataset;
    const bs = o.batchSize ?? 1;
    if (!Number.isInteger(bs) || bs < 1)
      throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${bs}`);
    this.batchSize = bs;
    for (const key of ["shuffle", "dropLast"] as const) {
      if (o[key] !== undefined && typeof o[key] !== "boolean") {
        throw new TypeError(`DataLoader: option ${key} must be a boolean, got ${String(o[key])}`);
      }
    }
    this.shuffle = o.shuffle ?? false;
    this.dropLast = o.dropLast ?? false;
    if (o.seed !== undefined && o.generator !== undefined) {
      throw new TypeError("DataLoader: give either seed or generator, not both");
    }
    if (o.seed !== undefined && !Number.isFinite(o.seed))
      throw new TypeError(`DataLoader: seed must be a finite number, got ${o.seed}`);
    if (o.generator !== undefined && !(o.generator instanceof Generator)) {
      throw new TypeError("DataLoader: option generator must be a Generator");
    }
    this.generator = o.generator ?? (o.seed !== undefined ? new Generator(o.seed) : defaultGenerator);
    if (o.collate !== undefined && typeof o.collate !== "function")
      throw new TypeError("DataLoader: option collate must be a function");
    this.collateFn = o.collate ?? null;
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The item order of the next epoch (a seeded Fisher–Yates shuffle, or 0..n-1). */
  private order(): Int32Array {
    const n = this.dataset.length;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = this.generator.integer(0, i + 1);
        const tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
      }
    }
    return order;
  }

  /** The batch made of the given item indices. */
  batch(indices: Int32Array | readonly number[]): B {
    const idx = indices instanceof Int32Array ? indices : Int32Array.from(indices);
    const ds = this.dataset;
    if (this.collateFn === null && ds instanceof TensorDataset) {
      return (ds as TensorDataset).tensors.map((t: Tensor) => takeRows(t, idx)) as B;
    }
    const items = Array.from(idx, (i) => ds.get(i));
    return this.collateFn !== null ? this.collateFn(items) : (collate(items) as B);
  }

  *[Symbol.iterator](): Iterator<B> {
    this.epoch++;
    const order = this.order();
    const batches = this.length;
    for (let b = 0; b < batches; b++) {
      yield this.batch(order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)));
    }
  }
}
