import { afterEach, describe, expect, it } from "vitest";
import {
  getNumThreads,
  setNumThreads,
  setWasmDisabled,
  wasmMaxPool2d,
  workerCount,
} from "../../../src/backend/wasm/index.js";
import { wasmBackend } from "../../../src/backend/dispatch.js";

const maxPool2d = wasmBackend.maxPool2d;
import { maxPool2d as jsMaxPool2d } from "../../../src/backend/js/pool.js";
import type { Window2d } from "../../../src/backend/backend.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Values on a coarse grid (many ties) with a few NaNs, deterministic. */
function values(T: Ctor, len: number, seed: number, nans: number): Float32Array | Float64Array {
  const a = new T(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = ((s >>> 16) % 7) - 3;
  }
  for (let i = 0; i < nans; i++) a[(i * 7919 + seed) % len] = NaN;
  return a;
}

function win(p: Partial<Window2d> & Pick<Window2d, "n" | "c" | "h" | "w" | "kh" | "kw">): Window2d {
  const g = { sh: p.kh, sw: p.kw, ph: 0, pw: 0, dh: 1, dw: 1, ho: 0, wo: 0, ...p };
  g.ho = Math.floor((g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh) + 1;
  g.wo = Math.floor((g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw) + 1;
  return g;
}

const WINDOWS: [string, Window2d][] = [
  ["2x2 stride 2 (SIMD path)", win({ n: 2, c: 3, h: 8, w: 16, kh: 2, kw: 2 })],
  [
    "2x2 stride 2, width a multiple of 4, not 8 (SIMD for float64 only)",
    win({ n: 1, c: 2, h: 4, w: 12, kh: 2, kw: 2 }),
  ],
  ["2x2 stride 2, odd height", win({ n: 1, c: 2, h: 7, w: 8, kh: 2, kw: 2 })],
  ["2x2 stride 2, width not a multiple of 8", win({ n: 2, c: 2, h: 6, w: 6, kh: 2, kw: 2 })],
  ["3x3 stride 2 pad 1", win({ n: 2, c: 3, h: 9, w: 10, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 })],
  ["3x2 stride 1 dilation 2", win({ n: 1, c: 4, h: 9, w: 7, kh: 3, kw: 2, sh: 1, sw: 1, dh: 2, dw: 2 })],
];

afterEach(() => setWasmDisabled(false));

describe.each([
  ["float32", Float32Array],
  ["float64", Float64Array],
] as [string, Ctor][])("wasm max pool %s", (_name, T) => {
  it.each(WINDOWS)("%s: same outputs and indices as the JS reference (ties, NaN)", (_label, g) => {
    for (const nans of [0, 3]) {
      const x = values(T, g.n * g.c * g.h * g.w, 7 + nans, nans);
      const size = g.n * g.c * g.ho * g.wo;
      const outJs = new T(size);
      const idxJs = new Int32Array(size);
      jsMaxPool2d({ ...g, x, out: outJs, indices: idxJs });
      const out = new T(size).fill(123);
      const idx = new Int32Array(size).fill(-7);
      wasmMaxPool2d({ ...g, x, out, indices: idx });
      expect(Array.from(idx)).toEqual(Array.from(idxJs));
      expect(Array.from(out)).toEqual(Array.from(outJs));
    }
  });
});

describe("wasm max pool on two threads", () => {
  afterEach(() => setNumThreads(previousThreads));
  const previousThreads = getNumThreads();
  // large enough to be split across threads (inputs of 1 MiB and more are), with an odd plane count
  // so that the shares differ in size
  const LARGE: [string, Window2d][] = [
    ["2x2 stride 2", win({ n: 8, c: 37, h: 32, w: 32, kh: 2, kw: 2 })],
    ["3x3 stride 2 pad 1", win({ n: 8, c: 37, h: 33, w: 30, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 })],
  ];
  it.each(
    LARGE.flatMap(([label, g]) => [
      [`${label}, float32`, g, Float32Array],
      [`${label}, float64`, g, Float64Array],
    ]) as [string, Window2d, Ctor][],
  )("%s: the same outputs and indices as the JS reference, at 1 and 2 threads", (_label, g, T) => {
    const x = values(T, g.n * g.c * g.h * g.w, 11, 40);
    expect(x.byteLength).toBeGreaterThanOrEqual(1 << 20);
    const size = g.n * g.c * g.ho * g.wo;
    const outJs = new T(size);
    const idxJs = new Int32Array(size);
    jsMaxPool2d({ ...g, x, out: outJs, indices: idxJs });
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      const out = new T(size).fill(123);
      const idx = new Int32Array(size).fill(-7);
      wasmMaxPool2d({ ...g, x, out, indices: idx });
      expect(Array.from(idx), `${threads} threads`).toEqual(Array.from(idxJs));
      expect(Array.from(out), `${threads} threads`).toEqual(Array.from(outJs));
    }
    expect(workerCount()).toBeGreaterThan(0);
  });
});

describe("wasm max pool plumbing", () => {
  it("is the wasm backend's maxPool2d and falls back to JS without WebAssembly", () => {
    const g = WINDOWS[0][1];
    const x = values(Float32Array, g.n * g.c * g.h * g.w, 3, 0);
    const size = g.n * g.c * g.ho * g.wo;
    const a = { out: new Float32Array(size), indices: new Int32Array(size) };
    const b = { out: new Float32Array(size), indices: new Int32Array(size) };
    maxPool2d({ ...g, x, ...a });
    setWasmDisabled(true);
    maxPool2d({ ...g, x, ...b });
    expect(Array.from(b.out)).toEqual(Array.from(a.out));
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
  });

  it("names the op and the sizes on bad arguments", () => {
    const g = WINDOWS[0][1];
    expect(() =>
      wasmMaxPool2d({ ...g, x: new Float32Array(5), out: new Float32Array(1), indices: new Int32Array(1) }),
    ).toThrow(/wasmMaxPool2d: x has 5 elements, expected 768/);
    expect(() =>
      wasmMaxPool2d({
        ...g,
        x: new Float32Array(768),
        out: new Float64Array(192),
        indices: new Int32Array(192),
      }),
    ).toThrow(/wasmMaxPool2d: out is a Float64Array, x is a Float32Array/);
  });
});
