// When the pool's worker cannot load the FFI (here: a path that does not exist), the convolution's
// GEMMs of its share run on the calling thread: the same results as the JavaScript loops, and
// later calls do not try the worker again.
import { afterAll, describe, expect, it, vi } from "vitest";
import type { ConvGeometry } from "../../../src/backend/backend.js";
import { conv2dNaiveBackward, conv2dNaiveForward } from "../../../src/backend/js/conv.js";
import { blasCandidates, findBlas } from "../../../src/backend/native/blas.js";
import { blasConvKernels, convWorkerBlas } from "../../../src/backend/native/conv.js";
import { getNumThreads, setNumThreads } from "../../../src/backend/wasm/threads.js";
import { runtime } from "../../../src/backend/wasm/runtime.js";
import { backendLoads } from "../../helpers/backends.js";
import { filled } from "../../helpers/filled.js";

vi.mock("../../../src/backend/native/blas.js", async (original) => ({
  ...(await original<typeof import("../../../src/backend/native/blas.js")>()),
  koffiPath: () => "/nonexistent/koffi/index.js",
}));

const blas = backendLoads("native") ? findBlas(blasCandidates(process.env, process.platform)).blas : null;
const rt = runtime();
const threadsBefore = getNumThreads();
afterAll(() => setNumThreads(threadsBefore));

describe.runIf(blas && rt)("native conv2d when the worker cannot run the BLAS", () => {
  it("runs the worker's share on the calling thread, then stays on one thread", () => {
    setNumThreads(2);
    const g: ConvGeometry = {
      ...{ n: 4, c: 8, h: 16, w: 16, cout: 16, groups: 1, kh: 3, kw: 3 },
      ...{ sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, ho: 16, wo: 16 },
    };
    const x = filled(Float32Array, g.n * g.c * g.h * g.w, 1);
    const w = filled(Float32Array, g.cout * g.c * g.kh * g.kw, 2);
    const b = filled(Float32Array, g.cout, 3);
    const gOut = filled(Float32Array, g.n * g.cout * g.ho * g.wo, 4);
    const ref = new Float32Array(gOut.length);
    conv2dNaiveForward(x, w, b, ref, g);
    const [refDx, refDw, refDb] = [
      new Float32Array(x.length),
      new Float32Array(w.length),
      new Float32Array(g.cout),
    ];
    conv2dNaiveBackward(x, w, gOut, refDx, refDw, refDb, g);
    const k = blasConvKernels(blas!, () => rt!);
    expect(convWorkerBlas()).toBeUndefined();
    const out = new Float32Array(gOut.length).fill(NaN);
    k.forward(x, w, b, out, g);
    expect(convWorkerBlas()).toBe(false);
    const [dx, dw, db] = [new Float32Array(x.length), new Float32Array(w.length), new Float32Array(g.cout)];
    k.backward(x, w, gOut, dx, dw, db, g);
    for (const [got, want, what] of [
      [out, ref, "out"],
      [dx, refDx, "dx"],
      [dw, refDw, "dw"],
      [db, refDb, "db"],
    ] as const) {
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst, what).toBeLessThan(2e-4);
    }
  });
});
