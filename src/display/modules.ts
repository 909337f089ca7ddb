/** Model summaries (torchinfo-like) and activation maps, coded against nn.Module's public API. */
import { Tensor } from "../tensor/tensor.js";
import { zeros } from "../tensor/creation.js";
import { noGrad } from "../autograd/grad-mode.js";
import { contiguousData } from "../ops/util.js";
import { checkOptions } from "../tensor/options.js";
import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";
import { escapeHtml, shapeText } from "./bundle.js";
import { imagesBundle } from "./images.js";
import { checkColormap, type ColormapName } from "./colormap.js";
import { figureBundle, heatmap } from "./figure.js";

/** What display code needs from an nn.Module. */
export interface ModuleLike {
  namedChildren(): Iterable<[string, ModuleLike]> | Record<string, ModuleLike>;
  parameters(): Iterable<Tensor>;
  registerForwardHook(fn: (module: any, inputs: any, output: any) => unknown): { remove(): void };
  forward(...args: any[]): unknown;
}

interface TreeEntry {
  module: ModuleLike;
  /** Dotted path from the root ("" for the root). */
  path: string;
  name: string;
  depth: number;
  /** Is this the last child of its parent (for tree drawing)? */
  last: boolean;
  /** For each ancestor level: does a sibling follow there? */
  continues: boolean[];
  isLeaf: boolean;
}

function children(m: ModuleLike): [string, ModuleLike][] {
  const c = m.namedChildren();
  if (c && typeof (c as any)[Symbol.iterator] === "function")
    return [...(c as Iterable<[string, ModuleLike]>)];
  return Object.entries(c ?? {});
}

function typeName(m: unknown): string {
  return (m as any)?.constructor?.name ?? "Module";
}

/** Depth-first walk of a module tree (iterative). */
function moduleTree(root: ModuleLike, maxDepth = Infinity): TreeEntry[] {
  const out: TreeEntry[] = [];
  const stack: TreeEntry[] = [
    { module: root, path: "", name: "", depth: 0, last: true, continues: [], isLeaf: false },
  ];
  const seen = new Set<ModuleLike>();
  while (stack.length) {
    const e = stack.pop()!;
    if (seen.has(e.module)) continue;
    seen.add(e.module);
    const kids = children(e.module);
    e.isLeaf = kids.length === 0;
    out.push(e);
    if (e.depth >= maxDepth) continue;
    for (let i = kids.length - 1; i >= 0; i--) {
      const [name, m] = kids[i];
      stack.push({
        module: m,
        path: e.path ? `${e.path}.${name}` : name,
        name,
        depth: e.depth + 1,
        last: i === kids.length - 1,
        continues: e.depth === 0 ? [] : [...e.continues, !e.last],
        isLeaf: false,
      });
    }
  }
  return out;
}

function paramsOf(m: ModuleLike): Tensor[] {
  return [...m.parameters()];
}

function count(ts: Iterable<Tensor>): number {
  let n = 0;
  for (const t of ts) n += t.numel();
  return n;
}

/** Parameters a module holds itself (not through its children). */
function ownParams(m: ModuleLike): Tensor[] {
  const inKids = new Set<Tensor>();
  for (const [, c] of children(m)) for (const p of paramsOf(c)) inKids.add(p);
  return paramsOf(m).filter((p) => !inKids.has(p));
}

function shapesOf(v: unknown): string {
  if (v instanceof Tensor) return shapeText(v.shape);
  if (Array.isArray(v)) return v.map(shapesOf).join(", ");
  if (v && typeof v === "object") {
    const parts = Object.values(v).filter((x) => x instanceof Tensor) as Tensor[];
    if (parts.length) return parts.map((t) => shapeText(t.shape)).join(", ");
  }
  return "--";
}

export interface SummaryRow {
  path: string;
  type: string;
  depth: number;
  outputShape: string;
  /** Parameters of this layer (its own plus its children's). */
  params: number;
  /** Drawn label, e.g. "├─conv1 (Conv2d)". */
  label: string;
  isLeaf: boolean;
}

/** A torchinfo-like table of a model: layers, output shapes and parameter counts. */
export class ModelSummary {
  constructor(
    readonly modelType: string,
    readonly rows: SummaryRow[],
    readonly totalParams: number,
    readonly trainableParams: number,
    readonly inputShape: number[] | null,
    readonly paramBytes: number,
  ) {}

