/**
 * SGD's update on the BLAS: plain descent (no momentum, no weight decay) of a large parameter is
 * one axpy, p += (−lr)·g, which the library runs vectorised (and on its threads at two threads):
 * on W5's fc1 weight (819,200 float32) 0.22 ms at one thread and 0.11 ms at two, against 1.0 ms
 * for the JS loop (same run). Every other parameter, and every other case, runs the JS loops.
 * The choice is made per parameter, so an eager step (one parameter per call) and a compiled
 * graph's update (all of them in one call) compute the same values.
 */
import type { SgdUpdateArgs } from "../backend.js";
import { sgdUpdate as jsSgdUpdate } from "../js/optim-update.js";
import type { Blas } from "./blas.js";

/** Below this many elements the JS loop is as fast as the call into the library. */
export const BLAS_AXPY_MIN = 1 << 16;

/** The sgdUpdate kernel on `blas` (the JS loops where the library has no axpy). */
export function blasSgdUpdate(blas: Blas): (a: SgdUpdateArgs) => void {
  const { saxpy, daxpy } = blas;
  if (!saxpy || !daxpy) return jsSgdUpdate;
  return (a) => {
    if (a.momentumBuffers !== null || a.weightDecay !== 0) return jsSgdUpdate(a);
    const alpha = a.maximize ? a.lr : -a.lr;
    for (let k = 0; k < a.params.length; k++) {
      const p = a.params[k];
      const g = a.grads[k];
      if (
        p.length >= BLAS_AXPY_MIN &&
        p.length === g.length &&
        p instanceof Float32Array &&
        g instanceof Float32Array
      )
        saxpy(p.length, alpha, g, 1, p, 1);
      else if (
        p.length >= BLAS_AXPY_MIN &&
        p.length === g.length &&
        p instanceof Float64Array &&
        g instanceof Float64Array
      )
        daxpy(p.length, alpha, g, 1, p, 1);
      else jsSgdUpdate({ ...a, params: [p], grads: [g], first: a.first.subarray(k, k + 1) });
    }
  };
}
