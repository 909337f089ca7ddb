import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";

/** The MIME bundle of any value: its own display, a raw bundle, or its text. */
export function bundleOf(value: unknown): MimeBundle {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    const fn = (value as any)[JUPYTER_DISPLAY];
    if (typeof fn === "function") {
      const bundle = fn.call(value) as MimeBundle;
      if (bundle && typeof bundle === "object") {
        return bundle["text/plain"] === undefined ? { ...bundle, "text/plain": String(value) } : bundle;
      }
    }
    const keys = Object.keys(value);
    const proto = Object.getPrototypeOf(value);
    if (
      (proto === Object.prototype || proto === null) &&
      keys.length > 0 &&
      keys.every((k) => /^[a-z]+\/[\w.+-]+$/i.test(k))
    ) {
      return value as MimeBundle;
    }
  }
  return { "text/plain": typeof value === "string" ? value : String(value) };
}

/** Displays a value now (in a notebook: as its richest MIME type; in a terminal: as text). */
export function display(value: unknown): void {
  emit(bundleOf(value));
}

/** Escapes text for HTML. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** JSON safe to embed in a `<script>` element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** `[2, 3, 4]` */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** A short, readable number: 3 significant digits, exponent for very large/small. */
export function fmtNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e9) return String(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, digits - 2));
  return String(Number(v.toPrecision(digits)));
}
