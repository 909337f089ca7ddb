/**
 * The optimizer updates: SGD and Adam over a list of parameters in one call. Both the eager step
 * (src/optim/sgd.ts, adam.ts: a list of one parameter) and a compiled step (every parameter of a
 * group) run these loops, so each optimizer's arithmetic is written once; the order of the
 * operations and the stores to the state arrays are PyTorch's.
 */
import type { AdamUpdateArgs, SgdUpdateArgs } from "../backend.js";
import type { FloatArray } from "../../tensor/dtype.js";

// p -= lr * d with d = ±g (+ wd * p): one loop per array type, so that each stays monomorphic, and
// the branches on the options outside the loop (the common case, plain descent, is two loads and a
// multiply-subtract per element)
function plain32(p: Float32Array, g: Float32Array, lr: number, wd: number, maximize: boolean): void {
  const n = p.length;
  if (wd === 0 && !maximize) {
    descend32(p, g, lr);
    return;
  }
  for (let i = 0; i < n; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}
function plain64(p: Float64Array, g: Float64Array, lr: number, wd: number, maximize: boolean): void {
  const n = p.length;
  if (wd === 0 && !maximize) {
    descend64(p, g, lr);
    return;
  }
  for (let i = 0; i < n; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}
// p -= lr * g, four elements per iteration (0.75x the time of one per iteration on 819,200 float32
// elements, same run: fewer loop checks); one copy per array type keeps each loop monomorphic
function descend32(p: Float32Array, g: Float32Array, lr: number): void {
  const n = p.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = p[i] - lr * g[i];
    const b = p[i + 1] - lr * g[i + 1];
    const c = p[i + 2] - lr * g[i + 2];
    const d = p[i + 3] - lr * g[i + 3];
    p[i] = a;
    p[i + 1] = b;
    p[i + 2] = c;
    p[i + 3] = d;
  }
  for (; i < n; i++) p[i] = p[i] - lr * g[i];
}
function descend64(p: Float64Array, g: Float64Array, lr: number): void {
  const n = p.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = p[i] - lr * g[i];
    const b = p[i + 1] - lr * g[i + 1];
    const c = p[i + 2] - lr * g[i + 2];
    const d = p[i + 3] - lr * g[i + 3];
    p[i] = a;
    p[i + 1] = b;
    p[i + 2] = c;
    p[i + 3] = d;
  }
  for (; i < n; i++) p[i] = p[i] - lr * g[i];
}
function plainMixed(p: FloatArray, g: FloatArray, lr: number, wd: number, maximize: boolean): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}

function momentumStep(p: FloatArray, g: FloatArray, buf: FloatArray, first: boolean, a: SgdUpdateArgs): void {
  const { lr, momentum, dampening, weightDecay: wd, nesterov, maximize } = a;
  const n = p.length;
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
  const { lr, weightDecay: wd, maximize } = a;
  for (let k = 0; k < a.params.length; k++) {
    const p = a.params[k];
    const g = a.grads[k];
    if (a.momentumBuffers !== null) momentumStep(p, g, a.momentumBuffers[k], a.first[k] === 1, a);
    else if (p instanceof Float32Array && g instanceof Float32Array) plain32(p, g, lr, wd, maximize);
    else if (p instanceof Float64Array && g instanceof Float64Array) plain64(p, g, lr, wd, maximize);
    else plainMixed(p, g, lr, wd, maximize);
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
