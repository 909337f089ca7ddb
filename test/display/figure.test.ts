import { describe, expect, it } from "vitest";
import {
  plot,
  scatter,
  bar,
  heatmap,
  initPlotly,
  figureBundle,
  Figure,
  PLOTLY_MIME,
  JUPYTER_DISPLAY,
  tensor,
  randn,
} from "../../src/index.js";
import { checkXml, decodePng } from "./helpers.js";

function bundleOf(f: Figure): Record<string, unknown> {
  return (f as any)[JUPYTER_DISPLAY]();
}

function plotlyJson(b: Record<string, unknown>): { data: any[]; layout: any } {
  const v = b[PLOTLY_MIME];
  expect(typeof v).toBe("object"); // an object, not a string
  return JSON.parse(JSON.stringify(v));
}

describe("figures", () => {
  it("plot(y) carries text, SVG, plotly JSON and HTML with the static picture and a script", () => {
    const f = plot([3, 1, 2], { title: "loss", xlabel: "step", ylabel: "value" });
    const b = bundleOf(f);
    expect(Object.keys(b).sort()).toEqual([PLOTLY_MIME, "image/svg+xml", "text/html", "text/plain"].sort());
    const spec = plotlyJson(b);
    expect(spec.data).toHaveLength(1);
    expect(spec.data[0]).toMatchObject({ type: "scatter", mode: "lines", x: [0, 1, 2], y: [3, 1, 2] });
    expect(spec.layout.title.text).toBe("loss");
    const svg = String(b["image/svg+xml"]);
    const names = checkXml(svg);
    expect(names.filter((n) => n === "polyline")).toHaveLength(1);
    expect(svg).toContain(">loss<");
    expect(svg).toContain(">step<");
    const html = String(b["text/html"]);
    expect(html).toMatch(/<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    expect(html).toContain("Plotly");
    expect(html).not.toMatch(/<script[^>]*src=/); // no CDN
    const b64 = html.match(/base64,([A-Za-z0-9+/=]+)/)![1];
    expect(Buffer.from(b64, "base64").toString("utf8")).toBe(svg);
  });

  it("plot(x, y) and named series", () => {
    const spec = plotlyJson(bundleOf(plot([0, 10, 20], tensor([1, 2, 3]), { mode: "lines+markers" })));
    expect(spec.data[0].x).toEqual([0, 10, 20]);
    expect(spec.data[0].mode).toBe("lines+markers");
    const multi = plot({ train: [1, 0.5, 0.2], val: { x: [0, 2], y: [1.1, 0.6] } }, { logy: true });
    const s2 = plotlyJson(bundleOf(multi));
    expect(s2.data.map((t) => t.name)).toEqual(["train", "val"]);
    expect(s2.layout.yaxis.type).toBe("log");
    const svg = multi.toSVG();
    expect(checkXml(svg).filter((n) => n === "polyline")).toHaveLength(2);
    expect(svg).toContain(">train<"); // legend
    expect(() => plot([1, 2], [1])).toThrow(/plot: x has 2 values but y has 1/);
  });

  it("NaN values become gaps (null in JSON, split lines in SVG)", () => {
    const f = plot([1, NaN, 3, 4]);
    expect(plotlyJson(bundleOf(f)).data[0].y).toEqual([1, null, 3, 4]);
    expect(checkXml(f.toSVG()).filter((n) => n === "polyline")).toHaveLength(2);
  });

  it("bar and scatter", () => {
    const b = bar({ cat: 3, dog: 5, bird: -1 }, { title: "counts" });
    const spec = plotlyJson(bundleOf(b));
    expect(spec.data[0]).toMatchObject({ type: "bar", x: ["cat", "dog", "bird"], y: [3, 5, -1] });
    expect(checkXml(b.toSVG()).filter((n) => n === "rect").length).toBeGreaterThanOrEqual(3 + 1);
    const s = scatter([1, 2, 3, 4], [4, 3, 2, 1], { labels: [0, 1, 0, 1], names: ["even", "odd"] });
    const ss = plotlyJson(bundleOf(s));
    expect(ss.data.map((t) => [t.name, t.x])).toEqual([
      ["even", [1, 3]],
      ["odd", [2, 4]],
    ]);
    expect(checkXml(s.toSVG()).filter((n) => n === "circle")).toHaveLength(4);
  });

  it("heatmap has a PNG static picture with one colour block per cell, row 0 on top", () => {
    const f = heatmap(
      tensor([
        [0, 1],
        [2, 3],
      ]),
      { cmap: "gray", scale: 4 },
    );
    const b = figureBundle(f);
    expect(Object.keys(b).sort()).toEqual([PLOTLY_MIME, "image/png", "text/html", "text/plain"].sort());
    const png = decodePng(b["image/png"]);
    expect([png.width, png.height]).toEqual([8, 8]);
    expect(png.px(0, 0)).toEqual([0, 0, 0]);
    expect(png.px(7, 7)).toEqual([255, 255, 255]);
    expect(png.px(5, 1)).toEqual([85, 85, 85]);
    const spec = plotlyJson(b);
    expect(spec.data[0].z).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(spec.layout.yaxis.autorange).toBe("reversed");
    expect(String(b["text/html"])).toContain("data:image/png;base64,");
  });

  it("diverging heatmaps are symmetric about zero", () => {
    const spec = plotlyJson(figureBundle(heatmap([[-1, 4]], { cmap: "diverging" })));
    expect([spec.data[0].zmin, spec.data[0].zmax]).toEqual([-4, 4]);
    expect(() => heatmap(randn([2, 2, 2]))).toThrow(/heatmap: z must be 2-d/);
  });

  it("initPlotly inlines plotly.js once, offline, and announces it", () => {
    const b = initPlotly();
    const html = String(b["text/html"]);
    expect(html.length).toBeGreaterThan(4_000_000);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html.match(/<\/script/gi)).toHaveLength(1);
    expect(html).toContain("window.Plotly = Plotly");
    expect(html).toContain("cnnlab-plotly-ready");
    expect(String(b["text/plain"])).toMatch(/plotly\.js \d+\.\d+\.\d+/);
    // figures never carry plotly.js themselves
    expect(String(bundleOf(plot([1, 2]))["text/html"]).length).toBeLessThan(20_000);
  });
});
