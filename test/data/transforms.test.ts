import { describe, expect, it } from "vitest";
import { arange, data, Generator, tensor, Tensor } from "../../src/index.js";

const { normalize, randomCrop, randomHorizontalFlip, toTensor, compose } = data;

/** A [C, H, W] image whose value at (c, y, x) is c*100 + y*10 + x. */
function coded(c: number, h: number, w: number, dtype: "float32" | "float64" = "float64"): Tensor {
  const values: number[][][] = [];
  for (let ch = 0; ch < c; ch++) {
    values.push([]);
    for (let y = 0; y < h; y++) {
      values[ch].push([]);
      for (let x = 0; x < w; x++) values[ch][y].push(ch * 100 + y * 10 + x);
    }
  }
  return tensor(values, { dtype });
}

describe("normalize", () => {
  it("subtracts the channel mean and divides by the channel std", () => {
    const x = coded(2, 2, 2);
    const out = normalize([1, 100], [2, 4])(x);
    expect(out.dtype).toBe("float64");
    expect(out.toArray()).toEqual([
      [
        [(0 - 1) / 2, (1 - 1) / 2],
        [(10 - 1) / 2, (11 - 1) / 2],
      ],
      [
        [(100 - 100) / 4, (101 - 100) / 4],
        [(110 - 100) / 4, (111 - 100) / 4],
      ],
    ]);
    // batches, and one number for every channel
    const batch = normalize(0.5, 0.25)(tensor([[[[0.5, 1]]], [[[0, 0.75]]]]));
    expect(batch.shape).toEqual([2, 1, 1, 2]);
    expect(batch.toArray()).toEqual([[[[0, 2]]], [[[-2, 1]]]]);
  });

  it("names the mismatch", () => {
    expect(() => normalize([0, 0, 0], [1, 1, 1])(coded(2, 2, 2))).toThrow(
      "normalize: mean has 3 values but the image has 2 channels",
    );
    expect(() => normalize(0, 0)).toThrow(/std must not be 0/);
    expect(() => normalize(0, 1)(tensor([1, 2]))).toThrow(
      /expected an image \[C, H, W\] or a batch \[N, C, H, W\], got shape \[2\]/,
    );
    expect(() => normalize(0, 1)(tensor([[[1]]], { dtype: "int32" }))).toThrow(
      /got int32 \(convert pixels with toTensor first\)/,
    );
  });
});

describe("randomCrop", () => {
  it("every crop is a window of the zero-padded image, and all windows occur", () => {
    const x = coded(2, 3, 3);
    const crop = randomCrop(3, { padding: 1, generator: new Generator(5) });
    const seen = new Set<string>();
    for (let t = 0; t < 200; t++) {
      const out = crop(x);
      expect(out.shape).toEqual([2, 3, 3]);
      // find the window (top, left) in padded coordinates that matches
      let match: string | null = null;
      for (let top = 0; top <= 2 && match === null; top++) {
        for (let left = 0; left <= 2 && match === null; left++) {
          let ok = true;
          for (let c = 0; c < 2 && ok; c++)
            for (let i = 0; i < 3 && ok; i++)
              for (let j = 0; j < 3 && ok; j++) {
                const y = top + i - 1;
                const xx = left + j - 1;
                const want = y >= 0 && y < 3 && xx >= 0 && xx < 3 ? c * 100 + y * 10 + xx : 0;
                ok = out.get(c, i, j) === want;
              }
          if (ok) match = `${top},${left}`;
        }
      }
      expect(match, `crop ${t} is not a window of the padded image`).not.toBeNull();
      seen.add(match!);
    }
    expect(seen.size).toBe(9);
  });

  it("crops each image of a batch at its own position, with a fill value", () => {
    const batch = arange(0, 2 * 16, 1, { dtype: "float32" }).reshape(2, 1, 4, 4);
    const out = randomCrop([2, 3], { padding: [0, 1], fill: -1, generator: new Generator(1) })(batch);
    expect(out.shape).toEqual([2, 1, 2, 3]);
    expect(out.dtype).toBe("float32");
    const values = Array.from(out.data);
    expect(values.every((v) => v === -1 || (v >= 0 && v < 32))).toBe(true);
    expect(values.slice(0, 6).every((v) => v < 16)).toBe(true);
    expect(values.slice(6).every((v) => v === -1 || v >= 16)).toBe(true);
    expect(() => randomCrop(5)(coded(1, 4, 4))).toThrow(/crop 5×5 is larger than the padded image 4×4/);
    expect(() => randomCrop(2, { pad: 1 } as any)).toThrow(/unknown option "pad"/);
  });

  it("is reproducible with the same generator seed", () => {
    const x = coded(1, 5, 5);
    const a = randomCrop(3, { padding: 2, generator: new Generator(9) });
    const b = randomCrop(3, { padding: 2, generator: new Generator(9) });
    for (let t = 0; t < 5; t++) expect(a(x).toArray()).toEqual(b(x).toArray());
  });
});

