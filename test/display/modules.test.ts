import { describe, expect, it } from "vitest";
import {
  summary,
  moduleBundle,
  activationBundles,
  showActivations,
  randn,
  JUPYTER_DISPLAY,
  PLOTLY_MIME,
} from "../../src/index.js";
import { Conv2d, Flatten, Linear, ReLU, Sequential, decodePng, fakeKernel } from "./helpers.js";

function model() {
  const features = new Sequential(["0", new Conv2d(3, 4, 3)], ["1", new ReLU()]);
  return new Sequential(
    ["features", features],
    ["flatten", new Flatten()],
    ["fc", new Linear(4 * 6 * 6, 10)],
  );
}

describe("summary", () => {
  it("lists layers with output shapes and parameter counts", () => {
    const s = summary(model(), [2, 3, 6, 6]);
    // conv: 4*3*3*3 + 4 = 112; linear: 144*10 = 1440
    expect(s.totalParams).toBe(112 + 1440);
    expect(s.trainableParams).toBe(1552);
    expect(s.rows.map((r) => [r.path, r.type, r.outputShape, r.params])).toEqual([
      ["", "Sequential", "[2, 10]", 0],
      ["features", "Sequential", "[2, 4, 6, 6]", 0],
      ["features.0", "Conv2d", "[2, 4, 6, 6]", 112],
      ["features.1", "ReLU", "[2, 4, 6, 6]", 0],
      ["flatten", "Flatten", "[2, 144]", 0],
      ["fc", "Linear", "[2, 10]", 1440],
    ]);
  });

  it("text form is a stable torchinfo-like table", () => {
    const text = summary(model(), [2, 3, 6, 6]).toString();
    const lines = text.split("\n");
    expect(lines[1]).toMatch(/^Layer \(type\)\s+Output shape\s+Param #$/);
    expect(lines[3]).toMatch(/^Sequential\s+\[2, 10\]\s+--$/);
    expect(lines[4]).toMatch(/^├─features \(Sequential\)\s+\[2, 4, 6, 6\]\s+--$/);
    expect(lines[5]).toMatch(/^│ ├─0 \(Conv2d\)\s+\[2, 4, 6, 6\]\s+112$/);
    expect(lines[6]).toMatch(/^│ └─1 \(ReLU\)\s+\[2, 4, 6, 6\]\s+0$/);
    expect(lines[7]).toMatch(/^├─flatten \(Flatten\)\s+\[2, 144\]\s+0$/);
    expect(lines[8]).toMatch(/^└─fc \(Linear\)\s+\[2, 10\]\s+1,440$/);
    expect(text).toContain("Total params: 1,552");
    expect(text).toContain("Non-trainable params: 0");
    // every table row has the same width
    expect(
      new Set(
        lines
          .slice(1, 9)
          .filter((l) => !l.startsWith("="))
          .map((l) => l.length),
      ).size,
    ).toBe(1);
  });

  it("displays as HTML + text and removes its hooks", () => {
    const m = model();
    const b = (summary(m, [1, 3, 6, 6]) as any)[JUPYTER_DISPLAY]();
    expect(String(b["text/html"])).toContain("<table");
    expect(String(b["text/html"])).toContain("1,552");
    expect(m.hooks).toHaveLength(0);
    expect((m.children[0][1] as any).children[0][1].hooks).toHaveLength(0);
  });

  it("moduleBundle shows the tree without output shapes", () => {
    const b = moduleBundle(model());
    expect(String(b["text/plain"])).not.toContain("Output shape");
    expect(String(b["text/plain"])).toContain("fc (Linear)");
    expect(() => summary({} as any, [1])).toThrow(/summary: expected an nn.Module/);
  });
});

describe("showActivations", () => {
  it("shows each chosen layer's maps as a labelled grid plus an interactive heatmap", () => {
    const m = model();
    const bundles = activationBundles(m, randn([2, 3, 6, 6]), { layers: ["features.0", "features.1"] });
    expect(bundles).toHaveLength(4);
    const grid = bundles[0];
    expect(String(grid["text/html"])).toContain("features.0 (Conv2d) → [2, 4, 6, 6]");
    const png = decodePng(grid["image/png"]);
    // 4 maps of 6x6, auto scale floor(64/6) = 10, 2x2 grid with 2px padding
    expect([png.width, png.height]).toEqual([2 * 60 + 2, 2 * 60 + 2]);
    const hm = bundles[1][PLOTLY_MIME] as any;
    expect(hm.data[0].type).toBe("heatmap");
    expect(hm.data[0].z).toHaveLength(2 * 7 - 1); // two rows of maps with a gap row
    expect(m.hooks).toHaveLength(0);
  });

  it("defaults to leaf layers with 4-d outputs and names unknown layers", () => {
    const k = fakeKernel();
    try {
      showActivations(model(), randn([1, 3, 6, 6]), { heatmap: false });
      expect(k.emitted).toHaveLength(2); // conv and relu; flatten/fc are not maps
    } finally {
      k.restore();
    }
    expect(() => activationBundles(model(), randn([1, 3, 6, 6]), { layers: ["conv9"] })).toThrow(
      /showActivations: no layer "conv9"; layers are features, features.0, features.1, flatten, fc/,
    );
  });
});
