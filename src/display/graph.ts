/** The define-by-run autograd graph behind a tensor, laid out by dagre and drawn as SVG. */
import dagre from "@dagrejs/dagre";
import { Tensor } from "../tensor/tensor.js";
import type { Node } from "../autograd/node.js";
import { checkOptions } from "../tensor/options.js";
import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";
import { escapeHtml, shapeText } from "./bundle.js";
import { el } from "./svg.js";

export interface GraphOptions {
  /** Names for tensors, e.g. `{ x, w, b }`, shown on their nodes. */
  names?: Record<string, Tensor>;
  /** Stop after this many op nodes (default 300). */
  maxNodes?: number;
  /** Layout direction: "TB" (inputs on top, default) or "LR". */
  direction?: "TB" | "LR";
}

type Kind = "op" | "leaf" | "output";

export interface GNode {
  id: string;
  kind: Kind;
  lines: string[];
  width: number;
  height: number;
  x?: number;
  y?: number;
  /** Colours other than the kind's (compiled graphs colour fused ops and buffer slots). */
  style?: { fill: string; stroke: string; dashed?: boolean };
}

/** The graph as data: nodes and edges (from → to, in the direction values flow). */
export interface AutogradGraph {
  nodes: GNode[];
  edges: [string, string][];
  truncated: boolean;
}

const STYLE: Record<Kind, { fill: string; stroke: string }> = {
  op: { fill: "#dbe9f6", stroke: "#1f77b4" },
  leaf: { fill: "#d9f2d9", stroke: "#2ca02c" },
  output: { fill: "#fde9c9", stroke: "#ff7f0e" },
};

export function sizeOf(lines: string[]): { width: number; height: number } {
  const w = Math.max(...lines.map((l, i) => l.length * (i === 0 ? 7.2 : 6.2)));
  return { width: Math.ceil(w + 20), height: 12 + lines.length * 15 };
}

/**
 * The inputs of `node` as the user sees them: through nodes hidden inside a composite op (matmul's
 * internal reshapes) to the tensors that entered it.
 */
function visibleInputs(node: Node): Tensor[] {
  const out: Tensor[] = [];
  const seen = new Set<Node>();
  // a tensor used several times inside a composite op enters it once; direct uses each count
  const entered = new Set<Tensor>();
  const stack: { input: Tensor | null; inside: boolean }[] = [...node.inputs]
    .reverse()
    .map((input) => ({ input, inside: false }));
  while (stack.length > 0) {
    const { input, inside } = stack.pop()!;
    if (!input) continue;
    const prev = input.gradFn;
    if (prev?.hidden) {
      if (seen.has(prev)) continue;
      seen.add(prev);
      for (let i = prev.inputs.length - 1; i >= 0; i--) stack.push({ input: prev.inputs[i], inside: true });
    } else if (!inside) {
      out.push(input);
    } else if (!entered.has(input)) {
      entered.add(input);
      out.push(input);
    }
  }
  return out;
}

/** Walks `t.gradFn` iteratively and collects op nodes, leaves and edges. */
export function autogradGraph(t: Tensor, options: GraphOptions = {}): AutogradGraph {
  const names = new Map<Tensor, string>();
  for (const [k, v] of Object.entries(options.names ?? {})) if (v instanceof Tensor) names.set(v, k);
  const maxNodes = options.maxNodes ?? 300;
  const nodes: GNode[] = [];
  const edges: [string, string][] = [];
  const ids = new Map<Node | Tensor, string>();
  const add = (key: Node | Tensor, kind: Kind, lines: string[]): string => {
    const id = `n${nodes.length}`;
    ids.set(key, id);
    nodes.push({ id, kind, lines, ...sizeOf(lines) });
    return id;
  };
  const tensorLines = (x: Tensor, fallback: string): string[] => [
    names.get(x) ?? fallback,
    `${shapeText(x.shape)} ${x.dtype}`,
    ...(x.requiresGrad && x.isLeaf ? ["requires grad"] : []),
  ];
  const outId = add(t, "output", tensorLines(t, t.gradFn ? "output" : "tensor"));
  let truncated = false;
  if (t.gradFn) {
    const root = t.gradFn;
    add(root, "op", [root.name, `→ ${shapeText(root.outputShape)}`]);
    edges.push([ids.get(root)!, outId]);
    const stack: Node[] = [root];
    let ops = 1;
    while (stack.length) {
      const node = stack.pop()!;
      const nid = ids.get(node)!;
      visibleInputs(node).forEach((input) => {
        if (input.gradFn) {
          const prev = input.gradFn;
          if (!ids.has(prev)) {
            if (ops >= maxNodes) {
              truncated = true;
              return;
            }
            ops++;
            add(prev, "op", [prev.name, `→ ${shapeText(prev.outputShape)}`]);
            stack.push(prev);
          }
          edges.push([ids.get(prev)!, nid]);
        } else {
          const id = ids.get(input) ?? add(input, "leaf", tensorLines(input, "leaf"));
          edges.push([id, nid]);
        }
      });
    }
  }
  return { nodes, edges, truncated };
}

