/** Datasets: anything with a `length` and `get(i)`, plus tensor-backed and derived datasets. */
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { select } from "../ops/view.js";

/** Checks an item index and makes negative indices count from the end. */
export function checkIndex(index: number, length: number, where: string): number {
  if (!Number.isInteger(index) || index < -length || index >= length) {
    throw new RangeError(`${where}: index ${index} is out of range for a dataset of ${length} items`);
  }
  return index < 0 ? index + length : index;
}

/**
 * A map-style dataset (PyTorch's `Dataset`): `length` items, `get(i)` returns item `i`. Subclass
 * it, or pass any object with `length` and `get` to a `DataLoader`.
 */
export abstract class Dataset<T = unknown> {
  abstract get length(): number;
  abstract get(index: number): T;

  /** A dataset whose items are `fn(item, index)` (e.g. augmentation: `ds.map(([x, y]) => [aug(x), y])`). */
  map<U>(fn: (item: T, index: number) => U): MapDataset<T, U> {
    return new MapDataset(this, fn);
  }

  /** The items in order. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }
}

/** The interface a `DataLoader` needs (a `Dataset`, or any object of this shape). */
export interface DatasetLike<T = unknown> {
  readonly length: number;
  get(index: number): T;
}

/**
 * Rows of equally long tensors: item `i` is `[t0[i], t1[i], ...]` (e.g. `[image, label]`).
 * A `DataLoader` batches it by copying rows directly (no per-item work).
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> extends Dataset<T> {
  readonly tensors: T;

  constructor(...tensors: T) {
    super();
    if (tensors.length === 0) throw new TypeError("TensorDataset: needs at least one tensor");
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`TensorDataset: argument ${i} is not a tensor`);
      if (t.ndim === 0)
        throw new RangeError(`TensorDataset: argument ${i} is a scalar; items are rows along dim 0`);
    });
    const n = tensors[0].shape[0];
    tensors.forEach((t, i) => {
      if (t.shape[0] !== n) {
        throw new RangeError(
          `TensorDataset: all tensors need the same size in dim 0; tensors[0] is ${shapeToString(tensors[0].shape)}, tensors[${i}] is ${shapeToString(t.shape)}`,
        );
      }
    });
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0].shape[0];
  }

  get(index: number): T {
    const i = checkIndex(index, this.length, "TensorDataset.get");
    return this.tensors.map((t) => select(t, 0, i)) as T;
  }
}

/** Items of another dataset passed through a function. */
export class MapDataset<T, U> extends Dataset<U> {
  constructor(
    readonly source: DatasetLike<T>,
    readonly fn: (item: T, index: number) => U,
  ) {
    super();
  }

  get length(): number {
    return this.source.length;
  }

  get(index: number): U {
    const i = checkIndex(index, this.length, "MapDataset.get");
    return this.fn(this.source.get(i), i);
  }
}

/** The items of `source` at the given indices. */
export class Subset<T> extends Dataset<T> {
  readonly indices: number[];

  constructor(
    readonly source: DatasetLike<T>,
    indices: Iterable<number>,
  ) {
    super();
    this.indices = [...indices].map((i) => checkIndex(i, source.length, "Subset"));
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T {
    return this.source.get(this.indices[checkIndex(index, this.length, "Subset.get")]);
  }
}
