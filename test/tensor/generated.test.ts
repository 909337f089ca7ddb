/**
 * The generated suite: random shapes, views, dtypes and options for every op family, against
 * PyTorch (test/fixtures/torch_cases/generated.py writes the cases). Each case is a spec — the op,
 * its options and the view applied to each input — followed by the base tensors; the same views and
 * op run here and the values and the base tensors' gradients are compared.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import { F, type Tensor } from "../../src/index.js";
import { checkOp, loadFixtures } from "../helpers/harness.js";

interface View {
  kind: "none" | "t" | "permute" | "step" | "expand";
  shape?: number[];
}

interface Spec {
  op: string;
  kw: Record<string, any>;
  views: View[];
}

function applyView(t: Tensor, v: View): Tensor {
  switch (v.kind) {
    case "none":
      return t;
    case "t":
      return t.transpose(-1, -2);
    case "permute":
      return t.permute(t.shape.map((_, i) => t.ndim - 1 - i));
    case "step":
      return t.slice(...t.shape.map((_, i) => (i === t.ndim - 1 ? ([null, null, 2] as const) : null)));
    case "expand":
      return t.expand(v.shape!);
  }
}

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  neg: (x) => x.neg(),
  abs: (x) => x.abs(),
  exp: (x) => x.exp(),
  tanh: (x) => x.tanh(),
  sigmoid: (x) => x.sigmoid(),
  relu: (x) => x.relu(),
  sin: (x) => x.sin(),
  cos: (x) => x.cos(),
  square: (x) => x.square(),
  sign: (x) => x.sign(),
  floor: (x) => x.floor(),
  round: (x) => x.round(),
  log: (x) => x.log(),
  sqrt: (x) => x.sqrt(),
  reciprocal: (x) => x.reciprocal(),
  leaky_relu: (x) => F.leakyRelu(x, 0.1),
  clamp: (x) => x.clamp(-0.5, 0.7),
};

const BINARY: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
  add: (a, b) => a.add(b),
  sub: (a, b) => a.sub(b),
  mul: (a, b) => a.mul(b),
  div: (a, b) => a.div(b),
  pow: (a, b) => a.pow(b),
  maximum: (a, b) => a.maximum(b),
  minimum: (a, b) => a.minimum(b),
};

/** The op a spec describes, on its (viewed) inputs, in cnnlab. */
function run(spec: Spec, ...inputs: Tensor[]): unknown {
  const ts = inputs.map((t, i) => applyView(t, spec.views[i]));
  const kw = spec.kw;
  const [x, y, z] = ts;
  if (spec.op in UNARY) return UNARY[spec.op](x);
  if (spec.op in BINARY) return BINARY[spec.op](x, y);
  switch (spec.op) {
    case "scalar": {
      const s: number = kw.value;
      return {
        add: () => x.add(s),
        mul: () => x.mul(s),
        rsub: () => cn.sub(s, x),
        div: () => x.div(s),
        pow: () => x.pow(s),
      }[kw.how as "add"]();
    }
    case "where":
      return cn.where(x.gt(0), x, y);
    case "sum":
    case "mean":
    case "amax":
    case "amin":
    case "logsumexp":
      return x[spec.op](kw.dims, kw.keepdim);
    case "var":
    case "std":
      return x[spec.op](kw.dims, kw.keepdim, { unbiased: kw.unbiased });
    case "max":
    case "min":
      return "dim" in kw ? x[spec.op](kw.dim, kw.keepdim) : x[spec.op]();
    case "argmax":
    case "argmin":
      return x[spec.op](kw.dim, kw.keepdim);
    case "matmul":
      return x.matmul(y);
    case "reshape":
      return x.reshape(kw.shape);
    case "flatten":
      return x.flatten(kw.start);
    case "transpose":
      return x.transpose(kw.dim0, kw.dim1);
    case "unsqueeze":
      return x.unsqueeze(kw.dim);
    case "squeeze":
      return x.squeeze();
    case "narrow":
      return x.narrow(kw.dim, kw.start, kw.length);
    case "select":
      return x.select(kw.dim, kw.index);
    case "cat":
      return cn.cat(ts, kw.dim);
    case "stack":
      return cn.stack(ts, kw.dim);
    case "gather":
      return x.gather(kw.dim, y);
    case "index_select":
      return x.indexSelect(kw.dim, y);
    case "pad":
      return F.pad(x, kw.pads, { value: kw.value });
    case "softmax":
      return F.softmax(x, kw.dim);
    case "log_softmax":
      return F.logSoftmax(x, kw.dim);
    case "cross_entropy":
      return F.crossEntropy(x, y, { reduction: kw.reduction });
    case "nll_loss":
      return F.nllLoss(F.logSoftmax(x, 1), y, { reduction: kw.reduction });
    case "mse_loss":
      return F.mseLoss(x, y, { reduction: kw.reduction });
    case "bce_with_logits":
      return F.bceWithLogits(x, y, { reduction: kw.reduction });
    case "bce":
      return F.binaryCrossEntropy(x, y, { reduction: kw.reduction });
    case "layer_norm":
      return F.layerNorm(x, kw.shape, y, z);
    case "batch_norm":
      return F.batchNorm(x, null, null, y, z, { training: true });
    case "group_norm":
      return F.groupNorm(x, kw.groups, y, z);
    case "conv2d":
      return F.conv2d(x, y, z, { stride: kw.stride, padding: kw.padding, dilation: kw.dilation });
    case "max_pool2d":
      return F.maxPool2d(x, { kernelSize: kw.kernel, stride: kw.stride, padding: kw.padding });
    case "avg_pool2d":
      return F.avgPool2d(x, { kernelSize: kw.kernel, stride: kw.stride, padding: kw.padding });
  }
  throw new Error(`generated suite: no runner for op ${spec.op}`);
}

const fixtures = loadFixtures("generated");
const names = Object.keys(fixtures);

describe.each(cn.listBackends())("generated PyTorch cases (%s backend)", (backendName) => {
  let previous = "";
  beforeAll(() => {
    previous = cn.setBackend(backendName);
  });
  afterAll(() => {
    cn.setBackend(previous);
  });
  it(`runs all ${names.length} cases (ops on views, broadcasting, dtypes, every op family)`, () => {
    // one test for all cases keeps the suite fast; the failures are listed by case
    const failures: string[] = [];
    for (const name of names) {
      // a case with a float32 input computes in float32 even where a gradient is float64
      const f32 = fixtures[name].args.some((a) => "tensor" in a && a.tensor.dtype === "float32");
      try {
        checkOp("generated", name, run, { gradcheck: false, ...(f32 ? { atol: 1e-5, rtol: 1e-4 } : {}) });
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });
});
