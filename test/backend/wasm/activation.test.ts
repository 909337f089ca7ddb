import { describe, expect, it } from "vitest";
import { WASM_ELEMENTWISE_MIN, wasmBackend } from "../../../src/backend/dispatch.js";
import { wasmMaxPool2dBackward, wasmRelu, wasmReluBackward } from "../../../src/backend/wasm/index.js";
import { reluBackward as jsReluBackward, reluForward as jsRelu } from "../../../src/backend/js/activation.js";
import {
  maxPool2d as jsMaxPool2d,
  maxPool2dBackward as jsMaxPool2dBackward,
} from "../../../src/backend/js/pool.js";
import { F, randn, setBackend, tensor } from "../../../src/index.js";
import type { Window2d } from "../../../src/backend/backend.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Deterministic values in [-2, 2) with the special cases sprinkled in (both signs of 0 and NaN, ±Inf). */
function values(T: Ctor, len: number, seed: number): Float32Array | Float64Array {
  const a = new T(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32) * 4 - 2;
  }
  const special = [0, -0, NaN, Infinity, -Infinity, -NaN];
  special.forEach((v, i) => {
    if (i * 13 + 1 < len) a[i * 13 + 1] = v;
  });
  if (len > 20) {
    // a NaN with its sign bit set (what x86 produces for 0/0)
    if (a instanceof Float32Array) new Uint32Array(a.buffer)[20] = 0xffc00000;
    else new Uint32Array(a.buffer)[41] = 0xfff80000;
  }
  return a;
}

/** Element-by-element equality of the bits (NaN payloads and the sign of zero included). */
function sameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

describe.each([
  ["float32", Float32Array],
  ["float64", Float64Array],
] as [string, Ctor][])("wasm relu %s", (_name, T) => {
  for (const len of [1, 3, 4, 21, 1000, 4099]) {
    it(`forward and backward give the JS reference's bits (${len} elements)`, () => {
      const x = values(T, len, len);
      const g = values(T, len, len + 7);
      const want = new T(len);
      const got = new T(len);
      jsRelu(x, want);
      wasmRelu(x, got);
      expect(sameBits(got, want)).toBe(true);
      jsReluBackward(g, x, want);
      wasmReluBackward(g, x, got);
      expect(sameBits(got, want)).toBe(true);
    });
  }

  it("names the op and the mismatched argument", () => {
    expect(() => wasmRelu(new T(4), new T(5))).toThrow("wasmRelu: out has 5 elements, x has 4");
    const other = T === Float32Array ? new Float64Array(4) : new Float32Array(4);
    expect(() => wasmReluBackward(new T(4), other, new T(4))).toThrow(/^wasmReluBackward: x is a Float/);
  });
});

/** A square pooling window (stride = kernel, no padding unless given) over [n, c, h, w]. */
function poolWindow(n: number, c: number, h: number, k: number, stride = k, pad = 0): Window2d {
  const o = Math.floor((h + 2 * pad - k) / stride) + 1;
  return {
    n,
    c,
    h,
    w: h,
    kh: k,
    kw: k,
    sh: stride,
    sw: stride,
    ph: pad,
    pw: pad,
    dh: 1,
    dw: 1,
    ho: o,
    wo: o,
  };
}

/** The switches of a forward pass over deterministic values, and a finite output gradient. */
function switchesAndGradient(T: Ctor, w: Window2d, seed: number) {
  const x = values(T, w.n * w.c * w.h * w.w, seed).map((v) => (Number.isNaN(v) ? 0 : v));
  const out = new T(w.n * w.c * w.ho * w.wo);
  const indices = new Int32Array(out.length);
  jsMaxPool2d({ ...w, x, out, indices });
  const g = values(T, out.length, seed + 1).map((v) => (Number.isFinite(v) ? v : 1));
  return { size: x.length, indices, g };
}

describe("wasm max pool backward", () => {
  for (const T of [Float32Array, Float64Array] as Ctor[]) {
    it(`adds the gradient at the switches as the JS reference does (${T.name})`, () => {
      // overlapping windows: some inputs get several gradients; both start from the same non-zero dx
      const w = poolWindow(2, 3, 9, 3, 2, 1);
      const { size, indices, g } = switchesAndGradient(T, w, 3);
      const want = values(T, size, 9).map((v) => (Number.isFinite(v) ? v : 0));
      const got = want.slice();
      jsMaxPool2dBackward({ ...w, x: want, out: g, indices });
      wasmMaxPool2dBackward({ ...w, x: got, out: g, indices });
      expect(sameBits(got, want)).toBe(true);
    });
  }

  it("gives the same result when told that dx starts at zero (and so not reading it)", () => {
    const w = poolWindow(2, 2, 8, 2);
    const { size, indices, g } = switchesAndGradient(Float32Array, w, 21);
    const want = new Float32Array(size);
    const got = new Float32Array(size);
    jsMaxPool2dBackward({ ...w, x: want, out: g, indices });
    wasmMaxPool2dBackward({ ...w, x: got, out: g, indices, xIsZero: true });
    expect(sameBits(got, want)).toBe(true);
  });

  it("refuses an index outside its plane, naming it", () => {
    const args = {
      ...poolWindow(1, 1, 2, 2),
      x: new Float32Array(4),
      out: new Float32Array(1),
      indices: new Int32Array([4]),
    };
    expect(() => wasmMaxPool2dBackward(args)).toThrow(
      "wasmMaxPool2dBackward: index 4 at 0 is outside a 2x2 plane",
    );
  });
});

describe("the ops on the WebAssembly kernels", () => {
  it("relu and max pool, forward and backward, match the JS backend on large tensors", () => {
    const base = randn([8, 8, 32, 32]);
    expect(base.numel()).toBeGreaterThanOrEqual(WASM_ELEMENTWISE_MIN);
    const results = ["js", "wasm"].map((name) => {
      const previous = setBackend(name);
      try {
        const x = base.detach();
        x.requiresGrad = true;
        const y = F.maxPool2d(F.relu(x), { kernelSize: 2, stride: 2 });
        y.backward(tensor(Array.from({ length: y.numel() }, (_, i) => (i % 7) - 3)).reshape(y.shape));
        return { y: y.detach().data, g: x.grad!.data };
      } finally {
        setBackend(previous);
      }
    });
    expect(wasmBackend.relu).toBeDefined();
    expect(sameBits(results[1].y as Float32Array, results[0].y as Float32Array)).toBe(true);
    expect(sameBits(results[1].g as Float32Array, results[0].g as Float32Array)).toBe(true);
  });
});
