import { allocate, isFloating } from "../tensor/dtype.js";
import { Generator } from "../tensor/random.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { checkOptions } from "../tensor/options.js";
import { contiguousData } from "../ops/util.js";
import { mul } from "../ops/elementwise.js";
import { sum } from "../ops/reduce.js";
import { backward } from "./engine.js";
import { enableGrad, noGrad } from "./grad-mode.js";

export interface GradcheckOptions {
  /** Finite-difference step (central differences). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Throw an Error describing the failure instead of returning a failed result. */
  raiseOnFailure?: boolean;
  /** Inputs with more elements than this are checked on a seeded sample of coordinates. */
  maxElements?: number;
  /** How many coordinates a sampled check looks at. */
  samples?: number;
  seed?: number;
}

export interface InputCheck {
  index: number;
  shape: number[];
  dtype: string;
  maxAbsError: number;
  /** CS231n relative error: max |a-n| / max(1e-8, |a|+|n|). */
  maxRelError: number;
  /** Multi-index of the worst coordinate (by tolerance excess). */
  worstIndex: number[];
  analytic: number;
  numerical: number;
  checked: number;
  total: number;
  sampled: boolean;
  passed: boolean;
}

/** What `gradcheck` found; displays as a table in notebooks. */
export class GradcheckResult {
  constructor(
    readonly passed: boolean,
    readonly inputs: InputCheck[],
    readonly eps: number,
    readonly atol: number,
    readonly rtol: number,
    readonly warnings: string[],
  ) {}

  toString(): string {
    const header = ["input", "shape", "max abs err", "max rel err", "checked", "result"];
    const rows = this.inputs.map((c) => [
      `#${c.index} ${c.dtype}`,
      shapeToString(c.shape),
      c.maxAbsError.toExponential(2),
      c.maxRelError.toExponential(2),
      c.sampled ? `${c.checked} of ${c.total} (sampled)` : `${c.checked}`,
      c.passed
        ? "pass"
        : `FAIL at [${c.worstIndex.join(",")}]: analytic ${c.analytic.toPrecision(6)} vs numerical ${c.numerical.toPrecision(6)}`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd();
    const out = [
      `gradcheck ${this.passed ? "passed" : "FAILED"} (eps=${this.eps}, atol=${this.atol}, rtol=${this.rtol})`,
      line(header),
      ...rows.map(line),
      ...this.warnings.map((w) => `note: ${w}`),
    ];
    return out.join("\n");
  }
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return idx;
}

function sampleCoordinates(total: number, count: number, rng: Generator): number[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, total)) chosen.add(rng.integer(0, total));
  return [...chosen].sort((a, b) => a - b);
}

