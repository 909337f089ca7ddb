import { backend } from "../backend/index.js";
import type { FloatArray, TypedArray } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { check, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";
import { asFloat, floatArrays } from "./sgd.js";

export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay (default 1e-2). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad). */
  amsgrad: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

function validateAdam(name: string, o: AdamOptions): void {
  check.number(name, "lr", o.lr, 0);
  check.number(name, "eps", o.eps, 0);
  if (!Array.isArray(o.betas) || o.betas.length !== 2) {
    throw new TypeError(
      `${name}: option betas must be a pair [beta1, beta2], got ${JSON.stringify(o.betas)}`,
    );
  }
  check.range(name, "betas[0]", o.betas[0], 0, 1);
  check.range(name, "betas[1]", o.betas[1], 0, 1);
  check.number(name, "weightDecay", o.weightDecay, 0);
  check.boolean(name, "amsgrad", o.amsgrad);
  check.boolean(name, "maximize", o.maximize);
}

type BufferFn = (state: ParamState, key: string, param: Tensor) => FloatArray;

/**
 * The update of Adam (L2 penalty in the gradient) and AdamW (decoupled decay) on the listed
 * parameters in one adamUpdate call: every parameter of a group (a compiled step) or one (eager).
 */
function adamRun(
  buffer: BufferFn,
  decoupled: boolean,
  group: ParamGroup<AdamOptions>,
  params: readonly Tensor[],
  ps: FloatArray[],
  gs: FloatArray[],
  states: readonly ParamState[],
): void {
  const { lr, eps, weightDecay, amsgrad, maximize } = group;
  const [beta1, beta2] = group.betas;
  const n = params.length;
  const stepSize = new Float64Array(n);
  const bc2Sqrt = new Float64Array(n);
  const expAvg: FloatArray[] = [];
  const expAvgSq: FloatArray[] = [];
  const maxExpAvgSq: FloatArray[] | null = amsgrad ? [] : null;
  for (let k = 0; k < n; k++) {
    const state = states[k];
    const step = ((state.step as number | undefined) ?? 0) + 1;
    state.step = step;
    expAvg.push(buffer(state, "expAvg", params[k]));
    expAvgSq.push(buffer(state, "expAvgSq", params[k]));
    if (maxExpAvgSq) maxExpAvgSq.push(buffer(state, "maxExpAvgSq", params[k]));
    stepSize[k] = lr / (1 - beta1 ** step);
    bc2Sqrt[k] = Math.sqrt(1 - beta2 ** step);
  }
  backend().adamUpdate({
    params: ps,
    grads: gs,
    expAvg,
    expAvgSq,
    maxExpAvgSq,
    stepSize,
    bc2Sqrt,
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    decoupled,
    maximize,
  });
}

/** A group's parameters in one call, when every gradient is a float array of its parameter's dtype. */
function adamGroup(
  buffer: BufferFn,
  decoupled: boolean,
  group: ParamGroup<AdamOptions>,
  params: readonly Tensor[],
  grads: readonly TypedArray[],
  states: readonly ParamState[],
): boolean {
  const ps = floatArrays(params, grads);
  if (ps === null) return false;
  adamRun(buffer, decoupled, group, params, ps, grads as FloatArray[], states);
  return true;
}

/**
 * Adam (Kingma & Ba) with PyTorch's bias corrections; `weightDecay` adds λp to the gradient
 * (coupled L2). For decoupled weight decay use `AdamW`.
 */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions>) {
    super(
      "Adam",
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
      options,
    );
  }

  protected validate(o: AdamOptions): void {
    validateAdam(this.name, o);
  }

  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<AdamOptions>,
    state: ParamState,
  ): void {
    adamRun((s, k, t) => this.buffer(s, k, t), false, group, [param], [p], [asFloat(g)], [state]);
  }

  protected override fusedKernel(): string {
    return "adamUpdate";
  }

  protected override updateGroup(
    group: ParamGroup<AdamOptions>,
    params: readonly Tensor[],
    grads: readonly TypedArray[],
    states: readonly ParamState[],
  ): boolean {
    return adamGroup((s, k, t) => this.buffer(s, k, t), false, group, params, grads, states);
  }
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, p ← p·(1 − lr·λ) before the Adam
 * step. Default `weightDecay` 1e-2, as in PyTorch.
 */
export class AdamW extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, options?: Partial<AdamOptions>) {
    super(
      "AdamW",
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false },
      options,
    );
  }

  protected validate(o: AdamOptions): void {
    validateAdam(this.name, o);
  }

  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<AdamOptions>,
    state: ParamState,
  ): void {
    adamRun((s, k, t) => this.buffer(s, k, t), true, group, [param], [p], [asFloat(g)], [state]);
  }

  protected override fusedKernel(): string {
    return "adamUpdate";
  }

  protected override updateGroup(
    group: ParamGroup<AdamOptions>,
    params: readonly Tensor[],
    grads: readonly TypedArray[],
    states: readonly ParamState[],
  ): boolean {
    return adamGroup((s, k, t) => this.buffer(s, k, t), true, group, params, grads, states);
  }
}
