/**
 * ReLU followed by max pooling as one kernel (compile's fusion for windows that tile the input):
 * the JS reference and the WebAssembly kernels (on arrays in WebAssembly memory, 1 and 2 threads)
 * must give what the separate reference kernels give — relu, then maxPool2d; maxPool2d's backward
 * into zeros, then relu's backward — bit for bit, with ties, zeros of both signs, infinities and
 * NaNs of both signs; and an index outside its window must be refused by name.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { Window2d } from "../../src/backend/backend.js";
import { reluBackward, reluForward } from "../../src/backend/js/activation.js";
import {
  maxPool2d,
  maxPool2dBackward,
  reluMaxPool2d,
  reluMaxPool2dBackward,
  windowsTile,
} from "../../src/backend/js/pool.js";
import { runtime } from "../../src/backend/wasm/runtime.js";
import { setNumThreads, shutdownThreads } from "../../src/backend/wasm/index.js";
import * as inPlace from "../../src/compile/in-place.js";
import { backend, setBackend } from "../../src/index.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
type Floats = Float32Array | Float64Array;
const initialBackend = backend().name;
afterAll(async () => {
  setBackend(initialBackend);
  setNumThreads(1);
  await shutdownThreads();
});

/** A tiling window over n x c planes of h x w. */
function tiling(n: number, c: number, h: number, w: number, kh: number, kw: number): Window2d {
  return { n, c, h, w, kh, kw, sh: kh, sw: kw, ph: 0, pw: 0, dh: 1, dw: 1, ho: h / kh, wo: w / kw };
}

/** Values on a coarse grid (ties), with -0, +0, ±Infinity and NaNs of both signs sprinkled in. */
function special(T: Ctor, len: number, seed: number): Floats {
  const a = new T(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = ((s >>> 16) % 7) - 3;
  }
  const specials = [-0, 0, Infinity, -Infinity, NaN];
  for (let i = 0; i < len; i += 5 + (i % 11)) a[i] = specials[i % specials.length];
  // a NaN with its sign bit set (ReLU turns it into +0)
  if (T === Float32Array) new Uint32Array(a.buffer)[3 % len] = 0xffc00000;
  else new Uint32Array(a.buffer)[2 * (3 % len) + 1] = 0xfff80000;
  return a;
}

/** Element by element: the same bits, or both NaN (a NaN's payload may differ after arithmetic). */
function expectSameBits(actual: Floats, expected: Floats, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const bitsA = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const bitsE = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  const es = actual.BYTES_PER_ELEMENT;
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(actual[i]) && Number.isNaN(expected[i])) continue;
    for (let b = 0; b < es; b++) {
      if (bitsA[i * es + b] !== bitsE[i * es + b]) {
        expect(`${what}: element ${i} is ${Object.is(actual[i], -0) ? "-0" : actual[i]}`).toBe(
          `${what}: element ${i} is ${Object.is(expected[i], -0) ? "-0" : expected[i]}`,
        );
      }
    }
  }
}

/** relu then maxPool2d, and their backward, on the separate reference kernels. */
function unfused(g: Window2d, x: Floats, gOut: Floats) {
  const T = x.constructor as Ctor;
  const size = g.n * g.c * g.ho * g.wo;
  const r = new T(x.length);
  reluForward(x, r);
  const out = new T(size);
  const indices = new Int32Array(size);
  maxPool2d({ ...g, x: r, out, indices });
  const dr = new T(x.length);
  maxPool2dBackward({ ...g, x: dr, out: gOut, indices, xIsZero: true });
  const dx = new T(x.length);
  reluBackward(dr, x, dx);
  return { out, indices, dx };
}

/** A copy of `a` in a reserved region of WebAssembly memory. */
function inWasm<T extends Floats | Int32Array>(a: T): T {
  const rt = runtime();
  if (rt === null) throw new Error("WebAssembly SIMD did not load; these tests need it");
  const { buffer, offset } = rt.reserve(a.byteLength);
  const C = a.constructor as new (b: ArrayBufferLike, o: number, n: number) => T;
  const out = new C(buffer, offset, a.length);
  out.set(a as never);
  return out;
}

