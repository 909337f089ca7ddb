import type { MaxPool2dArgs } from "../backend.js";
import { align, runtime, type WasmRuntime } from "./runtime.js";
import { dispatch, writeParams } from "./conv.js";
import { OPS } from "./generated/layout.js";
import { share } from "./threads.js";

/** Checks dtypes and sizes of max-pool arguments (x is the input or its gradient); names the op. */
function checkPoolArgs(op: string, a: MaxPool2dArgs): { f64: boolean; planes: number; rt: WasmRuntime } {
  const { x, out, indices, n, c, h, w, ho, wo } = a;
  const f64 = x instanceof Float64Array;
  if (!(x instanceof Float32Array || f64))
    throw new TypeError(`${op}: x must be a Float32Array or Float64Array`);
  if (out.constructor !== x.constructor) {
    throw new TypeError(`${op}: out is a ${out.constructor.name}, x is a ${x.constructor.name}`);
  }
  const planes = n * c;
  if (x.length !== planes * h * w)
    throw new RangeError(`${op}: x has ${x.length} elements, expected ${planes * h * w}`);
  if (out.length !== planes * ho * wo || indices.length !== out.length) {
    throw new RangeError(
      `${op}: out/indices have ${out.length}/${indices.length} elements, expected ${planes * ho * wo}`,
    );
  }
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  return { f64, planes, rt };
}

/** Byte offsets of x, out and indices in the arena (grown to hold them). */
function arenaLayout(rt: WasmRuntime, a: MaxPool2dArgs, f64: boolean): [number, number, number] {
  const es = f64 ? 8 : 4;
  const xOff = rt.arenaOffset;
  const oOff = align(xOff + a.x.length * es, 64);
  const iOff = align(oOff + a.out.length * es, 64);
  rt.ensureArena(iOff + a.indices.length * 4 - rt.arenaOffset);
  return [xOff, oOff, iOff];
}

/**
 * Max pooling forward on the WebAssembly kernels (x [n*c, h, w] -> out [n*c, ho, wo] and the
 * per-plane flat index of every maximum), with the JS reference's rules for padding, ties and NaN.
 * 2x2 windows with stride 2 use a SIMD path; large inputs are split by planes across the threads
 * (results do not depend on the thread count).
 */
export function wasmMaxPool2d(a: MaxPool2dArgs): void {
  const { x, out, indices } = a;
  const { f64, planes, rt } = checkPoolArgs("wasmMaxPool2d", a);
  if (out.length === 0) return;
  const [xOff, oOff, iOff] = arenaLayout(rt, a, f64);
  rt.write(xOff, x);
  // planes split across threads when the input is large (a memory-bound pass: the same size rule
  // as the im2col passes)
  dispatch(
    rt,
    f64 ? OPS.maxPoolPlanes64 : OPS.maxPoolPlanes32,
    planes,
    x.byteLength * 2,
    (base, t, nt) => {
      const [n0, n1] = share(planes, nt, t);
      writeParams(rt.ctrl, base, a, { x: xOff, out: oOff, dx: iOff, n0, n1 });
    },
    f64 ? rt.x.maxPoolPlanes64 : rt.x.maxPoolPlanes32,
  );
  rt.read(oOff, out);
  indices.set(new Int32Array(rt.f32.buffer, iOff, indices.length));
}

/** Max pooling backward on the WebAssembly kernel: adds `out` (the output gradient) into `x` at `indices`. */
export function wasmMaxPool2dBackward(a: MaxPool2dArgs): void {
  const op = "wasmMaxPool2dBackward";
  const { x, out, indices, h, w, ho, wo } = a;
  const { f64, planes, rt } = checkPoolArgs(op, a);
  if (out.length === 0) return;
  const [xOff, gOff, iOff] = arenaLayout(rt, a, f64);
  if (a.xIsZero) new Uint8Array(rt.memory.buffer, xOff, x.byteLength).fill(0);
  else rt.write(xOff, x);
  rt.write(gOff, out);
  new Int32Array(rt.f32.buffer, iOff, indices.length).set(indices);
  const bad = (f64 ? rt.x.maxPoolBackward64 : rt.x.maxPoolBackward32)(
    xOff,
    gOff,
    iOff,
    planes,
    h * w,
    ho * wo,
  );
  if (bad >= 0) throw new RangeError(`${op}: index ${indices[bad]} at ${bad} is outside a ${h}x${w} plane`);
  rt.read(xOff, x);
}
