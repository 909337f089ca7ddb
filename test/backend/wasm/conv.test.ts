import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  conv2dOutputSize,
  setNumThreads,
  shutdownThreads,
  wasmConv2dBackward,
  wasmConv2dForward,
  wasmConvBackwardKernel,
  wasmConvForwardKernel,
  type Conv2dShape,
} from "../../../src/backend/wasm/index.js";
import { conv2dNaiveBackward, conv2dNaiveForward, type ConvGeometry } from "../../../src/backend/js/conv.js";
import { filled } from "../../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Direct 7-loop convolution and its gradients in float64, with |.| sums for tolerances. */
function reference(
  s: Conv2dShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  dout: ArrayLike<number>,
) {
  const [Ho, Wo] = conv2dOutputSize(s);
  const { batch: N, inC: C, inH: H, inW: W, outC: F, kH, kW } = s;
  const out = new Float64Array(N * F * Ho * Wo);
  const outScale = new Float64Array(out.length);
  const dx = new Float64Array(N * C * H * W);
  const dxScale = new Float64Array(dx.length);
  const dw = new Float64Array(F * C * kH * kW);
  const dwScale = new Float64Array(dw.length);
  const db = new Float64Array(F);
  const dbScale = new Float64Array(F);
  for (let n = 0; n < N; n++)
    for (let f = 0; f < F; f++)
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          const o = ((n * F + f) * Ho + ho) * Wo + wo;
          let acc = b ? b[f] : 0;
          let sc = b ? Math.abs(b[f]) : 0;
          const g = dout[o];
          db[f] += g;
          dbScale[f] += Math.abs(g);
          for (let c = 0; c < C; c++)
            for (let i = 0; i < kH; i++)
              for (let j = 0; j < kW; j++) {
                const ih = ho * s.strideH - s.padH + i * s.dilationH;
                const iw = wo * s.strideW - s.padW + j * s.dilationW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xi = ((n * C + c) * H + ih) * W + iw;
                const wi = ((f * C + c) * kH + i) * kW + j;
                acc += x[xi] * w[wi];
                sc += Math.abs(x[xi] * w[wi]);
                dx[xi] += w[wi] * g;
                dxScale[xi] += Math.abs(w[wi] * g);
                dw[wi] += x[xi] * g;
                dwScale[wi] += Math.abs(x[xi] * g);
              }
          out[o] = acc;
          outScale[o] = sc;
        }
  return { out, outScale, dx, dxScale, dw, dwScale, db, dbScale };
}

function worst(got: ArrayLike<number>, want: Float64Array, scale: Float64Array): number {
  let w = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (scale[i] + 1e-30);
    w = Number.isNaN(e) ? Infinity : Math.max(w, e);
  }
  return w;
}

function shape(
  p: Partial<Conv2dShape> & Pick<Conv2dShape, "batch" | "inC" | "inH" | "inW" | "outC" | "kH" | "kW">,
): Conv2dShape {
  return { strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, ...p };
}

const SHAPES: [string, Conv2dShape][] = [
  ["1x1 kernel", shape({ batch: 2, inC: 3, inH: 5, inW: 4, outC: 5, kH: 1, kW: 1 })],
  ["3x3 pad 1", shape({ batch: 3, inC: 4, inH: 9, inW: 7, outC: 6, kH: 3, kW: 3, padH: 1, padW: 1 })],
  [
    "5x5 pad 2 (CS231n conv1-like)",
    shape({ batch: 2, inC: 3, inH: 12, inW: 12, outC: 9, kH: 5, kW: 5, padH: 2, padW: 2 }),
  ],
  [
    "stride 2, odd sizes",
    shape({
      batch: 2,
      inC: 2,
      inH: 11,
      inW: 13,
      outC: 3,
      kH: 3,
      kW: 3,
      strideH: 2,
      strideW: 2,
      padH: 1,
      padW: 1,
    }),
  ],
  [
    "non-square kernel, stride 3x1",
    shape({ batch: 1, inC: 5, inH: 10, inW: 9, outC: 17, kH: 2, kW: 4, strideH: 3, padW: 2 }),
  ],
  [
    "dilation 2",
    shape({
      batch: 2,
      inC: 3,
      inH: 9,
      inW: 10,
      outC: 4,
      kH: 3,
      kW: 3,
      dilationH: 2,
      dilationW: 2,
      padH: 2,
      padW: 1,
    }),
  ],
  [
    "pad larger than kernel reach",
    shape({ batch: 1, inC: 1, inH: 3, inW: 3, outC: 2, kH: 2, kW: 2, padH: 3, padW: 3 }),
  ],
  [
    "K above one GEMM k-block (32 channels, 3x3)",
    shape({ batch: 2, inC: 32, inH: 8, inW: 16, outC: 5, kH: 3, kW: 3, padH: 1, padW: 1 }),
  ],
  [
    "strips crossing output rows, stride 1 (Wo = 12)",
    shape({ batch: 1, inC: 2, inH: 6, inW: 14, outC: 3, kH: 3, kW: 3 }),
  ],
  [
    "7x7 pad 3 (ThreeLayerConvNet)",
    shape({ batch: 2, inC: 3, inH: 16, inW: 16, outC: 8, kH: 7, kW: 7, padH: 3, padW: 3 }),
  ],
];
const DTYPES: [string, Ctor, number][] = [
  ["float32", Float32Array, 1e-5],
  ["float64", Float64Array, 1e-12],
];

