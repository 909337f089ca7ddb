/**
 * Optimizers and schedulers replayed against PyTorch trajectories (test/fixtures/optim.json, made by
 * test/fixtures/torch_cases/optim.py): the gradients PyTorch saw are fed to our optimizer step by
 * step and the parameters compared after every step.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { noGrad, optim, tensor, Tensor, type DType } from "../../src/index.js";
import { loadFile, save } from "../../src/io/safetensors.js";

interface EncodedTensor {
  tensor: { shape: number[]; dtype: DType; data: number[] };
}

interface Trajectory {
  optimizer: "SGD" | "Adam" | "AdamW" | "RMSprop" | "Adagrad";
  options: Record<string, unknown>;
  groups: { params: number[]; options: Record<string, unknown> }[] | null;
  dtype: DType;
  initial: EncodedTensor[];
  targets: EncodedTensor[];
  weights: EncodedTensor[];
  grads: EncodedTensor[][];
  params: EncodedTensor[][];
  scheduler?: "StepLR" | "ExponentialLR" | "CosineAnnealingLR";
  schedulerOptions?: Record<string, number>;
  lrs?: number[][];
}

const fixturePath = fileURLToPath(new URL("../fixtures/optim.json", import.meta.url));
const cases = (JSON.parse(readFileSync(fixturePath, "utf8")) as { cases: Record<string, Trajectory> }).cases;

function decode(e: EncodedTensor): Tensor {
  return tensor(Float64Array.from(e.tensor.data), { dtype: e.tensor.dtype, shape: e.tensor.shape });
}

const OPTIMIZERS = {
  SGD: optim.SGD,
  Adam: optim.Adam,
  AdamW: optim.AdamW,
  RMSprop: optim.RMSprop,
  Adagrad: optim.Adagrad,
} as const;

function makeOptimizer(c: Trajectory, params: Tensor[]): optim.Optimizer<any> {
  const Ctor = OPTIMIZERS[c.optimizer] as unknown as new (p: unknown, o: unknown) => optim.Optimizer<any>;
  if (c.groups === null) return new Ctor(params, c.options);
  return new Ctor(
    c.groups.map((g) => ({ params: g.params.map((i) => params[i]), ...g.options })),
    c.options,
  );
}

function makeScheduler(c: Trajectory, opt: optim.Optimizer<any>): optim.lrScheduler.LRScheduler | null {
  if (!c.scheduler) return null;
  const Ctor = optim.lrScheduler[c.scheduler] as unknown as new (
    o: optim.Optimizer<any>,
    opts: unknown,
  ) => optim.lrScheduler.LRScheduler;
  return new Ctor(opt, c.schedulerOptions);
}

function tolerance(dtype: DType): { atol: number; rtol: number } {
  // float64: the same arithmetic as PyTorch up to rounding; float32: PyTorch rounds every
  // intermediate buffer to float32, we round once per stored value.
  return dtype === "float64" ? { atol: 1e-10, rtol: 1e-10 } : { atol: 1e-6, rtol: 1e-5 };
}

function expectParam(actual: Tensor, expected: Tensor, what: string, dtype: DType): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expect(actual.dtype, `${what}: dtype`).toBe(dtype);
  const { atol, rtol } = tolerance(dtype);
  const a = actual.data;
  const e = expected.data;
  for (let i = 0; i < e.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]))) {
      expect.fail(`${what}: element ${i} is ${a[i]}, PyTorch gives ${e[i]}`);
    }
  }
}

function leaves(c: Trajectory): Tensor[] {
  return c.initial.map((e) => decode(e).requiresGrad_(true));
}

/** Runs `steps` steps of case `c` from the given step index, replaying PyTorch's gradients. */
function replay(
  c: Trajectory,
  name: string,
  params: Tensor[],
  opt: optim.Optimizer<any>,
  sched: optim.lrScheduler.LRScheduler | null,
  from: number,
  to: number,
): void {
  for (let s = from; s < to; s++) {
    opt.zeroGrad();
    params.forEach((p, k) => {
      p.grad = decode(c.grads[s][k]);
    });
    opt.step();
    sched?.step();
    if (sched && c.lrs) {
      const lrs = sched.getLastLr();
      c.lrs[s + 1].forEach((lr, g) =>
        expect(lrs[g], `${name} step ${s + 1}: lr of group ${g}`).toBeCloseTo(lr, 14),
      );
      opt.paramGroups.forEach((g, k) => expect(g.lr).toBe(lrs[k]));
    }
    params.forEach((p, k) =>
      expectParam(p, decode(c.params[s][k]), `${name} step ${s + 1}, param ${k}`, c.dtype),
    );
  }
}