const WINDOWS: [string, Window2d][] = [
  ["2x2, width a multiple of 8 (SIMD path)", tiling(2, 3, 8, 16, 2, 2)],
  ["2x2, width 12", tiling(1, 2, 4, 12, 2, 2)],
  ["2x2, width 6", tiling(2, 2, 6, 6, 2, 2)],
  ["3x3", tiling(2, 3, 9, 12, 3, 3)],
  ["2x3", tiling(1, 4, 8, 9, 2, 3)],
  ["1x1", tiling(1, 2, 3, 5, 1, 1)],
  // enough planes for the forward to be split across the threads
  ["2x2, 64 planes of 32x32", tiling(8, 8, 32, 32, 2, 2)],
];

describe.each([
  ["float32", Float32Array],
  ["float64", Float64Array],
] as [string, Ctor][])("fused relu + max pool, %s", (_name, T) => {
  it.each(WINDOWS)("%s: JS reference and WebAssembly kernels equal relu then maxPool2d", (label, g) => {
    expect(windowsTile(g)).toBe(true);
    const x = special(T, g.n * g.c * g.h * g.w, 11);
    const gOut = special(T, g.n * g.c * g.ho * g.wo, 5);
    const want = unfused(g, x, gOut);
    const size = want.out.length;

    const out = new T(size);
    const indices = new Int32Array(size);
    reluMaxPool2d({ ...g, x, out, indices });
    expectSameBits(out, want.out, `${label} JS forward`);
    expect(Array.from(indices)).toEqual(Array.from(want.indices));
    // the input gradient is written everywhere: start from garbage
    const dx = new T(x.length).fill(7);
    reluMaxPool2dBackward({ ...g, x: dx, out: gOut, pooled: out, indices });
    expectSameBits(dx, want.dx, `${label} JS backward`);

    setBackend("wasm");
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      const xw = inWasm(x);
      const ow = inWasm(new T(size));
      const iw = inWasm(new Int32Array(size));
      inPlace.reluMaxPool2d({ ...g, x: xw, out: ow, indices: iw });
      expectSameBits(ow, want.out, `${label} wasm forward ${threads}T`);
      expect(Array.from(iw), `${label} wasm indices ${threads}T`).toEqual(Array.from(want.indices));
      const dxw = inWasm(new T(x.length).fill(7));
      inPlace.reluMaxPool2dBackward({ ...g, x: dxw, out: inWasm(gOut), pooled: ow, indices: iw });
      expectSameBits(dxw, want.dx, `${label} wasm backward ${threads}T`);
    }
    setNumThreads(1);
  });

  it("an index outside its window is refused, naming the op and the position", () => {
    const g = tiling(1, 1, 4, 8, 2, 2);
    const size = g.ho * g.wo;
    const pooled = new T(size).fill(1);
    const gOut = new T(size).fill(1);
    // output 5 is window (1, 1); index 0 lies in window (0, 0)
    const indices = new Int32Array(size).map((_, q) => 2 * Math.floor(q / g.wo) * g.w + 2 * (q % g.wo));
    indices[5] = 0;
    const dx = new T(g.h * g.w);
    expect(() => reluMaxPool2dBackward({ ...g, x: dx, out: gOut, pooled, indices })).toThrow(
      /reluMaxPool2d backward: index 0 at 5 is outside its 2x2 window/,
    );
    setBackend("wasm");
    expect(() =>
      inPlace.reluMaxPool2dBackward({
        ...g,
        x: inWasm(dx),
        out: inWasm(gOut),
        pooled: inWasm(pooled),
        indices: inWasm(indices),
      }),
    ).toThrow(/reluMaxPool2d backward: index 0 at 5 is outside its 2x2 window/);
    // and with a width the SIMD path does not take
    const g6 = tiling(1, 1, 2, 6, 2, 2);
    const idx6 = new Int32Array([0, 2, 0]);
    expect(() =>
      inPlace.reluMaxPool2dBackward({
        ...g6,
        x: inWasm(new T(12)),
        out: inWasm(new T(3).fill(1)),
        pooled: inWasm(new T(3).fill(1)),
        indices: inWasm(idx6),
      }),
    ).toThrow(/index 0 at 2 is outside/);
  });

  it("windows that do not tile the input are refused by the JS kernels", () => {
    const g: Window2d = { ...tiling(1, 1, 4, 4, 2, 2), sh: 1, sw: 1, ho: 3, wo: 3 };
    expect(windowsTile(g)).toBe(false);
    expect(() => reluMaxPool2d({ ...g, x: new T(16), out: new T(9), indices: new Int32Array(9) })).toThrow(
      /reluMaxPool2d: the windows must tile the input/,
    );
  });
});