afterEach(() => setNumThreads(1));
afterAll(async () => {
  await shutdownThreads();
});

describe.each(DTYPES)("wasm conv2d %s", (_name, T, tol) => {
  it.each(SHAPES)("%s: forward, dx, dw, db match the direct loops", (_label, s) => {
    const [Ho, Wo] = conv2dOutputSize(s);
    const x = filled(T, s.batch * s.inC * s.inH * s.inW, 1);
    const w = filled(T, s.outC * s.inC * s.kH * s.kW, 2);
    const b = filled(T, s.outC, 3);
    const dout = filled(T, s.batch * s.outC * Ho * Wo, 4);
    const ref = reference(s, x, w, b, dout);
    const out = new T(s.batch * s.outC * Ho * Wo).fill(NaN);
    wasmConv2dForward({ ...s, x, weight: w, bias: b, out });
    expect(worst(out, ref.out, ref.outScale)).toBeLessThanOrEqual(tol);
    const dx = new T(x.length).fill(NaN);
    const dw = new T(w.length).fill(NaN);
    const db = new T(b.length).fill(NaN);
    wasmConv2dBackward({ ...s, x, weight: w, dout, dx, dw, db });
    expect(worst(dx, ref.dx, ref.dxScale), "dx").toBeLessThanOrEqual(tol);
    expect(worst(dw, ref.dw, ref.dwScale), "dw").toBeLessThanOrEqual(tol);
    expect(worst(db, ref.db, ref.dbScale), "db").toBeLessThanOrEqual(tol);
  });

  it("forward without bias, and backward with only some gradients wanted", () => {
    const s = SHAPES[1][1];
    const [Ho, Wo] = conv2dOutputSize(s);
    const x = filled(T, s.batch * s.inC * s.inH * s.inW, 5);
    const w = filled(T, s.outC * s.inC * s.kH * s.kW, 6);
    const dout = filled(T, s.batch * s.outC * Ho * Wo, 7);
    const ref = reference(s, x, w, null, dout);
    const out = new T(s.batch * s.outC * Ho * Wo);
    wasmConv2dForward({ ...s, x, weight: w, bias: null, out });
    expect(worst(out, ref.out, ref.outScale)).toBeLessThanOrEqual(tol);
    const dx = new T(x.length);
    wasmConv2dBackward({ ...s, x, weight: w, dout, dx });
    expect(worst(dx, ref.dx, ref.dxScale)).toBeLessThanOrEqual(tol);
    const dw = new T(w.length);
    wasmConv2dBackward({ ...s, x, weight: w, dout, dw, dx: null });
    expect(worst(dw, ref.dw, ref.dwScale)).toBeLessThanOrEqual(tol);
  });

  it("accumulates into dx, dw, db when asked", () => {
    const s = SHAPES[3][1];
    const [Ho, Wo] = conv2dOutputSize(s);
    const x = filled(T, s.batch * s.inC * s.inH * s.inW, 12);
    const w = filled(T, s.outC * s.inC * s.kH * s.kW, 13);
    const dout = filled(T, s.batch * s.outC * Ho * Wo, 14);
    const ref = reference(s, x, w, null, dout);
    const dx0 = filled(T, x.length, 15);
    const dw0 = filled(T, w.length, 16);
    const db0 = filled(T, s.outC, 17);
    const [dx, dw, db] = [dx0.slice(), dw0.slice(), db0.slice()];
    wasmConv2dBackward({ ...s, x, weight: w, dout, dx, dw, db, accumulate: true });
    const plus = (r: Float64Array, a: ArrayLike<number>) => r.map((v, i) => v + a[i]);
    const grow = (sc: Float64Array, a: ArrayLike<number>) => sc.map((v, i) => v + Math.abs(a[i]));
    expect(worst(dx, plus(ref.dx, dx0), grow(ref.dxScale, dx0))).toBeLessThanOrEqual(tol);
    expect(worst(dw, plus(ref.dw, dw0), grow(ref.dwScale, dw0))).toBeLessThanOrEqual(tol);
    expect(worst(db, plus(ref.db, db0), grow(ref.dbScale, db0))).toBeLessThanOrEqual(tol);
  });

  it("gives bit-identical results on 1, 2 and 3 threads", () => {
    const s = shape({ batch: 8, inC: 3, inH: 32, inW: 32, outC: 16, kH: 5, kW: 5, padH: 2, padW: 2 });
    const [Ho, Wo] = conv2dOutputSize(s);
    const x = filled(T, s.batch * s.inC * s.inH * s.inW, 8);
    const w = filled(T, s.outC * s.inC * s.kH * s.kW, 9);
    const b = filled(T, s.outC, 10);
    const dout = filled(T, s.batch * s.outC * Ho * Wo, 11);
    const runs = [1, 2, 3].map((threads) => {
      setNumThreads(threads);
      const out = new T(s.batch * s.outC * Ho * Wo);
      wasmConv2dForward({ ...s, x, weight: w, bias: b, out });
      const dx = new T(x.length);
      const dw = new T(w.length);
      const db = new T(b.length);
      wasmConv2dBackward({ ...s, x, weight: w, dout, dx, dw, db });
      return [out, dx, dw, db].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    });
    const ref = reference(s, x, w, b, dout);
    expect(
      worst(new T(runs[0][0].buffer, runs[0][0].byteOffset, ref.out.length), ref.out, ref.outScale),
    ).toBeLessThanOrEqual(tol);
    for (const r of runs.slice(1)) for (let i = 0; i < 4; i++) expect(r[i].equals(runs[0][i])).toBe(true);
  });
});

