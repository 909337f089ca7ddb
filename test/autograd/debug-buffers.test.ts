/**
 * Debug mode for buffer reuse (CNNLAB_DEBUG_BUFFERS=1): released gradient buffers are poisoned with
 * NaN, so an op whose backward keeps the gradient it was given fails loudly instead of reading
 * memory that a later allocation reused. The "debug-buffers" vitest project runs test/autograd and
 * test/ops with the variable set.
 */
import { afterEach, describe, expect, it } from "vitest";
import { defineOp } from "../../src/autograd/function.js";
import { randn, Tensor } from "../../src/index.js";
import { isBufferDebug, POOL_MIN_BYTES, releaseBuffer, setBufferDebug } from "../../src/tensor/dtype.js";

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
