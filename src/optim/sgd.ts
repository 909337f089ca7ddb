import { backend } from "../backend/index.js";
import type { FloatArray, TypedArray } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { check, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface SGDOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Dampening of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/**
 * Stochastic gradient descent with optional momentum, as PyTorch computes it:
 * g ← g + λp; b ← μb + (1−τ)g (b = g at the first step); g ← g + μb (Nesterov) or b; p ← p − lr·g.
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options?: Partial<SGDOptions>) {
    super(
      "SGD",
      params,
      { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
      options,
    );
  }

  protected validate(o: SGDOptions): void {
    check.number("SGD", "lr", o.lr, 0);
    check.number("SGD", "momentum", o.momentum, 0);
    check.number("SGD", "dampening", o.dampening);
    check.number("SGD", "weightDecay", o.weightDecay, 0);
    check.boolean("SGD", "nesterov", o.nesterov);
    check.boolean("SGD", "maximize", o.maximize);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new RangeError(
        `SGD: nesterov needs momentum > 0 and dampening 0 (got momentum ${o.momentum}, dampening ${o.dampening})`,
      );
    }
  }

  protected override fusedKernel(): string {
    return "sgdUpdate";
  }

  /** Every parameter of the group in one sgdUpdate call (bit-equal to updateParam). */
  protected override updateGroup(
    group: ParamGroup<SGDOptions>,
    params: readonly Tensor[],
    grads: readonly TypedArray[],
    states: readonly ParamState[],
  ): boolean {
    const ps = floatArrays(params, grads);
    if (ps === null) return false;
    const first = new Uint8Array(params.length);
    let momentumBuffers: FloatArray[] | null = null;
    if (group.momentum !== 0) {
      momentumBuffers = params.map((param, k) => {
        first[k] = "momentumBuffer" in states[k] ? 0 : 1;
        return this.buffer(states[k], "momentumBuffer", param);
      });
    }
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    backend().sgdUpdate({
      params: ps,
      grads: grads as FloatArray[],
      momentumBuffers,
      first,
      lr,
      momentum,
      dampening,
      weightDecay,
      nesterov,
      maximize,
    });
    return true;
  }

  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<SGDOptions>,
    state: ParamState,
  ): void {
    const { lr, momentum, dampening, weightDecay: wd, nesterov, maximize } = group;
    const n = p.length;
    if (momentum === 0) {
      // the common case (plain SGD) gets one loop per array type, so that each stays monomorphic
      if (p instanceof Float32Array && g instanceof Float32Array) plainStep32(p, g, lr, wd, maximize);
      else if (p instanceof Float64Array && g instanceof Float64Array) plainStep64(p, g, lr, wd, maximize);
      else plainStep(p, g, lr, wd, maximize);
      return;
    }
    const first = !("momentumBuffer" in state);
    const buf = this.buffer(state, "momentumBuffer", param);
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
}

// p -= lr * d with d = ±g (+ wd * p), element by element, as PyTorch's SGD without momentum
function plainStep(p: FloatArray, g: TypedArray, lr: number, wd: number, maximize: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}
function plainStep32(p: Float32Array, g: Float32Array, lr: number, wd: number, maximize: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}
function plainStep64(p: Float64Array, g: Float64Array, lr: number, wd: number, maximize: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = maximize ? -g[i] : g[i];
    if (wd !== 0) d += wd * p[i];
    p[i] = p[i] - lr * d;
  }
}

/** The parameters' arrays, when each gradient is a float array of its parameter's dtype (else null). */
export function floatArrays(params: readonly Tensor[], grads: readonly TypedArray[]): FloatArray[] | null {
  const out: FloatArray[] = [];
  for (let k = 0; k < params.length; k++) {
    const p = params[k].data;
    const g = grads[k];
    const same =
      (p instanceof Float32Array && g instanceof Float32Array) ||
      (p instanceof Float64Array && g instanceof Float64Array);
    if (!same || p.length !== g.length) return null;
    out.push(p);
  }
  return out;
}
