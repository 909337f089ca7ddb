/**
 * The dataset loaders read small files written here in the exact IDX and CIFAR-10 binary formats,
 * plus (when installed) Debian's real Fashion-MNIST test split.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { data, F, nn, optim, manualSeed } from "../../src/index.js";

const { loadMNIST, loadFashionMNIST, loadCIFAR10, DataLoader, DEBIAN_FASHION_MNIST_DIR } = data;

const tmp = mkdtempSync(join(tmpdir(), "cnnlab-data-"));
let counter = 0;
function freshDir(...sub: string[]): string {
  const dir = join(tmp, `d${counter++}`, ...sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let savedEnv: string | undefined;
beforeEach(() => {
  savedEnv = process.env.CNNLAB_DATA;
  delete process.env.CNNLAB_DATA;
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env.CNNLAB_DATA;
  else process.env.CNNLAB_DATA = savedEnv;
});

/** An unsigned-byte IDX file: magic 0x00000803-style header, big-endian dims, then the bytes. */
function idx(dims: number[], body: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, body]);
}

const pixel = (image: number, k: number) => (image * 37 + k * 11) % 256;

function imageBytes(n: number, h = 28, w = 28): Uint8Array {
  const body = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) for (let k = 0; k < h * w; k++) body[i * h * w + k] = pixel(i, k);
  return body;
}

/** Writes a split's two IDX files into `dir` (gzipped or not). */
function writeIdxSplit(dir: string, prefix: "train" | "t10k", labels: number[], gz: boolean): void {
  const n = labels.length;
  const files: [string, Uint8Array][] = [
    [`${prefix}-images-idx3-ubyte`, idx([n, 28, 28], imageBytes(n))],
    [`${prefix}-labels-idx1-ubyte`, idx([n], Uint8Array.from(labels))],
  ];
  for (const [name, bytes] of files) {
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  }
}