describe("optimizers against PyTorch trajectories", () => {
  it("has the fixture cases", () => {
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(20);
  });

  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const params = leaves(c);
      const opt = makeOptimizer(c, params);
      const sched = makeScheduler(c, opt);
      if (sched && c.lrs) expect(sched.getLastLr()).toEqual(c.lrs[0]);
      replay(c, name, params, opt, sched, 0, c.grads.length);
    });
  }

  it("computes the same trajectory with gradients from our own autograd (Adam, SGD nesterov)", () => {
    for (const name of ["adam", "sgd_nesterov", "rmsprop_centered_momentum"]) {
      const c = cases[name];
      const params = leaves(c);
      const targets = c.targets.map(decode);
      const weights = c.weights.map(decode);
      const opt = makeOptimizer(c, params);
      for (let s = 0; s < c.params.length; s++) {
        opt.zeroGrad();
        let loss: Tensor | null = null;
        params.forEach((p, k) => {
          const term = weights[k].mul(p.sub(targets[k]).square()).sum();
          loss = loss === null ? term : loss.add(term);
        });
        (loss as unknown as Tensor).backward();
        params.forEach((p, k) => expectParam(p.grad!, decode(c.grads[s][k]), `${name} grad ${s}`, c.dtype));
        opt.step();
        params.forEach((p, k) => expectParam(p, decode(c.params[s][k]), `${name} step ${s + 1}`, c.dtype));
      }
    }
  });
});

describe("optimizer state dicts", () => {
  for (const name of [
    "sgd_momentum",
    "adam_wd_amsgrad",
    "adamw_amsgrad",
    "rmsprop_centered_momentum",
    "adagrad_decay",
    "sgd_groups",
  ]) {
    it(`${name}: 2 steps, save, load into a fresh optimizer, 3 more steps match PyTorch`, () => {
      const c = cases[name];
      const params = leaves(c);
      const opt = makeOptimizer(c, params);
      replay(c, name, params, opt, null, 0, 2);
      const saved = opt.stateDict();
      // the snapshot does not change when training continues
      const firstState = Object.values(saved.state)[0];
      const bufferName = Object.keys(firstState).find((k) => firstState[k] instanceof Tensor)!;
      const before = Array.from((firstState[bufferName] as Tensor).data);
      replay(c, name, params, opt, null, 2, 3);
      expect(Array.from((firstState[bufferName] as Tensor).data)).toEqual(before);

      // a fresh optimizer over parameters restored to step 2
      const params2 = c.params[1].map((e) => decode(e).requiresGrad_(true));
      const opt2 = makeOptimizer(c, params2);
      opt2.loadStateDict(saved);
      replay(c, name, params2, opt2, null, 2, 5);
    });
  }

  it("numbers parameters across groups and keeps group options", () => {
    const c = cases.sgd_groups;
    const params = leaves(c);
    const opt = makeOptimizer(c, params);
    replay(c, "sgd_groups", params, opt, null, 0, 1);
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1]]);
    expect(sd.paramGroups[1].lr).toBe(0.02);
    expect(sd.paramGroups[1].weightDecay).toBe(0.1);
    expect(Object.keys(sd.state)).toEqual(["0"]); // group 1 has no momentum, so no buffer
    expect((sd.state[0].momentumBuffer as Tensor).shape).toEqual([3, 4]);
  });

  it("rejects a state dict of another shape", () => {
    const a = new optim.Adam([tensor([1, 2, 3], { requiresGrad: true })]);
    const b = new optim.Adam([
      tensor([1, 2, 3], { requiresGrad: true }),
      tensor([1], { requiresGrad: true }),
    ]);
    const c = new optim.Adam([tensor([[1, 2]], { requiresGrad: true })]);
    const p = a.paramGroups[0].params[0];
    p.grad = tensor([1, 1, 1]);
    a.step();
    expect(() => b.loadStateDict(a.stateDict())).toThrow(
      /group 0 has 1 parameters in the state dict, 2 in this optimizer/,
    );
    expect(() => c.loadStateDict(a.stateDict())).toThrow(
      /expAvg of parameter 0 has shape \[3\], the parameter has \[1,2\]/,
    );
    const wrongGroups = { state: {}, paramGroups: [] };
    expect(() => a.loadStateDict(wrongGroups)).toThrow(/0 parameter groups, this optimizer has 1/);
  });
});

