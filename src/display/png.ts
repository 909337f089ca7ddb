import { encode } from "fast-png";

/** An 8-bit RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function newRgbImage(width: number, height: number, fill = 0): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(fill) };
}

/** PNG bytes of an RGB image (encoded by fast-png). */
export function encodePngBytes(img: RgbImage): Uint8Array {
  return encode({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}

/** Base64 PNG, the form Jupyter bundles carry. */
export function pngBase64(img: RgbImage): string {
  const bytes = encodePngBytes(img);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Nearest-neighbour upscaling by an integer factor. */
export function upscale(img: RgbImage, factor: number): RgbImage {
  if (factor <= 1) return img;
  const out = newRgbImage(img.width * factor, img.height * factor);
  for (let y = 0; y < out.height; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < out.width; x++) {
      const s = (sy * img.width + Math.floor(x / factor)) * 3;
      const d = (y * out.width + x) * 3;
      out.data[d] = img.data[s];
      out.data[d + 1] = img.data[s + 1];
      out.data[d + 2] = img.data[s + 2];
    }
  }
  return out;
}
