import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import {
  add,
  backend,
  CaptureError,
  cat,
  stack,
  compile,
  F,
  listBackends,
  manualSeed,
  matmul,
  nn,
  noGrad,
  optim,
  rand,
  randint,
  randn,
  setBackend,
  setNumThreads,
  tensor,
  Tensor,
  type DType,
} from "../../src/index.js";

const initialBackend = backend().name;
afterAll(() => {
  setBackend(initialBackend);
});

function values(t: Tensor): number[] {
  return Array.from(t.contiguous().data);
}

/** Bitwise equality of two tensors (compiled and eager run the same kernels in the same order). */
function expectSame(actual: Tensor | null, expected: Tensor | null, what: string): void {
  expect(actual, what).not.toBeNull();
  expect(expected, what).not.toBeNull();
  expect(actual!.shape, what).toEqual(expected!.shape);
  expect(values(actual!), what).toEqual(values(expected!));
}

interface OpCase {
  name: string;
  /** Shapes of the inputs (all require grad). */
  shapes: number[][];
  f: (xs: Tensor[]) => Tensor;
}

const CASES: OpCase[] = [
  {
    name: "add/mul/sub/div broadcast",
    shapes: [[3, 4], [4]],
    f: ([a, b]) =>
      a
        .mul(b)
        .sub(a.div(b.abs().add(1)))
        .add(b),
  },
  {
    name: "exp/log/tanh/sigmoid/pow",
    shapes: [[2, 5]],
    f: ([a]) => a.exp().add(1).log().tanh().add(a.sigmoid()).pow(2),
  },
  {
    name: "relu/clamp/leakyRelu",
    shapes: [[4, 6]],
    f: ([a]) => F.leakyRelu(F.relu(a).sub(0.2)).clamp(-0.5, 0.7),
  },
  {
    name: "matmul",
    shapes: [
      [3, 5],
      [5, 2],
    ],
    f: ([a, b]) => matmul(a, b),
  },
  { name: "linear", shapes: [[4, 6], [3, 6], [3]], f: ([x, w, b]) => F.linear(x, w, b) },
  {
    name: "reduce sum/mean/max",
    shapes: [[3, 4, 5]],
    f: ([a]) => a.sum(1).add(a.mean(2).sum()).add(a.amax(1)),
  },
  {
    name: "view reshape/permute/slice",
    shapes: [[2, 3, 4]],
    f: ([a]) => a.permute([2, 0, 1]).reshape([4, 6]).narrow(1, 1, 3).contiguous(),
  },
  {
    name: "cat/stack/pad",
    shapes: [
      [2, 3],
      [2, 3],
    ],
    f: ([a, b]) => cat([F.pad(a, [1, 1]), stack([b, a], 1).reshape([2, 6]).narrow(1, 0, 5)], 0),
  },
  {
    name: "conv2d stride/padding/bias",
    shapes: [[2, 3, 7, 7], [4, 3, 3, 3], [4]],
    f: ([x, w, b]) => F.conv2d(x, w, b, { stride: 2, padding: 1 }),
  },
  {
    name: "maxPool2d/avgPool2d",
    shapes: [[2, 3, 8, 8]],
    f: ([x]) =>
      F.maxPool2d(x, { kernelSize: 2, stride: 2 }).add(F.avgPool2d(x, { kernelSize: 2, stride: 2 })),
  },
  { name: "adaptiveAvgPool2d", shapes: [[2, 3, 6, 6]], f: ([x]) => F.adaptiveAvgPool2d(x, [2, 3]) },
  { name: "softmax/logSoftmax", shapes: [[4, 5]], f: ([x]) => F.softmax(x, 1).add(F.logSoftmax(x, 1)) },
  {
    name: "layerNorm/groupNorm",
    shapes: [[2, 4, 3, 3]],
    f: ([x]) => F.layerNorm(x, [3, 3]).add(F.groupNorm(x, 2)),
  },
  {
    name: "indexSelect/gather/scatterAdd",
    shapes: [
      [4, 5],
      [3, 5],
    ],
    f: ([x, s]) =>
      x
        .indexSelect(0, IDX.rows)
        .sum(0)
        .add(x.gather(1, IDX.cols).sum(0))
        .add(x.scatterAdd(0, IDX.scatter, s).mul(x).sum(0)),
  },
  {
    name: "variance/std/logsumexp/min/amax",
    shapes: [[3, 6]],
    f: ([x]) => x.var(1).add(x.std(1)).add(x.logsumexp(1)).add(x.min(1).values).add(x.amax(1)),
  },
  {
    name: "nllLoss/crossEntropy (weight, label smoothing)/multiMarginLoss",
    shapes: [[4, 3]],
    f: ([x]) =>
      F.nllLoss(F.logSoftmax(x, 1), IDX.target)
        .add(F.crossEntropy(x, IDX.target, { weight: IDX.classWeight.to(x.dtype), labelSmoothing: 0.1 }))
        .add(F.multiMarginLoss(x, IDX.target)),
  },
  {
    name: "binaryCrossEntropy/bceWithLogits",
    shapes: [[4, 3]],
    f: ([x]) =>
      F.binaryCrossEntropy(F.sigmoid(x), IDX.probs.to(x.dtype)).add(
        F.bceWithLogits(x, IDX.probs.to(x.dtype), { posWeight: IDX.classWeight.to(x.dtype) }),
      ),
  },
  {
    name: "batchNorm (training)/localResponseNorm",
    shapes: [[3, 4, 2, 2], [4], [4]],
    f: ([x, w, b]) => F.batchNorm(x, null, null, w, b, { training: true }).add(F.localResponseNorm(x, 3)),
  },
  {
    name: "mseLoss",
    shapes: [
      [3, 4],
      [3, 4],
    ],
    f: ([a, b]) => F.mseLoss(a, b),
  },
];

