/**
 * The static graph of a compiled function: its forward units, the backward nodes the traced
 * backward ran, the optimizer's update; fused units dashed, and each unit's buffer slot in the
 * arena as a colour and a label.
 */
import type { CompiledGraph } from "../compile/compile.js";
import type { Ref } from "../compile/graph.js";
import type { BufferSlot } from "../compile/plan.js";
import { Tensor } from "../tensor/tensor.js";
import { escapeHtml, shapeText } from "./bundle.js";
import type { MimeBundle } from "./emit.js";
import {
  graphBundle,
  graphSvg,
  registerGraphRenderer,
  sizeOf,
  type AutogradGraph,
  type CompiledGraphOptions,
  type GNode,
} from "./graph.js";

/** What showGraph accepts from compile(): the compiled function itself. */
export interface CompiledLike {
  readonly compiledName: string;
  readonly signatures: readonly string[];
  graph(i?: number): CompiledGraph;
}

export function isCompiled(value: unknown): value is CompiledLike {
  return typeof value === "function" && "compiledName" in value && "graph" in value;
}

const COLOURS = {
  input: { fill: "#d9f2d9", stroke: "#2ca02c" },
  forward: { fill: "#dbe9f6", stroke: "#1f77b4" },
  fused: { fill: "#fde9c9", stroke: "#e67e00", dashed: true },
  backward: { fill: "#eadcf4", stroke: "#7b3fa0" },
  update: { fill: "#f6dada", stroke: "#c0392b" },
};

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1)} MB`;

/** A pastel colour for an arena offset: slots that share bytes share a colour. */
function slotColour(offset: number, arenaBytes: number): string {
  const hue = Math.round((offset / Math.max(1, arenaBytes)) * 300);
  return `hsl(${hue}, 70%, 88%)`;
}

function refValues(ref: Ref, out: Ref[] = []): Ref[] {
  if (ref.kind === "value" || ref.kind === "input" || ref.kind === "state") out.push(ref);
  else if (ref.kind === "grad" || ref.kind === "alias") refValues(ref.of, out);
  else if (ref.kind === "array") ref.items.forEach((r) => refValues(r, out));
  else if (ref.kind === "object") ref.entries.forEach(([, r]) => refValues(r, out));
  return out;
}

/** The static graph as nodes and edges (the layout and drawing are graph.ts's). */
export function compiledGraph(g: CompiledGraph): AutogradGraph {
  const nodes: GNode[] = [];
  const edges: [string, string][] = [];
  const add = (lines: string[], style: GNode["style"], kind: GNode["kind"] = "op"): string => {
    const id = `n${nodes.length}`;
    nodes.push({ id, kind, lines, style, ...sizeOf(lines) });
    return id;
  };
  const slotsByUnit = new Map<number, BufferSlot[]>();
  for (const s of g.memory?.slots ?? []) {
    const list = slotsByUnit.get(s.unit) ?? [];
    list.push(s);
    slotsByUnit.set(s.unit, list);
  }
  const producer = new Map<number, string>();
  const leaves = new Map<unknown, string>();
  const unitNode = new Map<number, string>();
  let backwardSeed: string | null = null;
  const updates: string[] = [];
  g.units.forEach((u, position) => {
    if (u.kind === "backward") {
      backwardSeed = `unit${position}`;
      return;
    }
    const shape = u.outputs[0] ? `→ ${shapeText(u.outputs[0].shape)}` : "";
    const slots = slotsByUnit.get(position) ?? [];
    const lines = [u.name, ...(shape ? [shape] : [])];
    if (u.fusedFrom) lines.push(`fused: ${u.fusedFrom.join(" + ")}`);
    let style: GNode["style"] =
      u.kind === "optimizer" ? COLOURS.update : u.fusedFrom ? COLOURS.fused : COLOURS.forward;
    if (slots.length > 0 && g.memory) {
      const s = slots[0];
      lines.push(`slot @${mb(s.offsets[0])}${s.persistent ? " (kept)" : ""}`);
      style = { ...style, fill: slotColour(s.offsets[0], g.memory.arenaBytes) };
    }
    const id = add(lines, style);
    unitNode.set(u.index, unitNode.get(u.index) ?? id);
    if (u.kind === "optimizer") updates.push(id);
    for (const r of u.args.flatMap((a) => refValues(a))) {
      if (r.kind === "value") {
        const from = producer.get(r.id);
        if (from) edges.push([from, id]);
      } else if (r.kind === "state" || r.kind === "input") {
        const key = r.kind === "state" ? r.tensor : r.path.join(".");
        let leaf = leaves.get(key);
        if (leaf === undefined) {
          const lines =
            r.kind === "state"
              ? [
                  r.tensor.requiresGrad ? "parameter" : "state",
                  `${shapeText(r.tensor.shape)} ${r.tensor.dtype}`,
                ]
              : [`input ${r.path.join(".")}`];
          leaf = add(lines, COLOURS.input, "leaf");
          leaves.set(key, leaf);
        }
        edges.push([leaf, id]);
      }
    }
    for (const o of u.outputs) producer.set(o.id, id);
    const res = u.result;
    if (res.kind === "value") producer.set(res.id, id);
  });
  // backward: one node per backward node the trace ran, gradients flowing from the loss
  const stepNode = new Map<number, string>();
  const steps = g.backwardSteps.map((s) => {
    const id = add([s.name], COLOURS.backward);
    if (!stepNode.has(s.forward)) stepNode.set(s.forward, id);
    return id;
  });
  g.backwardSteps.forEach((s, i) => {
    if (i === 0 && backwardSeed !== null) {
      const lossNode = unitNode.get(s.forward);
      if (lossNode) edges.push([lossNode, steps[0]]);
    }
    for (const f of s.feeds) {
      const to = stepNode.get(f);
      if (to) edges.push([steps[i], to]);
    }
    if (s.toLeaf) for (const u of updates) edges.push([steps[i], u]);
  });
  return { nodes, edges, truncated: false };
}

function legend(): string {
  const chip = (label: string, c: { fill: string; stroke: string; dashed?: boolean }) =>
    `<span style="background:${c.fill};border:1px ${c.dashed ? "dashed" : "solid"} ${c.stroke};padding:0 4px">${label}</span>`;
  return (
    `<div style="font-size:85%;color:#444;margin-bottom:2px">` +
    [
      chip("input / parameter", COLOURS.input),
      chip("forward op", COLOURS.forward),
      chip("fused", COLOURS.fused),
      chip("backward node", COLOURS.backward),
      chip("update", COLOURS.update),
    ].join(" ") +
    ` — fill colour: the unit's buffer slot in the arena (same colour, same bytes)</div>`
  );
}

