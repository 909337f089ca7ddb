import type { TypedArray } from "../../tensor/dtype.js";
import type { StridedView } from "./strided.js";

export type ReduceKind = "sum" | "max" | "min" | "argmax" | "argmin" | "logsumexp";

/** A group of dims walked by a counter: sizes and strides, innermost last. */
export interface Group {
  sizes: number[];
  strides: number[];
}

/**
 * Splits the dims of a view into the kept ones and the reduced ones (both in logical order), drops
 * size-1 dims and merges neighbours of the same group that are contiguous with each other, so the
 * innermost loop runs as long as memory allows (dims (0, 2, 3) of a contiguous [N, C, H, W] become
 * kept [C] and reduced [N, H·W]).
 */
export function groups(x: StridedView, reduced: readonly boolean[]): { kept: Group; red: Group } {
  const kept: Group = { sizes: [], strides: [] };
  const red: Group = { sizes: [], strides: [] };
  let last: Group | null = null;
  let lastDim = -1;
  for (let d = 0; d < x.shape.length; d++) {
    const size = x.shape[d];
    if (size === 1) continue;
    const g = reduced[d] ? red : kept;
    const n = g.sizes.length;
    // merge with the previous dim when it is the same group, adjacent, and contiguous with this one
    if (g === last && n > 0 && lastDim === d - 1 && g.strides[n - 1] === size * x.strides[d]) {
      g.sizes[n - 1] *= size;
      g.strides[n - 1] = x.strides[d];
    } else {
      g.sizes.push(size);
      g.strides.push(x.strides[d]);
    }
    last = g;
    lastDim = d;
  }
  return { kept, red };
}

/** Calls fn(position) for every multi-index of a group (row-major), starting at `base`. */
export function forEachIn(g: Group, base: number, fn: (pos: number) => void): void {
  const rank = g.sizes.length;
  if (rank === 0) {
    fn(base);
    return;
  }
  const counter = new Array<number>(rank).fill(0);
  let pos = base;
  for (;;) {
    fn(pos);
    let d = rank - 1;
    for (; d >= 0; d--) {
      counter[d]++;
      pos += g.strides[d];
      if (counter[d] < g.sizes[d]) break;
      pos -= counter[d] * g.strides[d];
      counter[d] = 0;
    }
    if (d < 0) return;
  }
}

/**
 * Reduces a strided view over the dims marked in `reduced` into `out` (contiguous over the kept
 * dims, in their order). No copy of the input is made. Arg variants take one reduced dim and write
 * the first index of the extreme; NaN wins max/min, as in PyTorch. An empty reduction gives 0 for
 * sum and −∞ for logsumexp; the caller rejects it for the others.
 */
export function reduceDims(
  x: StridedView,
  reduced: readonly boolean[],
  kind: ReduceKind,
  out: TypedArray,
): void {
  const { kept, red } = groups(x, reduced);
  const outer = out.length;
  if (outer === 0) return;
  const empty = x.shape.some((s, d) => s === 0 && reduced[d]);
  if (empty) {
    out.fill(kind === "logsumexp" ? -Infinity : 0);
    return;
  }
  const data = x.data;
  const keptLast = kept.sizes.length - 1;
  // the innermost memory dim is kept: add whole rows into the output (a sum over the batch dim)
  if ((kind === "sum" || kind === "max" || kind === "min") && keptLast >= 0 && isInnermost(kept, red)) {
    reduceColumns(data, x.offset, kept, red, kind, out);
    return;
  }
  const innerSize = red.sizes.length > 0 ? red.sizes[red.sizes.length - 1] : 1;
  const innerStride = red.sizes.length > 0 ? red.strides[red.strides.length - 1] : 0;
  const outerRed: Group = { sizes: red.sizes.slice(0, -1), strides: red.strides.slice(0, -1) };
  let o = 0;
  forEachIn(kept, x.offset, (base) => {
    out[o++] = reduceOne(data, base, outerRed, innerSize, innerStride, kind);
  });
}

/** The sum over the dims marked in `reduced` (reduceDims with kind "sum"): its own kernel in the dispatch table. */
export function sumDims(x: StridedView, reduced: readonly boolean[], out: TypedArray): void {
  reduceDims(x, reduced, "sum", out);
}

