import type { FloatArray, TypedArray } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { check, Optimizer, type ParamGroup, type ParamState, type ParamsInput } from "./optimizer.js";

export interface RMSpropOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** Smoothing constant of the squared-gradient average (default 0.99). */
  alpha: number;
  /** Added to the denominator (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Normalise by the estimated variance of the gradient instead of its second moment. */
  centered: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

/**
 * RMSprop as PyTorch computes it: s ← αs + (1−α)g²; with `centered`, m ← αm + (1−α)g and
 * the denominator is √(s − m²) + ε, else √s + ε; then p ← p − lr·g/denom, or through a momentum buffer.
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, options?: Partial<RMSpropOptions>) {
    super(
      "RMSprop",
      params,
      { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false },
      options,
    );
  }

  protected validate(o: RMSpropOptions): void {
    check.number("RMSprop", "lr", o.lr, 0);
    check.number("RMSprop", "alpha", o.alpha, 0);
    check.number("RMSprop", "eps", o.eps, 0);
    check.number("RMSprop", "weightDecay", o.weightDecay, 0);
    check.number("RMSprop", "momentum", o.momentum, 0);
    check.boolean("RMSprop", "centered", o.centered);
    check.boolean("RMSprop", "maximize", o.maximize);
  }

  protected updateParam(
    param: Tensor,
    p: FloatArray,
    g: TypedArray,
    group: ParamGroup<RMSpropOptions>,
    state: ParamState,
  ): void {
    const { lr, alpha, eps, weightDecay: wd, momentum, centered, maximize } = group;
    state.step = ((state.step as number | undefined) ?? 0) + 1;
    const sq = this.buffer(state, "squareAvg", param);
    const ga = centered ? this.buffer(state, "gradAvg", param) : null;
    const buf = momentum > 0 ? this.buffer(state, "momentumBuffer", param) : null;
    const n = p.length;
    for (let i = 0; i < n; i++) {
      let gi = maximize ? -g[i] : g[i];
      if (wd !== 0) gi += wd * p[i];
      sq[i] = sq[i] * alpha + (1 - alpha) * (gi * gi);
      let avg: number;
      if (ga !== null) {
        ga[i] = ga[i] * alpha + (1 - alpha) * gi;
        avg = Math.sqrt(sq[i] - ga[i] * ga[i]);
      } else avg = Math.sqrt(sq[i]);
      avg += eps;
      if (buf !== null) {
        buf[i] = buf[i] * momentum + gi / avg;
        p[i] = p[i] - lr * buf[i];
      } else p[i] = p[i] - lr * (gi / avg);
    }
  }
}
