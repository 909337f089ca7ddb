/**
 * Optimizer updates over a list of parameters in one call (what a compiled training step runs in
 * place of one update per parameter). The arithmetic of each element is the per-parameter update's
 * (src/optim/sgd.ts, adam.ts), in the same order and with the same stores to the state arrays, so
 * the results are bit-equal to it in float32 and float64.
 */
import type { AdamUpdateArgs, SgdUpdateArgs } from "../backend.js";
import type { FloatArray } from "../../tensor/dtype.js";

function sgdOne(
  p: FloatArray,
  g: FloatArray,
  buf: FloatArray | null,
  first: boolean,
  a: SgdUpdateArgs,
): void {
  const { lr, momentum, dampening, weightDecay: wd, nesterov, maximize } = a;
  const n = p.length;
  if (buf === null) {
    for (let i = 0; i < n; i++) {
      let d = maximize ? -g[i] : g[i];
      if (wd !== 0) d += wd * p[i];
      p[i] = p[i] - lr * d;
    }
    return;
  }
  const keep = 1 - dampening;
  for (let i = 0; i < n; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    const b = first ? d : buf[i] * momentum + keep * d;
    buf[i] = b;
    const step = nesterov ? d + momentum * buf[i] : buf[i];
    p[i] = p[i] - lr * step;
  }
}

/** SGD (momentum, dampening, weight decay, Nesterov, maximize) on every listed parameter. */
export function sgdUpdate(a: SgdUpdateArgs): void {
  for (let k = 0; k < a.params.length; k++) {
    sgdOne(a.params[k], a.grads[k], a.momentumBuffers ? a.momentumBuffers[k] : null, a.first[k] === 1, a);
  }
}

function adamOne(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  vmax: FloatArray | null,
  stepSize: number,
  bc2Sqrt: number,
  a: AdamUpdateArgs,
): void {
  const { eps, weightDecay: wd, maximize, decoupled, beta1, beta2 } = a;
  const decay = 1 - a.lr * wd;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    let gi = maximize ? -g[i] : g[i];
    if (decoupled) {
      if (wd !== 0) p[i] = p[i] * decay;
    } else if (wd !== 0) gi += wd * p[i];
    m[i] = m[i] * beta1 + (1 - beta1) * gi;
    v[i] = v[i] * beta2 + (1 - beta2) * (gi * gi);
    let second = v[i];
    if (vmax !== null) {
      if (second > vmax[i]) vmax[i] = second;
      second = vmax[i];
    }
    const denom = Math.sqrt(second) / bc2Sqrt + eps;
    p[i] = p[i] - stepSize * (m[i] / denom);
  }
}

/** Adam / AdamW (coupled or decoupled decay, AMSGrad, maximize) on every listed parameter. */
export function adamUpdate(a: AdamUpdateArgs): void {
  for (let k = 0; k < a.params.length; k++) {
    adamOne(
      a.params[k],
      a.grads[k],
      a.expAvg[k],
      a.expAvgSq[k],
      a.maxExpAvgSq ? a.maxExpAvgSq[k] : null,
      a.stepSize[k],
      a.bc2Sqrt[k],
      a,
    );
  }
}