describe("loadMNIST / loadFashionMNIST (IDX)", () => {
  it("reads uncompressed IDX files from root: float32 [N,1,28,28] in [0,1] and int32 labels", () => {
    const root = freshDir();
    writeIdxSplit(root, "train", [3, 0, 9], false);
    const ds = loadMNIST({ root });
    expect(ds.images.shape).toEqual([3, 1, 28, 28]);
    expect(ds.images.dtype).toBe("float32");
    expect(ds.labels.dtype).toBe("int32");
    expect(Array.from(ds.labels.data)).toEqual([3, 0, 9]);
    expect(ds.classes).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(ds.files).toEqual([join(root, "train-images-idx3-ubyte"), join(root, "train-labels-idx1-ubyte")]);
    const px = ds.images.data;
    for (const [i, k] of [
      [0, 0],
      [1, 5],
      [2, 783],
      [2, 400],
    ]) {
      expect(px[i * 784 + k]).toBe(Math.fround(pixel(i, k) / 255));
    }
    expect(ds.length).toBe(3);
    const [x, y] = ds.get(1);
    expect(x.shape).toEqual([1, 28, 28]);
    expect(y.item()).toBe(0);
  });

  it("reads gzipped files from root/MNIST/raw, the test split, a limit and float64", () => {
    const parent = freshDir();
    const raw = join(parent, "MNIST", "raw");
    mkdirSync(raw, { recursive: true });
    writeIdxSplit(raw, "t10k", [1, 2, 7, 4], true);
    const ds = loadMNIST({ root: parent, split: "test", limit: 2, dtype: "float64" });
    expect(ds.images.shape).toEqual([2, 1, 28, 28]);
    expect(ds.images.dtype).toBe("float64");
    expect(Array.from(ds.labels.data)).toEqual([1, 2]);
    expect(ds.images.data[784 + 10]).toBe(pixel(1, 10) / 255);
    expect(ds.files[0]).toBe(join(raw, "t10k-images-idx3-ubyte.gz"));
  });

  it("finds Fashion-MNIST through $CNNLAB_DATA (its fashion-mnist folder) and names the classes", () => {
    const env = freshDir();
    const dir = join(env, "fashion-mnist");
    mkdirSync(dir);
    writeIdxSplit(dir, "train", [9, 8], true);
    process.env.CNNLAB_DATA = env;
    const ds = loadFashionMNIST({ root: freshDir() });
    expect(ds.files[1]).toBe(join(dir, "train-labels-idx1-ubyte.gz"));
    expect(ds.classes[9]).toBe("Ankle boot");
    expect(ds.classes[0]).toBe("T-shirt/top");
    expect(Array.from(ds.labels.data)).toEqual([9, 8]);
    // batches through a DataLoader
    const [[x, y]] = [...new DataLoader(ds, { batchSize: 2 })];
    expect(x.shape).toEqual([2, 1, 28, 28]);
    expect(Array.from(y.data)).toEqual([9, 8]);
  });

  it("missing files: the error names every folder searched, the files and how to get them", () => {
    const root = freshDir();
    const env = freshDir();
    process.env.CNNLAB_DATA = env;
    writeIdxSplit(root, "t10k", [1], false); // the test split is there, train is not
    let message = "";
    try {
      loadMNIST({ root });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      "loadMNIST: cannot find the data files train-images-idx3-ubyte or train-images-idx3-ubyte.gz, train-labels-idx1-ubyte or train-labels-idx1-ubyte.gz",
    );
    for (const dir of [root, join(root, "mnist"), join(root, "MNIST/raw")])
      expect(message).toContain(`  - ${dir} (root option)`);
    for (const dir of [env, join(env, "mnist"), join(env, "MNIST/raw")])
      expect(message).toContain(`  - ${dir} ($CNNLAB_DATA)`);
    expect(message).toContain("yann.lecun.com/exdb/mnist");
    delete process.env.CNNLAB_DATA;
    expect(() => loadMNIST()).toThrow(/nowhere: no root option and no \$CNNLAB_DATA/);
  });

  it("Fashion-MNIST falls back to Debian's folder, and says how to install it", () => {
    const root = freshDir();
    if (existsSync(join(DEBIAN_FASHION_MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))) {
      const ds = loadFashionMNIST({ root, split: "test", limit: 5 });
      expect(ds.files[0]).toBe(join(DEBIAN_FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"));
      expect(ds.images.shape).toEqual([5, 1, 28, 28]);
    } else {
      expect(() => loadFashionMNIST({ root, split: "test" })).toThrow(
        new RegExp(
          `- ${DEBIAN_FASHION_MNIST_DIR} \\(system location\\)[\\s\\S]*apt-get install dataset-fashion-mnist`,
        ),
      );
    }
  });

  it("a truncated file: the error names the file and the record", () => {
    const root = freshDir();
    writeIdxSplit(root, "train", [1, 2, 3], false);
    const full = idx([3, 28, 28], imageBytes(3));
    const cut = full.subarray(0, 16 + 784 * 2 + 100); // inside image 2
    writeFileSync(join(root, "train-images-idx3-ubyte"), cut);
    expect(() => loadMNIST({ root })).toThrow(
      `loadMNIST: ${join(root, "train-images-idx3-ubyte")}: the file is truncated: the header announces 3 images, but it ends inside record 2 (0-based; 2 complete records, 1668 of 2352 data bytes)`,
    );
  });

  it("a truncated gzip file: names the file and the record it stops in", () => {
    const root = freshDir();
    writeIdxSplit(root, "train", [1, 2, 3], true);
    // incompressible pixels so that a cut in the gzip stream is a cut in the records
    const body = new Uint8Array(3 * 784);
    let s = 12345;
    for (let i = 0; i < body.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      body[i] = s >>> 24;
    }
    const gz = gzipSync(idx([3, 28, 28], body));
    const path = join(root, "train-images-idx3-ubyte.gz");
    writeFileSync(path, gz.subarray(0, Math.floor(gz.length * 0.6)));
    expect(() => loadMNIST({ root })).toThrow(
      new RegExp(
        `loadMNIST: ${path}: the file is truncated: the header announces 3 images, but it ends inside record 1 .*gzip stream is cut off`,
      ),
    );
    // only the gzip trailer missing: the records are complete but the file is still reported
    writeFileSync(path, gz.subarray(0, gz.length - 4));
    expect(() => loadMNIST({ root })).toThrow(
      new RegExp(`loadMNIST: ${path} is a truncated or corrupt gzip file`),
    );
  });

  it("rejects a wrong header, mismatched counts and out-of-range labels", () => {
    const root = freshDir();
    writeIdxSplit(root, "train", [1, 2], false);
    const labels = join(root, "train-labels-idx1-ubyte");
    writeFileSync(labels, idx([3], Uint8Array.from([1, 2, 3])));
    expect(() => loadMNIST({ root })).toThrow(/holds 2 images but .*train-labels-idx1-ubyte holds 3 labels/);
    writeFileSync(labels, idx([2], Uint8Array.from([1, 12])));
    expect(() => loadMNIST({ root })).toThrow(
      /train-labels-idx1-ubyte: record 1 has label 12, but there are only 10 classes/,
    );
    writeFileSync(labels, Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 2, 1, 2]));
    expect(() => loadMNIST({ root })).toThrow(/IDX type code 0xd is not 0x08/);
    writeFileSync(labels, idx([2, 1], Uint8Array.from([1, 2])));
    expect(() => loadMNIST({ root })).toThrow(
      /expected 1-dimensional IDX labels data, the header says 2 dimensions/,
    );
    expect(() => loadMNIST({ root, split: "val" as any })).toThrow(
      'loadMNIST: split must be "train" or "test", got "val"',
    );
    expect(() => loadMNIST({ root, limt: 3 } as any)).toThrow(/unknown option "limt"/);
  });
});

