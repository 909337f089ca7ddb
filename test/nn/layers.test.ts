/**
 * Every layer against PyTorch (test/fixtures/torch_cases/nn.py): the layer gets PyTorch's state
 * dict, runs on PyTorch's input in the same mode, and must give the same output, the same
 * gradients of its input and of every parameter for a fixed upstream gradient, and the same state
 * afterwards (batchnorm's running statistics and counter).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  gradcheck,
  listBackends,
  manualSeed,
  mul,
  nn,
  ones,
  setBackend,
  sum,
  Tensor,
} from "../../src/index.js";
import { decode, expectClose } from "../helpers/harness.js";

type Enc = { tensor: { shape: number[]; dtype: string; data: number[] } };
interface LayerCase {
  training: boolean;
  state: Record<string, Enc>;
  input: Enc;
  output: Enc;
  upstream: Enc;
  grads: Record<string, Enc | null>;
  stateAfter: Record<string, Enc>;
}

const cases = (
  JSON.parse(readFileSync(fileURLToPath(new URL("../fixtures/nn.json", import.meta.url)), "utf8")) as {
    layers: Record<string, LayerCase>;
  }
).layers;

const d = { dtype: "float64" as const };

/** The cnnlab layer equivalent to each PyTorch layer in nn.py. */
const factories: Record<string, () => nn.Module> = {
  linear: () => new nn.Linear(5, 3, d),
  linear_nobias_3d: () => new nn.Linear(5, 3, { bias: false, ...d }),
  conv: () => new nn.Conv2d(3, 4, 3, { padding: 1, ...d }),
  conv_strided_grouped: () =>
    new nn.Conv2d(4, 6, [3, 2], {
      stride: 2,
      padding: [1, 2],
      dilation: [1, 2],
      groups: 2,
      bias: false,
      ...d,
    }),
  conv_same_even_kernel: () => new nn.Conv2d(2, 3, [4, 3], { padding: "same", dilation: [1, 2], ...d }),
  conv_same_odd_kernel: () => new nn.Conv2d(2, 3, 3, { padding: "same", ...d }),
  maxpool_ceil_dilated: () => new nn.MaxPool2d(3, { stride: 2, dilation: [1, 2], ceilMode: true }),
  avgpool_pad_exclude: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }),
  maxpool_overlap: () => new nn.MaxPool2d(3, { stride: 2 }),
  maxpool_pad: () => new nn.MaxPool2d(2, { padding: 1 }),
  avgpool: () => new nn.AvgPool2d(2),
  adaptive_avgpool: () => new nn.AdaptiveAvgPool2d(1),
  batchnorm2d_train: () => new nn.BatchNorm2d(3, { momentum: 0.2, ...d }),
  batchnorm2d_eval: () => new nn.BatchNorm2d(3, d),
  batchnorm2d_cumulative: () => new nn.BatchNorm2d(2, { momentum: null, ...d }),
  batchnorm1d_train: () => new nn.BatchNorm1d(4, d),
  groupnorm: () => new nn.GroupNorm(2, 4, d),
  layernorm: () => new nn.LayerNorm([3, 4], d),
  lrn: () => new nn.LocalResponseNorm(3, { alpha: 1e-2, beta: 0.75, k: 2 }),
  dropout_eval: () => new nn.Dropout(0.5),
  relu: () => new nn.ReLU(),
  leaky_relu: () => new nn.LeakyReLU(0.2),
  tanh: () => new nn.Tanh(),
  sigmoid: () => new nn.Sigmoid(),
  softmax: () => new nn.Softmax(1),
  log_softmax: () => new nn.LogSoftmax(1),
  flatten: () => new nn.Flatten(),
};

const decodeAll = (r: Record<string, Enc>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, decode(v as never) as Tensor]));

describe.each(listBackends())("nn layers against PyTorch (%s backend)", (backendName) => {
  it("covers every fixture case", () => {
    expect(Object.keys(factories).sort()).toEqual(Object.keys(cases).sort());
  });

  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const previous = setBackend(backendName);
      try {
        const layer = factories[name]();
        layer.loadStateDict(decodeAll(c.state));
        layer.train(c.training);
        const x = (decode(c.input as never) as Tensor).detach().requiresGrad_(true);
        const y = layer.forward(x) as Tensor;
        expectClose(y, decode(c.output as never) as Tensor, `${name}: output`);
        sum(mul(y, decode(c.upstream as never) as Tensor)).backward();
        const params = Object.fromEntries(layer.namedParameters());
        for (const [key, g] of Object.entries(c.grads)) {
          if (!g) continue;
          const t = key === "input" ? x : params[key];
          expect(t, `${name}: ${key} exists`).toBeDefined();
          expect(t.grad, `${name}: ${key} has a gradient`).not.toBeNull();
          expectClose(t.grad as Tensor, decode(g as never) as Tensor, `${name}: gradient of ${key}`);
        }
        const after = layer.stateDict();
        expect(Object.keys(after)).toEqual(Object.keys(c.stateAfter));
        for (const [key, v] of Object.entries(decodeAll(c.stateAfter))) {
          if (v.dtype === "int32") expect(after[key].toArray(), `${name}: ${key} after`).toEqual(v.toArray());
          else expectClose(after[key], v, `${name}: ${key} after the call`);
        }
      } finally {
        setBackend(previous);
      }
    });
  }
});

/** Puts `tensors` into the module's parameter slots (in namedParameters order). */
function setParameters(model: nn.Module, names: string[], tensors: Tensor[]): void {
  names.forEach((name, i) => {
    const path = name.split(".");
    let owner: any = model;
    for (const part of path.slice(0, -1)) owner = owner[part];
    owner[path[path.length - 1]] = tensors[i];
  });
}

describe("float64 gradcheck of every layer (input and parameters)", () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, () => {
      const layer = factories[name]();
      layer.loadStateDict(decodeAll(c.state));
      layer.train(c.training);
      const named = layer.namedParameters();
      const names = named.map(([n]) => n);
      const x = (decode(c.input as never) as Tensor).detach().requiresGrad_(true);
      const result = gradcheck(
        (input: Tensor, ...params: Tensor[]) => {
          setParameters(layer, names, params);
          return layer.forward(input) as Tensor;
        },
        [x, ...named.map(([, p]) => p)],
      );
      expect(result.passed, `${name}\n${result.toString()}`).toBe(true);
      expect(result.inputs).toHaveLength(1 + names.length);
    });
  }
});

describe("Dropout module", () => {
  it("is the identity in eval mode and drops (with inverted scaling) in training mode", () => {
    const drop = new nn.Dropout(0.5);
    manualSeed(0);
    const y = drop.forward(ones([1000])) as Tensor;
    const values = new Set(Array.from(y.data));
    expect([...values].sort()).toEqual([0, 2]);
    drop.eval();
    expect(Array.from((drop.forward(ones([10])) as Tensor).data)).toEqual(Array(10).fill(1));
  });
});
