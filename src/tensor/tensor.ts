import type { Node } from "../autograd/node.js";
import { isGradEnabled } from "../autograd/grad-mode.js";
import { castScalar, dtypeOfArray, isFloating, type DType, type TypedArray } from "./dtype.js";
import { contiguousStrides, isContiguous, numel, shapeToString, type Shape } from "./shape.js";
import { formatTensor } from "./format.js";
import { traceRead } from "../runtime/trace.js";

/** The memory behind one or more tensors; `version` counts in-place writes (autograd checks it). */
export class Storage {
  version = 0;
  constructor(public readonly data: TypedArray) {}
}

export type GradHook = (grad: Tensor) => Tensor | void;

export interface RemovableHandle {
  remove(): void;
}

/**
 * An n-dimensional array with autograd. Tensors are views (shape, strides, offset) over a shared
 * storage; most methods are defined next to their ops and attached in `methods.ts`.
 */
export class Tensor {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** Accumulated gradient of a leaf (or of a tensor that called `retainGrad()`). */
  grad: Tensor | null = null;
  /** The graph node that produced this tensor; null for leaves. */
  gradFn: Node | null = null;
  /** Hooks of a leaf; a non-leaf keeps its hooks on its graph node. */
  readonly leafHooks: GradHook[] = [];
  retainsGrad = false;
  private requiresGradFlag = false;

  constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number, dtype: DType) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.dtype = dtype;
  }

  /** A contiguous tensor over `data` (not copied). */
  static fromData(data: TypedArray, shape: Shape): Tensor {
    if (numel(shape) !== data.length) {
      throw new RangeError(`tensor: ${data.length} values cannot fill shape ${shapeToString(shape)}`);
    }
    return new Tensor(new Storage(data), shape, contiguousStrides(shape), 0, dtypeOfArray(data));
  }

  get requiresGrad(): boolean {
    return this.requiresGradFlag;
  }

  set requiresGrad(value: boolean) {
    if (value && !isFloating(this.dtype)) {
      throw new TypeError(
        `requiresGrad: only floating point tensors can require gradients, this one is ${this.dtype}`,
      );
    }
    if (!value && this.gradFn !== null) {
      throw new Error(
        "requiresGrad: this tensor was computed from tensors that require grad; use .detach() instead of turning it off",
      );
    }
    this.requiresGradFlag = value;
  }

  /** In-place setter of `requiresGrad`, returning the tensor (PyTorch's `requires_grad_()`). */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /** Marks a tensor produced by an op as part of the graph (used by the autograd machinery). */
  attachGraph(node: Node): void {
    this.gradFn = node;
    this.requiresGradFlag = true;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  numel(): number {
    return numel(this.shape);
  }

  size(): number[];
  size(dim: number): number;
  size(dim?: number): number[] | number {
    if (dim === undefined) return [...this.shape];
    const d = dim < 0 ? dim + this.shape.length : dim;
    if (d < 0 || d >= this.shape.length) {
      throw new RangeError(`size: dim ${dim} is out of range for shape ${shapeToString(this.shape)}`);
    }
    return this.shape[d];
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /**
   * The contiguous storage of a contiguous tensor. Writes go straight to memory and bypass autograd,
   * as PyTorch's `.data` does.
   */
  get data(): TypedArray {
    traceRead(".data");
    if (!this.isContiguous()) {
      throw new Error(
        `data: this ${shapeToString(this.shape)} tensor is a non-contiguous view (strides ${shapeToString(this.strides)}); call .contiguous() first`,
      );
    }
    const n = this.numel();
    if (this.offset === 0 && n === this.storage.data.length) return this.storage.data;
    return this.storage.data.subarray(this.offset, this.offset + n);
  }

  /** Flat position in storage of a multi-index; validates each index. */
  storageIndex(index: readonly number[], op: string): number {
    if (index.length !== this.shape.length) {
      throw new RangeError(
        `${op}: expected ${this.shape.length} indices for shape ${shapeToString(this.shape)}, got ${index.length}`,
      );
    }
    let pos = this.offset;
    for (let i = 0; i < index.length; i++) {
      let k = index[i];
      const size = this.shape[i];
      if (!Number.isInteger(k) || k < -size || k >= size) {
        throw new RangeError(`${op}: index ${k} is out of range for dim ${i} of size ${size}`);
      }
      if (k < 0) k += size;
      pos += k * this.strides[i];
    }
    return pos;
  }

  /** The element at `idx` (negative indices count from the end). */
  get(...idx: number[]): number {
    return this.storage.data[this.storageIndex(idx, "get")];
  }

  /** Writes one element in place. Refused on tensors that autograd tracks. */
  set(value: number | boolean, ...idx: number[]): void {
    this.checkInPlace("set");
    const pos = this.storageIndex(idx, "set");
    this.storage.data[pos] = castScalar(Number(value), this.dtype);
    this.storage.version++;
  }

  /** Throws when an in-place write would corrupt autograd; else bumps nothing (the caller does). */
  checkInPlace(op: string): void {
    if (isGradEnabled() && this.requiresGradFlag) {
      throw new Error(
        this.gradFn === null
          ? `${op}: a leaf tensor that requires grad cannot be modified in place; wrap the update in noGrad(() => ...)`
          : `${op}: in-place modification of a tensor that is part of the autograd graph is not supported; use the out-of-place op`,
      );
    }
  }

  /** Marks an in-place write (so autograd can detect stale saved tensors). */
  bumpVersion(): void {
    this.storage.version++;
  }

  /** A new tensor sharing storage and shape but not the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset, this.dtype);
  }

  /** Calls `fn` element by element in logical (row-major) order with each element's storage position. */
  forEachPosition(fn: (position: number, flatIndex: number) => void): void {
    const rank = this.shape.length;
    const n = this.numel();
    if (n === 0) return;
    const counter = new Array<number>(rank).fill(0);
    let pos = this.offset;
    for (let i = 0; i < n; i++) {
      fn(pos, i);
      for (let d = rank - 1; d >= 0; d--) {
        counter[d]++;
        pos += this.strides[d];
        if (counter[d] < this.shape[d]) break;
        pos -= counter[d] * this.strides[d];
        counter[d] = 0;
      }
    }
  }

  /** Nested JS arrays of numbers (booleans for bool tensors). */
  toArray(): any {
    traceRead(".toArray()");
    const flat: (number | boolean)[] = [];
    const data = this.storage.data;
    const isBool = this.dtype === "bool";
    this.forEachPosition((p) => flat.push(isBool ? data[p] !== 0 : data[p]));
    if (this.shape.length === 0) return flat[0];
    let cursor = 0;
    const build = (d: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[d]; i++)
        out.push(d === this.shape.length - 1 ? flat[cursor++] : build(d + 1));
      return out;
    };
    return build(0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    traceRead(".item()");
    if (this.numel() !== 1) {
      throw new RangeError(
        `item: only a one-element tensor can be converted to a number, this one has shape ${shapeToString(this.shape)}`,
      );
    }
    return this.storage.data[this.offset];
  }

  /** Registers a hook called with this tensor's gradient during backward; it may return a replacement. */
  registerHook(hook: GradHook): RemovableHandle {
    if (!this.requiresGradFlag) {
      throw new Error("registerHook: cannot register a hook on a tensor that doesn't require gradient");
    }
    const list = this.gradFn ? this.gradFn.hooks : this.leafHooks;
    list.push(hook);
    return {
      remove: () => {
        const i = list.indexOf(hook);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  /** Keeps `.grad` for a non-leaf tensor after backward. */
  retainGrad(): void {
    if (!this.requiresGradFlag) throw new Error("retainGrad: this tensor doesn't require grad");
    if (this.gradFn) this.gradFn.retainTarget = this;
    this.retainsGrad = true;
  }

  toString(): string {
    traceRead("printing a tensor");
    return formatTensor(this);
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
