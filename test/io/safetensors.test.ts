import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { manualSeed, nn, randn, tensor, Tensor, zeros } from "../../src/index.js";
import { deserialize, load, loadFile, save, serialize } from "../../src/io/safetensors.js";
import { expectClose, decode } from "../helpers/harness.js";

const fixtures = fileURLToPath(new URL("../fixtures/", import.meta.url));
const nnFixtures = JSON.parse(readFileSync(join(fixtures, "nn.json"), "utf8")) as {
  models: Record<string, { file: string; keys: string[]; input: never; output: never }>;
};
const dir = mkdtempSync(join(tmpdir(), "cnnlab-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Builds safetensors bytes by hand (independently of `serialize`). */
function handmade(header: object, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = JSON.stringify(header);
  if (pad) json += " ".repeat((8 - (json.length % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe("safetensors format", () => {
  it("reads a hand-made file with F32, F64, I32, I64 and BOOL tensors and metadata", () => {
    const f32 = new Float32Array([1.5, -2, 3.25]);
    const f64 = new Float64Array([Math.PI, -1e-300]);
    const i32 = new Int32Array([-7, 2147483647]);
    const i64 = new BigInt64Array([3n, -5n]);
    const bools = new Uint8Array([1, 0, 1, 1]);
    const parts = [f32, f64, i32, i64, bools].map((a) => new Uint8Array(a.buffer));
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    const offs: [number, number][] = [];
    for (const p of parts) {
      data.set(p, o);
      offs.push([o, o + p.length]);
      o += p.length;
    }
    const bytes = handmade(
      {
        __metadata__: { format: "pt" },
        a: { dtype: "F32", shape: [3], data_offsets: offs[0] },
        b: { dtype: "F64", shape: [2, 1], data_offsets: offs[1] },
        c: { dtype: "I32", shape: [2], data_offsets: offs[2] },
        d: { dtype: "I64", shape: [2], data_offsets: offs[3] },
        e: { dtype: "BOOL", shape: [2, 2], data_offsets: offs[4] },
      },
      data,
    );
    const { tensors, metadata } = deserialize(bytes);
    expect(metadata).toEqual({ format: "pt" });
    expect(tensors.a.dtype).toBe("float32");
    expect(tensors.a.toArray()).toEqual([1.5, -2, 3.25]);
    expect(tensors.b.dtype).toBe("float64");
    expect(tensors.b.toArray()).toEqual([[Math.PI], [-1e-300]]);
    expect(tensors.c.toArray()).toEqual([-7, 2147483647]);
    expect(tensors.d.dtype).toBe("int32");
    expect(tensors.d.toArray()).toEqual([3, -5]);
    expect(tensors.e.toArray()).toEqual([
      [true, false],
      [true, true],
    ]);
  });

  it("writes the layout of the format: LE header length, padded JSON header, data tiles", () => {
    const bytes = serialize(
      {
        w: tensor([1, 2], { dtype: "float64" }),
        n: tensor([5], { dtype: "int32" }),
        s: tensor(7, { dtype: "float32" }),
      },
      { metadata: { note: "x" } },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      __metadata__: { note: "x" },
      w: { dtype: "F64", shape: [2], data_offsets: [0, 16] },
      n: { dtype: "I32", shape: [1], data_offsets: [16, 20] },
      s: { dtype: "F32", shape: [], data_offsets: [20, 24] },
    });
    expect(bytes.length).toBe(8 + n + 24);
    const data = bytes.slice(8 + n);
    expect(Array.from(new Float64Array(data.buffer, 0, 2))).toEqual([1, 2]);
    expect(new Int32Array(data.buffer, 16, 1)[0]).toBe(5);
    expect(new Float32Array(data.buffer, 20, 1)[0]).toBe(7);
  });

  it("round-trips every dtype, shape and non-contiguous tensors through save/load", () => {
    const base = randn([3, 4], { dtype: "float64" });
    const sd = {
      f32: randn([2, 3, 4]),
      f64: base,
      view: base.t(),
      i32: tensor([[1, -2, 3]], { dtype: "int32" }),
      b: tensor([true, false]),
      empty: zeros([0, 3]),
      scalar: tensor(4.5, { dtype: "float64" }),
    };
    const path = join(dir, "all.safetensors");
    save(sd, path, { metadata: { epoch: "3" } });
    const back = loadFile(path);
    expect(back.metadata).toEqual({ epoch: "3" });
    for (const [k, t] of Object.entries(sd)) {
      expect(back.tensors[k].dtype, k).toBe(t.dtype);
      expect(back.tensors[k].shape, k).toEqual(t.shape);
      expect(back.tensors[k].toArray(), k).toEqual(t.toArray());
    }
  });

  it("an I64 value that does not fit in int32 is a clear error", () => {
    const big = new BigInt64Array([1n, 1n << 40n]);
    const bytes = handmade(
      { steps: { dtype: "I64", shape: [2], data_offsets: [0, 16] } },
      new Uint8Array(big.buffer),
    );
    expect(() => deserialize(bytes, "ckpt.safetensors")).toThrow(
      /ckpt\.safetensors: tensor "steps" \(I64\) holds 1099511627776 at element 1, which does not fit in int32/,
    );
  });

  it("F16 and BF16 load as float32", () => {
    // 1.0, -2.0, 0.5 in half precision; 1.0, -2.0 in bfloat16
    const half = new Uint16Array([0x3c00, 0xc000, 0x3800]);
    const bf = new Uint16Array([0x3f80, 0xc000]);
    const data = new Uint8Array(10);
    data.set(new Uint8Array(half.buffer), 0);
    data.set(new Uint8Array(bf.buffer), 6);
    const { tensors } = deserialize(
      handmade(
        {
          h: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
          g: { dtype: "BF16", shape: [2], data_offsets: [6, 10] },
        },
        data,
      ),
    );
    expect(tensors.h.toArray()).toEqual([1, -2, 0.5]);
    expect(tensors.g.toArray()).toEqual([1, -2]);
  });
});

describe("corrupt files give clear errors naming the path", () => {
  const good = serialize({ w: randn([4, 4]), b: randn([4]) });
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", good.slice(0, 5), /has 5 bytes, fewer than the 8-byte header length/],
    [
      "truncated header",
      good.slice(0, 30),
      /the header length is \d+ bytes but only 22 bytes follow \(truncated\?\)/,
    ],
    [
      "truncated data",
      good.slice(0, good.length - 4),
      /ends at byte 80 .* only 76 data bytes \(truncated\?\)/,
    ],
    ["trailing bytes", new Uint8Array([...good, 0, 0, 0, 0]), /cover 80 data bytes but the file has 84/],
    ["not JSON", handmade({}).fill(120, 8), /header is not valid UTF-8 JSON/],
    [
      "unknown dtype",
      handmade({ w: { dtype: "C64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /dtype "C64"/,
    ],
    [
      "offsets disagree with shape",
      handmade({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /needs 12 bytes but its data_offsets \[0, 8\] span 8/,
    ],
    [
      "overlapping tensors",
      handmade(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        new Uint8Array(8),
      ),
      /overlaps/,
    ],
    ["bad shape", handmade({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }), /shape \[-1\]/],
  ];
  for (const [what, bytes, pattern] of cases) {
    it(what, () => {
      const path = join(dir, `bad-${what.replace(/\W+/g, "-")}.safetensors`);
      writeFileSync(path, bytes);
      let message = "";
      try {
        load(path);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toContain(`load: ${path} is not a valid safetensors file: `);
      expect(message).toMatch(pattern);
    });
  }

  it("a missing file names the path; a failed load leaves the model untouched", () => {
    expect(() => load(join(dir, "nope.safetensors"))).toThrow(/load: cannot read .*nope\.safetensors/);
    const model = new nn.Linear(4, 4);
    const before = model.weight.toArray();
    const path = join(dir, "half.safetensors");
    writeFileSync(path, serialize(new nn.Linear(4, 4).stateDict()).slice(0, 60));
    expect(() => model.loadStateDict(load(path))).toThrow(/not a valid safetensors file/);
    expect(model.weight.toArray()).toEqual(before);
  });
});

describe("atomic save", () => {
  it("replaces the old file whole and leaves no temporary file", () => {
    const sub = join(dir, "atomic");
    mkdirSync(sub);
    const path = join(sub, "model.safetensors");
    save(new nn.Linear(3, 2), path);
    const model = new nn.Linear(5, 5);
    save(model, path);
    expect(readdirSync(sub)).toEqual(["model.safetensors"]);
    expect(load(path).weight.shape).toEqual([5, 5]);
  });

  it("a failed save overwrites nothing and cleans up", () => {
    const sub = join(dir, "failing");
    mkdirSync(sub);
    const path = join(sub, "model.safetensors");
    save(new nn.Linear(3, 2), path);
    const before = readFileSync(path);
    // a state dict with a non-tensor fails while serialising
    expect(() => save({ w: "nope" as unknown as Tensor }, path)).toThrow(/save: "w" must be a tensor/);
    // renaming onto a directory fails after the temporary file was written
    mkdirSync(join(sub, "taken"));
    writeFileSync(join(sub, "taken", "keep"), "x");
    expect(() => save(new nn.Linear(2, 2), join(sub, "taken"))).toThrow(/save: cannot write .*taken/);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(sub).sort()).toEqual(["model.safetensors", "taken"]);
    expect(() => save(new nn.Linear(2, 2), join(dir, "no-such-dir", "m.safetensors"))).toThrow(
      /save: cannot write/,
    );
  });
});

// ------------------------------------------------------------------------------ PyTorch interop

function mlp(dtype: "float32" | "float64" = "float32"): nn.Sequential {
  return new nn.Sequential(
    new nn.Linear(6, 5, { dtype }),
    new nn.ReLU(),
    new nn.Linear(5, 4, { dtype }),
    new nn.Tanh(),
    new nn.Linear(4, 3, { dtype }),
  );
}

function smallCnn(dtype: "float32" | "float64" = "float32"): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1, dtype }),
    new nn.BatchNorm2d(4, { dtype }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2, dtype }),
    new nn.GroupNorm(2, 6, { dtype }),
    new nn.LeakyReLU(0.1),
    new nn.Flatten(),
    new nn.Linear(6 * 2 * 2, 8, { dtype }),
    new nn.Dropout(0.5),
    new nn.LayerNorm(8, { dtype }),
    new nn.Linear(8, 5, { dtype }),
  );
}

const python = "/usr/bin/python3";
const pythonTorch =
  existsSync(python) && spawnSync(python, ["-c", "import torch, numpy"], { encoding: "utf8" }).status === 0;

describe("PyTorch interop", () => {
  it("loads the state dict a PyTorch MLP saved (committed fixture) and gives PyTorch's outputs", () => {
    const fx = nnFixtures.models.mlp;
    const sd = load(join(fixtures, fx.file));
    expect(Object.keys(sd)).toEqual(fx.keys);
    const model = mlp();
    model.loadStateDict(sd);
    expectClose(model.forward(decode(fx.input) as Tensor), decode(fx.output) as Tensor, "torch mlp output");
  });

  it("loads a PyTorch CNN (conv, batchnorm with I64 num_batches_tracked, groups, groupnorm, layernorm) and gives its outputs", () => {
    const fx = nnFixtures.models.small_cnn;
    const sd = load(join(fixtures, fx.file));
    expect(Object.keys(sd)).toEqual(fx.keys);
    expect(sd["1.num_batches_tracked"].dtype).toBe("int32");
    expect(sd["1.num_batches_tracked"].item()).toBe(3);
    const model = smallCnn();
    model.loadStateDict(sd);
    model.eval();
    expectClose(model.forward(decode(fx.input) as Tensor), decode(fx.output) as Tensor, "torch CNN output");
  });

  it.skipIf(!pythonTorch && process.env.CI !== "true")(
    `PyTorch loads the state dict cnnlab saved and computes the same outputs${pythonTorch ? "" : " — SKIPPED: needs /usr/bin/python3 with python3-torch and numpy"}`,
    () => {
      expect(pythonTorch, `${python} with torch and numpy is required when CI=true`).toBe(true);
      manualSeed(42);
      const model = mlp("float64");
      const x = randn([3, 6], { dtype: "float64" });
      const statePath = join(dir, "ours_mlp.safetensors");
      const inputPath = join(dir, "ours_mlp_input.safetensors");
      save(model, statePath);
      save({ x }, inputPath);
      const script = join(fixtures, "torch_cases", "nn.py");
      const run = spawnSync(python, [script, "check", "mlp", statePath, inputPath], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as { keys: string[]; output: never };
      expect(result.keys).toEqual(Object.keys(model.stateDict()));
      expectClose(decode(result.output) as Tensor, model.forward(x), "PyTorch output on cnnlab's weights");
    },
  );

  it.skipIf(!pythonTorch && process.env.CI !== "true")(
    `PyTorch loads a CNN state dict cnnlab saved (batchnorm buffers included)${pythonTorch ? "" : " — SKIPPED: needs /usr/bin/python3 with python3-torch and numpy"}`,
    () => {
      expect(pythonTorch, `${python} with torch and numpy is required when CI=true`).toBe(true);
      manualSeed(43);
      const model = smallCnn("float64");
      for (const p of model.parameters()) nn.init.normal(p, 0, 0.5);
      for (let step = 0; step < 3; step++) model.forward(randn([4, 3, 8, 8], { dtype: "float64" }));
      model.eval();
      expect(model.stateDict()["1.num_batches_tracked"].item()).toBe(3);
      const x = randn([2, 3, 8, 8], { dtype: "float64" });
      const statePath = join(dir, "ours_cnn.safetensors");
      const inputPath = join(dir, "ours_cnn_input.safetensors");
      save(model, statePath);
      save({ x }, inputPath);
      const script = join(fixtures, "torch_cases", "nn.py");
      const run = spawnSync(python, [script, "check", "small_cnn", statePath, inputPath], {
        encoding: "utf8",
      });
      expect(run.status, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout) as { keys: string[]; output: never };
      expect(result.keys).toEqual(Object.keys(model.stateDict()));
      expectClose(
        decode(result.output) as Tensor,
        model.forward(x),
        "PyTorch CNN output on cnnlab's weights",
      );
    },
  );
});
