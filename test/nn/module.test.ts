import { describe, expect, it } from "vitest";
import { manualSeed, nn, noGrad, ones, randn, tensor, Tensor, zeros } from "../../src/index.js";

class TwoLayer extends nn.Module {
  fc1 = new nn.Linear(4, 3);
  act = new nn.ReLU();
  fc2 = new nn.Linear(3, 2, { bias: false });
  scale = nn.Parameter(ones([2]));
  notAParameter = zeros([5]);

  constructor() {
    super();
    this.registerBuffer("steps", zeros([1]));
  }

  override forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x))).mul(this.scale);
  }
}

describe("Module registration and introspection", () => {
  it("finds parameters, buffers and children in assignment order with PyTorch's dotted names", () => {
    const m = new TwoLayer();
    expect(m.namedParameters().map(([n]) => n)).toEqual(["scale", "fc1.weight", "fc1.bias", "fc2.weight"]);
    expect(m.namedChildren().map(([n]) => n)).toEqual(["fc1", "act", "fc2"]);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(["steps"]);
    expect(m.namedModules().map(([n]) => n)).toEqual(["", "fc1", "act", "fc2"]);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(m.children()[1]).toBe(m.act);
  });

  it("stateDict orders each module's parameters, then buffers, then children (PyTorch's order)", () => {
    const m = new TwoLayer();
    expect(Object.keys(m.stateDict())).toEqual(["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight"]);
    const seq = new nn.Sequential(
      new nn.Conv2d(3, 4, 3),
      new nn.BatchNorm2d(4),
      new nn.ReLU(),
      new nn.Flatten(),
    );
    expect(Object.keys(seq.stateDict())).toEqual([
      "0.weight",
      "0.bias",
      "1.weight",
      "1.bias",
      "1.running_mean",
      "1.running_var",
      "1.num_batches_tracked",
    ]);
    const nested = new nn.Sequential(new nn.Sequential(new nn.Linear(2, 2)), new nn.Linear(2, 1));
    expect(Object.keys(nested.stateDict())).toEqual(["0.0.weight", "0.0.bias", "1.weight", "1.bias"]);
  });

  it("stateDict shares storage with the module (no copy) and its tensors do not require grad", () => {
    const lin = new nn.Linear(2, 2);
    const sd = lin.stateDict();
    expect(sd.weight.requiresGrad).toBe(false);
    expect(sd.weight.storage).toBe(lin.weight.storage);
  });

  it("a missing bias is null and absent from parameters and stateDict", () => {
    const conv = new nn.Conv2d(2, 3, 3, { bias: false });
    expect(conv.bias).toBeNull();
    expect(Object.keys(conv.stateDict())).toEqual(["weight"]);
    expect(conv.parameters()).toHaveLength(1);
  });

  it("a registered parameter slot stays a parameter when a new tensor is assigned", () => {
    const lin = new nn.Linear(2, 2);
    lin.weight = randn([2, 2]);
    expect(lin.namedParameters().map(([n]) => n)).toEqual(["weight", "bias"]);
  });

  it("a shared module or parameter is listed once, but saved under each of its names (as PyTorch does)", () => {
    const shared = new nn.Linear(2, 2);
    const seq = new nn.Sequential(shared, new nn.ReLU(), shared);
    expect(seq.parameters()).toHaveLength(2);
    expect(seq.modules()).toHaveLength(3);
    expect(Object.keys(seq.stateDict())).toEqual(["0.weight", "0.bias", "2.weight", "2.bias"]);
    seq.loadStateDict(seq.stateDict());
  });

  it("refuses names that would shadow Module methods", () => {
    const m = new nn.Module();
    expect(() => m.registerBuffer("parameters", zeros([1]))).toThrow(/Module attribute/);
    expect(() => m.registerModule("a.b", new nn.ReLU())).toThrow(/without "."/);
  });
});