/** Constant index and target tensors the op cases read from their closure. */
const IDX = {
  rows: tensor([2, 0, 3], { dtype: "int32" }),
  cols: tensor([0, 4, 1, 1, 2, 3, 0, 0, 4, 2, 1, 3, 3, 2, 0, 1, 0, 2, 4, 4], { dtype: "int32" }).reshape([
    4, 5,
  ]),
  scatter: tensor([0, 1, 2, 3, 0, 3, 2, 1, 0, 0, 1, 1, 2, 2, 3], { dtype: "int32" }).reshape([3, 5]),
  target: tensor([2, 0, 1, 2], { dtype: "int32" }),
  classWeight: tensor([0.5, 1, 2]),
  probs: tensor([0.1, 0.9, 0.5, 0, 1, 0.3, 0.7, 0.2, 0.6, 0.4, 0.8, 0.05]).reshape([4, 3]),
};

function inputsFor(shapes: number[][], dtype: DType, seed: number): Tensor[] {
  manualSeed(seed);
  return shapes.map((s) => randn(s, { dtype, requiresGrad: true }));
}

/** Runs f eagerly and compiled on three input sets each; outputs and every gradient must match. */
function checkOp(c: OpCase, dtype: DType): void {
  // a fixed random weighting of the output, so that every gradient entry differs
  const probe = c.f(inputsFor(c.shapes, dtype, 1));
  manualSeed(99);
  const w = randn(probe.shape, { dtype: probe.dtype });
  const eagerStep = (...x: Tensor[]) => {
    const out = c.f(x);
    out.mul(w).sum().backward();
    return out;
  };
  const compiled = compile(eagerStep, { name: c.name });
  for (let call = 0; call < 3; call++) {
    const xe = inputsFor(c.shapes, dtype, 10 + call);
    const xc = inputsFor(c.shapes, dtype, 10 + call);
    const oe = eagerStep(...xe);
    const oc = compiled(...xc);
    expectSame(oc, oe, `${c.name} ${dtype} output, call ${call}`);
    xe.forEach((x, i) =>
      expectSame(xc[i].grad, x.grad, `${c.name} ${dtype} grad of input ${i}, call ${call}`),
    );
  }
  expect(compiled.signatures.length).toBe(1);
  expect(compiled.graph(0).replays).toBe(2);
}

