export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function validateShape(shape: unknown, op: string, arg = "shape"): number[] {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${op}: ${arg} must be an array of non-negative integers, got ${String(shape)}`);
  }
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `${op}: ${arg}[${i}] must be a non-negative integer, got ${String(d)} in ${JSON.stringify(shape)}`,
      );
    }
  }
  const n = numel(shape as number[]);
  if (n > 2 ** 31 - 1) {
    throw new RangeError(
      `${op}: ${arg} ${shapeToString(shape as number[])} has ${n} elements, more than 2^31-1`,
    );
  }
  return [...(shape as number[])];
}

/** Normalises a possibly negative dim against a rank, PyTorch style. */
export function normalizeDim(dim: number, rank: number, op: string): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    throw new RangeError(
      `${op}: dim ${dim} is out of range for a tensor of rank ${rank} (expected ${-r}..${r - 1})`,
    );
  }
  return dim < 0 ? dim + r : dim;
}

export function normalizeDims(
  dims: number | readonly number[] | undefined | null,
  rank: number,
  op: string,
): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === "number" ? [dims] : [...dims];
  const out = list.map((d) => normalizeDim(d, rank, op));
  if (new Set(out).size !== out.length)
    throw new RangeError(`${op}: dim ${JSON.stringify(list)} repeats a dimension`);
  return out.sort((a, b) => a - b);
}

export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} cannot be broadcast (dim ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had the (broadcast) shape `target`. */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const offset = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[offset + i] = shape[i] === 1 ? 0 : strides[i];
  return out;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}