/**
 * Compares autograd's gradients of `fn` with central differences, input by input. A non-scalar
 * output is reduced with a seeded random upstream gradient (a vector-Jacobian product).
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options?: GradcheckOptions,
): GradcheckResult {
  const opts = checkOptions("gradcheck", options, [
    "eps",
    "atol",
    "rtol",
    "raiseOnFailure",
    "maxElements",
    "samples",
    "seed",
  ]);
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const maxElements = opts.maxElements ?? 4096;
  const samples = opts.samples ?? 256;
  if (typeof fn !== "function") throw new TypeError("gradcheck: fn must be a function of the inputs");
  if (!Array.isArray(inputs)) throw new TypeError("gradcheck: inputs must be an array of tensors");
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`gradcheck: inputs[${i}] is not a Tensor`);
  });
  const warnings: string[] = [];
  let checkedIdx = inputs.map((t, i) => (t.requiresGrad ? i : -1)).filter((i) => i >= 0);
  if (checkedIdx.length === 0) {
    checkedIdx = inputs.map((t, i) => (isFloating(t.dtype) ? i : -1)).filter((i) => i >= 0);
    warnings.push("no input requires grad; checking every floating-point input");
  }
  if (checkedIdx.some((i) => inputs[i].dtype === "float32")) {
    warnings.push(
      "float32 inputs: finite differences are too coarse in float32; use float64 (.double()) for a trustworthy check",
    );
  }
  // Detached copies that we perturb; the checked ones are leaves requiring grad.
  const leaves = inputs.map((t, i) => {
    const copy = Tensor.fromData(contiguousData(t).slice(), t.shape);
    if (checkedIdx.includes(i)) copy.requiresGrad = true;
    return copy;
  });
  const rng = new Generator(opts.seed ?? 0);
  const output = enableGrad(() => fn(...leaves));
  if (!(output instanceof Tensor)) throw new TypeError("gradcheck: fn must return a Tensor");
  let upstream: Tensor | null = null;
  if (output.numel() !== 1) {
    const data = allocate(output.dtype === "float64" ? "float64" : "float32", output.numel());
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    upstream = Tensor.fromData(data, output.shape);
  }
  const scalarOf = (out: Tensor): number => (upstream ? sum(mul(out, upstream)).item() : out.item());
  if (!output.requiresGrad) {
    throw new Error(
      "gradcheck: the output does not depend on any checked input through autograd (does fn use them?)",
    );
  }
  enableGrad(() => backward(upstream ? sum(mul(output, upstream)) : sum(output)));

  const results: InputCheck[] = checkedIdx.map((i) => {
    const leaf = leaves[i];
    const analyticGrad = leaf.grad ? contiguousData(leaf.grad) : allocate(leaf.dtype, leaf.numel());
    const total = leaf.numel();
    const sampled = total > maxElements;
    const coords = sampled
      ? sampleCoordinates(total, samples, rng)
      : Array.from({ length: total }, (_, k) => k);
    const data = leaf.storage.data;
    let maxAbs = 0;
    let maxRel = 0;
    let worst = { excess: -Infinity, k: 0, a: 0, n: 0 };
    let passed = true;
    noGrad(() => {
      for (const k of coords) {
        const old = data[k];
        data[k] = old + eps;
        const plus = scalarOf(fn(...leaves));
        data[k] = old - eps;
        const minus = scalarOf(fn(...leaves));
        data[k] = old;
        const numerical = (plus - minus) / (2 * eps);
        const analytic = analyticGrad[k];
        const absErr = Math.abs(analytic - numerical);
        const relErr = absErr / Math.max(1e-8, Math.abs(analytic) + Math.abs(numerical));
        maxAbs = Math.max(maxAbs, absErr);
        maxRel = Math.max(maxRel, relErr);
        const excess = absErr - (atol + rtol * Math.abs(numerical));
        if (!(excess <= 0)) passed = false;
        if (excess > worst.excess || Number.isNaN(excess)) worst = { excess, k, a: analytic, n: numerical };
      }
    });
    return {
      index: i,
      shape: [...leaf.shape],
      dtype: leaf.dtype,
      maxAbsError: maxAbs,
      maxRelError: maxRel,
      worstIndex: unravel(worst.k, leaf.shape),
      analytic: worst.a,
      numerical: worst.n,
      checked: coords.length,
      total,
      sampled,
      passed,
    };
  });
  if (results.some((r) => r.sampled))
    warnings.push(
      `inputs above ${maxElements} elements were checked on ${samples} seeded random coordinates`,
    );
  const result = new GradcheckResult(
    results.every((r) => r.passed),
    results,
    eps,
    atol,
    rtol,
    warnings,
  );
  if (opts.raiseOnFailure && !result.passed) throw new Error(result.toString());
  return result;
}

type ScalarFn = (x: Tensor) => Tensor | number;

function valueOf(v: Tensor | number): number {
  return typeof v === "number" ? v : v.item();
}

function perturbEach(
  x: Tensor,
  h: number,
  visit: (k: number, plus: () => void, minus: () => void, restore: () => void) => void,
): void {
  if (!x.isContiguous()) throw new Error("numericalGradient: x must be contiguous (call .contiguous())");
  const data = x.data;
  for (let k = 0; k < data.length; k++) {
    const old = data[k];
    visit(
      k,
      () => (data[k] = old + h),
      () => (data[k] = old - h),
      () => (data[k] = old),
    );
  }
}

/** CS231n's `eval_numerical_gradient`: the gradient of a scalar function f at x by central differences. */
export function numericalGradient(f: ScalarFn, x: Tensor, options?: { h?: number }): Tensor {
  const { h = 1e-5 } = checkOptions("numericalGradient", options, ["h"]);
  const grad = allocate(x.dtype === "float64" ? "float64" : "float32", x.numel());
  noGrad(() =>
    perturbEach(x, h, (k, plus, minus, restore) => {
      plus();
      const fp = valueOf(f(x));
      minus();
      const fm = valueOf(f(x));
      restore();
      grad[k] = (fp - fm) / (2 * h);
    }),
  );
  return Tensor.fromData(grad, x.shape);
}

