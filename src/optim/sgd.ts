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

  /** Every parameter of the group in one sgdUpdate call (a compiled step). */
  protected override updateGroup(
    group: ParamGroup<SGDOptions>,
    params: readonly Tensor[],
    grads: readonly TypedArray[],
    states: readonly ParamState[],
  ): boolean {
    const ps = floatArrays(params, grads);
    if (ps === null) return false;
    this.run(group, ps, grads as FloatArray[], params, states);
    return true;
  }

  /** One parameter: the same kernel with a list of one (the eager step). */
  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<SGDOptions>,
    state: ParamState,
  ): void {
    this.run(group, [p], [asFloat(g)], [param], [state]);
  }

  private run(
    group: ParamGroup<SGDOptions>,
    ps: FloatArray[],
    gs: FloatArray[],
    params: readonly Tensor[],
    states: readonly ParamState[],
  ): void {
    const first = new Uint8Array(ps.length);
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
      grads: gs,
      momentumBuffers,
      first,
      lr,
      momentum,
      dampening,
      weightDecay,
      nesterov,
      maximize,
    });
  }
}

/**
 * A gradient's array as a float array: itself, or (a gradient of an integer dtype) its values in
 * a Float64Array, which holds each exactly, so that the update computes what it would from it.
 */
export function asFloat(g: TypedArray): FloatArray {
  return g instanceof Float32Array || g instanceof Float64Array ? g : Float64Array.from(g);
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
