import type { FloatArray } from "../../tensor/dtype.js";
import { align, runtime } from "./runtime.js";

function checked(op: string, arrays: [string, FloatArray][]): boolean {
  const [, first] = arrays[0];
  for (const [name, a] of arrays) {
    if (a.constructor !== first.constructor) {
      throw new TypeError(
        `${op}: ${name} is a ${a.constructor.name}, ${arrays[0][0]} is a ${first.constructor.name}`,
      );
    }
    if (a.length !== first.length) {
      throw new RangeError(`${op}: ${name} has ${a.length} elements, ${arrays[0][0]} has ${first.length}`);
    }
  }
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  return first instanceof Float64Array;
}

/** Copies the arrays into the arena one after another (64-byte aligned); returns their byte offsets. */
function copyIn(arrays: FloatArray[]): number[] {
  const rt = runtime()!;
  const offsets: number[] = [];
  let off = rt.arenaOffset;
  for (const a of arrays) {
    offsets.push(off);
    off = align(off + a.byteLength, 64);
  }
  rt.ensureArena(off - rt.arenaOffset);
  arrays.forEach((a, i) => rt.write(offsets[i], a));
  return offsets;
}

/** out = relu(x) on the WebAssembly kernel (in place in WebAssembly memory). */
export function wasmRelu(x: FloatArray, out: FloatArray): void {
  const f64 = checked("wasmRelu", [
    ["x", x],
    ["out", out],
  ]);
  const [off] = copyIn([x]);
  const k = runtime()!.x;
  (f64 ? k.relu64 : k.relu32)(off, off, x.length);
  runtime()!.read(off, out);
}

/** out = g * [x > 0] on the WebAssembly kernel. */
export function wasmReluBackward(g: FloatArray, x: FloatArray, out: FloatArray): void {
  const f64 = checked("wasmReluBackward", [
    ["g", g],
    ["x", x],
    ["out", out],
  ]);
  const [gOff, xOff] = copyIn([g, x]);
  const k = runtime()!.x;
  (f64 ? k.reluBackward64 : k.reluBackward32)(gOff, xOff, gOff, g.length);
  runtime()!.read(gOff, out);
}