/** A CIFAR-10 binary file: per record 1 label byte + R, G, B planes of 32×32. */
function cifarFile(labels: number[], seed: number): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, r) => {
    out[r * 3073] = label;
    for (let k = 0; k < 3072; k++) out[r * 3073 + 1 + k] = (seed * 31 + r * 7 + k * 3) % 256;
  });
  return out;
}

describe("loadCIFAR10 (binary version)", () => {
  function writeCifar(dir: string): void {
    for (let b = 1; b <= 5; b++)
      writeFileSync(join(dir, `data_batch_${b}.bin`), cifarFile([b, (b + 5) % 10], b));
    writeFileSync(join(dir, "test_batch.bin"), cifarFile([3, 1, 4], 9));
  }

  it("reads the five train batches in order: float32 [N,3,32,32] in [0,1], R, G, B planes", () => {
    const parent = freshDir();
    const dir = join(parent, "cifar-10-batches-bin");
    mkdirSync(dir);
    writeCifar(dir);
    const ds = loadCIFAR10({ root: parent });
    expect(ds.images.shape).toEqual([10, 3, 32, 32]);
    expect(ds.images.dtype).toBe("float32");
    expect(Array.from(ds.labels.data)).toEqual([1, 6, 2, 7, 3, 8, 4, 9, 5, 0]);
    expect(ds.classes).toEqual([
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
    ]);
    // image 5 is record 1 of data_batch_3 (seed 3): channel c, row y, column x is byte c*1024 + y*32 + x
    for (const [c, y, x] of [
      [0, 0, 0],
      [1, 5, 7],
      [2, 31, 31],
    ]) {
      const k = c * 1024 + y * 32 + x;
      expect(ds.images.get(5, c, y, x)).toBe(Math.fround(((3 * 31 + 1 * 7 + k * 3) % 256) / 255));
    }
    expect(ds.files.length).toBe(5);
  });

  it("test split, limit across files, float64 and class names from batches.meta.txt", () => {
    const dir = freshDir();
    writeCifar(dir);
    const test = loadCIFAR10({ root: dir, split: "test", dtype: "float64" });
    expect(test.images.shape).toEqual([3, 3, 32, 32]);
    expect(Array.from(test.labels.data)).toEqual([3, 1, 4]);
    expect(test.images.get(2, 1, 0, 1)).toBe(((9 * 31 + 2 * 7 + (1024 + 1) * 3) % 256) / 255);
    const limited = loadCIFAR10({ root: dir, limit: 3 });
    expect(Array.from(limited.labels.data)).toEqual([1, 6, 2]);
    const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    writeFileSync(join(dir, "batches.meta.txt"), names.join("\n") + "\n\n");
    expect(loadCIFAR10({ root: dir, split: "test" }).classes).toEqual(names);
  });

  it("a truncated batch: the error names the file and the record; missing files name the paths and the URL", () => {
    const dir = freshDir();
    writeCifar(dir);
    const path = join(dir, "data_batch_4.bin");
    writeFileSync(path, cifarFile([1, 2, 3], 4).subarray(0, 2 * 3073 + 100));
    expect(() => loadCIFAR10({ root: dir })).toThrow(
      `loadCIFAR10: ${path} is truncated: it ends inside record 2 (0-based; 6246 bytes = 2 records of 3073 bytes + 100 bytes)`,
    );
    writeFileSync(path, cifarFile([1, 11], 4));
    expect(() => loadCIFAR10({ root: dir })).toThrow(
      `loadCIFAR10: ${path}: record 1 has label 11; CIFAR-10 labels are 0..9`,
    );
    rmSync(join(dir, "test_batch.bin"));
    expect(() => loadCIFAR10({ root: dir, split: "test" })).toThrow(
      new RegExp(
        `cannot find the data files test_batch.bin\\.\\nSearched:\\n  - ${dir} \\(root option\\)\\n  - ${join(dir, "cifar-10-batches-bin")} \\(root option\\)\\n.*cifar-10-binary\\.tar\\.gz`,
      ),
    );
  });
});