describe("compile: every op family, compiled vs eager", () => {
  for (const backendName of listBackends()) {
    for (const dtype of ["float32", "float64"] as const) {
      for (const c of CASES) {
        it(`${c.name} (${dtype}, ${backendName})`, () => {
          setBackend(backendName);
          checkOp(c, dtype);
        });
      }
    }
  }
});

/** Trains two copies of a model from the same seed, eagerly and compiled; losses, grads and parameters must match. */
function checkTraining(
  makeModel: () => nn.Module,
  makeOpt: (params: Tensor[]) => optim.Optimizer<any>,
  input: () => { x: Tensor; y: Tensor },
  steps: number,
  loss: (out: Tensor, y: Tensor) => Tensor = (o, y) => F.crossEntropy(o, y),
): { eager: number[]; compiled: number[]; step: ReturnType<typeof compile> } {
  const setup = () => {
    manualSeed(0);
    const model = makeModel();
    const opt = makeOpt(model.parameters());
    const step = (x: Tensor, y: Tensor) => {
      opt.zeroGrad();
      const l = loss(model.forward(x), y);
      l.backward();
      opt.step();
      return l;
    };
    return { model, step };
  };
  const e = setup();
  const c = setup();
  const compiled = compile(c.step);
  const data = Array.from({ length: steps }, () => input());
  manualSeed(5);
  const eager = data.map(({ x, y }) => e.step(x, y).item());
  manualSeed(5);
  const comp = data.map(({ x, y }) => compiled(x, y).item());
  expect(comp).toEqual(eager);
  const pe = e.model.parameters();
  const pc = c.model.parameters();
  pe.forEach((p, i) => {
    expectSame(pc[i], p, `parameter ${i}`);
    expectSame(pc[i].grad, p.grad, `grad of parameter ${i}`);
  });
  return { eager, compiled: comp, step: compiled };
}

