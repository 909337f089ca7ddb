/**
 * The fused optimizer update of a compiled step (one sgdUpdate / adamUpdate call over all the
 * parameters of a group, zeroGrad in one loop) against the unfused per-parameter update (the same
 * function compiled with { fuse: false }) and against eager steps: the arithmetic order is the
 * same, so parameters, gradients and optimizer state agree bit for bit, in float32 and float64, on
 * every backend. The eager per-parameter updates are checked against PyTorch in test/optim.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  backend,
  compile,
  F,
  listBackends,
  manualSeed,
  nn,
  optim,
  randint,
  randn,
  setBackend,
  Tensor,
  type DType,
} from "../../src/index.js";

const initialBackend = backend().name;
afterAll(() => {
  setBackend(initialBackend);
});

function values(t: Tensor | null | undefined, what: string): number[] {
  expect(t, what).toBeInstanceOf(Tensor);
  return Array.from((t as Tensor).contiguous().data);
}

type MakeOpt = (params: Tensor[]) => optim.Optimizer<any>;

const OPTIMIZERS: [string, MakeOpt, string][] = [
  ["SGD", (p) => new optim.SGD(p, { lr: 0.05 }), "sgdUpdate"],
  ["SGD momentum", (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9 }), "sgdUpdate"],
  [
    "SGD momentum, weight decay, Nesterov",
    (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.8, weightDecay: 1e-2, nesterov: true }),
    "sgdUpdate",
  ],
  [
    "SGD dampening, maximize",
    (p) => new optim.SGD(p, { lr: 0.01, momentum: 0.5, dampening: 0.3, maximize: true }),
    "sgdUpdate",
  ],
  ["Adam", (p) => new optim.Adam(p, { lr: 0.01 }), "adamUpdate"],
  [
    "Adam weight decay, AMSGrad",
    (p) => new optim.Adam(p, { lr: 0.01, weightDecay: 0.1, amsgrad: true }),
    "adamUpdate",
  ],
  ["AdamW", (p) => new optim.AdamW(p, { lr: 0.01, betas: [0.8, 0.99] }), "adamUpdate"],
  [
    "AdamW maximize, two parameter groups",
    (p) =>
      new optim.AdamW(
        [
          { params: p.slice(0, 2), lr: 0.02 },
          { params: p.slice(2), weightDecay: 0 },
        ],
        { lr: 0.01, maximize: true },
      ),
    "adamUpdate",
  ],
];

interface Run {
  model: nn.Module;
  opt: optim.Optimizer<any>;
  losses: number[];
  step: ((x: Tensor, y: Tensor) => Tensor) & Partial<ReturnType<typeof compile>>;
}

function makeModel(dtype: DType): nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(2, 3, 3, { padding: 1, dtype }),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(3 * 5 * 5, 4, { dtype }),
  );
}

/** Trains from seed 0 eagerly, compiled with fusion, or compiled without it. */
function train(
  mode: "eager" | "fused" | "unfused",
  makeOpt: MakeOpt,
  dtype: DType,
  data: { x: Tensor; y: Tensor }[],
  setToNone: boolean,
): Run {
  manualSeed(0);
  const model = makeModel(dtype);
  const opt = makeOpt(model.parameters());
  const body = (x: Tensor, y: Tensor): Tensor => {
    opt.zeroGrad(setToNone);
    const loss = F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  const step = mode === "eager" ? body : compile(body, { name: mode, fuse: mode === "fused" });
  const losses = data.map(({ x, y }) => step(x, y).item());
  return { model, opt, losses, step };
}

function expectSameRuns(a: Run, b: Run, what: string): void {
  expect(a.losses, `${what}: losses`).toEqual(b.losses);
  const pa = a.model.parameters();
  const pb = b.model.parameters();
  pa.forEach((p, i) => {
    expect(values(p, what), `${what}: parameter ${i}`).toEqual(values(pb[i], what));
    expect(values(p.grad, what), `${what}: grad ${i}`).toEqual(values(pb[i].grad, what));
    const sa = a.opt.state.get(p) ?? {};
    const sb = b.opt.state.get(pb[i]) ?? {};
    expect(Object.keys(sa).sort(), `${what}: state keys ${i}`).toEqual(Object.keys(sb).sort());
    for (const [k, v] of Object.entries(sa)) {
      const w = sb[k];
      if (v instanceof Tensor)
        expect(values(v, what), `${what}: state ${k} of ${i}`).toEqual(values(w as Tensor, what));
      else expect(v, `${what}: state ${k} of ${i}`).toBe(w);
    }
  });
}

describe("compile: the optimizer update over all parameters in one pass", () => {
  for (const backendName of listBackends()) {
    for (const dtype of ["float32", "float64"] as const) {
      for (const [name, makeOpt, kernel] of OPTIMIZERS) {
        it(`${name} (${dtype}, ${backendName}): fused = unfused = eager, bit for bit`, () => {
          setBackend(backendName);
          manualSeed(1);
          const data = Array.from({ length: 5 }, () => ({
            x: randn([3, 2, 5, 5], { dtype }),
            y: randint(0, 4, [3]),
          }));
          const setToNone = name !== "SGD momentum";
          const eager = train("eager", makeOpt, dtype, data, setToNone);
          const fused = train("fused", makeOpt, dtype, data, setToNone);
          const unfused = train("unfused", makeOpt, dtype, data, setToNone);
          expectSameRuns(fused, unfused, `${name} fused vs unfused`);
          expectSameRuns(fused, eager, `${name} fused vs eager`);
          // the losses moved: the updates did something
          expect(eager.losses[4]).not.toBe(eager.losses[0]);

          const g = fused.step.graph!(0);
          const updates = g.units.filter((u) => u.kind === "optimizer");
          const stepUnit = updates.find((u) => u.name.includes(".step"));
          const params = fused.model.parameters().length;
          expect(stepUnit?.name).toBe(`${fused.opt.name}.step (one ${kernel} over ${params} parameters)`);
          expect(stepUnit?.fusedFrom).toEqual([`${params} per-parameter updates`]);
          const zero = updates.find((u) => u.name.includes(".zeroGrad"));
          expect(zero?.fusedFrom).toEqual([`${params} per-parameter clears`]);
          // the traced units keep the plain update; the replay without fusion runs it
          expect(
            g.tracedUnits.find((u) => u.kind === "optimizer" && u.name.endsWith(".step"))?.fusedFrom,
          ).toBeUndefined();
          const plain = unfused.step.graph!(0).units.find(
            (u) => u.kind === "optimizer" && u.name.endsWith(".step"),
          );
          expect(plain?.name).toBe(`${fused.opt.name}.step`);
          expect(g.lastReplay).toEqual({ served: g.memory!.buffers, fresh: 0 });
        });
      }
    }
  }

  it("zeroGrad(false) zeroes every gradient in place, as the per-parameter zero_ does", () => {
    manualSeed(2);
    const model = makeModel("float32");
    const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
    const x = randn([3, 2, 5, 5]);
    const y = randint(0, 4, [3]);
    const step = compile(
      (a: Tensor, b: Tensor) => {
        opt.zeroGrad(false);
        const loss = F.crossEntropy(model.forward(a), b);
        loss.backward();
        return loss;
      },
      { name: "accumulate" },
    );
    step(x, y);
    const firstGrads = model.parameters().map((p) => values(p.grad, "grad"));
    step(x, y);
    step(x, y);
    // same input, parameters unchanged: the gradient of each call equals the first (not a sum)
    model.parameters().forEach((p, i) => expect(values(p.grad, "grad"), `grad ${i}`).toEqual(firstGrads[i]));
    expect(firstGrads[0].some((v) => v !== 0)).toBe(true);
    const zero = step.graph(0).units.find((u) => u.name.includes("zeroGrad"));
    expect(zero?.name).toBe(`SGD.zeroGrad (one fill over ${model.parameters().length} parameters)`);
  });

  it("RMSprop and Adagrad keep their per-parameter updates (no fused kernel)", () => {
    for (const make of [
      (p: Tensor[]) => new optim.RMSprop(p, { lr: 0.01 }),
      (p: Tensor[]) => new optim.Adagrad(p),
    ]) {
      manualSeed(3);
      const data = [0, 1, 2].map(() => ({ x: randn([3, 2, 5, 5]), y: randint(0, 4, [3]) }));
      const fused = train("fused", make, "float32", data, true);
      const eager = train("eager", make, "float32", data, true);
      expectSameRuns(fused, eager, fused.opt.name);
      const stepUnit = fused.step.graph!(0).units.find(
        (u) => u.kind === "optimizer" && u.name.endsWith(".step"),
      );
      expect(stepUnit?.name).toBe(`${fused.opt.name}.step`);
      expect(stepUnit?.fusedFrom).toBeUndefined();
    }
  });

  it("parameters of both dtypes in one group: each array updated by its own loop", () => {
    const run = (compiled: boolean) => {
      manualSeed(4);
      const a = randn([6], { requiresGrad: true });
      const b = randn([4], { dtype: "float64", requiresGrad: true });
      const opt = new optim.Adam([a, b], { lr: 0.1 });
      const body = () => {
        opt.zeroGrad();
        a.mul(a).sum().add(b.exp().sum().to("float32")).backward();
        opt.step();
        return a;
      };
      const step = compiled ? compile(body, { name: "mixed" }) : body;
      for (let i = 0; i < 4; i++) step();
      return [values(a, "a"), values(b, "b")];
    };
    expect(run(true)).toEqual(run(false));
  });
});