describe("optimizer behaviour", () => {
  it("zeroGrad sets gradients to null by default, or zeroes them in place", () => {
    const p = tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.grad = tensor([3, 4]);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    const g = tensor([3, 4]);
    p.grad = g;
    opt.zeroGrad(false);
    expect(p.grad).toBe(g);
    expect(Array.from(g.data)).toEqual([0, 0]);
  });

  it("skips parameters without gradients and creates no state for them", () => {
    const p = tensor([1, 2], { requiresGrad: true });
    const q = tensor([5], { requiresGrad: true });
    const opt = new optim.Adam([p, q], { lr: 0.1 });
    p.grad = tensor([1, -1]);
    opt.step();
    expect(q.toArray()).toEqual([5]);
    expect(opt.state.has(q)).toBe(false);
    // Adam's first step moves each coordinate by lr against the sign of its gradient
    expect(p.toArray()[0]).toBeCloseTo(0.9, 6);
    expect(p.toArray()[1]).toBeCloseTo(2.1, 6);
  });

  it("plain SGD is p ← p − lr·g and works in float32 and float64", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const p = tensor([1, -2, 3], { dtype, requiresGrad: true });
      const opt = new optim.SGD([p], { lr: 0.5 });
      p.grad = tensor([2, 2, -4], { dtype });
      opt.step();
      expect(p.toArray()).toEqual([0, -3, 5]);
      expect(p.dtype).toBe(dtype);
    }
  });

  it("plain SGD rounds once per element: p − lr·g in float64, then stored (lengths 1 to 7 and 1027)", () => {
    for (const dtype of ["float32", "float64"] as const) {
      for (const n of [1, 2, 3, 4, 5, 6, 7, 1027]) {
        const p0 = Array.from({ length: n }, (_, i) => Math.sin(i + 1) * 3);
        const g0 = Array.from({ length: n }, (_, i) => Math.cos(i * 7 + 2));
        const p = tensor(p0, { dtype, requiresGrad: true });
        p.grad = tensor(g0, { dtype });
        const lr = 0.1;
        new optim.SGD([p], { lr }).step();
        const round = dtype === "float32" ? Math.fround : (v: number) => v;
        const expected = p0.map((v, i) => round(round(v) - lr * round(g0[i])));
        expect(p.toArray(), `${dtype} n=${n}`).toEqual(expected);
      }
    }
  });

  it("evaluates a closure with gradients on and returns its loss", () => {
    const p = tensor([3], { dtype: "float64", requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.25 });
    const loss = noGrad(() =>
      opt.step(() => {
        opt.zeroGrad();
        const l = p.square().sum();
        l.backward();
        return l;
      }),
    ) as Tensor;
    expect(loss.item()).toBe(9);
    expect(p.item()).toBe(1.5); // 3 − 0.25·6
  });

  it("a parameter update inside a training loop does not break the next backward", () => {
    const w = tensor([[0.5, -0.5]], { dtype: "float64", requiresGrad: true });
    const x = tensor([[1], [2]], { dtype: "float64" });
    const opt = new optim.SGD([w], { lr: 0.02, momentum: 0.9 });
    let last = Infinity;
    for (let i = 0; i < 100; i++) {
      opt.zeroGrad();
      const loss = w.matmul(x).sub(1).square().sum();
      loss.backward();
      opt.step();
      last = loss.item();
    }
    expect(last).toBeLessThan(1e-3);
  });

  it("validates options with clear errors", () => {
    const p = () => [tensor([1], { requiresGrad: true })];
    expect(() => new optim.SGD(p(), { lr: -0.1 })).toThrow("SGD: invalid lr -0.1; it must be >= 0");
    expect(() => new optim.SGD(p(), { lr: 0.1, nesterov: true })).toThrow(
      "SGD: nesterov needs momentum > 0 and dampening 0 (got momentum 0, dampening 0)",
    );
    expect(() => new optim.SGD(p(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(
      /nesterov needs momentum > 0 and dampening 0/,
    );
    expect(() => new optim.SGD(p(), { lr: 0.1, mom: 0.9 } as any)).toThrow(
      'SGD: unknown option "mom"; known options: lr, momentum, dampening, weightDecay, nesterov, maximize',
    );
    expect(() => new optim.Adam(p(), { betas: [0.9, 1.0] })).toThrow(
      "Adam: invalid betas[1] 1; it must be in [0, 1)",
    );
    expect(() => new optim.Adam(p(), { betas: 0.9 as any })).toThrow(/betas must be a pair/);
    expect(() => new optim.AdamW(p(), { eps: -1 })).toThrow("AdamW: invalid eps -1; it must be >= 0");
    expect(() => new optim.RMSprop(p(), { alpha: -0.5 })).toThrow("RMSprop: invalid alpha -0.5");
    expect(() => new optim.RMSprop(p(), { centered: 1 as any })).toThrow(
      "RMSprop: option centered must be a boolean, got 1",
    );
    expect(() => new optim.Adagrad(p(), { lrDecay: -1 })).toThrow("Adagrad: invalid lrDecay -1");
    expect(() => new optim.Adagrad(p(), { lr: "0.1" as any })).toThrow(
      'Adagrad: option lr must be a number, got "0.1"',
    );
    expect(() => new optim.SGD([], { lr: 0.1 })).toThrow("SGD: got an empty parameter list");
    expect(() => new optim.SGD(tensor([1]) as any, { lr: 0.1 })).toThrow(/got a single tensor/);
    expect(() => new optim.SGD([tensor([1, 2], { dtype: "int32" })], { lr: 0.1 })).toThrow(
      /is int32; only float32 and float64/,
    );
    const q = tensor([1], { requiresGrad: true });
    expect(() => new optim.SGD([q, q], { lr: 0.1 })).toThrow(/appears more than once/);
    expect(() => new optim.SGD([{ params: [q] }, { params: [q] }], { lr: 0.1 })).toThrow(
      /appears more than once/,
    );
    expect(() => new optim.SGD([{ params: p(), lr: -1 }], { lr: 0.1 })).toThrow("SGD: invalid lr -1");
    expect(() => new optim.SGD([{ params: p(), betas: [0.9, 0.9] } as any])).toThrow(
      /SGD: unknown option in parameter group 0 "betas"/,
    );
    const nonLeaf = tensor([1], { requiresGrad: true }).mul(2);
    expect(() => new optim.SGD([nonLeaf])).toThrow(/not a leaf tensor/);
  });

  it("refuses a negative lr set on a group later, at step time", () => {
    const p = tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1 });
    opt.paramGroups[0].lr = -1;
    p.grad = tensor([1]);
    expect(() => opt.step()).toThrow("SGD: invalid lr -1; it must be >= 0");
  });

  it("addParamGroup adds parameters with their own options", () => {
    const a = tensor([1], { dtype: "float64", requiresGrad: true });
    const b = tensor([1], { dtype: "float64", requiresGrad: true });
    const opt = new optim.SGD([a], { lr: 0.1 });
    opt.addParamGroup({ params: [b], lr: 0.5 });
    a.grad = tensor([1], { dtype: "float64" });
    b.grad = tensor([1], { dtype: "float64" });
    opt.step();
    expect(a.item()).toBeCloseTo(0.9, 15);
    expect(b.item()).toBe(0.5);
    expect(String(opt)).toContain("group 1: 1 parameter");
  });
});

