/** Figures: plotly JSON for interactive clients plus a static picture for everyone else. */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData } from "../ops/util.js";
import { checkOptions } from "../tensor/options.js";
import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";
import { escapeHtml, fmtNumber, scriptJson } from "./bundle.js";
import { PALETTE, renderSvg, type Layout, type Trace } from "./svg.js";
import { checkColormap, colorAt, plotlyColorscale, type ColormapName } from "./colormap.js";
import { newRgbImage, pngBase64 } from "./png.js";

export type { Trace, Layout } from "./svg.js";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

let figureCounter = 0;

function figureId(): string {
  figureCounter++;
  return `cnnlab-fig-${Date.now().toString(36)}-${figureCounter}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The static picture of a figure. */
export interface StaticPicture {
  mime: "image/svg+xml" | "image/png";
  /** SVG text, or base64 PNG. */
  data: string;
}

/**
 * A chart: plotly traces and layout. Displays (as a cell's value or through `display`) with
 * plotly JSON, HTML that draws it with plotly.js when available, a static SVG/PNG and text.
 */
export class Figure {
  constructor(
    readonly data: Trace[],
    readonly layout: Layout,
    private readonly staticPicture?: () => StaticPicture,
  ) {}

  /** `{data, layout}`, the plotly figure JSON. */
  toJSON(): { data: Trace[]; layout: Layout } {
    return { data: this.data, layout: this.layout };
  }

  /** The static picture: our SVG rendering, or a PNG for heatmaps. */
  toStatic(): StaticPicture {
    return this.staticPicture
      ? this.staticPicture()
      : { mime: "image/svg+xml", data: renderSvg(this.data, this.layout) };
  }

  toSVG(): string {
    return renderSvg(this.data, this.layout);
  }

  toString(): string {
    const title = typeof this.layout.title?.text === "string" ? ` "${this.layout.title.text}"` : "";
    const traces = this.data.map((t) => {
      const n =
        t.type === "heatmap"
          ? `${t.z?.length ?? 0}x${t.z?.[0]?.length ?? 0}`
          : `${(t.y ?? t.x ?? []).length} points`;
      return `${t.type}${t.name ? ` ${t.name}` : ""} (${n})`;
    });
    return `Figure${title}: ${traces.join(", ")}`;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return figureBundle(this);
  }

  /** Displays the figure now. */
  show(): void {
    emit(figureBundle(this));
  }
}

/**
 * The HTML of a figure: the static picture as an `<img>`, and a script that replaces it with an
 * interactive plotly chart once plotly.js is there (window.Plotly, or a requirejs `plotly` module).
 */
export function figureHtml(fig: Figure, picture: StaticPicture = fig.toStatic()): string {
  const id = figureId();
  const src =
    picture.mime === "image/png"
      ? `data:image/png;base64,${picture.data}`
      : `data:image/svg+xml;base64,${Buffer.from(picture.data, "utf8").toString("base64")}`;
  const alt = escapeHtml(fig.toString());
  const script =
    `(function(){var root=document.getElementById(${JSON.stringify(id)});if(!root)return;` +
    `var spec=${scriptJson(fig.toJSON())};var done=false;` +
    `function draw(P){if(done||!P||!P.newPlot)return;done=true;var div=document.createElement("div");` +
    `div.className="cnnlab-plotly";root.appendChild(div);` +
    `P.newPlot(div,spec.data,spec.layout,{displaylogo:false}).then(function(){var img=root.querySelector("img");` +
    `if(img)img.style.display="none";});}` +
    `if(window.Plotly){draw(window.Plotly);return;}` +
    `window.addEventListener("cnnlab-plotly-ready",function(){draw(window.Plotly);});` +
    `var r=window.requirejs;if(r&&r.specified&&r.specified("plotly")){r(["plotly"],draw);}})();`;
  return (
    `<div class="cnnlab-figure" id="${id}">` +
    (picture.mime === "image/png"
      ? `<img src="${src}" alt="${alt}" style="image-rendering:pixelated"/>`
      : `<img src="${src}" alt="${alt}" width="${fig.layout.width ?? 640}" height="${fig.layout.height ?? 400}"/>`) +
    `</div><script type="text/javascript">${script}</script>`
  );
}

/** The MIME bundle of a figure. */
export function figureBundle(fig: Figure): MimeBundle {
  const picture = fig.toStatic();
  return {
    "text/plain": fig.toString(),
    [picture.mime]: picture.data,
    [PLOTLY_MIME]: JSON.parse(JSON.stringify(fig.toJSON())),
    "text/html": figureHtml(fig, picture),
  };
}

let plotlySource: string | null = null;

/** The plotly.js version bundled with cnnlab. */
export function plotlyVersion(): string {
  const req = createRequire(import.meta.url);
  return (req("plotly.js-dist-min/package.json") as { version: string }).version;
}

/**
 * A bundle that inlines plotly.js (about 4.8 MB) into the notebook once, so figures become
 * interactive offline in classic Notebook, VS Code and exported HTML. Run it in the first cell.
 */
export function initPlotly(): MimeBundle {
  if (plotlySource === null) {
    const req = createRequire(import.meta.url);
    plotlySource = readFileSync(req.resolve("plotly.js-dist-min/plotly.min.js"), "utf8").replace(
      /<\/script/gi,
      "<\\/script",
    );
  }
  const version = plotlyVersion();
  // `module`/`exports`/`define` are shadowed so the bundle sets window.Plotly even under requirejs.
  const html =
    `<script type="text/javascript">(function(){if(window.Plotly)return;` +
    `var module=undefined,exports=undefined,define=undefined;\n${plotlySource}\n})();` +
    `window.dispatchEvent(new Event("cnnlab-plotly-ready"));</script>` +
    `<div class="cnnlab-plotly-init" style="font-size:85%;color:#666">plotly.js ${version} loaded for interactive figures (offline)</div>`;
  return {
    "text/plain": `plotly.js ${version} inlined for interactive figures (open the notebook trusted to use it)`,
    "text/html": html,
  };
}

// ---- builders -------------------------------------------------------------------------------

type Series = readonly number[] | Float32Array | Float64Array | Int32Array | Tensor;

export interface ChartOptions {
  title?: string;
  xlabel?: string;
  ylabel?: string;
  width?: number;
  height?: number;
  /** Logarithmic y axis. */
  logy?: boolean;
}

const CHART_KEYS = ["title", "xlabel", "ylabel", "width", "height", "logy"];

function isSeries(v: unknown): v is Series {
  return Array.isArray(v) || v instanceof Tensor || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

function toNumbers(op: string, arg: string, v: unknown): number[] {
  if (v instanceof Tensor) {
    if (v.ndim > 1 && v.shape.filter((d) => d !== 1).length > 1) {
      throw new RangeError(`${op}: ${arg} must be 1-d, got a tensor of shape [${v.shape.join(", ")}]`);
    }
    return Array.from(contiguousData(v), Number);
  }
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    return Array.from(v as ArrayLike<unknown>, (x, i) => {
      if (x === null || x === undefined) return NaN;
      if (typeof x !== "number") throw new TypeError(`${op}: ${arg}[${i}] is not a number (${typeof x})`);
      return x;
    });
  }
  throw new TypeError(`${op}: ${arg} must be an array of numbers or a 1-d Tensor, got ${typeof v}`);
}

function nullify(vs: number[]): (number | null)[] {
  return vs.map((v) => (Number.isFinite(v) ? v : null));
}

function baseLayout(o: ChartOptions, defaults: { width?: number; height?: number } = {}): Layout {
  const layout: Layout = {
    width: o.width ?? defaults.width ?? 640,
    height: o.height ?? defaults.height ?? 400,
    margin: { l: 60, r: 20, t: o.title ? 50 : 25, b: 50 },
    xaxis: { title: { text: o.xlabel ?? "" } },
    yaxis: { title: { text: o.ylabel ?? "" }, ...(o.logy ? { type: "log" } : {}) },
  };
  if (o.title) layout.title = { text: o.title };
  return layout;
}

export interface PlotOptions extends ChartOptions {
  /** Line, markers or both (default lines). */
  mode?: "lines" | "markers" | "lines+markers";
  /** Name of a single series (shown in the legend when there are several). */
  name?: string;
}

const PLOT_KEYS = [...CHART_KEYS, "mode", "name"];

/**
 * Line chart. `plot(y)`, `plot(x, y)`, or `plot({ train: [...], val: [...] })` for named series
 * (each a y array, or `{x, y}`), with options last.
 */
export function plot(
  a: Series | Record<string, Series | { x: Series; y: Series }>,
  b?: Series | PlotOptions,
  c?: PlotOptions,
): Figure {
  let options: PlotOptions | undefined;
  const traces: Trace[] = [];
  const mk = (
    x: number[] | undefined,
    y: number[],
    name: string | undefined,
    i: number,
    mode?: string,
  ): Trace => ({
    type: "scatter",
    mode: (mode ?? "lines") as Trace["mode"],
    ...(name ? { name } : {}),
    x: x ?? y.map((_, k) => k),
    y: nullify(y),
    line: { color: PALETTE[i % PALETTE.length], width: 2 },
    marker: { color: PALETTE[i % PALETTE.length], size: 6 },
  });
  if (isSeries(a)) {
    if (isSeries(b)) {
      options = checkOptions("plot", c, PLOT_KEYS);
      const x = toNumbers("plot", "x", a);
      const y = toNumbers("plot", "y", b);
      if (x.length !== y.length) throw new RangeError(`plot: x has ${x.length} values but y has ${y.length}`);
      traces.push(mk(x, y, options.name, 0, options.mode));
    } else {
      options = checkOptions("plot", b, PLOT_KEYS);
      traces.push(mk(undefined, toNumbers("plot", "y", a), options.name, 0, options.mode));
    }
  } else if (a && typeof a === "object") {
    options = checkOptions("plot", b as PlotOptions | undefined, PLOT_KEYS);
    Object.entries(a).forEach(([name, s], i) => {
      if (isSeries(s)) traces.push(mk(undefined, toNumbers("plot", name, s), name, i, options!.mode));
      else if (s && typeof s === "object" && "y" in s) {
        const x = toNumbers("plot", `${name}.x`, s.x);
        const y = toNumbers("plot", `${name}.y`, s.y);
        if (x.length !== y.length)
          throw new RangeError(`plot: ${name}.x has ${x.length} values but ${name}.y has ${y.length}`);
        traces.push(mk(x, y, name, i, options!.mode));
      } else throw new TypeError(`plot: series "${name}" must be an array, a Tensor or {x, y}`);
    });
  } else {
    throw new TypeError("plot: expected y, (x, y) or a record of named series");
  }
  return new Figure(traces, baseLayout(options));
}

export interface ScatterOptions extends ChartOptions {
  /** Class label per point: one coloured group per label. */
  labels?: Series;
  /** Names of the label groups (index = label). */
  names?: readonly string[];
  size?: number;
}

/** Scatter plot of points (x[i], y[i]), coloured by `labels` when given. */
export function scatter(x: Series, y: Series, options?: ScatterOptions): Figure {
  const o = checkOptions("scatter", options, [...CHART_KEYS, "labels", "names", "size"]);
  const xs = toNumbers("scatter", "x", x);
  const ys = toNumbers("scatter", "y", y);
  if (xs.length !== ys.length)
    throw new RangeError(`scatter: x has ${xs.length} values but y has ${ys.length}`);
  const traces: Trace[] = [];
  const size = o.size ?? 7;
  if (o.labels !== undefined) {
    const labels = toNumbers("scatter", "labels", o.labels);
    if (labels.length !== xs.length) {
      throw new RangeError(`scatter: labels has ${labels.length} values but x has ${xs.length}`);
    }
    const groups = [...new Set(labels)].sort((p, q) => p - q);
    groups.forEach((g, i) => {
      const idx = labels.map((l, k) => (l === g ? k : -1)).filter((k) => k >= 0);
      const color = PALETTE[i % PALETTE.length];
      traces.push({
        type: "scatter",
        mode: "markers",
        name: o.names?.[g] ?? String(g),
        x: idx.map((k) => xs[k]),
        y: nullify(idx.map((k) => ys[k])),
        marker: { color, size },
      });
    });
  } else {
    traces.push({
      type: "scatter",
      mode: "markers",
      x: xs,
      y: nullify(ys),
      marker: { color: PALETTE[0], size },
    });
  }
  return new Figure(traces, baseLayout(o));
}

export interface BarOptions extends ChartOptions {
  /** Category labels (default 0, 1, 2, …). */
  labels?: readonly (string | number)[];
  name?: string;
}

/** Bar chart of values (array, 1-d Tensor, or `{label: value}`). */
export function bar(values: Series | Record<string, number>, options?: BarOptions): Figure {
  const o = checkOptions("bar", options, [...CHART_KEYS, "labels", "name"]);
  let labels: (string | number)[];
  let ys: number[];
  if (isSeries(values)) {
    ys = toNumbers("bar", "values", values);
    labels = o.labels ? [...o.labels] : ys.map((_, i) => i);
    if (labels.length !== ys.length)
      throw new RangeError(`bar: ${labels.length} labels for ${ys.length} values`);
  } else if (values && typeof values === "object") {
    labels = Object.keys(values);
    ys = labels.map((k) => toNumbers("bar", String(k), [values[k as string]])[0]);
  } else throw new TypeError("bar: expected an array, a 1-d Tensor or {label: value}");
  const x = labels.map(String);
  const trace: Trace = { type: "bar", x, y: nullify(ys), marker: { color: PALETTE[0] } };
  if (o.name) trace.name = o.name;
  const layout = baseLayout(o);
  layout.xaxis.type = "category";
  return new Figure([trace], layout);
}

export interface HeatmapOptions extends ChartOptions {
  cmap?: ColormapName;
  zmin?: number;
  zmax?: number;
  /** Column and row labels. */
  x?: readonly (string | number)[];
  y?: readonly (string | number)[];
  /** Nearest-neighbour scale of the static PNG (default: about 320 px). */
  scale?: number;
}

/** A matrix as a heatmap (row 0 at the top, values on hover); static picture is a PNG. */
export function heatmap(
  z: Tensor | readonly (readonly (number | null)[])[],
  options?: HeatmapOptions,
): Figure {
  const o = checkOptions("heatmap", options, [...CHART_KEYS, "cmap", "zmin", "zmax", "x", "y", "scale"]);
  const cmap = checkColormap("heatmap", o.cmap ?? "viridis");
  let rows: (number | null)[][];
  if (z instanceof Tensor) {
    if (z.ndim !== 2)
      throw new RangeError(`heatmap: z must be 2-d, got a tensor of shape [${z.shape.join(", ")}]`);
    const d = contiguousData(z);
    const [h, w] = z.shape;
    rows = Array.from({ length: h }, (_, r) => Array.from({ length: w }, (_, c) => Number(d[r * w + c])));
  } else if (Array.isArray(z) && z.every((r) => Array.isArray(r))) {
    rows = z.map((r) => r.map((v) => (v === null ? null : Number(v))));
    if (rows.some((r) => r.length !== rows[0].length))
      throw new RangeError("heatmap: rows of z have different lengths");
  } else throw new TypeError("heatmap: z must be a 2-d Tensor or an array of rows");
  const h = rows.length;
  const w = h ? rows[0].length : 0;
  if (!h || !w) throw new RangeError("heatmap: z is empty");
  const vals = rows.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  let zmin = o.zmin ?? (vals.length ? Math.min(...vals) : 0);
  let zmax = o.zmax ?? (vals.length ? Math.max(...vals) : 1);
  if (cmap === "diverging" && o.zmin === undefined && o.zmax === undefined) {
    const m = Math.max(Math.abs(zmin), Math.abs(zmax));
    [zmin, zmax] = [-m, m];
  }
  const clean = rows.map((r) => r.map((v) => (v !== null && Number.isFinite(v) ? v : null)));
  const trace: Trace = {
    type: "heatmap",
    z: clean,
    colorscale: plotlyColorscale(cmap),
    zmin,
    zmax,
    ...(o.x ? { x: [...o.x] } : {}),
    ...(o.y ? { y: [...o.y] as (string | number)[] } : {}),
  };
  const side = Math.max(h, w);
  const scale = o.scale ?? Math.max(1, Math.min(32, Math.floor(320 / side)));
  const layout = baseLayout(o, {
    width: Math.min(900, Math.max(360, w * scale + 160)),
    height: Math.min(900, Math.max(300, h * scale + 110)),
  });
  layout.yaxis.autorange = "reversed";
  const staticPicture = (): StaticPicture => {
    const img = newRgbImage(w * scale, h * scale, 255);
    const span = zmax - zmin;
    for (let r = 0; r < h * scale; r++)
      for (let c = 0; c < w * scale; c++) {
        const v = clean[Math.floor(r / scale)][Math.floor(c / scale)];
        if (v === null) continue;
        colorAt(cmap, span > 0 ? (v - zmin) / span : 0.5, img.data, (r * img.width + c) * 3);
      }
    return { mime: "image/png", data: pngBase64(img) };
  };
  return new Figure([trace], layout, staticPicture);
}

/** Text range of a heatmap, for captions. */
export function rangeText(lo: number, hi: number): string {
  return `${fmtNumber(lo)} … ${fmtNumber(hi)}`;
}
