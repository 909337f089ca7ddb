import type { FloatArray, TypedArray } from "../../tensor/dtype.js";
import { forEachIn, groups, isInnermost, type Group } from "../js/reduce.js";
import type { StridedView } from "../js/strided.js";
import { align, runtime } from "./runtime.js";

/** Every position of a group from 0 (row-major), as an i32 table. */
function positions(g: Group, base: number): Int32Array {
  let n = 1;
  for (const s of g.sizes) n *= s;
  const out = new Int32Array(n);
  let i = 0;
  forEachIn(g, base, (p) => (out[i++] = p));
  return out;
}

const drop = (g: Group): Group => ({ sizes: g.sizes.slice(0, -1), strides: g.strides.slice(0, -1) });

/**
 * The sum over the dims marked in `reduced` on the WebAssembly kernels (assembly/reduce.as),
 * accumulated in float64 like the JS reference; any strides. The elements the view spans are copied
 * into WebAssembly memory with two offset tables: the kept positions and the reduced ones, the
 * innermost dim of whichever group runs along memory (stride 1) left to the SIMD loop.
 */
export function wasmSumDims(x: StridedView, reduced: readonly boolean[], out: TypedArray): void {
  const op = "wasmSumDims";
  const data = x.data;
  if (!(data instanceof Float32Array || data instanceof Float64Array) || out.constructor !== data.constructor)
    throw new TypeError(
      `${op}: x and out must be one float dtype, got ${data.constructor.name} and ${out.constructor.name}`,
    );
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  if (out.length === 0) return;
  if (x.shape.some((s, d) => s === 0 && reduced[d])) {
    out.fill(0);
    return;
  }
  // the span of `data` the view touches
  let lo = x.offset;
  let hi = x.offset;
  x.shape.forEach((s, d) => {
    const ext = (s - 1) * x.strides[d];
    if (ext < 0) lo += ext;
    else hi += ext;
  });
  const { kept, red } = groups(x, reduced);
  const columns = kept.sizes.length > 0 && isInnermost(kept, red);
  // columns: the innermost kept dim is summed as rows into a float64 accumulator; runs: the
  // innermost reduced dim is one run per (kept position, outer reduced position)
  const inner = columns ? kept : red;
  const len = inner.sizes.length > 0 ? inner.sizes[inner.sizes.length - 1] : 1;
  const step = inner.sizes.length > 0 ? inner.strides[inner.strides.length - 1] : 1;
  const bases = positions(columns ? drop(kept) : kept, x.offset - lo);
  const runs = positions(columns ? red : drop(red), 0);
  const f64 = data instanceof Float64Array;
  const es = f64 ? 8 : 4;
  const xOff = rt.arenaOffset;
  const basesOff = align(xOff + (hi - lo + 1) * es, 64);
  const runsOff = align(basesOff + bases.length * 4, 64);
  const accOff = align(runsOff + runs.length * 4, 64);
  const outOff = align(accOff + (columns ? len * 8 : 0), 64);
  rt.ensureArena(outOff + out.length * es - rt.arenaOffset);
  rt.write(xOff, data.subarray(lo, hi + 1));
  const buf = rt.memory.buffer;
  new Int32Array(buf, basesOff, bases.length).set(bases);
  new Int32Array(buf, runsOff, runs.length).set(runs);
  const k = rt.x;
  if (columns)
    (f64 ? k.sumColumns64 : k.sumColumns32)(
      xOff,
      outOff,
      basesOff,
      bases.length,
      runsOff,
      runs.length,
      len,
      step,
      accOff,
    );
  else
    (f64 ? k.sumRuns64 : k.sumRuns32)(xOff, outOff, basesOff, bases.length, runsOff, runs.length, len, step);
  rt.read(outOff, out as FloatArray);
}