describe("learning-rate schedulers", () => {
  const opt = () => new optim.SGD([tensor([1], { requiresGrad: true })], { lr: 1 });

  it("StepLR follows the closed form base·gamma^⌊epoch/stepSize⌋", () => {
    const o = opt();
    const s = new optim.lrScheduler.StepLR(o, { stepSize: 3, gamma: 0.5 });
    const seen = [s.getLastLr()[0]];
    for (let e = 1; e <= 7; e++) {
      s.step();
      seen.push(s.getLastLr()[0]);
    }
    expect(seen).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]);
    expect(o.paramGroups[0].initialLr).toBe(1);
  });

  it("ExponentialLR and CosineAnnealingLR follow their closed forms inside one period", () => {
    const o1 = opt();
    const e = new optim.lrScheduler.ExponentialLR(o1, { gamma: 0.9 });
    const o2 = opt();
    const c = new optim.lrScheduler.CosineAnnealingLR(o2, { tMax: 10, etaMin: 0.1 });
    for (let epoch = 1; epoch <= 10; epoch++) {
      e.step();
      c.step();
      expect(e.getLastLr()[0]).toBeCloseTo(0.9 ** epoch, 14);
      expect(c.getLastLr()[0]).toBeCloseTo(0.1 + (0.9 * (1 + Math.cos((Math.PI * epoch) / 10))) / 2, 14);
    }
  });

  it("validates options", () => {
    expect(() => new optim.lrScheduler.StepLR(opt(), {} as any)).toThrow(
      "StepLR: option stepSize is required",
    );
    expect(() => new optim.lrScheduler.StepLR(opt(), { stepSize: 0 })).toThrow(
      "StepLR: invalid stepSize 0; it must be > 0",
    );
    expect(() => new optim.lrScheduler.StepLR(opt(), { stepSize: 2, gama: 0.1 } as any)).toThrow(
      'StepLR: unknown option "gama"; known options: stepSize, gamma',
    );
    expect(() => new optim.lrScheduler.ExponentialLR({} as any, { gamma: 0.5 })).toThrow(
      /must be an optimizer/,
    );
    expect(() => new optim.lrScheduler.CosineAnnealingLR(opt(), { tMax: -1 })).toThrow(/invalid tMax -1/);
  });

  it("state dicts restore the epoch and rates", () => {
    const o = opt();
    const s = new optim.lrScheduler.StepLR(o, { stepSize: 2, gamma: 0.1 });
    s.step();
    s.step();
    const sd = s.stateDict();
    expect(sd).toMatchObject({ stepSize: 2, gamma: 0.1, lastEpoch: 2, baseLrs: [1] });
    const o2 = opt();
    const s2 = new optim.lrScheduler.StepLR(o2, { stepSize: 5, gamma: 0.5 });
    s2.loadStateDict(sd);
    o2.paramGroups[0].lr = s2.getLastLr()[0];
    s2.step();
    s2.step();
    expect(s2.lastEpoch).toBe(4);
    expect(s2.getLastLr()[0]).toBeCloseTo(0.01, 15);
  });
});