function img(svg: string, alt: string): string {
  return `<img alt="${alt}" src="data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}"/>`;
}

/** The bundle showGraph emits for a compiled function. */
export function compiledGraphBundle(f: CompiledLike, options: CompiledGraphOptions = {}): MimeBundle {
  const i = options.signature ?? 0;
  if (f.signatures.length === 0) {
    throw new Error(`showGraph: compile(${f.compiledName}) has no graph yet; call it once first`);
  }
  const g = f.graph(i);
  const data = compiledGraph(g);
  const svg = graphSvg(data, options.direction ?? "TB");
  const m = g.memory;
  const memory = m
    ? `arena ${mb(m.arenaBytes)} for ${m.buffers} buffers (an eager step allocates ${mb(m.eagerAllocatedBytes)}; ` +
      `at most ${mb(m.peakLiveBytes)} alive at once)`
    : "memory not planned yet (the second call plans it)";
  const title =
    `<div style="font-weight:bold">compile(${escapeHtml(f.compiledName)}): ${g.units.length} units, ` +
    `${g.backwardSteps.length} backward nodes, ${g.replays} replays</div>` +
    `<div style="font-size:85%;color:#444">${escapeHtml(g.signature)}; ${escapeHtml(memory)}</div>`;
  let html = `<div class="cnnlab-compiled-graph">${title}${legend()}${img(svg, "static graph")}</div>`;
  let text =
    `compile(${f.compiledName}) graph ${i}: ${g.signature}\n${memory}\n` +
    g.units
      .map(
        (u, p) => `  ${p}. ${u.kind} ${u.name}${u.fusedFrom ? ` [fused: ${u.fusedFrom.join(" + ")}]` : ""}`,
      )
      .join("\n") +
    (g.backwardSteps.length ? `\n  backward nodes: ${g.backwardSteps.map((s) => s.name).join(", ")}` : "");
  if (options.eager instanceof Tensor) {
    const eager = graphBundle(options.eager);
    html =
      `<div style="display:flex;gap:24px;align-items:flex-start">` +
      `<div><div style="font-weight:bold">static (compiled)</div>${html}</div>` +
      `<div><div style="font-weight:bold">dynamic (one eager step)</div>${eager["text/html"]}</div></div>`;
    text += `\n\neager step:\n${eager["text/plain"]}`;
  }
  return { "text/plain": text, "text/html": html, "image/svg+xml": svg };
}

registerGraphRenderer({ accepts: isCompiled, bundle: compiledGraphBundle });
