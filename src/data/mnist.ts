/**
 * MNIST and Fashion-MNIST from IDX files (gzipped or not): images → float [N, 1, 28, 28] in [0, 1],
 * labels → int32 [N].
 */
import { allocate } from "../tensor/dtype.js";
import { checkOptions } from "../tensor/options.js";
import { Tensor } from "../tensor/tensor.js";
import { TensorDataset } from "./dataset.js";
import { DEBIAN_FASHION_MNIST_DIR, findFiles, readMaybeGzip, searchPlaces } from "./files.js";

/**
 * A labelled image dataset: a `TensorDataset` of `[image, label]` items that also exposes the whole
 * `images` and `labels` tensors, the class names and the files it was read from.
 */
export class ImageDataset extends TensorDataset<[Tensor, Tensor]> {
  constructor(
    readonly images: Tensor,
    readonly labels: Tensor,
    readonly classes: readonly string[],
    readonly files: readonly string[],
  ) {
    super(images, labels);
  }
}

export interface ImageLoaderOptions {
  /** Folder with the files (searched first; then $CNNLAB_DATA, then the system location). */
  root?: string;
  /** "train" (default) or "test". */
  split?: "train" | "test";
  /** Read only the first `limit` images. */
  limit?: number;
  /** Image dtype (default float32). */
  dtype?: "float32" | "float64";
}

export const FASHION_MNIST_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

export const MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const;

export function checkLoaderOptions(
  op: string,
  options: ImageLoaderOptions | undefined,
): Required<Omit<ImageLoaderOptions, "root" | "limit">> & ImageLoaderOptions {
  const o = checkOptions(op, options, ["root", "split", "limit", "dtype"]);
  const split = o.split ?? "train";
  if (split !== "train" && split !== "test")
    throw new RangeError(`${op}: split must be "train" or "test", got ${JSON.stringify(split)}`);
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 0)) {
    throw new RangeError(`${op}: limit must be a non-negative integer, got ${o.limit}`);
  }
  const dtype = o.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64")
    throw new RangeError(`${op}: dtype must be float32 or float64, got ${String(dtype)}`);
  if (o.root !== undefined && typeof o.root !== "string")
    throw new TypeError(`${op}: root must be a folder path (string)`);
  return { ...o, split, dtype };
}

interface Idx {
  dims: number[];
  body: Uint8Array;
}

/** Parses an unsigned-byte IDX file with `rank` dimensions, checking it holds every record it announces. */
export function parseIdx(op: string, path: string, rank: number, what: string): Idx {
  const { bytes, gzipError } = readMaybeGzip(op, path);
  const fail = (msg: string): never => {
    throw new Error(`${op}: ${path}: ${msg}${gzipError ? " (its gzip stream is cut off too)" : ""}`);
  };
  if (bytes.length < 4) fail(`the file is truncated inside the IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) fail("not an IDX file (the first two bytes must be 0)");
  if (bytes[2] !== 0x08) fail(`IDX type code 0x${bytes[2].toString(16)} is not 0x08 (unsigned bytes)`);
  if (bytes[3] !== rank)
    fail(`expected ${rank}-dimensional IDX ${what} data, the header says ${bytes[3]} dimensions`);
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize)
    fail(`the file is truncated inside the IDX header (${bytes.length} of ${headerSize} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims[0];
  const recordSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const available = bytes.length - headerSize;
  if (available < count * recordSize) {
    const record = Math.floor(available / recordSize);
    fail(
      `the file is truncated: the header announces ${count} ${what}, but it ends inside record ${record} ` +
        `(0-based; ${record} complete records, ${available} of ${count * recordSize} data bytes)`,
    );
  }
  if (gzipError) throw new Error(`${op}: ${gzipError}`);
  return { dims, body: bytes.subarray(headerSize, headerSize + count * recordSize) };
}

function loadIdxPair(
  op: string,
  paths: string[],
  classes: readonly string[],
  options: ReturnType<typeof checkLoaderOptions>,
): ImageDataset {
  const [imagePath, labelPath] = paths;
  const images = parseIdx(op, imagePath, 3, "images");
  const labels = parseIdx(op, labelPath, 1, "labels");
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new Error(`${op}: ${imagePath} holds ${n} images but ${labelPath} holds ${labels.dims[0]} labels`);
  }
  const count = options.limit === undefined ? n : Math.min(n, options.limit);
  const pixels = allocate(options.dtype, count * h * w);
  const src = images.body;
  for (let i = 0; i < pixels.length; i++) pixels[i] = src[i] / 255;
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.body[i];
    if (label >= classes.length) {
      throw new Error(
        `${op}: ${labelPath}: record ${i} has label ${label}, but there are only ${classes.length} classes`,
      );
    }
    y[i] = label;
  }
  return new ImageDataset(
    Tensor.fromData(pixels, [count, 1, h, w]),
    Tensor.fromData(y, [count]),
    classes,
    paths,
  );
}

function idxFiles(split: "train" | "test"): string[][] {
  const prefix = split === "train" ? "train" : "t10k";
  return [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`].map((f) => [f, `${f}.gz`]);
}

/**
 * Fashion-MNIST (Zalando's 28×28 grey clothing images, 10 classes; 60,000 train, 10,000 test).
 * Searches `root` (and its `fashion-mnist/`, `FashionMNIST/raw/` folders), then `$CNNLAB_DATA` the
 * same way, then Debian's /usr/share/datasets/fashion-mnist. Returns an `ImageDataset`:
 * `images` float [N, 1, 28, 28] in [0, 1], `labels` int32 [N], `classes` the 10 names.
 */
export function loadFashionMNIST(options?: ImageLoaderOptions): ImageDataset {
  const op = "loadFashionMNIST";
  const o = checkLoaderOptions(op, options);
  const places = searchPlaces(o.root, ["fashion-mnist", "FashionMNIST/raw"], [DEBIAN_FASHION_MNIST_DIR]);
  const paths = findFiles(
    op,
    places,
    idxFiles(o.split),
    "To get Fashion-MNIST: on Debian or Ubuntu run `apt-get install dataset-fashion-mnist` (installs it to " +
      `${DEBIAN_FASHION_MNIST_DIR}), or download the four .gz files (train-images-idx3-ubyte.gz, ` +
      "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from the data/fashion " +
      "folder of github.com/zalandoresearch/fashion-mnist into a folder and pass it as root or set CNNLAB_DATA.",
  );
  return loadIdxPair(op, paths, FASHION_MNIST_CLASSES, o);
}

/**
 * MNIST handwritten digits (28×28, 10 classes). Searches `root` (and its `mnist/`, `MNIST/raw/`
 * folders), then `$CNNLAB_DATA` the same way. Same result layout as `loadFashionMNIST`.
 */
export function loadMNIST(options?: ImageLoaderOptions): ImageDataset {
  const op = "loadMNIST";
  const o = checkLoaderOptions(op, options);
  const places = searchPlaces(o.root, ["mnist", "MNIST/raw"]);
  const paths = findFiles(
    op,
    places,
    idxFiles(o.split),
    "To get MNIST: download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz " +
      "and t10k-labels-idx1-ubyte.gz from Yann LeCun's MNIST page (yann.lecun.com/exdb/mnist) or a mirror such as " +
      "ossci-datasets.s3.amazonaws.com/mnist into a folder, and pass it as root or set CNNLAB_DATA.",
  );
  return loadIdxPair(op, paths, MNIST_CLASSES, o);
}