describe("forward and hooks", () => {
  it("forward hooks run whoever calls forward, see inputs and output, and can be removed", () => {
    const seq = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU());
    const seen: string[] = [];
    const handle = seq.at(1).registerForwardHook((module, inputs, output) => {
      seen.push(`${module.typeName()} ${(inputs[0] as Tensor).shape} -> ${(output as Tensor).shape}`);
    });
    seq.forward(randn([2, 4]));
    seq.at(1).forward(randn([5, 3]));
    expect(seen).toEqual(["ReLU 2,3 -> 2,3", "ReLU 5,3 -> 5,3"]);
    handle.remove();
    seq.forward(randn([2, 4]));
    expect(seen).toHaveLength(2);
  });

  it("a hook's return value replaces the output; a pre-hook's array replaces the inputs", () => {
    const relu = new nn.ReLU();
    const h = relu.registerForwardHook((_m, _i, out) => (out as Tensor).mul(2));
    expect(relu.forward(tensor([-1, 3])).toArray()).toEqual([0, 6]);
    h.remove();
    relu.registerForwardPreHook((_m, inputs) => [(inputs[0] as Tensor).neg()]);
    expect(relu.forward(tensor([-1, 3])).toArray()).toEqual([1, 0]);
  });

  it("user-defined modules run hooks once even when forward calls super.forward", () => {
    class Doubling extends nn.ReLU {
      override forward(x: Tensor): Tensor {
        return super.forward(x).mul(2);
      }
    }
    const m = new Doubling();
    let calls = 0;
    m.registerForwardHook(() => {
      calls++;
    });
    expect(m.forward(tensor([-1, 2])).toArray()).toEqual([0, 4]);
    expect(calls).toBe(1);
  });

  it("assigning forward replaces the implementation and keeps the hooks", () => {
    const m = new nn.Identity();
    let calls = 0;
    m.registerForwardHook(() => {
      calls++;
    });
    m.forward = (x: Tensor) => x.add(1);
    expect(m.forward(tensor([1])).toArray()).toEqual([2]);
    expect(calls).toBe(1);
  });

  it("a forward declared as an arrow-function field is refused with a TypeError", () => {
    class Bad extends nn.Module {
      override forward = (x: Tensor) => x;
    }
    expect(() => new Bad()).toThrow(TypeError);
  });

  it("a bare Module's forward says it is not implemented", () => {
    expect(() => new nn.Module().forward()).toThrow(/forward\(\) is not implemented/);
  });

  it("gradients flow to every parameter and zeroGrad clears them", () => {
    manualSeed(1);
    const m = new TwoLayer();
    m.forward(randn([3, 4]))
      .sum()
      .backward();
    for (const [name, p] of m.namedParameters()) expect(p.grad, name).not.toBeNull();
    m.zeroGrad();
    for (const p of m.parameters()) expect(p.grad).toBeNull();
  });
});

