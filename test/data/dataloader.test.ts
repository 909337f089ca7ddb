import { describe, expect, it } from "vitest";
import { arange, data, Generator, manualSeed, tensor, Tensor } from "../../src/index.js";

const { DataLoader, TensorDataset, Dataset, Subset, collate } = data;

function rowsOf(x: Tensor): number[] {
  return Array.from(x.contiguous().data);
}

/** 10 items: x[i] = [i, 100 + i], y[i] = i. */
function numbered(n = 10) {
  const x = tensor(
    Array.from({ length: n }, (_, i) => [i, 100 + i]),
    { dtype: "float64" },
  );
  const y = arange(0, n, 1, { dtype: "int32" });
  return new TensorDataset(x, y);
}

class Squares extends Dataset<{ x: number; y: [Tensor, boolean] }> {
  get length(): number {
    return 5;
  }
  get(i: number) {
    return { x: i * i, y: [tensor([i, -i]), i % 2 === 0] as [Tensor, boolean] };
  }
}

describe("TensorDataset", () => {
  it("items are rows of every tensor", () => {
    const ds = numbered();
    expect(ds.length).toBe(10);
    const [x, y] = ds.get(3);
    expect(x.toArray()).toEqual([3, 103]);
    expect(y.item()).toBe(3);
    expect(ds.get(-1)[1].item()).toBe(9);
    expect(() => ds.get(10)).toThrow("TensorDataset.get: index 10 is out of range for a dataset of 10 items");
    expect([...ds].length).toBe(10);
  });

  it("rejects tensors of different lengths", () => {
    expect(() => new TensorDataset(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(
      "TensorDataset: all tensors need the same size in dim 0; tensors[0] is [3], tensors[1] is [2]",
    );
    expect(() => new TensorDataset()).toThrow(/at least one tensor/);
  });

  it("map and Subset derive datasets", () => {
    const ds = numbered().map(([x, y]) => [x.mul(2), y] as [Tensor, Tensor]);
    expect(ds.get(2)[0].toArray()).toEqual([4, 204]);
    const sub = new Subset(numbered(), [7, 1]);
    expect(sub.length).toBe(2);
    expect(sub.get(0)[1].item()).toBe(7);
    expect(() => new Subset(numbered(), [10])).toThrow(/Subset: index 10 is out of range/);
  });
});

describe("DataLoader", () => {
  it("batches in order, the last batch smaller", () => {
    const dl = new DataLoader(numbered(), { batchSize: 4 });
    expect(dl.length).toBe(3);
    const batches = [...dl];
    expect(batches.length).toBe(3);
    expect(batches.map(([x]) => x.shape)).toEqual([
      [4, 2],
      [4, 2],
      [2, 2],
    ]);
    expect(rowsOf(batches[1][0])).toEqual([4, 104, 5, 105, 6, 106, 7, 107]);
    expect(batches[2][1].dtype).toBe("int32");
    expect(rowsOf(batches[2][1])).toEqual([8, 9]);
  });

  it("dropLast leaves out the incomplete batch", () => {
    const dl = new DataLoader(numbered(), { batchSize: 4, dropLast: true });
    expect(dl.length).toBe(2);
    expect([...dl].length).toBe(2);
    expect(new DataLoader(numbered(8), { batchSize: 4, dropLast: true }).length).toBe(2);
  });

  it("shuffle: each epoch is a permutation; same seed → same epochs; epochs differ", () => {
    const labelsOf = (dl: InstanceType<typeof DataLoader<any, Tensor[]>>) =>
      [...dl].flatMap((b) => rowsOf(b[1]));
    const a = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 42 });
    const b = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 42 });
    const a1 = labelsOf(a);
    const a2 = labelsOf(a);
    expect([...a1].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...a2].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a1).not.toEqual(a2);
    expect(a1).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(labelsOf(b)).toEqual(a1);
    expect(labelsOf(b)).toEqual(a2);
    expect(a.epoch).toBe(2);
    const c = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 43 });
    expect(labelsOf(c)).not.toEqual(a1);
    // images stay with their labels
    for (const [x, y] of new DataLoader(numbered(50), { batchSize: 7, shuffle: true, seed: 1 })) {
      const xs = rowsOf(x);
      rowsOf(y).forEach((label, k) => expect(xs.slice(2 * k, 2 * k + 2)).toEqual([label, 100 + label]));
    }
  });

  it("without a seed, shuffling follows manualSeed", () => {
    const run = () => {
      manualSeed(7);
      return [...new DataLoader(numbered(20), { batchSize: 20, shuffle: true })].map((b) => rowsOf(b[1]))[0];
    };
    expect(run()).toEqual(run());
    const gen = new Generator(3);
    const viaGen = [...new DataLoader(numbered(20), { batchSize: 20, shuffle: true, generator: gen })][0];
    const viaSeed = [...new DataLoader(numbered(20), { batchSize: 20, shuffle: true, seed: 3 })][0];
    expect(rowsOf(viaGen[1])).toEqual(rowsOf(viaSeed[1]));
  });

  it("collates general items: numbers, booleans, tensors, arrays and objects", () => {
    const dl = new DataLoader(new Squares(), { batchSize: 3 });
    const [first, second] = [...dl];
    expect(first.x.dtype).toBe("int32");
    expect(first.x.toArray()).toEqual([0, 1, 4]);
    expect(first.y[0].shape).toEqual([3, 2]);
    expect(first.y[0].toArray()).toEqual([
      [0, -0],
      [1, -1],
      [2, -2],
    ]);
    expect(first.y[1].dtype).toBe("bool");
    expect(first.y[1].toArray()).toEqual([true, false, true]);
    expect(second.x.toArray()).toEqual([9, 16]);
    expect(collate([0.5, 1]).dtype).toBe("float64");
    expect(() => collate([tensor([1, 2]), tensor([1, 2, 3])])).toThrow(
      "collate: item 1 has shape [3] but item 0 has [2]; a batch needs equal shapes",
    );
  });

  it("a plain object with length and get works, and a custom collate is used", () => {
    const ds = { length: 3, get: (i: number) => i * 10 };
    const dl = new DataLoader(ds, { batchSize: 2, collate: (items: number[]) => items.join("+") });
    expect([...dl]).toEqual(["0+10", "20"]);
  });

  it("validates options", () => {
    expect(() => new DataLoader(numbered(), { batchSize: 0 })).toThrow(
      "DataLoader: batchSize must be a positive integer, got 0",
    );
    expect(() => new DataLoader(numbered(), { batch_size: 4 } as any)).toThrow(
      'DataLoader: unknown option "batch_size"; known options: batchSize, shuffle, dropLast, seed, generator, collate',
    );
    expect(() => new DataLoader(numbered(), { shuffle: "yes" as any })).toThrow(/shuffle must be a boolean/);
    expect(() => new DataLoader([1, 2] as any)).toThrow(/numeric length and a get\(index\) method/);
    expect(() => new DataLoader(numbered(), { seed: 1, generator: new Generator(1) })).toThrow(
      /either seed or generator/,
    );
  });
});
