/** Colormaps as evenly spaced colour stops, linearly interpolated. */
export type ColormapName = "gray" | "viridis" | "diverging";

const hex = (s: string): [number, number, number] => [
  parseInt(s.slice(1, 3), 16),
  parseInt(s.slice(3, 5), 16),
  parseInt(s.slice(5, 7), 16),
];

const STOPS: Record<ColormapName, [number, number, number][]> = {
  gray: ["#000000", "#ffffff"].map(hex),
  // matplotlib's viridis sampled at ten evenly spaced points.
  viridis: [
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
  ].map(hex),
  // Blue (negative) – white (zero) – red (positive), ColorBrewer RdBu reversed.
  diverging: [
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
  ].map(hex),
};

export const COLORMAPS: readonly ColormapName[] = ["gray", "viridis", "diverging"];

export function checkColormap(op: string, name: unknown): ColormapName {
  if (typeof name !== "string" || !(COLORMAPS as readonly string[]).includes(name)) {
    throw new RangeError(
      `${op}: unknown cmap ${JSON.stringify(name)}; expected one of ${COLORMAPS.join(", ")}`,
    );
  }
  return name as ColormapName;
}

/** Writes the colour of t ∈ [0, 1] into out[offset..offset+2]. NaN maps to magenta. */
export function colorAt(name: ColormapName, t: number, out: Uint8Array, offset: number): void {
  if (Number.isNaN(t)) {
    out[offset] = 255;
    out[offset + 1] = 0;
    out[offset + 2] = 255;
    return;
  }
  const stops = STOPS[name];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  out[offset] = Math.round(a[0] + (b[0] - a[0]) * f);
  out[offset + 1] = Math.round(a[1] + (b[1] - a[1]) * f);
  out[offset + 2] = Math.round(a[2] + (b[2] - a[2]) * f);
}

/** A plotly colorscale (`[[0, "rgb(..)"], ..., [1, "rgb(..)"]]`) matching a colormap. */
export function plotlyColorscale(name: ColormapName): [number, string][] {
  const stops = STOPS[name];
  return stops.map((c, i) => [i / (stops.length - 1), `rgb(${c[0]},${c[1]},${c[2]})`]);
}

/** CSS colour of t ∈ [0, 1]. */
export function cssColor(name: ColormapName, t: number): string {
  const px = new Uint8Array(3);
  colorAt(name, t, px, 0);
  return `rgb(${px[0]},${px[1]},${px[2]})`;
}