describe("train / eval, to(dtype), loadStateDict", () => {
  it("train(false) and eval() set the flag on every descendant and return the module", () => {
    const seq = new nn.Sequential(new nn.Sequential(new nn.Dropout()), new nn.BatchNorm2d(2));
    expect(seq.eval()).toBe(seq);
    expect(seq.modules().every((m) => !m.training)).toBe(true);
    seq.train();
    expect(seq.modules().every((m) => m.training)).toBe(true);
  });

  it("to(float64) converts parameters and floating buffers; num_batches_tracked stays int32", () => {
    const seq = new nn.Sequential(new nn.Linear(2, 2), new nn.BatchNorm1d(2));
    const before = seq.stateDict()["0.weight"].toArray();
    seq.to("float64");
    const sd = seq.stateDict();
    expect(sd["0.weight"].dtype).toBe("float64");
    expect(sd["1.running_mean"].dtype).toBe("float64");
    expect(sd["1.num_batches_tracked"].dtype).toBe("int32");
    expect(seq.parameters().every((p) => p.requiresGrad && p.dtype === "float64")).toBe(true);
    const after = sd["0.weight"].toArray() as number[][];
    (before as number[][]).forEach((row, i) => row.forEach((v, j) => expect(after[i][j]).toBe(v)));
    expect(() => seq.to("int32")).toThrow(/float32 or float64/);
  });

  it("loadStateDict copies values, casting to each tensor's dtype", () => {
    const a = new nn.Linear(3, 2, { dtype: "float64" });
    const b = new nn.Linear(3, 2);
    b.loadStateDict(a.stateDict());
    expect(b.weight.dtype).toBe("float32");
    const aw = a.weight.toArray() as number[][];
    (b.weight.toArray() as number[][]).forEach((row, i) =>
      row.forEach((v, j) => expect(v).toBe(Math.fround(aw[i][j]))),
    );
    expect(b.weight.requiresGrad).toBe(true);
  });

  it("strict loading lists missing and unexpected keys and shape mismatches, and changes nothing", () => {
    const m = new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU(), new nn.Linear(2, 1));
    const before = m.stateDict()["0.weight"].clone().toArray();
    const sd = {
      "0.weight": zeros([2, 3]),
      "0.bias": zeros([5]),
      "2.weight": zeros([1, 2]),
      "3.weight": zeros([1]),
    };
    let message = "";
    try {
      m.loadStateDict(sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /size mismatch for 0\.bias: copying a tensor of shape \[5\], the module's is \[2\]/,
    );
    expect(message).toMatch(/missing keys: "2\.bias"/);
    expect(message).toMatch(/unexpected keys: "3\.weight"/);
    expect(m.stateDict()["0.weight"].toArray()).toEqual(before);
  });

  it("non-strict loading reports missing and unexpected keys and loads the rest", () => {
    const m = new nn.Sequential(new nn.Linear(3, 2), new nn.Linear(2, 1));
    const result = m.loadStateDict({ "0.weight": ones([2, 3]), extra: zeros([1]) }, { strict: false });
    expect(result.missingKeys).toEqual(["0.bias", "1.weight", "1.bias"]);
    expect(result.unexpectedKeys).toEqual(["extra"]);
    expect(m.stateDict()["0.weight"].toArray()).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  it("requiresGrad_(false) freezes every parameter", () => {
    const m = new nn.Linear(2, 2).requiresGrad_(false);
    expect(m.parameters().some((p) => p.requiresGrad)).toBe(false);
  });

  it("parameters can be updated in place under noGrad (what an optimizer does)", () => {
    const lin = new nn.Linear(2, 1);
    noGrad(() => lin.weight.fill_(0.5));
    expect(lin.weight.toArray()).toEqual([[0.5, 0.5]]);
  });
});

describe("toString", () => {
  it("prints a PyTorch-style nested description", () => {
    const model = new nn.Sequential(
      new nn.Conv2d(3, 32, 7, { padding: 3 }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Sequential(new nn.Flatten(), new nn.Linear(8192, 100, { bias: false })),
    );
    expect(model.toString()).toBe(
      [
        "Sequential(",
        "  (0): Conv2d(3, 32, kernelSize=[7, 7], stride=[1, 1], padding=[3, 3])",
        "  (1): ReLU()",
        "  (2): MaxPool2d(kernelSize=[2, 2], stride=[2, 2], padding=[0, 0])",
        "  (3): Sequential(",
        "    (0): Flatten(startDim=1, endDim=-1)",
        "    (1): Linear(inFeatures=8192, outFeatures=100, bias=false)",
        "  )",
        ")",
      ].join("\n"),
    );
    expect(String(new nn.Conv2d(2, 4, 3, { padding: "same", groups: 2, bias: false }))).toBe(
      'Conv2d(2, 4, kernelSize=[3, 3], stride=[1, 1], padding="same", groups=2, bias=false)',
    );
    expect(() => new nn.Conv2d(2, 4, 3, { padding: "same", stride: 2 })).toThrow(
      /padding "same" needs stride 1/,
    );
    expect(String(new nn.BatchNorm2d(4))).toBe(
      "BatchNorm2d(4, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true)",
    );
  });
});

describe("Sequential and ModuleList", () => {
  it("Sequential chains its children, supports at/append/length/iteration", () => {
    const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU());
    seq.append(new nn.Linear(3, 1));
    expect(seq.length).toBe(3);
    expect(seq.at(-1)).toBeInstanceOf(nn.Linear);
    expect([...seq].map((m) => m.typeName())).toEqual(["Linear", "ReLU", "Linear"]);
    expect(seq.forward(randn([4, 2])).shape).toEqual([4, 1]);
    expect(() => seq.at(3)).toThrow(/out of range/);
    expect(() => new nn.Sequential({} as nn.Module)).toThrow(/argument 0 must be a Module/);
  });

  it("ModuleList registers its modules as children 0, 1, ...", () => {
    class Stack extends nn.Module {
      layers = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 2)]);
    }
    expect(Object.keys(new Stack().stateDict())).toEqual([
      "layers.0.weight",
      "layers.0.bias",
      "layers.1.weight",
      "layers.1.bias",
    ]);
  });
});