/** Skip loudly when the Debian package is missing; fail instead when CI=true (CI installs it). */
function debianFashionPresent(): boolean {
  const ok = existsSync(join(DEBIAN_FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"));
  if (ok) return true;
  const msg = `SKIPPED: Debian's Fashion-MNIST (${DEBIAN_FASHION_MNIST_DIR}, apt-get install dataset-fashion-mnist) is not installed`;
  if (process.env.CI === "true") throw new Error(`${msg} (CI=true: this test must run)`);
  process.stdout.write(`\n*** ${msg} ***\n\n`);
  return false;
}

describe.runIf(debianFashionPresent())(
  "the real Fashion-MNIST test split (Debian's dataset-fashion-mnist)",
  () => {
    it("has 10,000 images of 28×28 in [0, 1] and 1,000 of each class", () => {
      const ds = loadFashionMNIST({ split: "test", root: DEBIAN_FASHION_MNIST_DIR });
      expect(ds.images.shape).toEqual([10000, 1, 28, 28]);
      expect(ds.labels.shape).toEqual([10000]);
      const hist = new Array<number>(10).fill(0);
      for (const v of ds.labels.data) hist[v]++;
      expect(hist).toEqual(new Array(10).fill(1000));
      let min = Infinity;
      let max = -Infinity;
      for (const v of ds.images.data) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
    });

    it("a softmax classifier trained with Adam on 2,000 of them passes 75% training accuracy in 5 epochs", () => {
      manualSeed(0);
      const ds = loadFashionMNIST({ split: "test", limit: 2000 });
      const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10));
      const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
      const loader = new DataLoader(ds, { batchSize: 100, shuffle: true, seed: 1 });
      let accuracy = 0;
      for (let epoch = 0; epoch < 5; epoch++) {
        let correct = 0;
        for (const [x, y] of loader) {
          opt.zeroGrad();
          const logits = model.forward(x);
          F.crossEntropy(logits, y).backward();
          opt.step();
          const pred = logits.argmax(1).data;
          y.data.forEach((label, i) => {
            if (pred[i] === label) correct++;
          });
        }
        accuracy = correct / ds.length;
      }
      expect(accuracy).toBeGreaterThan(0.75);
    });
  },
);
