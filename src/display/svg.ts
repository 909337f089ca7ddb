/**
 * A small SVG writer for static charts (lines, markers, bars) drawn from the same trace/layout
 * objects that go to plotly, so static viewers (GitHub, nbviewer, untrusted notebooks) see the figure.
 */
import { escapeHtml, fmtNumber } from "./bundle.js";

export const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

export interface Trace {
  type: "scatter" | "bar" | "heatmap";
  x?: (number | string)[];
  y?: (number | string | null)[];
  z?: (number | null)[][];
  mode?: "lines" | "markers" | "lines+markers";
  name?: string;
  xaxis?: string;
  yaxis?: string;
  orientation?: "v" | "h";
  marker?: { color?: string; size?: number };
  line?: { color?: string; width?: number };
  [key: string]: unknown;
}

export type Layout = Record<string, any>;

const esc = escapeHtml;

/** Minimal SVG element writer. */
export function el(name: string, attrs: Record<string, string | number | undefined>, children = ""): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join("");
  return children ? `<${name}${a}>${children}</${name}>` : `<${name}${a}/>`;
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => (hi - lo) / s <= count + 0.5) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return ticks;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (v !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return fmtNumber(v, 6);
}

function textWidth(s: string, size = 11): number {
  return s.length * size * 0.58;
}

interface Panel {
  xa: string;
  ya: string;
  traces: Trace[];
}

function axisTitle(axis: any): string {
  const t = axis?.title;
  return typeof t === "string" ? t : typeof t?.text === "string" ? t.text : "";
}

function finite(vs: unknown[]): number[] {
  return vs.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
}