/** Lays the graph out with dagre and draws it as an SVG string. */
export function graphSvg(g: AutogradGraph, direction: "TB" | "LR" = "TB"): string {
  const dg = new dagre.graphlib.Graph({ multigraph: true });
  dg.setGraph({ rankdir: direction, nodesep: 24, ranksep: 36, marginx: 12, marginy: 12 });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const n of g.nodes) dg.setNode(n.id, { width: n.width, height: n.height });
  g.edges.forEach(([a, b], i) => dg.setEdge(a, b, {}, `e${i}`));
  dagre.layout(dg);
  const info = dg.graph();
  const W = Math.ceil(info.width ?? 100);
  const H = Math.ceil(info.height ?? 100);
  let body =
    `<defs><marker id="cnnlab-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">` +
    `<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>`;
  for (const e of dg.edges()) {
    const pts = (dg.edge(e) as { points?: { x: number; y: number }[] }).points ?? [];
    if (pts.length < 2) continue;
    body += el("polyline", {
      points: pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" "),
      fill: "none",
      stroke: "#555",
      "stroke-width": 1.3,
      "marker-end": "url(#cnnlab-arrow)",
    });
  }
  for (const n of g.nodes) {
    const pos = dg.node(n.id) as { x: number; y: number };
    const s = n.style ?? STYLE[n.kind];
    const x = pos.x - n.width / 2;
    const y = pos.y - n.height / 2;
    let text = "";
    n.lines.forEach((line, i) => {
      text += el(
        "text",
        {
          x: pos.x,
          y: y + 17 + i * 15,
          "text-anchor": "middle",
          "font-size": i === 0 ? 12 : 10.5,
          "font-weight": i === 0 ? "bold" : undefined,
          fill: i === 2 ? "#2a7a2a" : "#222",
        },
        escapeHtml(line),
      );
    });
    body +=
      `<g class="cnnlab-graph-${n.kind}">` +
      el("rect", {
        x,
        y,
        width: n.width,
        height: n.height,
        rx: n.kind === "op" ? 10 : 3,
        fill: s.fill,
        stroke: s.stroke,
        "stroke-width": 1.5,
        "stroke-dasharray": n.style?.dashed ? "5,3" : undefined,
      }) +
      text +
      `</g>`;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="cnnlab-graph" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="Helvetica, Arial, sans-serif">${body}</svg>`
  );
}

function graphText(g: AutogradGraph): string {
  const label = new Map(g.nodes.map((n) => [n.id, n.lines.join(" ")]));
  const lines = [
    `autograd graph: ${g.nodes.filter((n) => n.kind === "op").length} ops, ${g.nodes.filter((n) => n.kind === "leaf").length} leaves`,
  ];
  for (const [a, b] of g.edges) lines.push(`  ${label.get(a)}  ->  ${label.get(b)}`);
  if (g.truncated) lines.push("  (truncated)");
  return lines.join("\n");
}

/** The bundle of the autograd graph behind `t`: SVG, HTML (inline SVG) and a text edge list. */
export function graphBundle(t: Tensor, options?: GraphOptions): MimeBundle {
  const o = checkOptions("showGraph", options, ["names", "maxNodes", "direction"]);
  if (!(t instanceof Tensor)) throw new TypeError("showGraph: expected a Tensor");
  const g = autogradGraph(t, o);
  const svg = graphSvg(g, o.direction ?? "TB");
  const note = !t.gradFn
    ? `<div style="font-size:85%;color:#666">this tensor has no grad_fn: it is a leaf${t.requiresGrad ? " that requires grad" : " outside the autograd graph"}</div>`
    : g.truncated
      ? `<div style="font-size:85%;color:#666">graph truncated at ${o.maxNodes ?? 300} ops</div>`
      : "";
  const legend =
    `<div style="font-size:85%;color:#444;margin-bottom:2px">` +
    `<span style="background:${STYLE.leaf.fill};border:1px solid ${STYLE.leaf.stroke};padding:0 4px">leaf tensor</span> ` +
    `<span style="background:${STYLE.op.fill};border:1px solid ${STYLE.op.stroke};padding:0 4px;border-radius:6px">op (grad_fn)</span> ` +
    `<span style="background:${STYLE.output.fill};border:1px solid ${STYLE.output.stroke};padding:0 4px">result</span></div>`;
  return {
    "text/plain": graphText(g),
    "image/svg+xml": svg,
    // An <img> survives the HTML sanitizers of untrusted notebooks and static viewers; inline SVG does not.
    "text/html":
      `<div class="cnnlab-graph-view">${legend}<img class="cnnlab-graph" alt="autograd graph" ` +
      `src="data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}"/>${note}</div>`,
  };
}

/** An object that displays the autograd graph (what `showGraph` emits). */
export class GraphView {
  constructor(
    readonly tensor: Tensor,
    readonly options?: GraphOptions,
  ) {}

  [JUPYTER_DISPLAY](): MimeBundle {
    return graphBundle(this.tensor, this.options);
  }
}

/** Options of showGraph for a function made by compile(). */
export interface CompiledGraphOptions {
  /** Which signature's graph (default 0). */
  signature?: number;
  /** The loss of one eager step, drawn beside the static graph. */
  eager?: Tensor;
  direction?: "TB" | "LR";
}

/** Other things showGraph can draw (compiled functions register here; see compiled-graph.ts). */
const renderers: { accepts(value: unknown): boolean; bundle(value: any, options?: any): MimeBundle }[] = [];

export function registerGraphRenderer(renderer: (typeof renderers)[number]): void {
  renderers.push(renderer);
}

/**
 * Shows the autograd graph behind a result: ops, shapes, leaves and which tensors require grad;
 * or, given a function made by compile(), its static graph.
 */
export function showGraph(t: Tensor, options?: GraphOptions): void;
export function showGraph(compiled: (...args: any[]) => unknown, options?: CompiledGraphOptions): void;
export function showGraph(t: unknown, options?: GraphOptions | CompiledGraphOptions): void {
  const renderer = renderers.find((r) => r.accepts(t));
  emit(renderer ? renderer.bundle(t, options) : graphBundle(t as Tensor, options as GraphOptions));
}
