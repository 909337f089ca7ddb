/**
 * Kernel calls on arrays that already live in WebAssembly memory (a compiled graph's arena on the
 * wasm and native backends): the same WebAssembly kernels the backend's ReLU and max-pool run, but
 * given the arrays' own offsets, where the backend's entry points copy their inputs into scratch
 * and the results back out. Arrays elsewhere go through the backend as usual.
 */
import type { MaxPool2dArgs } from "../backend/backend.js";
import { backend } from "../backend/index.js";
import { runtime, type WasmRuntime } from "../backend/wasm/runtime.js";
import { dispatch, writeParams } from "../backend/wasm/conv.js";
import { OPS } from "../backend/wasm/generated/layout.js";
import { share } from "../backend/wasm/threads.js";
import type { FloatArray } from "../tensor/dtype.js";
import {
  reluMaxPool2d as jsReluMaxPool2d,
  reluMaxPool2dBackward as jsReluMaxPool2dBackward,
} from "../backend/js/pool.js";

/** The runtime and each array's byte offset in its memory, when every array lives there (else null). */
function offsets(arrays: readonly (FloatArray | Int32Array)[]): { rt: WasmRuntime; at: number[] } | null {
  if (backend().name === "js") return null;
  const rt = runtime();
  if (rt === null) return null;
  const at: number[] = [];
  for (const a of arrays) {
    const o = rt.offsetOf(a as FloatArray);
    if (o < 0) return null;
    at.push(o);
  }
  return { rt, at };
}

/** out = relu(x) (x and out may be the same array). */
export function relu(x: FloatArray, out: FloatArray): void {
  const w = offsets([x, out]);
  if (w === null) return backend().relu(x, out);
  const [xo, oo] = w.at;
  (x instanceof Float64Array ? w.rt.x.relu64 : w.rt.x.relu32)(xo, oo, x.length);
}

/** out = g * [y > 0]. */
export function reluBackward(g: FloatArray, y: FloatArray, out: FloatArray): void {
  const w = offsets([g, y, out]);
  if (w === null) return backend().reluBackward(g, y, out);
  const [go, yo, oo] = w.at;
  (g instanceof Float64Array ? w.rt.x.reluBackward64 : w.rt.x.reluBackward32)(go, yo, oo, g.length);
}

/** Max pooling forward (out and indices written), planes split across the threads as the backend's. */
export function maxPool2d(a: MaxPool2dArgs): void {
  if (!poolPlanes(a, false)) backend().maxPool2d(a);
}

/**
 * Runs the max-pool (of relu(x) when `relu`) forward kernel on arrays in WebAssembly memory, its
 * planes split across the threads; false when they are not all there.
 */
function poolPlanes(a: MaxPool2dArgs, relu: boolean): boolean {
  const w = offsets([a.x, a.out, a.indices]);
  if (w === null || a.out.length === 0) return false;
  const { rt } = w;
  const [x, out, dx] = w.at;
  const f64 = a.x instanceof Float64Array;
  const [code, kernel]: [number, (params: number) => void] = relu
    ? f64
      ? [OPS.reluMaxPoolPlanes64, rt.x.reluMaxPoolPlanes64]
      : [OPS.reluMaxPoolPlanes32, rt.x.reluMaxPoolPlanes32]
    : f64
      ? [OPS.maxPoolPlanes64, rt.x.maxPoolPlanes64]
      : [OPS.maxPoolPlanes32, rt.x.maxPoolPlanes32];
  const planes = a.n * a.c;
  dispatch(
    rt,
    code,
    planes,
    a.x.byteLength * 2,
    (base, t, nt) => {
      const [n0, n1] = share(planes, nt, t);
      writeParams(rt.ctrl, base, a, { x, out, dx, n0, n1 });
    },
    kernel,
  );
  return true;
}

/** Max pooling backward: adds `out` (the output gradient) into `x` (the input gradient) at `indices`. */
export function maxPool2dBackward(a: MaxPool2dArgs): void {
  const w = offsets([a.x, a.out, a.indices]);
  if (w === null || a.out.length === 0) return backend().maxPool2dBackward(a);
  const [x, g, i] = w.at;
  const f64 = a.x instanceof Float64Array;
  const bad = (f64 ? w.rt.x.maxPoolBackward64 : w.rt.x.maxPoolBackward32)(
    x,
    g,
    i,
    a.n * a.c,
    a.h * a.w,
    a.ho * a.wo,
  );
  if (bad >= 0) {
    throw new RangeError(
      `maxPool2d backward: index ${a.indices[bad]} at ${bad} is outside a ${a.h}x${a.w} plane`,
    );
  }
}

/** Max pooling of relu(x) for windows that tile x (see jsReluMaxPool2d), planes split as maxPool2d's. */
export function reluMaxPool2d(a: MaxPool2dArgs): void {
  if (!poolPlanes(a, true)) jsReluMaxPool2d(a);
}

/** The input gradient of reluMaxPool2d into every element of `x` (see jsReluMaxPool2dBackward). */
export function reluMaxPool2dBackward(a: MaxPool2dArgs & { pooled: FloatArray }): void {
  const w = offsets([a.x, a.out, a.pooled, a.indices]);
  if (w === null || a.out.length === 0) return jsReluMaxPool2dBackward(a);
  const [x, g, pooled, i] = w.at;
  const f64 = a.x instanceof Float64Array;
  const bad = (f64 ? w.rt.x.reluMaxPoolBackward64 : w.rt.x.reluMaxPoolBackward32)(
    x,
    g,
    pooled,
    i,
    a.n * a.c,
    a.h,
    a.w,
    a.kh,
    a.kw,
  );
  if (bad >= 0) {
    throw new RangeError(
      `reluMaxPool2d backward: index ${a.indices[bad]} at ${bad} is outside its ${a.kh}x${a.kw} window of a ${a.h}x${a.w} plane`,
    );
  }
}
