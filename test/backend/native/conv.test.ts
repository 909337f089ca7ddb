// The native backend's conv2d kernels (WebAssembly im2col, BLAS GEMMs) against the JavaScript loop
// reference, including chunked batches, groups, strides, dilation and the adding contract of backward.
import { afterAll, describe, expect, it } from "vitest";
import type { ConvGeometry } from "../../../src/backend/backend.js";
import { conv2dNaiveBackward, conv2dNaiveForward } from "../../../src/backend/js/conv.js";
import { blasConvKernels, convWorkerBlas } from "../../../src/backend/native/conv.js";
import { getNumThreads, setNumThreads } from "../../../src/backend/wasm/threads.js";
import { PARALLEL_MIN_FLOPS } from "../../../src/backend/wasm/gemm.js";
import { blasCandidates, findBlas } from "../../../src/backend/native/blas.js";
import { runtime } from "../../../src/backend/wasm/runtime.js";
import { backendLoads } from "../../helpers/backends.js";
import { filled } from "../../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

function geometry(
  n: number,
  c: number,
  h: number,
  w: number,
  cout: number,
  k: [number, number],
  o: { groups?: number; s?: [number, number]; p?: [number, number]; d?: [number, number] } = {},
): ConvGeometry {
  const [kh, kw] = k;
  const [sh, sw] = o.s ?? [1, 1];
  const [ph, pw] = o.p ?? [0, 0];
  const [dh, dw] = o.d ?? [1, 1];
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  return { n, c, h, w, cout, groups: o.groups ?? 1, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo };
}

const CASES: [string, ConvGeometry][] = [
  ["3x3 pad 1", geometry(3, 4, 9, 8, 5, [3, 3], { p: [1, 1] })],
  ["5x5 pad 2, 3 channels", geometry(2, 3, 12, 12, 6, [5, 5], { p: [2, 2] })],
  ["stride 2, rectangular", geometry(2, 3, 11, 9, 4, [3, 2], { s: [2, 1], p: [1, 0] })],
  ["dilation", geometry(2, 2, 10, 9, 3, [3, 2], { d: [2, 3], p: [2, 1] })],
  ["groups 3, stride [1, 2]", geometry(2, 6, 7, 7, 9, [3, 3], { groups: 3, s: [1, 2], p: [1, 1] })],
  ["depthwise", geometry(2, 4, 8, 8, 4, [3, 3], { groups: 4, p: [1, 1] })],
  ["1x1", geometry(3, 5, 6, 6, 7, [1, 1])],
  ["8 images, 5x5 pad 2", geometry(8, 3, 10, 10, 4, [5, 5], { p: [2, 2] })],
  // large enough (2*F*K*L*n >= 2^21 flops) for the worker to take a share at 2 threads
  ["8 images, 16 filters 5x5 on 16x16", geometry(8, 3, 16, 16, 16, [5, 5], { p: [2, 2] })],
  ["7 images, stride 2", geometry(7, 8, 24, 24, 16, [3, 3], { s: [2, 2], p: [1, 1] })],
];

const blas = backendLoads("native") ? findBlas(blasCandidates(process.env, process.platform)).blas : null;
const rt = runtime();

const threadsBefore = getNumThreads();
afterAll(() => setNumThreads(threadsBefore));