describe("compile: nn layers and optimizers, compiled vs eager over several steps", () => {
  const img =
    (n: number, c: number, h: number, dtype: DType = "float32") =>
    () => ({
      x: randn([n, c, h, h], { dtype }),
      y: randint(0, 3, [n]),
    });

  for (const [backendName, dtype] of listBackends().flatMap((b) => [
    [b, "float32"] as const,
    [b, "float64"] as const,
  ])) {
    it(`ThreeLayerConvNet with SGD momentum (${dtype}, ${backendName})`, () => {
      setBackend(backendName);
      const { step } = checkTraining(
        () =>
          new nn.ThreeLayerConvNet({
            inputDim: [3, 8, 8],
            numFilters: 4,
            filterSize: 3,
            hiddenDim: 10,
            numClasses: 3,
            dtype,
          }),
        (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9 }),
        img(4, 3, 8, dtype),
        5,
      );
      const g = step.graph(0);
      expect(g.lastReplay).toEqual({ served: g.memory!.buffers, fresh: 0 });
      const names = g.units.map((u) => u.name);
      expect(names).toContain("relu+maxPool2d");
      expect(names).toContain("linear+relu");
    });
  }

  const layers: [string, () => nn.Module][] = [
    [
      "Conv2d BatchNorm2d ReLU MaxPool2d Flatten Linear",
      () =>
        new nn.Sequential(
          new nn.Conv2d(3, 4, 3, { padding: 1 }),
          new nn.BatchNorm2d(4),
          new nn.ReLU(),
          new nn.MaxPool2d(2),
          new nn.Flatten(),
          new nn.Linear(4 * 4 * 4, 3),
        ),
    ],
    [
      "GroupNorm LocalResponseNorm AvgPool2d AdaptiveAvgPool2d Tanh",
      () =>
        new nn.Sequential(
          new nn.Conv2d(3, 4, 3),
          new nn.GroupNorm(2, 4),
          new nn.LocalResponseNorm(3),
          new nn.Tanh(),
          new nn.AvgPool2d(2),
          new nn.AdaptiveAvgPool2d([1, 1]),
          new nn.Flatten(),
          new nn.Linear(4, 3),
        ),
    ],
    [
      "Dropout LeakyReLU Sigmoid LayerNorm BatchNorm1d",
      () =>
        new nn.Sequential(
          new nn.Flatten(),
          new nn.Linear(3 * 8 * 8, 12),
          new nn.BatchNorm1d(12),
          new nn.LeakyReLU(),
          new nn.Dropout(0.3),
          new nn.LayerNorm([12]),
          new nn.Sigmoid(),
          new nn.Linear(12, 3),
        ),
    ],
    [
      "Identity Softmax LogSoftmax in a ModuleList",
      () => {
        class Heads extends nn.Module {
          blocks = new nn.ModuleList([
            new nn.Sequential(new nn.Flatten(), new nn.Linear(3 * 8 * 8, 5), new nn.Identity()),
            new nn.Softmax(1),
            new nn.Linear(5, 3),
            new nn.LogSoftmax(1),
          ]);
          override forward(x: Tensor): Tensor {
            let h = x;
            for (const m of this.blocks.children()) h = m.forward(h);
            return h;
          }
        }
        return new Heads();
      },
    ],
  ];
  for (const [backendName, dtype] of listBackends().flatMap((b) => [
    [b, "float32"] as const,
    [b, "float64"] as const,
  ])) {
    for (const [name, make] of layers) {
      it(`${name} with Adam (${dtype}, ${backendName})`, () => {
        setBackend(backendName);
        checkTraining(
          () => make().to(dtype),
          (p) => new optim.Adam(p, { lr: 0.01 }),
          img(4, 3, 8, dtype),
          4,
        );
      });
    }
  }

  it("RMSprop and Adagrad, and a module used twice (shared weights)", () => {
    class Twice extends nn.Module {
      fc = new nn.Linear(6, 6);
      out = new nn.Linear(6, 3);
      override forward(x: Tensor): Tensor {
        return this.out.forward(F.relu(this.fc.forward(F.relu(this.fc.forward(x)))));
      }
    }
    const input = () => ({ x: randn([5, 6]), y: randint(0, 3, [5]) });
    checkTraining(
      () => new Twice(),
      (p) => new optim.RMSprop(p, { lr: 0.01 }),
      input,
      4,
    );
    checkTraining(
      () => new Twice(),
      (p) => new optim.Adagrad(p, { lr: 0.1 }),
      input,
      4,
    );
  });

  it("dropout draws fresh masks every replay from the manualSeed generator", () => {
    const drop = compile((x: Tensor) => F.dropout(x, { p: 0.5 }));
    const x = rand([64]).add(1);
    manualSeed(3);
    const a = [drop(x), drop(x), drop(x)].map(values);
    manualSeed(3);
    const b = [F.dropout(x, { p: 0.5 }), F.dropout(x, { p: 0.5 }), F.dropout(x, { p: 0.5 })].map(values);
    expect(a).toEqual(b);
    expect(a[1]).not.toEqual(a[2]);
  });
});