describe("layer argument checks", () => {
  it("Linear names shapes and dtypes in its errors", () => {
    const lin = new nn.Linear(4, 2);
    expect(() => lin.forward(randn([3, 5]))).toThrow(
      "Linear: input [3,5] has 5 features in its last dimension, this layer expects 4",
    );
    expect(() => lin.forward(randn([3, 4], { dtype: "float64" }))).toThrow(/input dtype float64 differs/);
    expect(() => new nn.Linear(0, 2)).toThrow(/inFeatures must be a positive integer/);
    expect(() => new nn.Linear(2, 2, { bais: false } as never)).toThrow(/unknown option "bais"/);
  });

  it("Conv2d checks channels, groups and hyper-parameters", () => {
    expect(() => new nn.Conv2d(3, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
    expect(() => new nn.Conv2d(3, 4, [3, 0] as never)).toThrow(
      "Conv2d: kernelSize must be a positive integer or a pair [h, w] of them, got [3,0]",
    );
    const conv = new nn.Conv2d(3, 4, 3);
    expect(conv.weight.shape).toEqual([4, 3, 3, 3]);
    expect(() => conv.forward(randn([1, 5, 8, 8]))).toThrow(
      "conv2d: weight [4,3,3,3] expects 3 input channels, input [1,5,8,8] has 5",
    );
    expect(() => conv.forward(randn([5, 8, 8]))).toThrow(
      /expected a 4-d \[N, C, H, W\] input, got shape \[5,8,8\]/,
    );
  });

  it("modules accept a dtype", () => {
    for (const m of [
      new nn.Conv2d(1, 2, 3, { dtype: "float64" }),
      new nn.Linear(1, 2, { dtype: "float64" }),
      new nn.BatchNorm2d(2, { dtype: "float64" }),
      new nn.GroupNorm(1, 2, { dtype: "float64" }),
      new nn.LayerNorm(2, { dtype: "float64" }),
    ]) {
      expect(m.parameters().every((p) => p.dtype === "float64")).toBe(true);
    }
    expect(() => new nn.Linear(1, 1, { dtype: "int32" })).toThrow(/float32 or float64/);
  });

  it("manualSeed makes default initialisation reproducible", () => {
    manualSeed(7);
    const a = new nn.Conv2d(2, 3, 3).weight.toArray();
    manualSeed(7);
    const b = new nn.Conv2d(2, 3, 3).weight.toArray();
    expect(b).toEqual(a);
    expect(new nn.Conv2d(2, 3, 3).weight.toArray()).not.toEqual(a);
  });
});
