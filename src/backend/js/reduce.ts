import type { TypedArray } from "../../tensor/dtype.js";

export type ReduceKind = "sum" | "max" | "min" | "argmax" | "argmin" | "logsumexp";

/**
 * Reduces the last axis of a contiguous [outer, size] block: out[o] = reduce(x[o*size .. (o+1)*size]).
 * Arg variants write indices (first occurrence, as PyTorch); NaN wins max/min as in PyTorch.
 */
export function reduceLastAxis(
  x: TypedArray,
  outer: number,
  size: number,
  kind: ReduceKind,
  out: TypedArray,
): void {
  for (let o = 0; o < outer; o++) {
    const base = o * size;
    switch (kind) {
      case "sum": {
        let s = 0;
        for (let i = 0; i < size; i++) s += x[base + i];
        out[o] = s;
        break;
      }
      case "max":
      case "argmax": {
        let best = x[base];
        let at = 0;
        for (let i = 1; i < size && !Number.isNaN(best); i++) {
          const v = x[base + i];
          if (v > best || Number.isNaN(v)) {
            best = v;
            at = i;
          }
        }
        out[o] = kind === "max" ? best : at;
        break;
      }
      case "min":
      case "argmin": {
        let best = x[base];
        let at = 0;
        for (let i = 1; i < size && !Number.isNaN(best); i++) {
          const v = x[base + i];
          if (v < best || Number.isNaN(v)) {
            best = v;
            at = i;
          }
        }
        out[o] = kind === "min" ? best : at;
        break;
      }
      case "logsumexp": {
        let m = -Infinity;
        for (let i = 0; i < size; i++) if (x[base + i] > m) m = x[base + i];
        if (!Number.isFinite(m)) {
          out[o] = m;
          break;
        }
        let s = 0;
        for (let i = 0; i < size; i++) s += Math.exp(x[base + i] - m);
        out[o] = m + Math.log(s);
        break;
      }
    }
  }
}
