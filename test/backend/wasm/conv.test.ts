import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  setNumThreads,
  shutdownThreads,
  wasmConvBackwardKernel,
  wasmConvForwardKernel,
} from "../../../src/backend/wasm/index.js";
import { conv2dNaiveBackward, conv2dNaiveForward, type ConvGeometry } from "../../../src/backend/js/conv.js";
import { convGeometry } from "../../../src/backend/geometry.js";
import { filled } from "../../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Direct 7-loop convolution and its gradients in float64, with |.| sums for tolerances. */
function reference(
  s: ConvGeometry,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  dout: ArrayLike<number>,
) {
  const [Ho, Wo] = [s.ho, s.wo];
  const { n: N, c: C, h: H, w: W, cout: F, kh: kH, kw: kW } = s;
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
                const ih = ho * s.sh - s.ph + i * s.dh;
                const iw = wo * s.sw - s.pw + j * s.dw;
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

type ShapeSpec = Pick<ConvGeometry, "n" | "c" | "h" | "w" | "cout" | "kh" | "kw"> &
  Partial<Pick<ConvGeometry, "sh" | "sw" | "ph" | "pw" | "dh" | "dw">>;

/** The validated geometry of one conv (groups 1), as the conv op hands it to the kernels. */
function shape(p: ShapeSpec): ConvGeometry {
  const { sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1 } = p;
  return convGeometry("test", [p.n, p.c, p.h, p.w], [p.cout, p.c, p.kh, p.kw], {
    stride: [sh, sw],
    padding: [ph, pw],
    dilation: [dh, dw],
    groups: 1,
  });
}

const SHAPES: [string, ConvGeometry][] = [
  ["1x1 kernel", shape({ n: 2, c: 3, h: 5, w: 4, cout: 5, kh: 1, kw: 1 })],
  ["3x3 pad 1", shape({ n: 3, c: 4, h: 9, w: 7, cout: 6, kh: 3, kw: 3, ph: 1, pw: 1 })],
  ["5x5 pad 2 (CS231n conv1-like)", shape({ n: 2, c: 3, h: 12, w: 12, cout: 9, kh: 5, kw: 5, ph: 2, pw: 2 })],
  [
    "stride 2, odd sizes",
    shape({
      n: 2,
      c: 2,
      h: 11,
      w: 13,
      cout: 3,
      kh: 3,
      kw: 3,
      sh: 2,
      sw: 2,
      ph: 1,
      pw: 1,
    }),
  ],
  ["non-square kernel, stride 3x1", shape({ n: 1, c: 5, h: 10, w: 9, cout: 17, kh: 2, kw: 4, sh: 3, pw: 2 })],
  [
    "dilation 2",
    shape({
      n: 2,
      c: 3,
      h: 9,
      w: 10,
      cout: 4,
      kh: 3,
      kw: 3,
      dh: 2,
      dw: 2,
      ph: 2,
      pw: 1,
    }),
  ],
  ["pad larger than kernel reach", shape({ n: 1, c: 1, h: 3, w: 3, cout: 2, kh: 2, kw: 2, ph: 3, pw: 3 })],
  [
    "K above one GEMM k-block (32 channels, 3x3)",
    shape({ n: 2, c: 32, h: 8, w: 16, cout: 5, kh: 3, kw: 3, ph: 1, pw: 1 }),
  ],
  [
    "strips crossing output rows, stride 1 (Wo = 12)",
    shape({ n: 1, c: 2, h: 6, w: 14, cout: 3, kh: 3, kw: 3 }),
  ],
  ["7x7 pad 3 (ThreeLayerConvNet)", shape({ n: 2, c: 3, h: 16, w: 16, cout: 8, kh: 7, kw: 7, ph: 3, pw: 3 })],
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
    const [Ho, Wo] = [s.ho, s.wo];
    const x = filled(T, s.n * s.c * s.h * s.w, 1);
    const w = filled(T, s.cout * s.c * s.kh * s.kw, 2);
    const b = filled(T, s.cout, 3);
    const dout = filled(T, s.n * s.cout * Ho * Wo, 4);
    const ref = reference(s, x, w, b, dout);
    const out = new T(s.n * s.cout * Ho * Wo).fill(NaN);
    wasmConvForwardKernel(x, w, b, out, s);
    expect(worst(out, ref.out, ref.outScale)).toBeLessThanOrEqual(tol);
    const dx = new T(x.length);
    const dw = new T(w.length);
    const db = new T(b.length);
    wasmConvBackwardKernel(x, w, dout, dx, dw, db, s);
    expect(worst(dx, ref.dx, ref.dxScale), "dx").toBeLessThanOrEqual(tol);
    expect(worst(dw, ref.dw, ref.dwScale), "dw").toBeLessThanOrEqual(tol);
    expect(worst(db, ref.db, ref.dbScale), "db").toBeLessThanOrEqual(tol);
  });

  it("forward without bias, and backward with only some gradients wanted", () => {
    const s = SHAPES[1][1];
    const [Ho, Wo] = [s.ho, s.wo];
    const x = filled(T, s.n * s.c * s.h * s.w, 5);
    const w = filled(T, s.cout * s.c * s.kh * s.kw, 6);
    const dout = filled(T, s.n * s.cout * Ho * Wo, 7);
    const ref = reference(s, x, w, null, dout);
    const out = new T(s.n * s.cout * Ho * Wo);
    wasmConvForwardKernel(x, w, null, out, s);
    expect(worst(out, ref.out, ref.outScale)).toBeLessThanOrEqual(tol);
    const dx = new T(x.length);
    wasmConvBackwardKernel(x, w, dout, dx, null, null, s);
    expect(worst(dx, ref.dx, ref.dxScale)).toBeLessThanOrEqual(tol);
    const dw = new T(w.length);
    wasmConvBackwardKernel(x, w, dout, null, dw, null, s);
    expect(worst(dw, ref.dw, ref.dwScale)).toBeLessThanOrEqual(tol);
  });

  it("adds into dx, dw, db", () => {
    const s = SHAPES[3][1];
    const [Ho, Wo] = [s.ho, s.wo];
    const x = filled(T, s.n * s.c * s.h * s.w, 12);
    const w = filled(T, s.cout * s.c * s.kh * s.kw, 13);
    const dout = filled(T, s.n * s.cout * Ho * Wo, 14);
    const ref = reference(s, x, w, null, dout);
    const dx0 = filled(T, x.length, 15);
    const dw0 = filled(T, w.length, 16);
    const db0 = filled(T, s.cout, 17);
    const [dx, dw, db] = [dx0.slice(), dw0.slice(), db0.slice()];
    wasmConvBackwardKernel(x, w, dout, dx, dw, db, s);
    const plus = (r: Float64Array, a: ArrayLike<number>) => r.map((v, i) => v + a[i]);
    const grow = (sc: Float64Array, a: ArrayLike<number>) => sc.map((v, i) => v + Math.abs(a[i]));
    expect(worst(dx, plus(ref.dx, dx0), grow(ref.dxScale, dx0))).toBeLessThanOrEqual(tol);
    expect(worst(dw, plus(ref.dw, dw0), grow(ref.dwScale, dw0))).toBeLessThanOrEqual(tol);
    expect(worst(db, plus(ref.db, db0), grow(ref.dbScale, db0))).toBeLessThanOrEqual(tol);
  });

  it("gives bit-identical results on 1, 2 and 3 threads", () => {
    const s = shape({ n: 8, c: 3, h: 32, w: 32, cout: 16, kh: 5, kw: 5, ph: 2, pw: 2 });
    const [Ho, Wo] = [s.ho, s.wo];
    const x = filled(T, s.n * s.c * s.h * s.w, 8);
    const w = filled(T, s.cout * s.c * s.kh * s.kw, 9);
    const b = filled(T, s.cout, 10);
    const dout = filled(T, s.n * s.cout * Ho * Wo, 11);
    const runs = [1, 2, 3].map((threads) => {
      setNumThreads(threads);
      const out = new T(s.n * s.cout * Ho * Wo);
      wasmConvForwardKernel(x, w, b, out, s);
      const dx = new T(x.length);
      const dw = new T(w.length);
      const db = new T(b.length);
      wasmConvBackwardKernel(x, w, dout, dx, dw, db, s);
      return [out, dx, dw, db].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    });
    const ref = reference(s, x, w, b, dout);
    expect(
      worst(new T(runs[0][0].buffer, runs[0][0].byteOffset, ref.out.length), ref.out, ref.outScale),
    ).toBeLessThanOrEqual(tol);
    for (const r of runs.slice(1)) for (let i = 0; i < 4; i++) expect(r[i].equals(runs[0][i])).toBe(true);
  });
});

describe("the ops' kernel signature", () => {
  it.each(DTYPES)("%s: matches the JS naive kernels, accumulating like them", (_name, T, tol) => {
    const s = SHAPES[5][1];
    const [ho, wo] = [s.ho, s.wo];
    const g = s;
    const x = filled(T, s.n * s.c * s.h * s.w, 21);
    const w = filled(T, s.cout * s.c * s.kh * s.kw, 22);
    const b = filled(T, s.cout, 23);
    const dout = filled(T, s.n * s.cout * ho * wo, 24);
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
  });
});
