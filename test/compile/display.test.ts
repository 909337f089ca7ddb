import { describe, expect, it } from "vitest";
import {
  compile,
  compiledGraphBundle,
  F,
  manualSeed,
  nn,
  optim,
  randint,
  randn,
  type Tensor,
} from "../../src/index.js";

describe("showGraph(compiled): the static graph", () => {
  it("draws forward units, fused units, backward nodes, the update and buffer slots, beside an eager step", () => {
    manualSeed(0);
    const model = new nn.ThreeLayerConvNet({
      inputDim: [3, 8, 8],
      numFilters: 4,
      filterSize: 3,
      hiddenDim: 10,
      numClasses: 3,
    });
    const opt = new optim.SGD(model.parameters(), { lr: 0.01 });
    const body = (x: Tensor, y: Tensor) => {
      opt.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss;
    };
    const step = compile(body, { name: "trainStep" });
    const x = randn([4, 3, 8, 8]);
    const y = randint(0, 3, [4]);
    expect(() => compiledGraphBundle(step)).toThrow(
      /compile\(trainStep\) has no graph yet; call it once first/,
    );
    step(x, y);
    step(x, y);
    const eagerLoss = F.crossEntropy(model.forward(x), y);
    const b = compiledGraphBundle(step, { eager: eagerLoss });
    const text = String(b["text/plain"]);
    expect(text).toContain("compile(trainStep) graph 0: ");
    expect(text).toMatch(/arena [\d.]+ MB for \d+ buffers \(an eager step allocates [\d.]+ MB/);
    expect(text).toContain("fused linear+relu [fused: linear + relu]");
    expect(text).toContain("fused relu+maxPool2d [fused: relu + maxPool2d]");
    expect(text).toContain("optimizer SGD.step");
    expect(text).toMatch(/backward nodes: NllLossBackward, LogSoftmaxBackward, \w+Backward/);
    expect(text).toContain("eager step:\nautograd graph: ");
    const svg = String(b["image/svg+xml"]);
    expect(svg).toContain(">linear+relu<");
    expect(svg).toContain(">ConvolutionBackward<");
    expect(svg).toContain('stroke-dasharray="5,3"');
    expect(svg).toMatch(/slot @0\.0+ MB/);
    const html = String(b["text/html"]);
    expect(html).toContain("static (compiled)");
    expect(html).toContain("dynamic (one eager step)");
  });
});