/** Renders a figure (traces + layout) as a standalone SVG document string. */
export function renderSvg(data: Trace[], layout: Layout): string {
  const W = layout.width ?? 640;
  const H = layout.height ?? 400;
  const title = axisTitle(layout);
  const named = data.filter((t) => t.name && t.type !== "heatmap");
  const legend = layout.showlegend ?? named.length > 1;
  const top = (title ? 30 : 12) + (legend ? 20 : 0);
  const panels: Panel[] = [];
  for (const t of data) {
    const xa = t.xaxis ?? "x";
    const ya = t.yaxis ?? "y";
    let p = panels.find((q) => q.xa === xa && q.ya === ya);
    if (!p) panels.push((p = { xa, ya, traces: [] }));
    p.traces.push(t);
  }
  if (panels.length === 0) panels.push({ xa: "x", ya: "y", traces: [] });
  let body = "";
  if (title) {
    body += el("text", { x: W / 2, y: 20, "text-anchor": "middle", "font-size": 15 }, esc(title));
  }
  if (legend) {
    let lx = 60;
    const ly = (title ? 30 : 12) + 10;
    named.forEach((t, i) => {
      const color = t.line?.color ?? t.marker?.color ?? PALETTE[i % PALETTE.length];
      body += el("rect", { x: lx, y: ly - 5, width: 14, height: 4, fill: color });
      body += el("text", { x: lx + 18, y: ly, "font-size": 11, "dominant-baseline": "middle" }, esc(t.name!));
      lx += 30 + textWidth(t.name!);
    });
  }
  const slotW = W / panels.length;
  panels.forEach((p, k) => {
    const suffix = (a: string) => (a.length > 1 ? a.slice(1) : "");
    const xAxis = layout[`xaxis${suffix(p.xa)}`] ?? {};
    const yAxis = layout[`yaxis${suffix(p.ya)}`] ?? {};
    body += renderPanel(p, xAxis, yAxis, k * slotW, top, slotW, H - top);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="Helvetica, Arial, sans-serif">` +
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "white" }) +
    body +
    `</svg>`
  );
}

function renderPanel(p: Panel, xAxis: any, yAxis: any, x0: number, y0: number, w: number, h: number): string {
  const left = x0 + 58;
  const right = x0 + w - 14;
  const topY = y0 + 4;
  const bottom = y0 + h - 42;
  const pw = right - left;
  const ph = bottom - topY;
  let out = "";
  const bars = p.traces.filter((t) => t.type === "bar");
  const categorical = p.traces.some((t) => (t.x ?? []).some((v) => typeof v === "string"));
  const logY = yAxis.type === "log";
  // X scale.
  let xs: (v: number | string, i: number) => number;
  let xTicks: { pos: number; label: string }[] = [];
  if (categorical || bars.length) {
    const cats: (string | number)[] = [];
    for (const t of p.traces)
      for (const v of t.x ?? t.y?.map((_, i) => i) ?? []) if (!cats.includes(v)) cats.push(v);
    const band = pw / Math.max(1, cats.length);
    xs = (v) => left + band * (cats.indexOf(v) + 0.5);
    const every = Math.max(1, Math.ceil((cats.length * 40) / pw));
    xTicks = cats
      .map((c, i) => ({ pos: left + band * (i + 0.5), label: typeof c === "number" ? tickLabel(c) : c, i }))
      .filter((t) => t.i % every === 0);
  } else {
    const all = finite(p.traces.flatMap((t) => t.x ?? (t.y ?? []).map((_, i) => i)));
    let lo = all.length ? Math.min(...all) : 0;
    let hi = all.length ? Math.max(...all) : 1;
    if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
    if (p.traces.some((t) => (t.mode ?? "").includes("markers"))) {
      const pad = (hi - lo) * 0.04;
      [lo, hi] = [lo - pad, hi + pad];
    }
    const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(pw / 80)));
    xs = (v) => left + ((Number(v) - lo) / (hi - lo)) * pw;
    xTicks = ticks.map((t) => ({ pos: xs(t, 0), label: tickLabel(t) }));
  }
  // Y scale.
  let ys = finite(p.traces.flatMap((t) => t.y ?? []));
  if (logY) ys = ys.filter((v) => v > 0);
  let ylo = ys.length ? Math.min(...ys) : 0;
  let yhi = ys.length ? Math.max(...ys) : 1;
  if (bars.length && !logY) [ylo, yhi] = [Math.min(0, ylo), Math.max(0, yhi)];
  let yTicks: number[];
  let yScale: (v: number) => number;
  if (logY) {
    if (!ys.length) [ylo, yhi] = [1, 10];
    const a = Math.floor(Math.log10(ylo));
    const b = Math.max(a + 1, Math.ceil(Math.log10(yhi)));
    yTicks = Array.from({ length: b - a + 1 }, (_, i) => 10 ** (a + i));
    yScale = (v) => bottom - ((Math.log10(v) - a) / (b - a)) * ph;
  } else {
    if (ylo === yhi) [ylo, yhi] = [ylo - 1, yhi + 1];
    const pad = (yhi - ylo) * 0.05;
    const lo = bars.length && ylo === 0 ? 0 : ylo - pad;
    const hi = yhi + pad;
    yTicks = niceTicks(lo, hi, Math.max(2, Math.floor(ph / 50)));
    yScale = (v) => bottom - ((v - lo) / (hi - lo)) * ph;
  }
  // Grid and axes.
  for (const t of yTicks) {
    const y = yScale(t);
    if (y < topY - 0.5 || y > bottom + 0.5) continue;
    out += el("line", { x1: left, x2: right, y1: y, y2: y, stroke: "#e5e5e5" });
    out += el(
      "text",
      { x: left - 5, y, "text-anchor": "end", "dominant-baseline": "middle", "font-size": 10 },
      esc(tickLabel(t)),
    );
  }
  for (const t of xTicks) {
    if (t.pos < left - 0.5 || t.pos > right + 0.5) continue;
    out += el("line", { x1: t.pos, x2: t.pos, y1: bottom, y2: bottom + 4, stroke: "#444" });
    out += el("text", { x: t.pos, y: bottom + 15, "text-anchor": "middle", "font-size": 10 }, esc(t.label));
  }
  out += el("rect", { x: left, y: topY, width: pw, height: ph, fill: "none", stroke: "#444" });
  const xt = axisTitle(xAxis);
  const yt = axisTitle(yAxis);
  if (xt)
    out += el(
      "text",
      { x: left + pw / 2, y: bottom + 33, "text-anchor": "middle", "font-size": 12 },
      esc(xt),
    );
  if (yt) {
    out += el(
      "text",
      {
        x: x0 + 14,
        y: topY + ph / 2,
        "text-anchor": "middle",
        "font-size": 12,
        transform: `rotate(-90 ${x0 + 14} ${topY + ph / 2})`,
      },
      esc(yt),
    );
  }
  // Traces.
  const clipId = `clip${Math.round(x0)}_${Math.round(y0)}`;
  let marks = "";
  const barCount = bars.length;
  p.traces.forEach((t, i) => {
    const color = t.line?.color ?? t.marker?.color ?? PALETTE[i % PALETTE.length];
    const yv = t.y ?? [];
    const xv = t.x ?? yv.map((_, k) => k);
    if (t.type === "bar") {
      const cats = new Set(p.traces.flatMap((q) => q.x ?? (q.y ?? []).map((_, k) => k))).size;
      const band = pw / Math.max(1, cats);
      const bw = (band * 0.8) / barCount;
      const bi = bars.indexOf(t);
      const y0b = yScale(logY ? Math.max(1e-300, 10 ** Math.floor(Math.log10(ylo))) : 0);
      yv.forEach((v, k) => {
        if (typeof v !== "number" || !Number.isFinite(v)) return;
        const cx = xs(xv[k], k) - (band * 0.8) / 2 + bi * bw;
        const y = yScale(v);
        marks += el("rect", {
          x: cx,
          y: Math.min(y, y0b),
          width: bw,
          height: Math.abs(y0b - y),
          fill: color,
        });
      });
      return;
    }
    if (t.type !== "scatter") return;
    const mode = t.mode ?? "lines";
    const pts: [number, number][] = [];
    const segments: [number, number][][] = [];
    yv.forEach((v, k) => {
      const ok = typeof v === "number" && Number.isFinite(v) && (!logY || v > 0);
      if (!ok) {
        if (pts.length) segments.push(pts.splice(0));
        return;
      }
      pts.push([xs(xv[k], k), yScale(v as number)]);
    });
    if (pts.length) segments.push(pts.splice(0));
    if (mode.includes("lines")) {
      for (const s of segments) {
        marks += el("polyline", {
          points: s.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
          fill: "none",
          stroke: color,
          "stroke-width": t.line?.width ?? 2,
        });
      }
    }
    if (mode.includes("markers")) {
      const r = (t.marker?.size ?? 6) / 2;
      for (const s of segments)
        for (const [x, y] of s)
          marks += el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r, fill: color, "fill-opacity": 0.8 });
    }
  });
  out += `<clipPath id="${clipId}">${el("rect", { x: left, y: topY, width: pw, height: ph })}</clipPath>`;
  out += `<g clip-path="url(#${clipId})">${marks}</g>`;
  return out;
}
