import { allocationHook } from "../runtime/trace.js";
import { registerGlobalState } from "../runtime/state.js";

export type DType = "float32" | "float64" | "int32" | "bool";

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ["float32", "float64", "int32", "bool"];

export const DEFAULT_DTYPE: DType = "float32";

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (DTYPES as readonly string[]).includes(value);
}

export function assertDType(value: unknown, where: string): DType {
  if (!isDType(value)) {
    throw new TypeError(
      `${where}: unknown dtype ${JSON.stringify(value)}; expected one of ${DTYPES.join(", ")}`,
    );
  }
  return value;
}

export function isFloating(dtype: DType): dtype is "float32" | "float64" {
  return dtype === "float32" || dtype === "float64";
}

function fresh(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int32":
      return new Int32Array(length);
    case "bool":
      return new Uint8Array(length);
  }
}

/**
 * A new array whose contents are whatever the allocator had there, for kernels that write every
 * element: zero-filling a large array costs a pass over its memory (debug mode fills it with NaN
 * instead, as it does released buffers, so that an element left unwritten shows).
 */
function unfilled(dtype: DType, length: number): TypedArray {
  const bytes = length * bytesPerElement(dtype);
  const Alloc = globalThis.Buffer;
  if (bytes < POOL_MIN_BYTES || Alloc === undefined) return fresh(dtype, length);
  const buffer = Alloc.allocUnsafeSlow(bytes).buffer;
  const a = viewOf(dtype, buffer, length);
  if (debugBuffers) poison(a);
  return a;
}

function viewOf(dtype: DType, buffer: ArrayBuffer, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, 0, length);
    case "float64":
      return new Float64Array(buffer, 0, length);
    case "int32":
      return new Int32Array(buffer, 0, length);
    case "bool":
      return new Uint8Array(buffer, 0, length);
  }
}

/** A zero-filled array of `length` elements: a reused one from the pool when there is one of that size. */
export function allocate(dtype: DType, length: number): TypedArray {
  return take(dtype, length, true);
}

/**
 * An array of `length` elements for a kernel that writes every one of them: like allocate(), but a
 * reused array keeps its old contents instead of being zeroed first.
 */
export function allocateForOverwrite(dtype: DType, length: number): TypedArray {
  return take(dtype, length, false);
}

function take(dtype: DType, length: number, zero: boolean): TypedArray {
  const hook = allocationHook();
  let a = hook?.take(dtype, length, zero) as TypedArray | undefined;
  if (a === undefined && length * bytesPerElement(dtype) >= POOL_MIN_BYTES) {
    a = pool.get(`${dtype}:${length}`)?.pop();
    if (a) {
      inPool.delete(a);
      pooledBytes -= a.byteLength;
      if (zero) a.fill(0);
    }
  }
  a ??= zero ? fresh(dtype, length) : unfilled(dtype, length);
  // a whole buffer is logged by its buffer (views of it count as the same memory); a slice of a
  // larger buffer (an arena's) by itself
  allocationLog?.add(a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a.buffer : a);
  hook?.made(a);
  return a;
}

// ---------------------------------------------------------------- buffer reuse
// A fresh multi-megabyte array costs page faults on first touch (several times the cost of
// writing it). The autograd engine hands back the buffers of intermediate gradients it knows
// nobody else can reach (see engine.ts), and allocate() serves same-sized requests from them.

/** Arrays smaller than this are cheap to allocate and are never pooled. */
export const POOL_MIN_BYTES = 1 << 18;
/** At most this many bytes wait in the pool; beyond it released arrays are left to the GC. */
export const POOL_MAX_BYTES = 256 * 2 ** 20;
const pool = new Map<string, TypedArray[]>();
const inPool = new WeakSet<TypedArray>();
let pooledBytes = 0;
let reuseEnabled = true;
let allocationLog: WeakSet<object> | null = null;

// An interrupt can stop take() or releaseBuffer() half-way: emptying the pool is always safe.
registerGlobalState({
  name: "tensor/dtype: buffer pool, reuseEnabled, allocationLog",
  save: () => ({ reuseEnabled, allocationLog }),
  restore: (saved) => {
    setBufferReuse(saved.reuseEnabled);
    allocationLog = saved.allocationLog;
  },
});

/**
 * Offers an array that no tensor will use again for reuse by allocate(). Only whole-buffer arrays
 * are taken (a view into a larger buffer could alias live data). Returns whether it was taken.
 */
