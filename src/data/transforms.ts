/**
 * Image transforms for [C, H, W] images or [N, C, H, W] batches (random ones draw per image).
 * They work on data, outside autograd, and return new tensors.
 */
import { allocate, isFloating, type FloatArray } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { defaultGenerator, Generator } from "../tensor/random.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguous } from "../ops/view.js";
import { pair } from "../backend/geometry.js";

/** A transform maps one value to another; image transforms map a tensor to a tensor. */
export type Transform<I = Tensor, O = Tensor> = (input: I) => O;

/** [N, C, H, W] view of an image or batch, and whether it was a single image. */
function asBatch(op: string, x: Tensor): { n: number; c: number; h: number; w: number; single: boolean } {
  if (!(x instanceof Tensor))
    throw new TypeError(`${op}: expected a tensor image [C, H, W] or batch [N, C, H, W]`);
  if (x.ndim === 3) return { n: 1, c: x.shape[0], h: x.shape[1], w: x.shape[2], single: true };
  if (x.ndim === 4) return { n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], single: false };
  throw new RangeError(
    `${op}: expected an image [C, H, W] or a batch [N, C, H, W], got shape ${shapeToString(x.shape)}`,
  );
}

function perChannel(op: string, name: string, value: number | readonly number[], c: number): number[] {
  const list = typeof value === "number" ? [value] : [...value];
  if (list.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
    throw new TypeError(
      `${op}: ${name} must be a number or an array of numbers, got ${JSON.stringify(value)}`,
    );
  }
  if (list.length === 1) return new Array<number>(c).fill(list[0]);
  if (list.length !== c) {
    throw new RangeError(`${op}: ${name} has ${list.length} values but the image has ${c} channels`);
  }
  return list;
}

/** (x − mean[c]) / std[c] per channel (one number applies to every channel). */
export function normalize(mean: number | readonly number[], std: number | readonly number[]): Transform {
  const stds = typeof std === "number" ? [std] : [...std];
  if (stds.some((s) => s === 0))
    throw new RangeError(`normalize: std must not be 0, got ${JSON.stringify(std)}`);
  return (x: Tensor) => {
    const { n, c, h, w } = asBatch("normalize", x);
    if (!isFloating(x.dtype)) {
      throw new TypeError(
        `normalize: expects a float32 or float64 image, got ${x.dtype} (convert pixels with toTensor first)`,
      );
    }
    const m = perChannel("normalize", "mean", mean, c);
    const s = perChannel("normalize", "std", std, c);
    const src = contiguous(x).data;
    const out = allocate(x.dtype, src.length) as FloatArray;
    const plane = h * w;
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * plane;
        const mu = m[ch];
        const inv = s[ch];
        for (let i = 0; i < plane; i++) out[base + i] = (src[base + i] - mu) / inv;
      }
    }
    return Tensor.fromData(out, x.shape);
  };
}

export interface RandomCropOptions {
  /** Zeros (or `fill`) added on each side before cropping: a number, or [top/bottom, left/right]. */
  padding?: number | [number, number];
  /** The padding value (default 0). */
  fill?: number;
  /** Generator to draw positions from (default: the global one, seeded by manualSeed). */
  generator?: Generator;
}

/**
 * Pads by `padding` and cuts a random `size` window (the CIFAR-10 augmentation: `randomCrop(32, {padding: 4})`).
 * Each image of a batch gets its own position.
 */
export function randomCrop(size: number | [number, number], options?: RandomCropOptions): Transform {
  const o = checkOptions("randomCrop", options, ["padding", "fill", "generator"]);
  const [th, tw] = pair("randomCrop", "size", size, 1, 1);
  const [ph, pw] = pair("randomCrop", "padding", o.padding, 0, 0);
  const fill = o.fill ?? 0;
  const gen = o.generator ?? defaultGenerator;
  return (x: Tensor) => {
    const { n, c, h, w, single } = asBatch("randomCrop", x);
    const H = h + 2 * ph;
    const W = w + 2 * pw;
    if (th > H || tw > W) {
      throw new RangeError(
        `randomCrop: crop ${th}×${tw} is larger than the padded image ${H}×${W} (input ${shapeToString(x.shape)}, padding ${ph}, ${pw})`,
      );
    }
    const src = contiguous(x).data;
    const out = allocate(x.dtype, n * c * th * tw);
    for (let b = 0; b < n; b++) {
      // window origin in padded coordinates
      const top = gen.integer(0, H - th + 1);
      const left = gen.integer(0, W - tw + 1);
      for (let ch = 0; ch < c; ch++) {
        const sBase = (b * c + ch) * h * w;
        const oBase = (b * c + ch) * th * tw;
        for (let i = 0; i < th; i++) {
          const y = top + i - ph;
          for (let j = 0; j < tw; j++) {
            const xx = left + j - pw;
            out[oBase + i * tw + j] = y >= 0 && y < h && xx >= 0 && xx < w ? src[sBase + y * w + xx] : fill;
          }
        }
      }
    }
    return Tensor.fromData(out, single ? [c, th, tw] : [n, c, th, tw]);
  };
}