describe("randomHorizontalFlip", () => {
  it("p = 1 mirrors, p = 0 copies", () => {
    const x = coded(2, 2, 3);
    expect(randomHorizontalFlip(1)(x).toArray()).toEqual([
      [
        [2, 1, 0],
        [12, 11, 10],
      ],
      [
        [102, 101, 100],
        [112, 111, 110],
      ],
    ]);
    const same = randomHorizontalFlip(0)(x);
    expect(same.toArray()).toEqual(x.toArray());
    expect(same).not.toBe(x);
    expect(() => randomHorizontalFlip(2)).toThrow(
      "randomHorizontalFlip: p must be a probability in [0, 1], got 2",
    );
  });

  it("flips about half the images of a batch independently", () => {
    const n = 400;
    const batch = arange(0, n * 2, 1, { dtype: "float64" }).reshape(n, 1, 1, 2);
    const out = randomHorizontalFlip(0.5, { generator: new Generator(2) })(batch).data;
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const [a, b] = [out[2 * i], out[2 * i + 1]];
      if (a === 2 * i + 1 && b === 2 * i) flipped++;
      else expect([a, b]).toEqual([2 * i, 2 * i + 1]);
    }
    expect(flipped).toBeGreaterThan(150);
    expect(flipped).toBeLessThan(250);
  });
});

describe("toTensor", () => {
  it("turns HWC bytes into a CHW float tensor in [0, 1]", () => {
    // 1×2 image, 3 channels: pixel (0,0) = (0, 51, 102), pixel (0,1) = (153, 204, 255)
    const bytes = new Uint8Array([0, 51, 102, 153, 204, 255]);
    const t = toTensor(bytes, { shape: [1, 2, 3] });
    expect(t.dtype).toBe("float32");
    expect(t.shape).toEqual([3, 1, 2]);
    const v = Array.from(t.data);
    const want = [0, 153, 51, 204, 102, 255].map((b) => Math.fround(b / 255));
    expect(v).toEqual(want);
  });

  it("accepts CHW, grey [H, W], batches [N, H, W, C] and int32 tensors", () => {
    const chw = toTensor(new Uint8Array([255, 0, 51, 102]), {
      shape: [1, 2, 2],
      layout: "CHW",
      dtype: "float64",
    });
    expect(chw.toArray()).toEqual([
      [
        [1, 0],
        [0.2, 0.4],
      ],
    ]);
    const grey = toTensor(tensor([[0, 255]], { dtype: "int32" }));
    expect(grey.shape).toEqual([1, 1, 2]);
    expect(Array.from(grey.data)).toEqual([0, 1]);
    const nhwc = toTensor(new Uint8Array([10, 20, 30, 40]), { shape: [2, 1, 1, 2] });
    expect(nhwc.shape).toEqual([2, 2, 1, 1]);
    expect(Array.from(nhwc.data)).toEqual([10, 20, 30, 40].map((b) => Math.fround(b / 255)));
  });

  it("rejects what is not pixels", () => {
    expect(() => toTensor(new Uint8Array(4))).toThrow("toTensor: a typed-array input needs options.shape");
    expect(() => toTensor(new Uint8Array(4), { shape: [3, 3] })).toThrow(
      /shape \[3,3\] needs 9 values, the array has 4/,
    );
    expect(() => toTensor(tensor([0.5]))).toThrow(/got a float32 tensor/);
    expect(() => toTensor(tensor([[3, 256]], { dtype: "int32" }))).toThrow(
      "toTensor: pixel 1 is 256, outside 0..255",
    );
  });
});

describe("compose", () => {
  it("applies transforms left to right", () => {
    const pipeline = compose(toTensor, normalize(0.5, 0.5), randomHorizontalFlip(1));
    const out = pipeline(tensor([[0, 255]], { dtype: "int32" })) as Tensor;
    expect(Array.from(out.data)).toEqual([1, -1]);
    expect(() => compose(toTensor, 3 as any)).toThrow("compose: transform 1 is not a function");
  });
});
