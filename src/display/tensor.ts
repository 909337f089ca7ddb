/**
 * Rich display of tensors: attaches `[Symbol.for("Jupyter.display")]` to `Tensor.prototype`
 * (a side effect of importing this module, done by src/display/index.ts).
 */
import { Tensor } from "../tensor/tensor.js";
import { contiguousData } from "../ops/util.js";
import { JUPYTER_DISPLAY, type MimeBundle } from "./emit.js";
import { escapeHtml, fmtNumber, shapeText } from "./bundle.js";

/** Tensors up to this many rows/columns get a full HTML table. */
const TABLE_MAX = 24;
const EDGE = 5;

function header(t: Tensor): string {
  const parts = [
    `<b>Tensor</b> ${escapeHtml(shapeText(t.shape))}`,
    `<code>${t.dtype}</code>`,
    t.numel() === 1 && t.ndim > 0 ? "" : `${t.numel().toLocaleString("en-US")} elements`,
  ];
  if (t.gradFn) parts.push(`grad_fn=<code>${escapeHtml(t.gradFn.name)}</code>`);
  else if (t.requiresGrad) parts.push(`<span style="color:#b35900">requires grad</span>`);
  if (t.grad) parts.push(`has .grad`);
  return parts.filter((p) => p).join(" · ");
}

function cell(v: number, dtype: string): string {
  if (dtype === "bool") return v ? "True" : "False";
  if (dtype === "int32") return String(v);
  return fmtNumber(v, 5);
}

/** Indices shown along a dimension: all, or the edges with a gap (-1). */
function shownIndices(n: number): number[] {
  if (n <= TABLE_MAX) return Array.from({ length: n }, (_, i) => i);
  return [
    ...Array.from({ length: EDGE }, (_, i) => i),
    -1,
    ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i),
  ];
}

function table(t: Tensor): string {
  const data = contiguousData(t);
  const rows = t.ndim === 1 ? 1 : t.shape[0];
  const cols = t.ndim === 1 ? t.shape[0] : t.shape[1];
  const ri = shownIndices(rows);
  const ci = shownIndices(cols);
  const th = "padding:1px 6px;color:#888;font-weight:normal;text-align:right";
  const td = "padding:1px 6px;text-align:right;font-family:monospace";
  let html = `<table style="border-collapse:collapse;font-size:90%"><thead><tr><th style="${th}"></th>`;
  for (const c of ci) html += `<th style="${th}">${c < 0 ? "…" : c}</th>`;
  html += "</tr></thead><tbody>";
  for (const r of ri) {
    html += `<tr><th style="${th}">${r < 0 ? "⋮" : t.ndim === 1 ? "" : r}</th>`;
    for (const c of ci) {
      html += `<td style="${td}">${r < 0 || c < 0 ? "…" : cell(data[r * cols + c], t.dtype)}</td>`;
    }
    html += "</tr>";
  }
  return html + "</tbody></table>";
}

/** min, max, mean, std of a tensor (NaN-aware: NaNs are counted, not summed). */
export function tensorStats(t: Tensor): {
  min: number;
  max: number;
  mean: number;
  std: number;
  nans: number;
} {
  const data = contiguousData(t);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  let nans = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isNaN(v)) {
      nans++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    n++;
  }
  const mean = n ? sum / n : NaN;
  let sq = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isNaN(data[i])) sq += (data[i] - mean) ** 2;
  return { min, max, mean, std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0, nans };
}

/** The MIME bundle of a tensor: PyTorch-like text, and HTML with a header and a table or a summary. */
export function tensorBundle(t: Tensor): MimeBundle {
  const text = t.toString();
  const large = t.numel() > 1000 && t.dtype !== "bool";
  let body = "";
  if (large) {
    const s = tensorStats(t);
    body +=
      `<div style="font-size:90%">min ${fmtNumber(s.min)} · max ${fmtNumber(s.max)} · mean ${fmtNumber(s.mean)}` +
      ` · std ${fmtNumber(s.std)}${s.nans ? ` · <b style="color:#c00">${s.nans} NaN</b>` : ""}</div>`;
  }
  if ((t.ndim === 1 || t.ndim === 2) && t.numel() > 0) body += table(t);
  else body += `<pre style="font-size:85%">${escapeHtml(text)}</pre>`;
  return {
    "text/plain": text,
    "text/html": `<div class="cnnlab-tensor"><div style="margin-bottom:2px">${header(t)}</div>${body}</div>`,
  };
}

(Tensor.prototype as any)[JUPYTER_DISPLAY] = function (this: Tensor): MimeBundle {
  return tensorBundle(this);
};
