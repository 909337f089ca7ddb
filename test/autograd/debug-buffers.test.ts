/**
 * Debug mode for buffer reuse (CNNLAB_DEBUG_BUFFERS=1): released gradient buffers are poisoned with
 * NaN, so an op whose backward keeps the gradient it was given fails loudly instead of reading
 * memory that a later allocation reused. The "debug-buffers" vitest project runs test/autograd and
 * test/ops with the variable set.
 */
import { afterEach, describe, expect, it } from "vitest";
import { defineOp } from "../../src/autograd/function.js";
import { randn, Tensor } from "../../src/index.js";
import {
  allocate,
  allocateForOverwrite,
  isBufferDebug,
  POOL_MIN_BYTES,
  releaseBuffer,
  setBufferDebug,
} from "../../src/tensor/dtype.js";

let previous = isBufferDebug();
afterEach(() => {
  setBufferDebug(previous);
});

/** A cnnlab-style op that breaks the convention: its backward keeps the gradient it is given. */
const kept: Tensor[] = [];
const Leaky = defineOp({
  name: "keepsGrad",
  forward(_ctx, x: Tensor) {
    return x.mul(2);
  },
  backward(_ctx, g) {
    kept.push(g);
    return [g.mul(2)];
  },
});

function run(): Tensor {
  kept.length = 0;
  const x = randn([8], { requiresGrad: true });
  // the gradient reaching keepsGrad is made during the pass (by mul's backward) and released after use
  Leaky.apply(x.exp()).mul(3).sum().backward();
  return kept[0];
}

describe("CNNLAB_DEBUG_BUFFERS", () => {
  it("is on in the debug-buffers test project", () => {
    expect(isBufferDebug()).toBe(process.env.CNNLAB_DEBUG_BUFFERS === "1");
  });

  it("poisons released buffers of any size, so a retained gradient reads NaN", () => {
    previous = setBufferDebug(true);
    expect(
      run()
        .toArray()
        .every((v: number) => Number.isNaN(v)),
    ).toBe(true);
    const small = new Float32Array(4).fill(1);
    releaseBuffer(small);
    expect(Array.from(small).every(Number.isNaN)).toBe(true);
    const ints = new Int32Array(POOL_MIN_BYTES / 4).fill(1);
    releaseBuffer(ints);
    expect(ints[0]).toBe(-0x80000000);
  });

  it("leaves released buffers alone when off (the retained gradient then looks fine, which is the danger)", () => {
    previous = setBufferDebug(false);
    expect(run().toArray()).toEqual(new Array(8).fill(3));
  });
});

describe("arrays for kernels that write every element", () => {
  it("a new large one is not zeroed, but in debug mode it is NaN (int32: -2^31) so an unwritten element shows", () => {
    const elements = POOL_MIN_BYTES; // 4 or more bytes each: above the pooling size
    setBufferDebug(true);
    const f = allocateForOverwrite("float32", elements + 1);
    expect(f).toBeInstanceOf(Float32Array);
    expect(f.length).toBe(elements + 1);
    expect(f.byteOffset).toBe(0);
    expect(f.buffer.byteLength).toBe(f.byteLength);
    expect(f.every((v) => Number.isNaN(v))).toBe(true);
    const i = allocateForOverwrite("int32", elements + 3);
    expect(i).toBeInstanceOf(Int32Array);
    expect(i.every((v) => v === -0x80000000)).toBe(true);
    const d = allocateForOverwrite("float64", elements);
    expect(d).toBeInstanceOf(Float64Array);
    expect(d.every((v) => Number.isNaN(v))).toBe(true);
    // a whole buffer, so that it can be pooled once released
    setBufferDebug(false);
    expect(releaseBuffer(d)).toBe(true);
    expect(allocate("float64", elements).every((v) => v === 0)).toBe(true);
  });

  it("allocate() still zero-fills, also a new large array", () => {
    setBufferDebug(false);
    const a = allocate("float32", POOL_MIN_BYTES + 5);
    expect(a.every((v) => v === 0)).toBe(true);
  });
});