  toString(): string {
    const hasShapes = this.inputShape !== null;
    const header = ["Layer (type)", ...(hasShapes ? ["Output shape"] : []), "Param #"];
    const cells = this.rows.map((r) => [
      r.label,
      ...(hasShapes ? [r.outputShape] : []),
      r.params === 0 && !r.isLeaf ? "--" : r.params.toLocaleString("en-US"),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: string[]) =>
      c.map((x, i) => (i === c.length - 1 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join("   ");
    const total = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1);
    const rule = "=".repeat(total);
    const lines = [
      rule,
      line(header),
      rule,
      ...cells.map(line),
      rule,
      `Total params: ${this.totalParams.toLocaleString("en-US")}`,
      `Trainable params: ${this.trainableParams.toLocaleString("en-US")}`,
      `Non-trainable params: ${(this.totalParams - this.trainableParams).toLocaleString("en-US")}`,
    ];
    if (this.inputShape) lines.push(`Input shape: ${shapeText(this.inputShape)}`);
    lines.push(`Params size (MB): ${(this.paramBytes / 1e6).toFixed(2)}`, rule);
    return lines.join("\n");
  }

  toHTML(): string {
    const hasShapes = this.inputShape !== null;
    const th = "padding:2px 10px;border-bottom:1px solid #999;text-align:left";
    const td = "padding:1px 10px;font-family:monospace;white-space:pre;text-align:left";
    let html =
      `<div class="cnnlab-summary"><table style="border-collapse:collapse;font-size:90%"><thead><tr>` +
      `<th style="${th}">Layer (type)</th>${hasShapes ? `<th style="${th}">Output shape</th>` : ""}` +
      `<th style="${th};text-align:right">Param #</th></tr></thead><tbody>`;
    for (const r of this.rows) {
      const params = r.params === 0 && !r.isLeaf ? "--" : r.params.toLocaleString("en-US");
      html +=
        `<tr${r.isLeaf ? "" : ' style="color:#555"'}><td style="${td}">${escapeHtml(r.label)}</td>` +
        (hasShapes ? `<td style="${td}">${escapeHtml(r.outputShape)}</td>` : "") +
        `<td style="${td};text-align:right">${params}</td></tr>`;
    }
    html +=
      `</tbody></table><div style="font-size:90%;margin-top:3px">Total params: <b>${this.totalParams.toLocaleString("en-US")}</b>` +
      ` · trainable ${this.trainableParams.toLocaleString("en-US")}` +
      ` · non-trainable ${(this.totalParams - this.trainableParams).toLocaleString("en-US")}` +
      (this.inputShape ? ` · input ${shapeText(this.inputShape)}` : "") +
      ` · params ${(this.paramBytes / 1e6).toFixed(2)} MB</div></div>`;
    return html;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return { "text/plain": this.toString(), "text/html": this.toHTML() };
  }
}

function label(e: TreeEntry): string {
  if (e.depth === 0) return typeName(e.module);
  const prefix = e.continues.map((c) => (c ? "│ " : "  ")).join("") + (e.last ? "└─" : "├─");
  return `${prefix}${e.name} (${typeName(e.module)})`;
}

function checkModule(op: string, model: unknown): ModuleLike {
  const m = model as ModuleLike;
  for (const fn of ["namedChildren", "parameters", "registerForwardHook", "forward"] as const) {
    if (!m || typeof (m as any)[fn] !== "function") {
      throw new TypeError(`${op}: expected an nn.Module (with ${fn}()), got ${typeName(model)}`);
    }
  }
  return m;
}

/** Runs the model once with hooks on every module; returns the last output of each. */
function traceOutputs(model: ModuleLike, tree: TreeEntry[], x: Tensor): Map<ModuleLike, unknown> {
  const outputs = new Map<ModuleLike, unknown>();
  const handles = tree.map((e) =>
    e.module.registerForwardHook(
      (_m: unknown, _in: unknown, out: unknown) => void outputs.set(e.module, out),
    ),
  );
  try {
    noGrad(() => model.forward(x));
  } finally {
    for (const h of handles) h.remove();
  }
  return outputs;
}

function paramDtypeSize(params: Tensor[]): number {
  return params.reduce((s, p) => s + p.numel() * (p.dtype === "float64" ? 8 : 4), 0);
}

function buildSummary(model: ModuleLike, input: Tensor | null, maxDepth: number): ModelSummary {
  const tree = moduleTree(model, maxDepth);
  const outputs = input ? traceOutputs(model, tree, input) : new Map<ModuleLike, unknown>();
  const rows = tree.map((e) => ({
    path: e.path,
    type: typeName(e.module),
    depth: e.depth,
    outputShape: outputs.has(e.module) ? shapesOf(outputs.get(e.module)) : "--",
    params: e.isLeaf || e.depth === maxDepth ? count(paramsOf(e.module)) : count(ownParams(e.module)),
    label: label(e),
    isLeaf: e.isLeaf,
  }));
  const all = paramsOf(model);
  const unique = [...new Set(all)];
  return new ModelSummary(
    typeName(model),
    rows,
    count(unique),
    count(unique.filter((p) => p.requiresGrad)),
    input ? [...input.shape] : null,
    paramDtypeSize(unique),
  );
}

/**
 * torchinfo-like summary: runs `model.forward` once on zeros of `input` (a shape including the batch
 * dimension, or a Tensor) with forward hooks, and tabulates layers, output shapes and parameters.
 */
export function summary(
  model: ModuleLike,
  input: readonly number[] | Tensor,
  options?: { dtype?: "float32" | "float64"; depth?: number },
): ModelSummary {
  const m = checkModule("summary", model);
  const o = checkOptions("summary", options, ["dtype", "depth"]);
  let x: Tensor;
  if (input instanceof Tensor) x = input;
  else if (Array.isArray(input) && input.every((d) => Number.isInteger(d) && d >= 0)) {
    const dtype = o.dtype ?? (paramsOf(m).find((p) => p.dtype === "float64") ? "float64" : "float32");
    x = zeros([...input], { dtype });
  } else
    throw new TypeError(
      `summary: input must be a shape array (with batch dimension) or a Tensor, got ${String(input)}`,
    );
  return buildSummary(m, x, o.depth ?? Infinity);
}

/**
 * A module's default display: its layer tree and parameter counts (no output shapes, since no input
 * is known). nn.Module can return this from `[Symbol.for("Jupyter.display")]()`.
 */
export function moduleBundle(model: ModuleLike): MimeBundle {
  return buildSummary(checkModule("moduleBundle", model), null, Infinity)[JUPYTER_DISPLAY]();
}

export interface ActivationOptions {
  /** Layer paths ("conv1", "features.0") or modules; default: every leaf layer with a 4-d output. */
  layers?: readonly (string | ModuleLike)[];
  /** Which sample of the batch (default 0). */
  sample?: number;
  /** At most this many maps per layer (default 64). */
  maxMaps?: number;
  cmap?: ColormapName;
  /** Also emit an interactive heatmap (values on hover) per layer (default true). */
  heatmap?: boolean;
}

/** Bundles of the activation maps of chosen layers (a labelled PNG grid and a heatmap per layer). */
export function activationBundles(model: ModuleLike, x: Tensor, options?: ActivationOptions): MimeBundle[] {
  const m = checkModule("showActivations", model);
  const o = checkOptions("showActivations", options, ["layers", "sample", "maxMaps", "cmap", "heatmap"]);
  if (!(x instanceof Tensor)) throw new TypeError("showActivations: x must be a Tensor");
  const cmap = checkColormap("showActivations", o.cmap ?? "viridis");
  const tree = moduleTree(m);
  let chosen: TreeEntry[];
  if (o.layers) {
    chosen = o.layers.map((l) => {
      const e = tree.find((t) => (typeof l === "string" ? t.path === l : t.module === l));
      if (!e) {
        const names = tree.filter((t) => t.path).map((t) => t.path);
        throw new RangeError(
          `showActivations: no layer ${typeof l === "string" ? `"${l}"` : typeName(l)}; layers are ${names.join(", ")}`,
        );
      }
      return e;
    });
  } else chosen = tree.filter((e) => e.isLeaf && e.depth > 0);
  const outputs = traceOutputs(m, chosen, x);
  const sample = o.sample ?? 0;
  const maxMaps = o.maxMaps ?? 64;
  const bundles: MimeBundle[] = [];
  for (const e of chosen) {
    const out = outputs.get(e.module);
    const name = `${e.path || "output"} (${typeName(e.module)})`;
    if (!(out instanceof Tensor)) {
      if (o.layers) bundles.push({ "text/plain": `${name}: was not called or returned no tensor` });
      continue;
    }
    if (out.ndim !== 4) {
      if (o.layers)
        bundles.push({ "text/plain": `${name}: output ${shapeText(out.shape)} is not [N,C,H,W] maps` });
      continue;
    }
    const [n, c, h, w] = out.shape;
    if (sample < 0 || sample >= n)
      throw new RangeError(`showActivations: sample ${sample} is out of range for batch ${n}`);
    const data = contiguousData(out).slice(sample * c * h * w, (sample + 1) * c * h * w);
    const shown = Math.min(c, maxMaps);
    const maps = Tensor.fromData(Float64Array.from(data.subarray(0, shown * h * w), Number), [
      shown,
      1,
      h,
      w,
    ]);
    const title = `${name} → ${shapeText(out.shape)}, sample ${sample}${shown < c ? `, first ${shown} of ${c} maps` : ""}`;
    bundles.push(imagesBundle(maps, { cmap, title }, "showActivations"));
    if (o.heatmap ?? true) {
      const cols = Math.ceil(Math.sqrt(shown));
      const rows = Math.ceil(shown / cols);
      const zh = rows * (h + 1) - 1;
      const zw = cols * (w + 1) - 1;
      if (zh * zw <= 200_000) {
        const z: (number | null)[][] = Array.from({ length: zh }, () =>
          new Array<number | null>(zw).fill(null),
        );
        for (let k = 0; k < shown; k++) {
          const r0 = Math.floor(k / cols) * (h + 1);
          const c0 = (k % cols) * (w + 1);
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++) z[r0 + y][c0 + xx] = data[k * h * w + y * w + xx];
        }
        bundles.push(figureBundle(heatmap(z, { cmap, title: `${name}: values (hover)` })));
      }
    }
  }
  return bundles;
}

/** Shows the activation maps of chosen layers for input x, via forward hooks. */
export function showActivations(model: ModuleLike, x: Tensor, options?: ActivationOptions): void {
  for (const b of activationBundles(model, x, options)) emit(b);
}
