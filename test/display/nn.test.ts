import { describe, expect, it } from "vitest";
import { nn, summary, activationBundles, randn, JUPYTER_DISPLAY } from "../../src/index.js";
import { decodePng } from "./helpers.js";

function net() {
  return new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(8 * 4 * 4, 10),
  );
}

describe("displays with the real nn.Module", () => {
  it("summary runs forward hooks and counts parameters", () => {
    const s = summary(net(), [2, 3, 8, 8]);
    // conv 8*3*3*3 + 8 = 224; linear 128*10 + 10 = 1290
    expect(s.totalParams).toBe(224 + 1290);
    expect(s.rows.map((r) => r.outputShape)).toEqual([
      "[2, 10]",
      "[2, 8, 8, 8]",
      "[2, 8, 8, 8]",
      "[2, 8, 4, 4]",
      "[2, 128]",
      "[2, 10]",
    ]);
    expect(s.rows.map((r) => r.params)).toEqual([0, 224, 0, 0, 0, 1290]);
  });

  it("a module displays itself as its layer tree", () => {
    const b = (net() as any)[JUPYTER_DISPLAY]();
    expect(String(b["text/plain"])).toMatch(/├─0 \(Conv2d\)\s+224/);
    expect(String(b["text/html"])).toContain("1,514");
  });

  it("showActivations on conv and pool layers", () => {
    const m = net();
    const bundles = activationBundles(m, randn([1, 3, 8, 8]), { layers: ["0", "2"], heatmap: false });
    expect(bundles).toHaveLength(2);
    const pool = decodePng(bundles[1]["image/png"]);
    // 8 maps of 4x4 at scale 16, 3 columns x 3 rows, padding 2
    expect([pool.width, pool.height]).toEqual([3 * 64 + 4, 3 * 64 + 4]);
  });
});
