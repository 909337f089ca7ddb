// The native backend's SGD update (plain descent of large parameters as one BLAS axpy) against the
// JavaScript reference kernel: the same values within float rounding, every case the axpy does not
// cover left to the reference loops exactly, and views of a shared WebAssembly.Memory as operands.
import { describe, expect, it } from "vitest";
import type { SgdUpdateArgs } from "../../../src/backend/backend.js";
import { sgdUpdate as jsSgdUpdate } from "../../../src/backend/js/optim-update.js";
import { blasCandidates, findBlas } from "../../../src/backend/native/blas.js";
import { BLAS_AXPY_MIN, blasSgdUpdate } from "../../../src/backend/native/optim.js";
import { backendLoads } from "../../helpers/backends.js";

type FloatArray = Float32Array | Float64Array;
type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

const blas = backendLoads("native") ? findBlas(blasCandidates(process.env, process.platform)).blas : null;

function values(T: Ctor, n: number, seed: number): FloatArray {
  const a = new T(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37 + seed) * 3;
  return a;
}

/** Plain SGD's arguments for `params` (lr 0.01), with `o` overriding. */
function argsFor(params: FloatArray[], grads: FloatArray[], o: Partial<SgdUpdateArgs> = {}): SgdUpdateArgs {
  return {
    params,
    grads,
    momentumBuffers: null,
    first: new Uint8Array(params.length).fill(1),
    lr: 0.01,
    momentum: 0,
    dampening: 0,
    weightDecay: 0,
    nesterov: false,
    maximize: false,
    ...o,
  };
}

/** Runs the native and the JS kernel on copies of the same parameters (and momentum); returns both results. */
function both(
  params: FloatArray[],
  grads: FloatArray[],
  o: Partial<SgdUpdateArgs> = {},
): { native: FloatArray[]; js: FloatArray[] } {
  const run = (kernel: (a: SgdUpdateArgs) => void): FloatArray[] => {
    const ps = params.map((p) => p.slice());
    const momentumBuffers = o.momentumBuffers ? o.momentumBuffers.map((m) => m.slice()) : null;
    kernel(argsFor(ps, grads, { ...o, momentumBuffers }));
    return ps;
  };
  return { native: run(blasSgdUpdate(blas!)), js: run(jsSgdUpdate) };
}

function maxRelDiff(a: FloatArray, b: FloatArray): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

const TOL = { Float32Array: 1e-6, Float64Array: 1e-14 } as const;

describe.runIf(blas)("native sgdUpdate against the JavaScript reference", () => {
  describe.each([Float32Array, Float64Array] as Ctor[])("%o", (T) => {
    it("plain descent and maximize, at sizes around the axpy threshold, in one call", () => {
      const sizes = [1, 7, BLAS_AXPY_MIN - 1, BLAS_AXPY_MIN, BLAS_AXPY_MIN + 5, 3 * BLAS_AXPY_MIN + 1];
      for (const maximize of [false, true]) {
        const params = sizes.map((n, i) => values(T, n, i));
        const grads = sizes.map((n, i) => values(T, n, 10 + i));
        const { native, js } = both(params, grads, { maximize });
        native.forEach((p, i) => {
          if (sizes[i] < BLAS_AXPY_MIN) expect(Array.from(p), `n=${sizes[i]}`).toEqual(Array.from(js[i]));
          else expect(maxRelDiff(p, js[i]), `n=${sizes[i]}`).toBeLessThan(TOL[T.name as keyof typeof TOL]);
          // the update did happen
          expect(p[0]).not.toBe(params[i][0]);
        });
      }
    });

    it("momentum, weight decay and a parameter of the other dtype run the reference loops exactly", () => {
      const n = BLAS_AXPY_MIN + 3;
      const p = [values(T, n, 1)];
      const g = [values(T, n, 2)];
      for (const o of [{ weightDecay: 0.1 }, { momentum: 0.9, momentumBuffers: [values(T, n, 3)] }]) {
        const { native, js } = both(p, g, o);
        expect(Array.from(native[0])).toEqual(Array.from(js[0]));
      }
      const Other = T === Float32Array ? Float64Array : Float32Array;
      const { native, js } = both(p, [values(Other, n, 2)]);
      expect(Array.from(native[0])).toEqual(Array.from(js[0]));
    });

    it("updates views of a shared WebAssembly.Memory in place", () => {
      const n = BLAS_AXPY_MIN + 1;
      const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
      const es = T.BYTES_PER_ELEMENT;
      const p = new T(memory.buffer, 64, n);
      const g = new T(memory.buffer, 64 + n * es + 64, n);
      p.set(values(T, n, 4));
      g.set(values(T, n, 5));
      const expected = p.slice();
      jsSgdUpdate(argsFor([expected], [g], { lr: 0.5 }));
      blasSgdUpdate(blas!)(argsFor([p], [g], { lr: 0.5 }));
      expect(maxRelDiff(p, expected)).toBeLessThan(TOL[T.name as keyof typeof TOL]);
    });
  });
});
