/**
 * Sliding-window geometry, once for every consumer: the hyper-parameter pairs of conv and pool
 * layers, ops and transforms (one parser, one error class and wording), PyTorch's output-size rule,
 * "same" padding, and the validated ConvGeometry that the conv op hands to every backend kernel.
 */
import type { ConvGeometry } from "./backend.js";

/** A size given for both spatial dims at once, or as `[height, width]`. */
export type Size2d = number | readonly [number, number];

/**
 * Reads a hyper-parameter given as one integer or a pair `[h, w]` of integers >= min (1: sizes,
 * strides and dilations; 0: paddings). `undefined`/`null` give `fallback`. Errors are RangeErrors
 * worded "op: name must be a positive integer or a pair [h, w] of them, got ...".
 */
export function pair(
  op: string,
  name: string,
  value: unknown,
  fallback: number | readonly [number, number],
  min: 0 | 1,
): [number, number] {
  if (value === undefined || value === null)
    return typeof fallback === "number" ? [fallback, fallback] : [fallback[0], fallback[1]];
  const ok = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= min;
  if (ok(value)) return [value, value];
  if (Array.isArray(value) && value.length === 2 && ok(value[0]) && ok(value[1])) return [value[0], value[1]];
  const what = min > 0 ? "a positive integer" : "a non-negative integer";
  throw new RangeError(
    `${op}: ${name} must be ${what} or a pair [h, w] of them, got ${JSON.stringify(value)}`,
  );
}

/**
 * PyTorch's output size along one dimension: floor((size + 2p - d(k - 1) - 1) / s) + 1, or with
 * `ceil` rounded up, except that the last window must start inside the input or its left padding.
 */
export function windowOutputSize(
  size: number,
  k: number,
  s: number,
  p: number,
  d: number,
  ceil = false,
): number {
  const num = size + 2 * p - (d * (k - 1) + 1);
  let out = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/**
 * "same" padding (stride 1 only): the total d·(k − 1) per dimension, half on each side; an odd
 * total puts the extra row/column at the bottom/right, as PyTorch does. `extra` is [bottom, right].
 */
export function samePadding(
  op: string,
  kernel: readonly [number, number],
  stride: readonly [number, number],
  dilation: readonly [number, number],
): { padding: [number, number]; extra: [number, number] } {
  if (stride[0] !== 1 || stride[1] !== 1)
    throw new RangeError(`${op}: padding "same" needs stride 1, got stride ${stride[0]}x${stride[1]}`);
  const total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
  return {
    padding: [Math.floor(total[0] / 2), Math.floor(total[1] / 2)],
    extra: [total[0] % 2, total[1] % 2],
  };
}

const fmtShape = (s: readonly number[]) => `[${s.join(",")}]`;

/**
 * The geometry of conv2d of images `x` [n, c, h, w] with `weight` [cout, c/groups, kh, kw]: checks
 * the channels against the weight and groups and that the (dilated) kernel fits the padded input.
 * `inputShape` is what the error messages call the input (the caller's shape, e.g. unbatched).
 */
export function convGeometry(
  op: string,
  x: readonly number[],
  weight: readonly number[],
  o: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number },
  inputShape: readonly number[] = x,
): ConvGeometry {
  const [n, c, h, w] = x;
  const [cout, cg, kh, kw] = weight;
  const { groups } = o;
  const ws = fmtShape(weight);
  const xs = fmtShape(inputShape);
  if (!Number.isInteger(groups) || groups < 1)
    throw new RangeError(`${op}: groups must be a positive integer, got ${String(groups)}`);
  if (cg * groups !== c) {
    const expects = groups === 1 ? `${cg}` : `${cg}*${groups} = ${cg * groups}`;
    const with_ = groups === 1 ? "" : ` with groups=${groups}`;
    throw new RangeError(
      `${op}: weight ${ws}${with_} expects ${expects} input channels, input ${xs} has ${c}`,
    );
  }
  if (cout % groups !== 0)
    throw new RangeError(
      `${op}: weight ${ws} has ${cout} output channels, not divisible by groups=${groups}`,
    );
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const spanH = dh * (kh - 1) + 1;
  const spanW = dw * (kw - 1) + 1;
  if (spanH > h + 2 * ph || spanW > w + 2 * pw) {
    const dil = dh === 1 && dw === 1 ? "" : ` (dilation ${dh}x${dw} spans ${spanH}x${spanW})`;
    throw new RangeError(
      `${op}: kernel ${kh}x${kw}${dil} is larger than the padded input ${h + 2 * ph}x${w + 2 * pw} ` +
        `(input ${xs}, padding ${ph}x${pw})`,
    );
  }
  const ho = windowOutputSize(h, kh, sh, ph, dh);
  const wo = windowOutputSize(w, kw, sw, pw, dw);
  return { n, c, h, w, cout, groups, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo };
}