describe("compile: fused kernels against the unfused ops", () => {
  for (const backendName of listBackends()) {
    it(`conv2d → relu → maxPool2d: values and input gradient as eager, with ties, odd sizes, overlapping windows, float32/64, 1 and 2 threads (${backendName})`, () => {
      setBackend(backendName);
      // tiles: the windows cover the input exactly, so ReLU runs inside the pool
      const cases = [
        { shape: [2, 3, 9, 11], pool: { kernelSize: 2, stride: 2 }, tiles: false },
        { shape: [2, 3, 9, 11], pool: { kernelSize: 3, stride: 2, padding: 1 }, tiles: false },
        { shape: [2, 3, 8, 12], pool: { kernelSize: 2 }, tiles: true },
        { shape: [2, 3, 9, 12], pool: { kernelSize: 3 }, tiles: true },
        { shape: [1, 2, 8, 9], pool: { kernelSize: [2, 3] as [number, number] }, tiles: true },
        // large enough for the WebAssembly kernels to split the planes across threads
        { shape: [8, 16, 32, 32], pool: { kernelSize: 2, stride: 2 }, tiles: true },
      ];
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        for (const dtype of ["float32", "float64"] as const) {
          for (const { shape, pool, tiles } of cases) {
            manualSeed(3);
            // halves in [-2, 2]: many ties, zeros and negative windows
            const x = randint(-4, 5, shape).to(dtype).div(2).requiresGrad_();
            // weights in {-1, 0, 1}: the convolution's outputs are halves too (ties, zeros)
            const k = randint(-1, 2, [4, shape[1], 3, 3]).to(dtype);
            const w = randn([shape[0], 4, 1, 1], { dtype });
            const f = (x: Tensor) => {
              const y = F.maxPool2d(F.relu(F.conv2d(x, k, { padding: 1 })), pool);
              y.mul(w).sum().backward();
              return y;
            };
            const expected = f(x);
            const expectedGrad = x.grad!.clone();
            const step = compile(f);
            for (let i = 0; i < 4; i++) {
              x.grad = null;
              const y = step(x);
              const what = `${dtype} ${shape} ${JSON.stringify(pool)} ${threads}T call ${i}`;
              expectSame(y, expected, `${what}: output`);
              expectSame(x.grad, expectedGrad, `${what}: input gradient`);
            }
            const names = step.graph(0).units.map((u) => u.name);
            expect(names).toEqual(
              expect.arrayContaining(tiles ? ["relu+maxPool2d"] : ["conv2d+relu", "maxPool2d (in place)"]),
            );
            expect(names.includes("maxPool2d (in place)")).toBe(!tiles);
          }
        }
      }
      setNumThreads(1);
    });

    it(`conv2d+relu and linear+relu epilogues, maxPool2d in place (${backendName})`, () => {
      setBackend(backendName);
      const make = () => {
        manualSeed(1);
        const model = new nn.Sequential(
          new nn.Conv2d(2, 3, 3, { padding: 1 }),
          new nn.ReLU(),
          new nn.Conv2d(3, 4, 3, { padding: 1 }),
          new nn.ReLU(),
          new nn.MaxPool2d(2),
          new nn.Flatten(),
          new nn.Linear(4 * 3 * 3, 7),
          new nn.ReLU(),
          new nn.Linear(7, 3),
        );
        const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
        return {
          model,
          step: (x: Tensor, y: Tensor) => {
            opt.zeroGrad();
            const l = F.crossEntropy(model.forward(x), y);
            l.backward();
            opt.step();
            return l;
          },
        };
      };
      const eager = make();
      const fused = make();
      const unfused = make();
      const fusedStep = compile(fused.step);
      const unfusedStep = compile(unfused.step, { fuse: false });
      manualSeed(2);
      for (let i = 0; i < 4; i++) {
        const x = randn([3, 2, 6, 6]);
        const y = randint(0, 3, [3]);
        const le = eager.step(x, y).item();
        expect(fusedStep(x, y).item()).toBe(le);
        expect(unfusedStep(x, y).item()).toBe(le);
      }
      const pe = eager.model.parameters();
      fused.model.parameters().forEach((p, i) => {
        expectSame(p, pe[i], `parameter ${i}`);
        expectSame(p.grad, pe[i].grad, `grad ${i}`);
      });
      const names = fusedStep.graph(0).units.map((u) => u.name);
      expect(names).toEqual(expect.arrayContaining(["conv2d+relu", "relu+maxPool2d", "linear+relu"]));
      expect(unfusedStep.graph(0).units.some((u) => u.fusedFrom)).toBe(false);
    });

    it(`relu → maxPool2d stays two ops when ReLU's output has another use or a graph tensor changes in place (${backendName})`, () => {
      setBackend(backendName);
      const cases: [string, (x: Tensor) => Tensor, boolean][] = [
        ["fused", (x) => F.maxPool2d(F.relu(x), { kernelSize: 2 }), true],
        [
          "ReLU's output used twice",
          (x) => {
            const r = F.relu(x);
            return F.maxPool2d(r, { kernelSize: 2 }).sum().add(r.mul(r).sum());
          },
          false,
        ],
        [
          "the pool's output scaled in place through a detached view",
          (x) => {
            const p = F.maxPool2d(F.relu(x), { kernelSize: 2 });
            p.detach().mul_(-2);
            return p.mul(1);
          },
          false,
        ],
        [
          "returnIndices",
          (x) => {
            const { output, indices } = F.maxPool2d(F.relu(x), { kernelSize: 2, returnIndices: true });
            return output.add(indices.to("float32"));
          },
          true,
        ],
      ];
      for (const [label, body] of cases) {
        manualSeed(5);
        const x = randint(-3, 4, [2, 3, 4, 8]).to("float32").requiresGrad_();
        const f = (x: Tensor) => {
          const y = body(x.mul(1));
          y.sum().backward();
          return y;
        };
        const expected = f(x);
        const expectedGrad = x.grad!.clone();
        const step = compile(f);
        for (let i = 0; i < 3; i++) {
          x.grad = null;
          expectSame(step(x), expected, `${label}: output, call ${i}`);
          expectSame(x.grad, expectedGrad, `${label}: input gradient, call ${i}`);
        }
        const names = step.graph(0).units.map((u) => u.name);
        expect(names.includes("relu+maxPool2d"), label).toBe(label === "fused" || label === "returnIndices");
      }
    });
  }
});