export function releaseBuffer(a: TypedArray): boolean {
  if (debugBuffers) poison(a);
  if (!reuseEnabled || a.byteLength < POOL_MIN_BYTES || inPool.has(a)) return false;
  if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || !(a.buffer instanceof ArrayBuffer))
    return false;
  if (pooledBytes + a.byteLength > POOL_MAX_BYTES) return false;
  const key = `${dtypeOfArray(a)}:${a.length}`;
  let list = pool.get(key);
  if (!list) pool.set(key, (list = []));
  list.push(a);
  inPool.add(a);
  pooledBytes += a.byteLength;
  return true;
}

// Debug mode (CNNLAB_DEBUG_BUFFERS=1, or setBufferDebug(true)): every released buffer, pooled or
// not, is filled with NaN (int32: −2^31), so a backward that kept a reference to the gradient it
// was given, or a kernel that does not write every element of an allocateForOverwrite() array,
// produces NaN instead of silently reading reused memory.
let debugBuffers = globalThis.process?.env?.CNNLAB_DEBUG_BUFFERS === "1";

/** Turns the released-buffer poisoning of debug mode on or off; returns the previous setting. */
export function setBufferDebug(enabled: boolean): boolean {
  const previous = debugBuffers;
  debugBuffers = enabled;
  return previous;
}

/** Whether released buffers are poisoned (debug mode). */
export function isBufferDebug(): boolean {
  return debugBuffers;
}

function poison(a: TypedArray): void {
  if (a instanceof Float32Array || a instanceof Float64Array) a.fill(NaN);
  else if (a instanceof Int32Array) a.fill(-0x80000000);
}

/** Bytes waiting in the pool. */
export function pooledBufferBytes(): number {
  return pooledBytes;
}

/** Whether buffers are reused (setBufferReuse). */
export function isBufferReuse(): boolean {
  return reuseEnabled;
}

/** Empties the pool; `enabled: false` also stops releaseBuffer() from taking arrays. */
export function setBufferReuse(enabled: boolean): void {
  reuseEnabled = enabled;
  pool.clear();
  pooledBytes = 0;
}

/**
 * Makes allocate() record the buffers it hands out in `log` (null: stop); returns the previous log,
 * so that nested users can restore it.
 */
export function setAllocationLog(log: WeakSet<object> | null): WeakSet<object> | null {
  const previous = allocationLog;
  allocationLog = log;
  return previous;
}

export function dtypeOfArray(array: TypedArray): DType {
  if (array instanceof Float32Array) return "float32";
  if (array instanceof Float64Array) return "float64";
  if (array instanceof Int32Array) return "int32";
  return "bool";
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "float64" ? 8 : dtype === "bool" ? 1 : 4;
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

/** PyTorch's type promotion for two tensors: bool < int32 < float32 < float64. */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

const CATEGORY: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 2 };

/**
 * PyTorch's result type of a binary op on two tensors: a 0-d operand only decides the dtype when
 * it is of a higher category (bool < integer < floating) than the dimensioned one, so float32 [3]
 * times a float64 0-d tensor stays float32, while int32 [3] times it is float64.
 */
export function resultType(a: { dtype: DType; ndim: number }, b: { dtype: DType; ndim: number }): DType {
  if ((a.ndim === 0) === (b.ndim === 0)) return promoteTypes(a.dtype, b.dtype);
  const [dimmed, zero] = a.ndim === 0 ? [b, a] : [a, b];
  return CATEGORY[zero.dtype] > CATEGORY[dimmed.dtype] ? zero.dtype : dimmed.dtype;
}

/** Whether a result of dtype `from` may be written into a tensor of dtype `to` (PyTorch's canCast). */
export function canCast(from: DType, to: DType): boolean {
  return CATEGORY[from] <= CATEGORY[to] || (isFloating(from) && isFloating(to));
}

/** The dtype a Python-style scalar takes when combined with a tensor of `dtype`. */
export function promoteWithScalar(dtype: DType, scalar: number | boolean): DType {
  if (typeof scalar === "boolean") return dtype;
  if (!Number.isInteger(scalar) && !isFloating(dtype)) return "float32";
  if (dtype === "bool") return Number.isInteger(scalar) ? "int32" : "float32";
  return dtype;
}

/** Result dtype of ops that always produce floating values (div, exp, mean...). */
export function floatingOf(dtype: DType): "float32" | "float64" {
  return dtype === "float64" ? "float64" : "float32";
}

/** Casting a JS number into a slot of `dtype`, as a typed array store would do it. */
export function castScalar(value: number, dtype: DType): number {
  switch (dtype) {
    case "float32":
      return Math.fround(value);
    case "float64":
      return value;
    case "int32":
      return Math.trunc(value) | 0;
    case "bool":
      return value ? 1 : 0;
  }
}