describe("optimizer checkpoints as safetensors", () => {
  it("flattenStateDict → save → loadFile → unflattenStateDict resumes the PyTorch trajectory", () => {
    const dir = mkdtempSync(join(tmpdir(), "cnnlab-optim-"));
    try {
      const c = cases.adam_wd_amsgrad;
      const params = leaves(c);
      const opt = makeOptimizer(c, params);
      replay(c, "adam_wd_amsgrad", params, opt, null, 0, 2);
      const { tensors, metadata } = optim.flattenStateDict(opt.stateDict());
      expect(Object.keys(tensors).sort()).toEqual([
        "state.0.expAvg",
        "state.0.expAvgSq",
        "state.0.maxExpAvgSq",
        "state.1.expAvg",
        "state.1.expAvgSq",
        "state.1.maxExpAvgSq",
      ]);
      const path = join(dir, "opt.safetensors");
      save(tensors, path, { metadata });
      const file = loadFile(path);
      const restored = optim.unflattenStateDict(file.tensors, file.metadata);
      expect(restored.state[0].step).toBe(2);
      const params2 = c.params[1].map((e) => decode(e).requiresGrad_(true));
      const opt2 = makeOptimizer(c, params2);
      opt2.loadStateDict(restored);
      replay(c, "adam_wd_amsgrad", params2, opt2, null, 2, 5);
      expect(() => optim.unflattenStateDict(file.tensors, {})).toThrow(/no "cnnlab.optimizer" entry/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