/** CS231n's `eval_numerical_gradient_array`: the gradient of sum(f(x) * dout) with respect to x. */
export function numericalGradientArray(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  dout: Tensor,
  options?: { h?: number },
): Tensor {
  const { h = 1e-5 } = checkOptions("numericalGradientArray", options, ["h"]);
  const grad = allocate(x.dtype === "float64" ? "float64" : "float32", x.numel());
  const d = contiguousData(dout);
  noGrad(() =>
    perturbEach(x, h, (k, plus, minus, restore) => {
      plus();
      const pos = contiguousData(f(x)).slice();
      minus();
      const neg = contiguousData(f(x));
      restore();
      if (pos.length !== d.length) {
        throw new RangeError(
          `numericalGradientArray: f(x) has ${pos.length} elements but dout has ${d.length} (shape ${shapeToString(dout.shape)})`,
        );
      }
      let s = 0;
      for (let i = 0; i < d.length; i++) s += (pos[i] - neg[i]) * d[i];
      grad[k] = s / (2 * h);
    }),
  );
  return Tensor.fromData(grad, x.shape);
}

export interface SparseCheck {
  index: number[];
  numerical: number;
  analytic: number;
  relError: number;
}

/** CS231n's `grad_check_sparse`: compare an analytic gradient with numerical ones at a few random coordinates. */
export function gradCheckSparse(
  f: ScalarFn,
  x: Tensor,
  analyticGrad: Tensor,
  options?: { numChecks?: number; h?: number; seed?: number },
): SparseCheck[] {
  const {
    numChecks = 10,
    h = 1e-5,
    seed = 0,
  } = checkOptions("gradCheckSparse", options, ["numChecks", "h", "seed"]);
  if (!x.isContiguous()) throw new Error("gradCheckSparse: x must be contiguous (call .contiguous())");
  const rng = new Generator(seed);
  const data = x.data;
  const analytic = contiguousData(analyticGrad);
  const out: SparseCheck[] = [];
  noGrad(() => {
    for (let c = 0; c < numChecks; c++) {
      const k = rng.integer(0, data.length);
      const old = data[k];
      data[k] = old + h;
      const fp = valueOf(f(x));
      data[k] = old - h;
      const fm = valueOf(f(x));
      data[k] = old;
      const numerical = (fp - fm) / (2 * h);
      const a = analytic[k];
      out.push({
        index: unravel(k, x.shape),
        numerical,
        analytic: a,
        relError: Math.abs(numerical - a) / (Math.abs(numerical) + Math.abs(a) || 1e-300),
      });
    }
  });
  return out;
}

/** CS231n's relative error: max(|a-b| / max(1e-8, |a|+|b|)). */
export function relError(
  a: Tensor | number | readonly number[],
  b: Tensor | number | readonly number[],
): number {
  const toArray = (v: Tensor | number | readonly number[]): ArrayLike<number> =>
    v instanceof Tensor ? contiguousData(v) : typeof v === "number" ? [v] : v;
  const x = toArray(a);
  const y = toArray(b);
  if (x.length !== y.length)
    throw new RangeError(`relError: operands have ${x.length} and ${y.length} elements`);
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const r = Math.abs(x[i] - y[i]) / Math.max(1e-8, Math.abs(x[i]) + Math.abs(y[i]));
    if (r > worst || Number.isNaN(r)) worst = r;
  }
  return worst;
}
