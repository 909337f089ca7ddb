import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "fast-png";
import { Tensor } from "../tensor/tensor.js";

/** Where Debian's python3-skimage keeps its sample photographs. */
export const SAMPLE_IMAGE_DIRS = [
  "/usr/lib/python3/dist-packages/skimage/data",
  "/usr/share/python3-skimage/data",
];

/**
 * Reads a PNG file into a float32 tensor [C, H, W] with values in [0, 1] (C = 1 for gray, 3 for
 * colour; an alpha channel is dropped).
 */
export function readImage(path: string): Tensor {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`readImage: cannot read ${path}: ${(error as Error).message}`);
  }
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (error) {
    throw new Error(
      `readImage: ${path} is not a PNG image this reader understands: ${(error as Error).message}`,
    );
  }
  const { width, height, channels } = png;
  const maxValue = png.depth === 16 ? 65535 : png.depth === 8 ? 255 : 2 ** png.depth - 1;
  if (png.palette) throw new Error(`readImage: ${path} is a palette PNG; convert it to RGB or gray first`);
  const colourChannels = channels >= 3 ? 3 : 1;
  const out = new Float32Array(colourChannels * width * height);
  const plane = width * height;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < colourChannels; c++) out[c * plane + p] = png.data[p * channels + c] / maxValue;
  }
  return Tensor.fromData(out, [colourChannels, height, width]);
}

/** Path of one of the sample photographs ("astronaut", "chelsea", "coffee", ...) Debian ships. */
export function sampleImagePath(name: string): string {
  const tried = SAMPLE_IMAGE_DIRS.map((dir) => join(dir, `${name}.png`));
  const found = tried.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `sampleImagePath: no sample image "${name}"; looked in ${tried.join(", ")}. ` +
        "Install Debian's python3-skimage (apt-get install python3-skimage), or use readImage(path) on a PNG of your own.",
    );
  }
  return found;
}
