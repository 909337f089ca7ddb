import { Tensor } from "../tensor/tensor.js";
import { contiguousData } from "../ops/util.js";
import { checkOptions } from "../tensor/options.js";
import { checkColormap, colorAt, type ColormapName } from "./colormap.js";
import { newRgbImage, pngBase64, type RgbImage } from "./png.js";
import { JUPYTER_DISPLAY, emit, type MimeBundle } from "./emit.js";
import { escapeHtml, shapeText } from "./bundle.js";

export interface ImageOptions {
  /** Tiles per row (default: ceil(sqrt(tiles)), or C for per-channel grids). */
  nrow?: number;
  /** Pixels between tiles, in displayed (scaled) pixels. Default 2. */
  padding?: number;
  /** Min–max scale each image separately (CS231n's visualize_grid, the default) or all together. */
  normalize?: "per-image" | "global";
  /** Integer nearest-neighbour upscaling factor; default makes small maps about 64 px tall. */
  scale?: number;
  /** Colormap for single-channel images (default gray); RGB images ignore it unless `rgb: false`. */
  cmap?: ColormapName;
  /** Treat C = 3 as RGB (default true). */
  rgb?: boolean;
  /** Caption shown above the picture (HTML) and in the text form. */
  title?: string;
  /** At most this many tiles are drawn (default 256). */
  maxTiles?: number;
}

const IMAGE_KEYS = ["nrow", "padding", "normalize", "scale", "cmap", "rgb", "title", "maxTiles"] as const;

/** The tiled picture and how it was laid out. */
export interface Grid {
  image: RgbImage;
  /** Number of tiles drawn and available. */
  tiles: number;
  totalTiles: number;
  rows: number;
  cols: number;
  tileHeight: number;
  tileWidth: number;
  scale: number;
  rgb: boolean;
  /** Value range used (global normalisation) or null (per image). */
  range: [number, number] | null;
}

interface Tiles {
  data: ArrayLike<number>;
  /** Number of tiles. */
  n: number;
  /** Channels per tile: 1 or 3. */
  c: number;
  h: number;
  w: number;
  /** Default tiles per row. */
  defaultCols: number;
}

