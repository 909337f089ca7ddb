/** CIFAR-10, binary version: records of 1 label byte + 3,072 pixel bytes (R, G, B planes of 32×32, row-major). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { allocate } from "../tensor/dtype.js";
import { Tensor } from "../tensor/tensor.js";
import { findFiles, searchPlaces } from "./files.js";
import { checkLoaderOptions, ImageDataset, type ImageLoaderOptions } from "./mnist.js";

export const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const;

const RECORD = 1 + 3 * 32 * 32;

/**
 * CIFAR-10 (32×32 colour images, 10 classes): `train` = data_batch_1.bin … data_batch_5.bin
 * (50,000 images), `test` = test_batch.bin (10,000). Searches `root` (and its
 * `cifar-10-batches-bin/`), then `$CNNLAB_DATA` the same way. Returns an `ImageDataset`: `images`
 * float [N, 3, 32, 32] in [0, 1], `labels` int32 [N], `classes` (from batches.meta.txt when present).
 */
export function loadCIFAR10(options?: ImageLoaderOptions): ImageDataset {
  const op = "loadCIFAR10";
  const o = checkLoaderOptions(op, options);
  const names = o.split === "train" ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ["test_batch.bin"];
  const paths = findFiles(
    op,
    searchPlaces(o.root, ["cifar-10-batches-bin"]),
    names.map((n) => [n]),
    "To get CIFAR-10: download the binary version, https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz " +
      "(about 160 MB), extract it (it makes a cifar-10-batches-bin folder) and pass that folder, or its parent, as " +
      "root or set CNNLAB_DATA.",
  );
  const chunks: Uint8Array[] = [];
  let total = 0;
  const limit = o.limit ?? Infinity;
  for (const path of paths) {
    if (total >= limit) break;
    const bytes = readFileSync(path);
    if (bytes.length % RECORD !== 0) {
      const record = Math.floor(bytes.length / RECORD);
      throw new Error(
        `${op}: ${path} is truncated: it ends inside record ${record} (0-based; ${bytes.length} bytes = ` +
          `${record} records of ${RECORD} bytes + ${bytes.length % RECORD} bytes)`,
      );
    }
    const take = Math.min(bytes.length / RECORD, limit - total);
    for (let r = 0; r < take; r++) {
      const label = bytes[r * RECORD];
      if (label > 9)
        throw new Error(`${op}: ${path}: record ${r} has label ${label}; CIFAR-10 labels are 0..9`);
    }
    chunks.push(new Uint8Array(bytes.buffer, bytes.byteOffset, take * RECORD));
    total += take;
  }
  const pixels = allocate(o.dtype, total * (RECORD - 1));
  const labels = new Int32Array(total);
  let k = 0;
  for (const chunk of chunks) {
    const n = chunk.length / RECORD;
    for (let r = 0; r < n; r++, k++) {
      const base = r * RECORD;
      labels[k] = chunk[base];
      const out = k * (RECORD - 1);
      for (let i = 1; i < RECORD; i++) pixels[out + i - 1] = chunk[base + i] / 255;
    }
  }
  return new ImageDataset(
    Tensor.fromData(pixels, [total, 3, 32, 32]),
    Tensor.fromData(labels, [total]),
    readClassNames(dirname(paths[0])),
    paths,
  );
}

function readClassNames(dir: string): readonly string[] {
  const meta = join(dir, "batches.meta.txt");
  if (existsSync(meta)) {
    const names = readFileSync(meta, "utf8")
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s !== "");
    if (names.length === 10) return names;
  }
  return CIFAR10_CLASSES;
}
