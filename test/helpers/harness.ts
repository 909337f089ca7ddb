/**
 * One call per op: forward and every input gradient against the PyTorch fixtures, plus a float64
 * gradcheck of the same function.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { gradcheck, mul, sum, tensor, Tensor, type DType, type GradcheckOptions } from "../../src/index.js";

/** Non-finite values travel as the strings "Infinity", "-Infinity" and "NaN". */
type EncodedNumber = number | "Infinity" | "-Infinity" | "NaN";

interface EncodedTensor {
  shape: number[];
  dtype: DType;
  data: EncodedNumber[];
}

type Encoded = { tensor: EncodedTensor; requiresGrad?: boolean } | { value: unknown; requiresGrad?: boolean };

export interface FixtureCase {
  args: Encoded[];
  outputs: Encoded[];
  /** Named values of a case recorded with Cases.record (behaviours that are not one op call). */
  values?: Record<string, Encoded>;
  upstream?: Encoded;
  grads?: (Encoded | null)[];
}

const cache = new Map<string, Record<string, FixtureCase>>();

export function loadFixtures(family: string): Record<string, FixtureCase> {
  let cases = cache.get(family);
  if (!cases) {
    const path = fileURLToPath(new URL(`../fixtures/${family}.json`, import.meta.url));
    cases = (JSON.parse(readFileSync(path, "utf8")) as { cases: Record<string, FixtureCase> }).cases;
    cache.set(family, cases);
  }
  return cases;
}

export function decode(e: Encoded): unknown {
  if ("tensor" in e) return decodeTensor(e);
  return e.value === "Infinity" || e.value === "-Infinity" || e.value === "NaN" ? Number(e.value) : e.value;
}

/** The named values of a recorded case, decoded (tensors as Tensor, the rest as JSON values). */
export function fixtureValues(family: string, name: string): Record<string, unknown> {
  const c = loadFixtures(family)[name];
  if (!c?.values)
    throw new Error(`fixture ${family}/${name} is missing; regenerate with test/fixtures/make_fixtures.py`);
  return Object.fromEntries(Object.entries(c.values).map(([k, e]) => [k, decode(e)]));
}

function decodeTensor(e: Encoded): Tensor {
  if (!("tensor" in e)) throw new Error("fixture: expected a tensor");
  const { shape, dtype, data } = e.tensor;
  return tensor(Float64Array.from(data, Number), { dtype, shape });
}

export interface CheckOptions {
  atol?: number;
  rtol?: number;
  /** false to skip the float64 gradcheck, or options for it. */
  gradcheck?: false | GradcheckOptions;
}

function tolerances(dtype: DType, opts: CheckOptions): { atol: number; rtol: number } {
  if (dtype === "float64") return { atol: opts.atol ?? 1e-9, rtol: opts.rtol ?? 1e-7 };
  return { atol: opts.atol ?? 1e-5, rtol: opts.rtol ?? 1e-4 };
}

/** Asserts values and shape, naming the first element that differs. */
export function expectClose(actual: Tensor, expected: Tensor, what: string, opts: CheckOptions = {}): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  const { atol, rtol } = tolerances(expected.dtype, opts);
  const a = actual.contiguous().data;
  const e = expected.contiguous().data;
  for (let i = 0; i < e.length; i++) {
    const ok =
      a[i] === e[i] ||
      Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]) ||
      (Number.isNaN(a[i]) && Number.isNaN(e[i]));
    if (!ok) {
      expect.fail(`${what}: element ${i} is ${a[i]}, PyTorch gives ${e[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

function asArray(out: unknown): Tensor[] {
  if (out instanceof Tensor) return [out];
  if (Array.isArray(out)) return out as Tensor[];
  if (out && typeof out === "object" && "values" in out && "indices" in out) {
    const vi = out as { values: Tensor; indices: Tensor };
    return [vi.values, vi.indices];
  }
  if (out && typeof out === "object" && "output" in out && "indices" in out) {
    const oi = out as { output: Tensor; indices: Tensor };
    return [oi.output, oi.indices];
  }
  throw new Error(`harness: op returned ${typeof out}`);
}

/**
 * Runs `fn` on the fixture's inputs: checks every output and, when PyTorch computed them, every
 * input gradient; then gradchecks `fn` in float64.
 */
export function checkOp(
  family: string,
  name: string,
  fn: (...args: any[]) => unknown,
  opts: CheckOptions = {},
): void {
  const c = loadFixtures(family)[name];
  if (!c)
    throw new Error(`fixture ${family}/${name} is missing; regenerate with test/fixtures/make_fixtures.py`);
  const args = c.args.map((e) => {
    const v = decode(e);
    if (v instanceof Tensor && e.requiresGrad) v.requiresGrad = true;
    return v;
  });
  const outputs = asArray(fn(...args));
  c.outputs.forEach((e, i) => {
    const expected = decodeTensor(e);
    if (expected.dtype === "int32" || expected.dtype === "bool") {
      expect(outputs[i].toArray(), `${name}: output ${i}`).toEqual(expected.toArray());
    } else {
      expectClose(outputs[i], expected, `${name}: output ${i}`, opts);
    }
  });
  if (c.upstream && c.grads) {
    sum(mul(outputs[0], decodeTensor(c.upstream))).backward();
    c.grads.forEach((g, i) => {
      const arg = args[i];
      if (!g) return;
      if (!(arg instanceof Tensor) || !arg.grad)
        expect.fail(`${name}: input ${i} got no gradient, PyTorch has one`);
      expectClose((arg as Tensor).grad as Tensor, decodeTensor(g), `${name}: gradient of input ${i}`, opts);
    });
  }
  if (opts.gradcheck === false || !c.upstream) return;
  const positions = c.args.map((e, i) => (e.requiresGrad ? i : -1)).filter((i) => i >= 0);
  const inputs = positions.map((i) =>
    (decode(c.args[i]) as Tensor).to("float64").detach().requiresGrad_(true),
  );
  const call = (...ts: Tensor[]) => {
    const full = c.args.map((e, i) => {
      const p = positions.indexOf(i);
      if (p >= 0) return ts[p];
      const v = decode(e);
      return v instanceof Tensor && (v.dtype === "float32" || v.dtype === "float64") ? v.to("float64") : v;
    });
    return asArray(fn(...full))[0];
  };
  const result = gradcheck(call, inputs, opts.gradcheck ?? {});
  expect(result.passed, `${name}: float64 gradcheck\n${result.toString()}`).toBe(true);
}