describe("wasm conv2d argument checks", () => {
  const s = shape({ batch: 1, inC: 2, inH: 4, inW: 4, outC: 3, kH: 3, kW: 3 });
  it("names the op, the argument and the sizes", () => {
    const x = new Float32Array(32);
    const w = new Float32Array(54);
    expect(() => wasmConv2dForward({ ...s, x, weight: w, out: new Float32Array(11) })).toThrow(
      "wasmConv2dForward: out has 11 elements, expected 12",
    );
    expect(() =>
      wasmConv2dForward({ ...s, x, weight: new Float64Array(54), out: new Float32Array(12) }),
    ).toThrow("wasmConv2dForward: weight is a Float64Array, x is a Float32Array");
    expect(() => wasmConv2dForward({ ...s, kH: 5, x, weight: w, out: new Float32Array(12) })).toThrow(
      /kernel 5x3 .* does not fit input 4x4/,
    );
    expect(() => wasmConv2dBackward({ ...s, strideW: 0, x, weight: w, dout: new Float32Array(12) })).toThrow(
      "wasmConv2dBackward: strideW must be a positive integer, got 0",
    );
  });
});

describe("the ops' kernel signature", () => {
  it.each(DTYPES)("%s: matches the JS naive kernels, accumulating like them", (_name, T, tol) => {
    const s = SHAPES[5][1];
    const [ho, wo] = conv2dOutputSize(s);
    const g: ConvGeometry = {
      n: s.batch,
      c: s.inC,
      h: s.inH,
      w: s.inW,
      cout: s.outC,
      groups: 1,
      kh: s.kH,
      kw: s.kW,
      sh: s.strideH,
      sw: s.strideW,
      ph: s.padH,
      pw: s.padW,
      dh: s.dilationH,
      dw: s.dilationW,
      ho,
      wo,
    };
    const x = filled(T, s.batch * s.inC * s.inH * s.inW, 21);
    const w = filled(T, s.outC * s.inC * s.kH * s.kW, 22);
    const b = filled(T, s.outC, 23);
    const dout = filled(T, s.batch * s.outC * ho * wo, 24);
    const ref = reference(s, x, w, b, dout);
    const outJs = new T(dout.length);
    const outWasm = new T(dout.length);
    conv2dNaiveForward(x, w, b, outJs, g);
    wasmConvForwardKernel(x, w, b, outWasm, g);
    expect(worst(outWasm, Float64Array.from(outJs), ref.outScale)).toBeLessThanOrEqual(2 * tol);
    const start = [filled(T, x.length, 25), filled(T, w.length, 26), filled(T, b.length, 27)];
    const js = start.map((a) => a.slice());
    const wa = start.map((a) => a.slice());
    conv2dNaiveBackward(x, w, dout, js[0], js[1], js[2], g);
    wasmConvBackwardKernel(x, w, dout, wa[0], wa[1], wa[2], g);
    const scales = [ref.dxScale, ref.dwScale, ref.dbScale];
    for (let i = 0; i < 3; i++) {
      const sc = scales[i].map((v, j) => v + Math.abs(start[i][j]));
      expect(worst(wa[i], Float64Array.from(js[i]), sc), `gradient ${i}`).toBeLessThanOrEqual(2 * tol);
    }
    expect(() => wasmConvForwardKernel(x, w, b, outWasm, { ...g, groups: 3 })).toThrow(/only groups = 1/);
    expect(() => wasmConvForwardKernel(x, w, b, outWasm, { ...g, ho: ho + 1 })).toThrow(/output size/);
  });
});
