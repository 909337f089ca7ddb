import type { FloatArray, TypedArray } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { check, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface AdagradOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** Learning-rate decay: step t uses lr / (1 + (t−1)·lrDecay) (default 0). */
  lrDecay: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Starting value of the sum of squared gradients (default 0). */
  initialAccumulatorValue: number;
  /** Added to the denominator (default 1e-10). */
  eps: number;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/** Adagrad: s ← s + g²; p ← p − clr·g/(√s + ε), clr = lr / (1 + (t−1)·lrDecay). */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: ParamsInput<AdagradOptions>, options?: Partial<AdagradOptions>) {
    super(
      "Adagrad",
      params,
      { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false },
      options,
    );
  }

  protected validate(o: AdagradOptions): void {
    check.number("Adagrad", "lr", o.lr, 0);
    check.number("Adagrad", "lrDecay", o.lrDecay, 0);
    check.number("Adagrad", "weightDecay", o.weightDecay, 0);
    check.number("Adagrad", "initialAccumulatorValue", o.initialAccumulatorValue, 0);
    check.number("Adagrad", "eps", o.eps, 0);
    check.boolean("Adagrad", "maximize", o.maximize);
  }

  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<AdagradOptions>,
    state: ParamState,
  ): void {
    const { lr, lrDecay, weightDecay: wd, eps, maximize } = group;
    const step = ((state.step as number | undefined) ?? 0) + 1;
    state.step = step;
    const sum = this.buffer(state, "sum", param, group.initialAccumulatorValue);
    const clr = lr / (1 + (step - 1) * lrDecay);
    const n = p.length;
    for (let i = 0; i < n; i++) {
      let gi = maximize ? -g[i] : g[i];
      if (wd !== 0) gi += wd * p[i];
      sum[i] = sum[i] + gi * gi;
      p[i] = p[i] - clr * (gi / (Math.sqrt(sum[i]) + eps));
    }
  }
}