/** Whether the kept group's last dim has the smallest stride of all (and stride 1 or near). */
export function isInnermost(kept: Group, red: Group): boolean {
  const s = kept.strides[kept.strides.length - 1];
  return red.strides.every((r) => Math.abs(r) > Math.abs(s));
}

function sumRun(data: TypedArray, p: number, n: number, step: number): number {
  let s = 0;
  if (step === 1) for (let i = 0; i < n; i++) s += data[p + i];
  else for (let i = 0; i < n; i++) s += data[p + i * step];
  return s;
}

/** The extreme of a run and `best` (NaN wins). */
function extremeRun(
  data: TypedArray,
  p: number,
  n: number,
  step: number,
  isMax: boolean,
  best: number,
): number {
  for (let i = 0; i < n && best === best; i++) {
    const v = data[p + i * step];
    if (isMax ? v > best : v < best) best = v;
    else if (v !== v) best = v;
  }
  return best;
}

function sumExpRun(data: TypedArray, p: number, n: number, step: number, m: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(data[p + i * step] - m);
  return s;
}

function reduceOne(
  data: TypedArray,
  base: number,
  outerRed: Group,
  n: number,
  step: number,
  kind: ReduceKind,
): number {
  switch (kind) {
    case "sum": {
      let s = 0;
      forEachIn(outerRed, base, (p) => {
        s += sumRun(data, p, n, step);
      });
      return s;
    }
    case "max":
    case "min": {
      const isMax = kind === "max";
      let best = isMax ? -Infinity : Infinity;
      forEachIn(outerRed, base, (p) => {
        best = extremeRun(data, p, n, step, isMax, best);
      });
      return best;
    }
    case "argmax":
    case "argmin": {
      // one reduced dim: outerRed is empty
      let best = data[base];
      let at = 0;
      const isMax = kind === "argmax";
      for (let i = 1; i < n && best === best; i++) {
        const v = data[base + i * step];
        if ((isMax ? v > best : v < best) || v !== v) {
          best = v;
          at = i;
        }
      }
      return at;
    }
    case "logsumexp": {
      let m = -Infinity;
      forEachIn(outerRed, base, (p) => {
        m = extremeRun(data, p, n, step, true, m);
      });
      if (!Number.isFinite(m)) return m;
      let s = 0;
      forEachIn(outerRed, base, (p) => {
        s += sumExpRun(data, p, n, step, m);
      });
      return m + Math.log(s);
    }
  }
}

/** acc[i] ⊕= data[p + i·step] for i < acc.length (a NaN, once in acc, stays: no comparison with it is true). */
function accumulateRow(
  data: TypedArray,
  p: number,
  step: number,
  kind: "sum" | "max" | "min",
  acc: Float64Array,
): void {
  const n = acc.length;
  if (kind === "sum") {
    if (step === 1) for (let i = 0; i < n; i++) acc[i] += data[p + i];
    else for (let i = 0; i < n; i++) acc[i] += data[p + i * step];
  } else if (kind === "max") {
    for (let i = 0; i < n; i++) {
      const v = data[p + i * step];
      if (v > acc[i] || v !== v) acc[i] = v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = data[p + i * step];
      if (v < acc[i] || v !== v) acc[i] = v;
    }
  }
}

/** Sum/max/min when the innermost dim is kept: whole rows are added into the output. */
function reduceColumns(
  data: TypedArray,
  offset: number,
  kept: Group,
  red: Group,
  kind: "sum" | "max" | "min",
  out: TypedArray,
): void {
  const width = kept.sizes[kept.sizes.length - 1];
  const step = kept.strides[kept.strides.length - 1];
  const keptOuter: Group = { sizes: kept.sizes.slice(0, -1), strides: kept.strides.slice(0, -1) };
  const acc = new Float64Array(width);
  let row = 0;
  forEachIn(keptOuter, offset, (keptBase) => {
    acc.fill(kind === "sum" ? 0 : kind === "max" ? -Infinity : Infinity);
    forEachIn(red, keptBase, (p) => accumulateRow(data, p, step, kind, acc));
    out.set(acc, row * width);
    row++;
  });
}
