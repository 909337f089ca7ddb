import { describe, expect, it } from "vitest";
import {
  randn,
  tensor,
  graphBundle,
  autogradGraph,
  showGraph,
  GraphView,
  JUPYTER_DISPLAY,
} from "../../src/index.js";
import { checkXml, fakeKernel } from "./helpers.js";

describe("showGraph", () => {
  it("draws ops, leaves (with names and the requires-grad flag) and the result", () => {
    const x = randn([2, 3], { requiresGrad: true });
    const w = randn([3, 4], { requiresGrad: true });
    const c = randn([2, 4]); // a constant: not part of the graph
    const y = x.matmul(w).mul(c).sum();
    const g = autogradGraph(y, { names: { x, w } });
    const leaves = g.nodes.filter((n) => n.kind === "leaf");
    expect(leaves.map((n) => n.lines[0]).sort()).toEqual(["w", "x"]);
    expect(leaves.every((n) => n.lines.includes("requires grad"))).toBe(true);
    expect(g.nodes.filter((n) => n.kind === "output")).toHaveLength(1);
    const ops = g.nodes.filter((n) => n.kind === "op").map((n) => n.lines[0]);
    expect(ops[0]).toMatch(/^Sum/);
    expect(ops.some((o) => /^Mul/.test(o))).toBe(true);
    expect(ops).toContain("MmBackward");
    // every node but the output has an outgoing edge
    const from = new Set(g.edges.map(([a]) => a));
    expect(g.nodes.filter((n) => n.kind !== "output").every((n) => from.has(n.id))).toBe(true);

    const b = graphBundle(y, { names: { x, w } });
    expect(Object.keys(b).sort()).toEqual(["image/svg+xml", "text/html", "text/plain"]);
    const svg = String(b["image/svg+xml"]);
    const names = checkXml(svg);
    expect(names.filter((n) => n === "rect")).toHaveLength(g.nodes.length);
    expect(names.filter((n) => n === "polyline")).toHaveLength(g.edges.length);
    expect(String(b["text/html"])).toContain(
      `src="data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}"`,
    );
    expect(String(b["text/plain"])).toMatch(/autograd graph: \d+ ops, 2 leaves/);
    // the layout places every box inside the drawing
    const [W, H] = svg
      .match(/width="(\d+)" height="(\d+)"/)!
      .slice(1)
      .map(Number);
    for (const m of svg.matchAll(/<rect x="([\d.-]+)" y="([\d.-]+)" width="([\d.]+)" height="([\d.]+)"/g)) {
      const [rx, ry, rw, rh] = m.slice(1).map(Number);
      expect(rx).toBeGreaterThanOrEqual(0);
      expect(ry).toBeGreaterThanOrEqual(0);
      expect(rx + rw).toBeLessThanOrEqual(W + 0.5);
      expect(ry + rh).toBeLessThanOrEqual(H + 0.5);
    }
  });

  it("shares a leaf used twice and handles deep graphs iteratively", () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const g = autogradGraph(x.mul(x).sum());
    expect(g.nodes.filter((n) => n.kind === "leaf")).toHaveLength(1);
    expect(g.edges.filter(([a]) => a === g.nodes.find((n) => n.kind === "leaf")!.id)).toHaveLength(2);
    let y = x;
    for (let i = 0; i < 2000; i++) y = y.add(1);
    const deep = autogradGraph(y, { maxNodes: 50 });
    expect(deep.truncated).toBe(true);
    expect(deep.nodes.filter((n) => n.kind === "op")).toHaveLength(50);
  });

  it("a leaf alone, and display through the kernel", () => {
    const k = fakeKernel();
    try {
      const x = randn([2], { requiresGrad: true });
      showGraph(x);
      expect(String(k.emitted[0].bundle["text/html"])).toContain("this tensor has no grad_fn");
      const view = new GraphView(x.mul(2));
      expect(Object.keys(view[JUPYTER_DISPLAY]())).toContain("image/svg+xml");
    } finally {
      k.restore();
    }
  });
});
