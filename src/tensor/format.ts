import type { Tensor } from "./tensor.js";

const SUMMARY_THRESHOLD = 1000;
const EDGE_ITEMS = 3;

interface Formatter {
  format(value: number): string;
  width: number;
}

function makeFormatter(values: number[], dtype: string): Formatter {
  if (dtype === "bool") {
    const format = (v: number) => (v ? "True" : "False");
    return { format, width: values.some((v) => !v) ? 5 : 4 };
  }
  if (dtype === "int32") {
    const width = Math.max(1, ...values.map((v) => String(v).length));
    return { format: (v) => String(v), width };
  }
  const finite = values.filter((v) => Number.isFinite(v));
  const abs = finite.map(Math.abs).filter((v) => v > 0);
  const allIntegral = finite.every((v) => Number.isInteger(v));
  const maxAbs = abs.length ? Math.max(...abs) : 0;
  const minAbs = abs.length ? Math.min(...abs) : 0;
  let format: (v: number) => string;
  if (allIntegral && maxAbs < 1e8) {
    format = (v) => (Number.isFinite(v) ? `${v.toFixed(0)}.` : String(v).replace("Infinity", "inf"));
  } else if (maxAbs >= 1e8 || (minAbs > 0 && (minAbs < 1e-4 || maxAbs / minAbs > 1000))) {
    format = (v) => {
      if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
      const [mantissa, exponent] = v.toExponential(4).split("e");
      const e = Number(exponent);
      return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
    };
  } else {
    format = (v) => (Number.isFinite(v) ? v.toFixed(4) : Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
  }
  const width = Math.max(1, ...values.map((v) => format(v).length));
  return { format, width };
}

/** PyTorch-like text for a tensor: `tensor([[1.0000, 2.0000]], dtype=torch.float64, requires_grad=True)`. */
export function formatTensor(t: Tensor): string {
  const data = t.storage.data;
  const summarize = t.numel() > SUMMARY_THRESHOLD;
  const shape = t.shape;
  const rank = shape.length;

  // Which indices along each dim are shown (all, or the edges with a gap marker -1).
  const shown = shape.map((size) =>
    summarize && size > 2 * EDGE_ITEMS
      ? [
          ...Array.from({ length: EDGE_ITEMS }, (_, i) => i),
          -1,
          ...Array.from({ length: EDGE_ITEMS }, (_, i) => size - EDGE_ITEMS + i),
        ]
      : Array.from({ length: size }, (_, i) => i),
  );
  const visible: number[] = [];
  const collect = (d: number, pos: number): void => {
    if (d === rank) {
      visible.push(data[pos]);
      return;
    }
    for (const i of shown[d]) if (i >= 0) collect(d + 1, pos + i * t.strides[d]);
  };
  collect(0, t.offset);
  const formatter = makeFormatter(visible, t.dtype);

  const prefix = "tensor(";
  const render = (d: number, pos: number, indent: number): string => {
    if (d === rank) return formatter.format(data[pos]).padStart(formatter.width);
    const parts: string[] = [];
    for (const i of shown[d]) parts.push(i < 0 ? "..." : render(d + 1, pos + i * t.strides[d], indent + 1));
    if (d === rank - 1) return `[${parts.join(", ")}]`;
    const separator = "," + "\n".repeat(rank - d - 1) + " ".repeat(indent + 1);
    return `[${parts.join(separator)}]`;
  };
  const body = rank === 0 ? formatter.format(data[t.offset]) : render(0, t.offset, prefix.length);
  const extras: string[] = [];
  if (t.dtype !== "float32" && t.dtype !== "bool") extras.push(`dtype=torch.${t.dtype}`);
  if (t.numel() === 0) extras.push(`size=(${shape.join(", ")}${shape.length === 1 ? "," : ""})`);
  if (t.gradFn) extras.push(`grad_fn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) extras.push("requires_grad=True");
  return `${prefix}${body}${extras.length ? ", " + extras.join(", ") : ""})`;
}
