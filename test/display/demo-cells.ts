/**
 * The cells of notebooks/display-demo.ipynb. Each has its source (what a user types) and, for
 * running without the kernel, a function that produces the same outputs through the library.
 */
import {
  F,
  nn,
  bar,
  bundleOf,
  gradcheck,
  heatmap,
  initPlotly,
  liveplot,
  manualSeed,
  plot,
  progress,
  rand,
  randn,
  scatter,
  showActivations,
  showFilters,
  showGradients,
  showGraph,
  showImages,
  showRelError,
  summary,
  type MimeBundle,
} from "../../src/index.js";

export interface DemoCell {
  markdown?: string;
  source?: string;
  /** Runs the cell's code; returns the cell's value (displayed like a kernel would). */
  run?: (env: Record<string, any>) => unknown;
}

export const DEMO_CELLS: DemoCell[] = [
  {
    markdown:
      "# cnnlab displays\n\nEvery figure carries a static picture (PNG/SVG) for viewers without JavaScript; " +
      "`initPlotly()` inlines plotly.js once so the charts become interactive offline.",
  },
  { source: "initPlotly()", run: () => initPlotly() },
  {
    source: "manualSeed(0);\nconst x = randn([4, 5], { requiresGrad: true });\nx",
    run: (env) => {
      manualSeed(0);
      env.x = randn([4, 5], { requiresGrad: true });
      return env.x;
    },
  },
  {
    source: "const imgs = rand([8, 3, 16, 16]);\nshowImages(imgs, { nrow: 4 })",
    run: (env) => {
      env.imgs = rand([8, 3, 16, 16]);
      showImages(env.imgs, { nrow: 4 });
    },
  },
  {
    source:
      "const conv = new nn.Conv2d(3, 6, 5, { padding: 2 });\n" +
      "const model = new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(6 * 8 * 8, 10));\n" +
      "showFilters(conv.weight);\n" +
      "summary(model, [2, 3, 16, 16])",
    run: (env) => {
      env.conv = new nn.Conv2d(3, 6, 5, { padding: 2 });
      env.model = new nn.Sequential(
        env.conv,
        new nn.ReLU(),
        new nn.MaxPool2d(2),
        new nn.Flatten(),
        new nn.Linear(6 * 8 * 8, 10),
      );
      showFilters(env.conv.weight);
      return summary(env.model, [2, 3, 16, 16]);
    },
  },
  {
    source: 'showActivations(model, imgs.slice([0, 1]), { layers: ["1", "2"] })',
    run: (env) => showActivations(env.model, env.imgs.slice([0, 1]), { layers: ["1", "2"] }),
  },
  {
    source:
      'const xg = randn([2, 3, 6, 6], { dtype: "float64", requiresGrad: true });\n' +
      'const wg = randn([4, 3, 3, 3], { dtype: "float64", requiresGrad: true });\n' +
      'showRelError(3e-9, "conv dx");\n' +
      "gradcheck((a) => F.conv2d(a, wg, null, { padding: 1 }), [xg])",
    run: (env) => {
      env.xg = randn([2, 3, 6, 6], { dtype: "float64", requiresGrad: true });
      env.wg = randn([4, 3, 3, 3], { dtype: "float64", requiresGrad: true });
      showRelError(3e-9, "conv dx");
      return gradcheck((a) => F.conv2d(a, env.wg, null, { padding: 1 }), [env.xg]);
    },
  },
  {
    source:
      "plot({ train: [2.3, 1.6, 1.1, 0.8, 0.6, 0.5], val: [2.3, 1.8, 1.4, 1.2, 1.1, 1.1] }, " +
      '{ title: "loss", xlabel: "epoch" })',
    run: () =>
      plot(
        { train: [2.3, 1.6, 1.1, 0.8, 0.6, 0.5], val: [2.3, 1.8, 1.4, 1.2, 1.1, 1.1] },
        { title: "loss", xlabel: "epoch" },
      ),
  },
  {
    source: 'heatmap(conv.weight.slice(0, 0), { cmap: "diverging", title: "filter 0, channel 0" })',
    run: (env) => heatmap(env.conv.weight.slice(0, 0), { cmap: "diverging", title: "filter 0, channel 0" }),
  },
  {
    source: 'bar({ plane: 12, car: 30, bird: 7, cat: 21 }, { title: "predictions" })',
    run: () => bar({ plane: 12, car: 30, bird: 7, cat: 21 }, { title: "predictions" }),
  },
  {
    source:
      'const pts = randn([2, 40]);\nscatter(pts.slice(0), pts.slice(1), { labels: pts.slice(0).gt(0).to("int32"), names: ["left", "right"] })',
    run: (env) => {
      env.pts = randn([2, 40]);
      return scatter(env.pts.slice(0), env.pts.slice(1), {
        labels: env.pts.slice(0).gt(0).to("int32"),
        names: ["left", "right"],
      });
    },
  },
  {
    source:
      'const lp = liveplot({ metrics: ["loss", "acc"] });\n' +
      "for (let step = 0; step < 60; step++) lp.update({ loss: 2 / (1 + step / 5), acc: 1 - 1 / (1 + step / 10) });\n" +
      "lp.done()",
    run: () => {
      const lp = liveplot({ metrics: ["loss", "acc"] });
      for (let step = 0; step < 60; step++)
        lp.update({ loss: 2 / (1 + step / 5), acc: 1 - 1 / (1 + step / 10) });
      lp.done();
    },
  },
  {
    source: 'let acc = 0;\nfor (const i of progress(300, { desc: "work" })) acc += Math.sqrt(i);',
    run: () => {
      let acc = 0;
      for (const i of progress(300, { desc: "work" })) acc += Math.sqrt(i);
      return acc > 0 ? undefined : acc;
    },
  },
  {
    source:
      "const y = F.relu(F.conv2d(xg, wg, null, { padding: 1 })).sum();\nshowGraph(y, { names: { x: xg, w: wg } })",
    run: (env) => {
      const y = F.relu(F.conv2d(env.xg, env.wg, null, { padding: 1 })).sum();
      showGraph(y, { names: { x: env.xg, w: env.wg } });
    },
  },
  {
    source:
      "const xs = rand([2, 3, 16, 16], { requiresGrad: true });\nmodel.forward(xs).sum().backward();\nshowGradients(xs.grad)",
    run: (env) => {
      const xs = rand([2, 3, 16, 16], { requiresGrad: true });
      env.model.forward(xs).sum().backward();
      showGradients(xs.grad);
    },
  },
];

/** A notebook (nbformat 4) of the demo cells, without outputs. */
export function demoNotebook(): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "cnnlab", display_name: "cnnlab (TypeScript)", language: "typescript" },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    cells: DEMO_CELLS.map((c, i) =>
      c.markdown
        ? { cell_type: "markdown", id: `cell-${i}`, metadata: {}, source: c.markdown }
        : {
            cell_type: "code",
            id: `cell-${i}`,
            metadata: {},
            execution_count: null,
            outputs: [],
            source: c.source,
          },
    ),
  };
}

/** Display outputs as nbformat stores them. */
export function asOutput(bundle: MimeBundle, executionCount?: number): Record<string, unknown> {
  const data = JSON.parse(JSON.stringify(bundle));
  return executionCount === undefined
    ? { output_type: "display_data", data, metadata: {} }
    : { output_type: "execute_result", execution_count: executionCount, data, metadata: {} };
}

export { bundleOf };