// at 2 threads a worker runs half of each chunk's GEMMs on the BLAS (dx, dw and out are then
// assembled from both threads' shares)
describe.runIf(blas && rt)("native conv2d kernels against the JavaScript loops", () => {
  describe.each([
    [Float32Array, 1],
    [Float32Array, 2],
    [Float64Array, 1],
    [Float64Array, 2],
  ] as [Ctor, number][])("%o, %i threads", (T, threads) => {
    const tol = T === Float32Array ? 2e-5 : 1e-12;
    it.each(CASES)(
      "%s: forward, and backward adding into given gradients (whole batch and one image per chunk)",
      (_, g) => {
        setNumThreads(threads);
        const K = (g.c / g.groups) * g.kh * g.kw;
        const x = filled(T, g.n * g.c * g.h * g.w, 1);
        const w = filled(T, g.cout * K, 2);
        const b = filled(T, g.cout, 3);
        const outLen = g.n * g.cout * g.ho * g.wo;
        const gOut = filled(T, outLen, 4);
        const ref = new T(outLen);
        conv2dNaiveForward(x, w, b, ref, g);
        const refDx = filled(T, x.length, 5);
        const refDw = filled(T, w.length, 6);
        const refDb = filled(T, b.length, 7);
        const start = [refDx.slice(), refDw.slice(), refDb.slice()];
        conv2dNaiveBackward(x, w, gOut, refDx, refDw, refDb, g);
        const close = (a: ArrayLike<number>, e: ArrayLike<number>, what: string) => {
          let worst = 0;
          for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i] - e[i]));
          expect(worst, what).toBeLessThan(tol * 10);
        };
        // a budget of one image's columns makes every image its own chunk; of three images'
        // columns, chunks of three and a shorter last one (each split between two threads)
        const threeImages = 3 * g.c * g.kh * g.kw * g.ho * g.wo * T.BYTES_PER_ELEMENT;
        for (const budget of [undefined, 1, threeImages]) {
          const out = new T(outLen).fill(NaN);
          blasConvKernels(blas!, () => rt!, budget).forward(x, w, b, out, g);
          close(out, ref, `forward, budget ${budget}`);
          const [dx, dw, db] = start.map((a) => a.slice());
          blasConvKernels(blas!, () => rt!, budget).backward(x, w, gOut, dx, dw, db, g);
          close(dx, refDx, `dx, budget ${budget}`);
          close(dw, refDw, `dw, budget ${budget}`);
          close(db, refDb, `db, budget ${budget}`);
        }
        // without bias, and with only some of the gradients
        const out = new T(outLen);
        blasConvKernels(blas!, () => rt!).forward(x, w, null, out, g);
        const refNoBias = new T(outLen);
        conv2dNaiveForward(x, w, null, refNoBias, g);
        close(out, refNoBias, "forward without bias");
        // (the first layer's case: at two threads each half of the batch on its own thread), adding
        const dwOnly = filled(T, w.length, 8);
        const refDwOnly = dwOnly.slice();
        blasConvKernels(blas!, () => rt!).backward(x, w, gOut, null, dwOnly, null, g);
        conv2dNaiveBackward(x, w, gOut, null, refDwOnly, null, g);
        close(dwOnly, refDwOnly, "dw alone");
        // a worker took part (no fallback to one thread) where there are two threads and work enough
        const flops = 2 * g.cout * g.c * g.kh * g.kw * g.ho * g.wo * g.n;
        if (threads === 2 && g.groups === 1 && flops >= PARALLEL_MIN_FLOPS)
          expect(convWorkerBlas()).toBe(true);
      },
    );
  });
});

describe.runIf(blas && rt)("native conv2d bias gradient", () => {
  it.each([Float32Array, Float64Array] as Ctor[])(
    "%o: gemv row sums and the loop (a library without gemv) add the same bias gradient as the reference",
    (T) => {
      const g = geometry(5, 3, 9, 7, 6, [3, 3], { p: [1, 1] });
      const x = filled(T, g.n * g.c * g.h * g.w, 1);
      const w = filled(T, g.cout * g.c * g.kh * g.kw, 2);
      const gOut = filled(T, g.n * g.cout * g.ho * g.wo, 4);
      const ref = filled(T, g.cout, 7);
      const start = ref.slice();
      conv2dNaiveBackward(x, w, gOut, null, null, ref, g);
      const { sgemv: _s, dgemv: _d, ...noGemv } = blas!;
      expect(blas!.sgemv && blas!.dgemv, "the system CBLAS exports cblas_sgemv and cblas_dgemv").toBeTruthy();
      for (const lib of [blas!, noGemv]) {
        const db = start.slice();
        blasConvKernels(lib, () => rt!).backward(x, w, gOut, null, null, db, g);
        for (let i = 0; i < ref.length; i++) {
          expect(Math.abs(db[i] - ref[i])).toBeLessThan(T === Float32Array ? 2e-4 : 1e-11);
        }
      }
    },
  );
});
