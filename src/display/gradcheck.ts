/** Rich display of gradient checks: `GradcheckResult` tables and CS231n readings of relative errors. */
import { GradcheckResult, type InputCheck } from "../autograd/gradcheck.js";
import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";
import { escapeHtml, shapeText } from "./bundle.js";

const PASS = "#1a7f37";
const FAIL = "#cf222e";
const WARN = "#9a6700";

function exp(v: number): string {
  return Number.isFinite(v) ? v.toExponential(2) : String(v);
}

function row(c: InputCheck, r: GradcheckResult): string {
  const td = "padding:2px 8px;text-align:right;font-family:monospace";
  const verdict = c.passed
    ? `<span style="color:${PASS};font-weight:bold">✓ pass</span>`
    : `<span style="color:${FAIL};font-weight:bold">✗ FAIL</span> <span style="font-size:85%">at [${c.worstIndex.join(",")}]: analytic ${c.analytic.toPrecision(6)} vs numerical ${c.numerical.toPrecision(6)}</span>`;
  return (
    `<tr style="background:${c.passed ? "#eefbf0" : "#ffebe9"}">` +
    `<td style="${td};text-align:left">#${c.index} <code>${c.dtype}</code></td>` +
    `<td style="${td}">${escapeHtml(shapeText(c.shape))}</td>` +
    `<td style="${td}">${exp(c.maxAbsError)}</td>` +
    `<td style="${td}">${exp(c.maxRelError)}</td>` +
    `<td style="${td}">atol ${r.atol} + rtol ${r.rtol}·|num|</td>` +
    `<td style="${td}">${c.sampled ? `${c.checked} of ${c.total} (sampled)` : c.checked}</td>` +
    `<td style="${td};text-align:left">${verdict}</td></tr>`
  );
}

/** The bundle of a gradcheck result: a coloured HTML table, with the text table as fallback. */
export function gradcheckBundle(r: GradcheckResult): MimeBundle {
  const th = "padding:2px 8px;border-bottom:1px solid #999;text-align:right";
  const head = ["input", "shape", "max abs err", "max rel err", "tolerance", "checked", "result"]
    .map((h, i) => `<th style="${th}${i === 0 || i === 6 ? ";text-align:left" : ""}">${h}</th>`)
    .join("");
  const title =
    `<div style="margin-bottom:3px"><b style="color:${r.passed ? PASS : FAIL}">gradcheck ${r.passed ? "passed" : "FAILED"}</b>` +
    ` <span style="color:#666;font-size:90%">eps=${r.eps}, atol=${r.atol}, rtol=${r.rtol}</span></div>`;
  const warnings = r.warnings
    .map((w) => `<div style="color:${WARN};font-size:90%">⚠ ${escapeHtml(w)}</div>`)
    .join("");
  const html =
    `<div class="cnnlab-gradcheck">${title}<table style="border-collapse:collapse;font-size:90%">` +
    `<thead><tr>${head}</tr></thead><tbody>${r.inputs.map((c) => row(c, r)).join("")}</tbody></table>${warnings}</div>`;
  return { "text/plain": r.toString(), "text/html": html };
}

(GradcheckResult.prototype as any)[JUPYTER_DISPLAY] = function (this: GradcheckResult): MimeBundle {
  return gradcheckBundle(this);
};

export type RelErrorLevel = "great" | "ok-with-kinks" | "uncomfortable" | "wrong";

/** The CS231n notes' reading of a relative error between analytic and numerical gradients. */
export function relErrorReading(value: number): { level: RelErrorLevel; text: string; color: string } {
  if (!(value < 1e-2) || Number.isNaN(value)) {
    return { level: "wrong", text: "> 1e-2: the gradient is probably wrong", color: FAIL };
  }
  if (value >= 1e-4) {
    return {
      level: "uncomfortable",
      text: "1e-4 … 1e-2: suspicious, should make you uncomfortable",
      color: WARN,
    };
  }
  if (value >= 1e-7) {
    return {
      level: "ok-with-kinks",
      text: "1e-7 … 1e-4: fine for objectives with kinks (ReLU, max); too high without kinks (tanh, softmax)",
      color: "#0969da",
    };
  }
  return { level: "great", text: "< 1e-7: great, the gradient is right", color: PASS };
}

/** A relative error that displays with its CS231n reading; behaves as a number in arithmetic. */
export class RelError {
  constructor(
    readonly value: number,
    readonly label = "relative error",
  ) {}

  get level(): RelErrorLevel {
    return relErrorReading(this.value).level;
  }

  valueOf(): number {
    return this.value;
  }

  toString(): string {
    return `${this.label}: ${this.value.toExponential(2)} (${relErrorReading(this.value).text})`;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    const r = relErrorReading(this.value);
    return {
      "text/plain": this.toString(),
      "text/html":
        `<div class="cnnlab-relerror"><span style="font-family:monospace">${escapeHtml(this.label)}: ` +
        `<b>${this.value.toExponential(2)}</b></span> <span style="color:${r.color}">${escapeHtml(r.text)}</span></div>`,
    };
  }
}

/** Displays a relative error with the CS231n reading (< 1e-7 great … > 1e-2 wrong). */
export function showRelError(value: number, label?: string): void {
  emit(new RelError(value, label)[JUPYTER_DISPLAY]());
}