/** Reads a tensor as tiles: [H,W], [C,H,W] (C = 1 or 3), [N,H,W], [N,C,H,W]. */
function tilesOf(op: string, t: Tensor, rgb: boolean, forceChannelGrid: boolean): Tiles {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${typeof t}`);
  const data = contiguousData(t);
  const s = t.shape;
  if (s.some((d) => d === 0))
    throw new RangeError(`${op}: cannot show an empty tensor of shape ${shapeText(s)}`);
  if (s.length === 2) return { data, n: 1, c: 1, h: s[0], w: s[1], defaultCols: 1 };
  if (s.length === 3) {
    if (!forceChannelGrid && (s[0] === 1 || (s[0] === 3 && rgb))) {
      return { data, n: 1, c: s[0], h: s[1], w: s[2], defaultCols: 1 };
    }
    return { data, n: s[0], c: 1, h: s[1], w: s[2], defaultCols: Math.ceil(Math.sqrt(s[0])) };
  }
  if (s.length === 4) {
    const [n, c, h, w] = s;
    if (c === 1 || (c === 3 && rgb)) return { data, n, c, h, w, defaultCols: Math.ceil(Math.sqrt(n)) };
    // One tile per (image, channel), one image per row.
    return { data, n: n * c, c: 1, h, w, defaultCols: c };
  }
  throw new RangeError(
    `${op}: expected an image tensor [H,W], [C,H,W], [N,H,W] or [N,C,H,W], got shape ${shapeText(s)}`,
  );
}

function autoScale(h: number, w: number): number {
  return Math.max(1, Math.min(16, Math.floor(64 / Math.max(h, w))));
}

function rangeOf(data: ArrayLike<number>, start: number, end: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = start; i < end; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Maps a value to [0, 1] for a range: min–max, or symmetric about zero for the diverging map. */
function normalizer(lo: number, hi: number, diverging: boolean): (v: number) => number {
  if (diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    return m > 0 && Number.isFinite(m) ? (v) => 0.5 + v / (2 * m) : () => 0.5;
  }
  const span = hi - lo;
  return span > 0 && Number.isFinite(span) ? (v) => (v - lo) / span : () => 0;
}

/** Lays tensors out as a grid picture (CS231n visualize_grid: each tile min–max scaled, padding between). */
export function imageGrid(t: Tensor, options: ImageOptions = {}, op = "showImages"): Grid {
  const opts = checkOptions(op, options, [...IMAGE_KEYS]);
  const cmap = checkColormap(op, opts.cmap ?? "gray");
  const normalize = opts.normalize ?? "per-image";
  if (normalize !== "per-image" && normalize !== "global") {
    throw new RangeError(
      `${op}: normalize must be "per-image" or "global", got ${JSON.stringify(normalize)}`,
    );
  }
  const tiles = tilesOf(op, t, opts.rgb ?? true, false);
  const maxTiles = opts.maxTiles ?? 256;
  const count = Math.min(tiles.n, maxTiles);
  const cols = Math.max(1, Math.min(count, Math.floor(opts.nrow ?? tiles.defaultCols)));
  const rows = Math.ceil(count / cols);
  const scale = opts.scale ?? autoScale(tiles.h, tiles.w);
  if (!Number.isInteger(scale) || scale < 1)
    throw new RangeError(`${op}: scale must be a positive integer, got ${scale}`);
  const padding = opts.padding ?? 2;
  if (!Number.isInteger(padding) || padding < 0) {
    throw new RangeError(`${op}: padding must be a non-negative integer, got ${padding}`);
  }
  const { data, c, h, w } = tiles;
  const th = h * scale;
  const tw = w * scale;
  const img = newRgbImage(cols * tw + (cols - 1) * padding, rows * th + (rows - 1) * padding, 0);
  const tileSize = c * h * w;
  const diverging = cmap === "diverging";
  const global = normalize === "global" ? rangeOf(data, 0, count * tileSize) : null;
  const plane = h * w;
  for (let k = 0; k < count; k++) {
    const base = k * tileSize;
    const [lo, hi] = global ?? rangeOf(data, base, base + tileSize);
    const norm = normalizer(lo, hi, diverging && c === 1);
    const x0 = (k % cols) * (tw + padding);
    const y0 = Math.floor(k / cols) * (th + padding);
    for (let y = 0; y < th; y++) {
      const sy = Math.floor(y / scale);
      for (let x = 0; x < tw; x++) {
        const src = base + sy * w + Math.floor(x / scale);
        const d = ((y0 + y) * img.width + x0 + x) * 3;
        if (c === 3) {
          for (let ch = 0; ch < 3; ch++) {
            const v = norm(data[src + ch * plane]);
            img.data[d + ch] = Number.isNaN(v) ? 255 : Math.round(255 * Math.min(1, Math.max(0, v)));
          }
        } else {
          colorAt(cmap, norm(data[src]), img.data, d);
        }
      }
    }
  }
  return {
    image: img,
    tiles: count,
    totalTiles: tiles.n,
    rows,
    cols,
    tileHeight: h,
    tileWidth: w,
    scale,
    rgb: c === 3,
    range: global,
  };
}

function describeGrid(t: Tensor, g: Grid, cmap: string): string {
  const what = g.rgb ? "RGB" : cmap;
  const shown = g.tiles < g.totalTiles ? `first ${g.tiles} of ${g.totalTiles}` : `${g.tiles}`;
  return (
    `<image of tensor ${shapeText(t.shape)}: ${shown} tile${g.tiles === 1 ? "" : "s"} ${g.tileHeight}x${g.tileWidth} ` +
    `(${what}, x${g.scale}) in a ${g.rows}x${g.cols} grid, ${g.image.width}x${g.image.height} px>`
  );
}

/** The bundle of a picture: PNG plus text, plus an HTML caption when a title is given. */
export function pictureBundle(png: string, text: string, title?: string, note?: string): MimeBundle {
  const bundle: MimeBundle = { "image/png": png, "text/plain": title ? `${title}\n${text}` : text };
  if (title || note) {
    bundle["text/html"] =
      `<figure style="margin:0.3em 0">` +
      (title
        ? `<figcaption style="font-family:monospace;font-size:90%">${escapeHtml(title)}</figcaption>`
        : "") +
      `<img src="data:image/png;base64,${png}" alt="${escapeHtml(title ?? "image")}" style="image-rendering:pixelated"/>` +
      (note ? `<div style="font-size:85%;color:#666">${escapeHtml(note)}</div>` : "") +
      `</figure>`;
  }
  return bundle;
}

/** The bundle of a tensor shown as an image grid (see `showImages`). */
export function imagesBundle(t: Tensor, options: ImageOptions = {}, op = "showImages"): MimeBundle {
  const g = imageGrid(t, options, op);
  const note = g.tiles < g.totalTiles ? `showing ${g.tiles} of ${g.totalTiles} tiles` : undefined;
  return pictureBundle(pngBase64(g.image), describeGrid(t, g, options.cmap ?? "gray"), options.title, note);
}

/**
 * Shows [N,C,H,W] / [N,H,W] / [C,H,W] / [H,W] tensors as a grid of images: each image min–max
 * scaled (or all together with `normalize: "global"`), padding between tiles, small maps upscaled.
 */
export function showImages(t: Tensor, options: ImageOptions = {}): void {
  emit(imagesBundle(t, options, "showImages"));
}

/** Conv filters [K,C,F,F]: RGB tiles when C = 3, otherwise one row of C channel tiles per filter. */
export function filtersBundle(weight: Tensor, options: ImageOptions = {}): MimeBundle {
  if (!(weight instanceof Tensor) || weight.ndim !== 4) {
    throw new RangeError(
      `showFilters: expected conv weights [K,C,F,F], got ${weight instanceof Tensor ? `shape ${shapeText(weight.shape)}` : typeof weight}`,
    );
  }
  const c = weight.shape[1];
  const rgb = c === 3 && options.rgb !== false;
  const opts: ImageOptions = {
    cmap: rgb ? undefined : "diverging",
    title: `filters ${shapeText(weight.shape)}`,
    ...options,
  };
  return imagesBundle(weight, opts, "showFilters");
}

export function showFilters(weight: Tensor, options: ImageOptions = {}): void {
  emit(filtersBundle(weight, options));
}

export interface GradientOptions extends ImageOptions {
  /** Show max |g| over channels (a saliency map) instead of signed per-channel gradients. */
  saliency?: boolean;
}

/** Gradient maps: signed values on the diverging colormap (or |g| maxed over channels with `saliency`). */
export function gradientsBundle(grad: Tensor | null | undefined, options: GradientOptions = {}): MimeBundle {
  if (grad === null || grad === undefined) {
    throw new TypeError("showGradients: the gradient is null; call .backward() first (and pass x.grad)");
  }
  const { saliency, ...rest } = options;
  if (saliency) {
    const s = grad.shape;
    if (s.length !== 4 && s.length !== 3) {
      throw new RangeError(`showGradients: saliency needs [N,C,H,W] or [C,H,W], got ${shapeText(s)}`);
    }
    const [n, c, h, w] = s.length === 4 ? s : [1, ...s];
    const src = contiguousData(grad);
    const out = new Float64Array(n * h * w);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < h * w; p++) {
        let m = 0;
        for (let ch = 0; ch < c; ch++) m = Math.max(m, Math.abs(src[(i * c + ch) * h * w + p]));
        out[i * h * w + p] = m;
      }
    return imagesBundle(
      Tensor.fromData(out, [n, h, w]),
      { cmap: "gray", title: `saliency max|grad| ${shapeText(s)}`, ...rest },
      "showGradients",
    );
  }
  return imagesBundle(
    grad,
    { cmap: "diverging", rgb: false, title: `gradient ${shapeText(grad.shape)} (blue < 0 < red)`, ...rest },
    "showGradients",
  );
}

export function showGradients(grad: Tensor | null | undefined, options: GradientOptions = {}): void {
  emit(gradientsBundle(grad, options));
}

/** A tensor viewed as an image grid; displays itself (as a cell's value or through `display`). */
export class ImageView {
  constructor(
    readonly tensor: Tensor,
    readonly options: ImageOptions = {},
  ) {
    imageGrid(tensor, options, "toImage"); // validate now, not at display time
  }

  toString(): string {
    return String(imagesBundle(this.tensor, this.options, "toImage")["text/plain"]);
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return imagesBundle(this.tensor, this.options, "toImage");
  }
}

/** A 2-d or image-shaped tensor as a picture object: `toImage(x[0])` as a cell's last line shows it. */
export function toImage(t: Tensor, options: ImageOptions = {}): ImageView {
  return new ImageView(t, options);
}