describe("compile: fused elementwise chains", () => {
  for (const dtype of ["float32", "float64"] as const) {
    it(`a chain of unary ops without gradient runs as one loop, equal to the separate ops (${dtype})`, () => {
      const chain = (x: Tensor) => x.tanh().exp().neg().sigmoid().abs().sqrt();
      const f = compile(chain);
      const unfused = compile(chain, { fuse: false });
      for (let call = 0; call < 3; call++) {
        manualSeed(call);
        const x = randn([5, 7], { dtype });
        expectSame(f(x), chain(x), `call ${call}`);
        expectSame(unfused(x), chain(x), `unfused call ${call}`);
        // a strided input takes the separate ops' path
        const xt = x.t();
        expectSame(f(xt), chain(xt), `transposed, call ${call}`);
      }
      const units = f.graph(0).units;
      expect(units.length).toBe(1);
      expect(units[0].name).toBe("tanh→exp→neg→sigmoid→abs→sqrt");
      expect(unfused.graph(0).units.length).toBe(6);
    });
  }

  it("a chain whose result needs a gradient is left to the separate ops", () => {
    const f = compile((x: Tensor) => {
      const y = x.tanh().exp();
      y.sum().backward();
      return y;
    });
    const x = randn([4], { requiresGrad: true });
    f(x);
    expect(f.graph(0).units.some((u) => u.fusedFrom)).toBe(false);
  });
});