/** Mirrors each image left–right with probability `p` (default 0.5). */
export function randomHorizontalFlip(p = 0.5, options?: { generator?: Generator }): Transform {
  const o = checkOptions("randomHorizontalFlip", options, ["generator"]);
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(`randomHorizontalFlip: p must be a probability in [0, 1], got ${p}`);
  }
  const gen = o.generator ?? defaultGenerator;
  return (x: Tensor) => {
    const { n, c, h, w } = asBatch("randomHorizontalFlip", x);
    const src = contiguous(x).data;
    const out = allocate(x.dtype, src.length);
    const img = c * h * w;
    for (let b = 0; b < n; b++) {
      const flip = gen.random() < p;
      const base = b * img;
      if (!flip) {
        out.set(src.subarray(base, base + img), base);
        continue;
      }
      for (let r = 0; r < c * h; r++) {
        const row = base + r * w;
        for (let j = 0; j < w; j++) out[row + j] = src[row + w - 1 - j];
      }
    }
    return Tensor.fromData(out, x.shape);
  };
}

export interface ToTensorOptions {
  /** Shape of a typed-array input ([H, W], [H, W, C], [C, H, W], or with a leading batch dim). */
  shape?: readonly number[];
  /** Layout of 3-d (4-d) input: "HWC" (image files, PyTorch's ToTensor; the default) or "CHW". */
  layout?: "HWC" | "CHW";
  /** Output dtype (default float32). */
  dtype?: "float32" | "float64";
}

/**
 * Pixels 0..255 (a Uint8Array / Uint8ClampedArray with `shape`, or an int32 tensor) → a float
 * tensor in [0, 1], channels first: [H, W] → [1, H, W]; HWC → CHW; [N, H, W, C] → [N, C, H, W].
 */
export function toTensor(input: Tensor | Uint8Array | Uint8ClampedArray, options?: ToTensorOptions): Tensor {
  const o = checkOptions("toTensor", options, ["shape", "layout", "dtype"]);
  const layout = o.layout ?? "HWC";
  if (layout !== "HWC" && layout !== "CHW")
    throw new RangeError(`toTensor: layout must be "HWC" or "CHW", got ${String(layout)}`);
  const dtype = o.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64")
    throw new RangeError(`toTensor: dtype must be float32 or float64, got ${String(dtype)}`);
  let pixels: ArrayLike<number>;
  let shape: number[];
  if (input instanceof Tensor) {
    if (input.dtype !== "int32") {
      throw new TypeError(
        `toTensor: expects pixel values 0..255 as an int32 tensor or a Uint8Array, got a ${input.dtype} tensor`,
      );
    }
    pixels = contiguous(input).data;
    shape = [...input.shape];
    const bad = Array.prototype.findIndex.call(pixels, (v: number) => v < 0 || v > 255);
    if (bad >= 0) throw new RangeError(`toTensor: pixel ${bad} is ${pixels[bad]}, outside 0..255`);
  } else if (input instanceof Uint8Array || input instanceof Uint8ClampedArray) {
    if (o.shape === undefined) throw new TypeError("toTensor: a typed-array input needs options.shape");
    shape = [...o.shape];
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== input.length) {
      throw new RangeError(
        `toTensor: shape ${shapeToString(shape)} needs ${count} values, the array has ${input.length}`,
      );
    }
    pixels = input;
  } else {
    throw new TypeError("toTensor: expects a Uint8Array, a Uint8ClampedArray or an int32 tensor of pixels");
  }
  const out = allocate(dtype, pixels.length) as FloatArray;
  if (shape.length === 2) {
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
    return Tensor.fromData(out, [1, shape[0], shape[1]]);
  }
  if (shape.length !== 3 && shape.length !== 4) {
    throw new RangeError(
      `toTensor: expected [H, W], [H, W, C] / [C, H, W] or a batch of those, got ${shapeToString(shape)}`,
    );
  }
  const batched = shape.length === 4;
  const n = batched ? shape[0] : 1;
  const dims = batched ? shape.slice(1) : shape;
  if (layout === "CHW") {
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
    return Tensor.fromData(out, shape);
  }
  const [h, w, c] = dims;
  const img = h * w * c;
  for (let b = 0; b < n; b++) {
    const base = b * img;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++)
          out[base + (ch * h + y) * w + x] = pixels[base + (y * w + x) * c + ch] / 255;
      }
    }
  }
  return Tensor.fromData(out, batched ? [n, c, h, w] : [c, h, w]);
}

/** Applies the transforms left to right: `compose(randomCrop(32, {padding: 4}), randomHorizontalFlip(), normalize(m, s))`. */
export function compose(...transforms: (Transform<any, any> | Transform<any, any>[])[]): Transform<any, any> {
  const list = transforms.flat();
  list.forEach((t, i) => {
    if (typeof t !== "function") throw new TypeError(`compose: transform ${i} is not a function`);
  });
  return (x: unknown) => list.reduce((acc, t) => t(acc), x);
}