describe("compile: signatures, guards and what cannot be captured", () => {
  it("traces again on a new shape and reuses each graph", () => {
    const f = compile((x: Tensor) => x.mul(2).sum(), { name: "double" });
    expect(f(randn([2, 3])).shape).toEqual([]);
    f(randn([2, 3]));
    f(randn([4, 3]));
    f(randn([2, 3]));
    expect(f.signatures.length).toBe(2);
    expect(f.signatures[0]).toContain("[2,3] float32");
    expect(f.graph(0).replays).toBe(2);
    expect(f.graph(1).replays).toBe(0);
    const x = randn([4, 3]);
    expect(f(x).item()).toBeCloseTo(x.sum().item() * 2, 4);
  });

  it("refuses a signature past maxSignatures, naming the shapes", () => {
    const f = compile((x: Tensor) => x.add(1), { name: "inc", maxSignatures: 2 });
    f(randn([1]));
    f(randn([2]));
    expect(() => f(randn([3]))).toThrow(
      /compile\(inc\): a new signature \(.*\[3\] float32.*\) would be number 3, but maxSignatures is 2/,
    );
  });

  it("train/eval switch is a new signature", () => {
    const m = new nn.Sequential(new nn.Linear(4, 4), new nn.Dropout(0.5));
    const f = compile((x: Tensor) => m.forward(x));
    const x = randn([3, 4]);
    f(x);
    m.eval();
    const evalOut = f(x);
    expect(f.signatures.length).toBe(2);
    expect(f.signatures[1]).toContain("eval");
    expectSame(evalOut, noGrad(() => m.forward(x)).detach(), "eval output");
    expect(values(f(x))).toEqual(values(evalOut));
  });

  it("a parameter replaced by assignment between calls is detected and traced again", () => {
    const m = new nn.Linear(3, 2);
    const f = compile((x: Tensor) => m.forward(x));
    const x = randn([1, 3]);
    f(x);
    f(x);
    noGrad(() => {
      m.weight = nn.Parameter(randn([2, 3]));
    });
    const after = f(x);
    expect(f.signatures.length).toBe(2);
    expectSame(
      after,
      noGrad(() => m.forward(x)),
      "output with the new weight",
    );
  });

  it(".item(), .toArray(), .data and printing inside are clear errors naming the call site", () => {
    const x = randn([2]);
    const cases: [string, () => unknown, RegExp][] = [
      ["item", () => x.sum().item(), /\.item\(\) reads a tensor's values/],
      ["toArray", () => x.add(1).toArray(), /\.toArray\(\) reads/],
      ["data", () => x.add(1).data[0], /\.data reads/],
      ["print", () => String(x.add(1)), /printing a tensor reads/],
    ];
    for (const [name, body, message] of cases) {
      const f = compile(body, { name });
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(CaptureError);
      expect(String((error as Error).message), name).toMatch(message);
      expect(String((error as Error).message), name).toMatch(/compile\.test\.ts line \d+/);
      expect(f.signatures.length, name).toBe(0);
    }
  });

  it("data-dependent control flow is frozen as traced", () => {
    // the branch is taken on the tensor's shape at trace time... and on a value read outside
    let bigger = true;
    const f = compile((x: Tensor) => (bigger ? x.mul(10) : x.mul(-1)));
    const x = randn([3]);
    expect(values(f(x))).toEqual(values(x.mul(10)));
    bigger = false;
    expect(values(f(x))).toEqual(values(x.mul(10)));
  });

  it("leaf hooks run in every replay; hooks on intermediate tensors only in the trace", () => {
    const w = randn([3], { requiresGrad: true });
    let leafCalls = 0;
    w.registerHook(() => {
      leafCalls++;
    });
    let innerCalls = 0;
    const f = compile((x: Tensor) => {
      const h = x.mul(w);
      h.registerHook(() => {
        innerCalls++;
      });
      h.sum().backward();
      return h;
    });
    f(randn([3]));
    f(randn([3]));
    f(randn([3]));
    expect(leafCalls).toBe(3);
    expect(innerCalls).toBe(1);
  });

  it("a compiled function called inside another one's trace is part of that trace", () => {
    const w = randn([3], { requiresGrad: true });
    const inner = compile((x: Tensor) => x.mul(w).tanh());
    const outer = compile((x: Tensor) => inner(x).sum().mul(2));
    for (let i = 0; i < 3; i++) {
      const x = randn([3]);
      expect(outer(x).item()).toBe(x.mul(w).tanh().sum().mul(2).item());
    }
    expect(inner.signatures.length).toBe(0);
    expect(outer.graph(0).units.map((u) => u.name)).toEqual(["mul", "tanh", "sum", "mul"]);
  });

  it("a parameter frozen between calls: the replay follows (its plan is made again)", () => {
    manualSeed(4);
    const m = new nn.Sequential(new nn.Linear(4, 4), new nn.ReLU(), new nn.Linear(4, 2));
    const opt = new optim.SGD(m.parameters(), { lr: 0.1 });
    const body = (x: Tensor) => {
      opt.zeroGrad();
      const loss = m.forward(x).square().mean();
      loss.backward();
      opt.step();
      return loss;
    };
    const step = compile(body);
    const x = randn([5, 4]);
    for (let i = 0; i < 3; i++) step(x);
    const first = m.parameters()[0];
    first.requiresGrad = false;
    const before = values(first);
    for (let i = 0; i < 3; i++) step(x);
    expect(values(first)).toEqual(before);
    expect(first.grad).toBeNull();
    expect(m.parameters()[2].grad).not.toBeNull();
  });

  it("results are fresh tensors (kept results do not change at the next call)", () => {
    const f = compile((x: Tensor) => add(x, 1));
    const kept = [f(randn([4])), f(randn([4])), f(randn([4])), f(randn([4]))];
    const copies = kept.map(values);
    f(randn([4]));
    expect(kept.map(values)).toEqual(copies);
  });
});

describe("compile: random op chains (property test)", () => {
  const unary: ((x: Tensor) => Tensor)[] = [
    (x) => x.tanh(),
    (x) => F.relu(x),
    (x) => x.sigmoid(),
    (x) => x.mul(1.5).add(0.25),
    (x) => x.square(),
    (x) => x.exp().neg(),
    (x) => F.softmax(x, -1),
  ];
  const binary: ((x: Tensor, y: Tensor) => Tensor)[] = [
    (x, y) => x.add(y),
    (x, y) => x.mul(y),
    (x, y) => x.sub(y.mul(2)),
    (x, y) => x.div(y.abs().add(1)),
  ];
  it("40 random chains of unary/binary/reduce/view ops on random shapes match eager", () => {
    let state = 12345;
    const next = (n: number) => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    for (let trial = 0; trial < 40; trial++) {
      const shape = [1 + next(4), 1 + next(5), 1 + next(3)];
      const dtype: DType = trial % 2 === 0 ? "float32" : "float64";
      const plan = Array.from({ length: 3 + next(6) }, () => ({
        kind: next(4),
        pick: next(7),
        other: next(2),
      }));
      const chain = (a: Tensor, b: Tensor): Tensor => {
        let h = a;
        for (const p of plan) {
          if (p.kind === 0) h = unary[p.pick % unary.length](h);
          else if (p.kind === 1) h = binary[p.pick % binary.length](h, p.other ? b : a);
          else if (p.kind === 2)
            h = h
              .sum(p.pick % 3, true)
              .expand(shape)
              .mul(0.1)
              .add(h);
          else h = h.permute([2, 1, 0]).contiguous().permute([2, 1, 0]);
        }
        return h;
      };
      const step = (a: Tensor, b: Tensor) => {
        const out = chain(a, b);
        out.sum().backward();
        return out;
      };
      const compiled = compile(step);
      for (let call = 0; call < 3; call++) {
        manualSeed(trial * 10 + call);
        const xe = [randn(shape, { dtype, requiresGrad: true }), randn(shape, { dtype, requiresGrad: true })];
        const xc = xe.map((t) => t.detach().clone().requiresGrad_());
        const oe = step(xe[0], xe[1]);
        const oc = compiled(xc[0], xc[1]);
        expectSame(oc, oe, `trial ${trial} call ${call} output`);
        for (const i of [0, 1]) {
          if (xe[i].grad === null) expect(xc[i].grad, `trial ${trial} call ${call} grad ${i}`).toBeNull();
          else expectSame(xc[i].grad, xe[i].grad, `trial ${trial} call ${call} grad ${i}`);
        }
      }
      expect(compiled.graph(0).lastReplay?.fresh).toBe(0);
    }
  });
});

describe("compile: memory", () => {
  it("a replayed training step allocates nothing outside the arena, and RSS stays flat over 2,000 steps", () => {
    setBackend("wasm");
    manualSeed(0);
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Flatten(),
      new nn.Linear(4 * 4 * 4, 5),
    );
    const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = randn([8, 1, 8, 8]);
    const y = randint(0, 5, [8]);
    const step = compile((x: Tensor, y: Tensor) => {
      opt.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss;
    });
    for (let i = 0; i < 1000; i++) step(x, y);
    const g = step.graph(0);
    expect(g.memory).not.toBeNull();
    expect(g.lastReplay).toEqual({ served: g.memory!.buffers, fresh: 0 });
    expect(g.memory!.arenaBytes).toBeLessThan(g.memory!.eagerAllocatedBytes);
    // what the process keeps after a full collection (V8's garbage of small JS objects aside)
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const retained = () => {
      gc();
      const m = process.memoryUsage();
      return { rss: m.rss, kept: m.heapUsed + m.arrayBuffers };
    };
    const before = retained();
    for (let i = 0; i < 2000; i++) step(x, y);
    const after = retained();
    expect(after.kept / before.kept - 1).toBeLessThan(0.05);
    // the exact measure is the one above; the resident set also follows V8's own heap sizing
    // (and, on a busy machine, the neighbours), so it gets a looser bound
    expect(after.rss / before.rss - 1).toBeLessThan(0.2);
    expect(step.graph(0).lastReplay?.fresh).toBe(0);
  });
});
