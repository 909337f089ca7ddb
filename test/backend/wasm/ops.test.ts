// The public ops running on the WebAssembly backend give the JS backend's results.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { F, manualSeed, randn, type Tensor } from "../../../src/index.js";
import { registerBackend, setBackend } from "../../../src/backend/index.js";
import { setNumThreads, shutdownThreads } from "../../../src/backend/wasm/index.js";
import { wasmBackend } from "../../../src/backend/dispatch.js";

type Dt = "float32" | "float64";

/** conv 7x7 pad 3 - relu - max pool 2 - linear - sum of squares, forward and backward. */
function step(dtype: Dt, threads: number): Float64Array[] {
  setNumThreads(threads);
  manualSeed(1);
  const x = randn([4, 3, 16, 16], { dtype, requiresGrad: true });
  const w = randn([8, 3, 7, 7], { dtype, requiresGrad: true });
  const b = randn([8], { dtype, requiresGrad: true });
  const fc = randn([5, 8 * 8 * 8], { dtype, requiresGrad: true });
  const y = F.maxPool2d(F.relu(F.conv2d(x, w, b, { padding: 3 })), { kernelSize: 2, stride: 2 }) as Tensor;
  const z = F.linear(y.reshape([4, 8 * 8 * 8]), fc);
  const loss = z.mul(z).sum();
  loss.backward();
  return [z, x.grad!, w.grad!, b.grad!, fc.grad!].map((t) => Float64Array.from(t.data as ArrayLike<number>));
}

function relErr(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / (den || 1);
}

registerBackend(wasmBackend);
afterEach(() => {
  setBackend("js");
  setNumThreads(1);
});
afterAll(async () => {
  await shutdownThreads();
});

describe.each([
  ["float32", 1e-4],
  ["float64", 1e-11],
] as [Dt, number][])("ops on the wasm backend (%s)", (dtype, tol) => {
  it("conv2d - relu - maxPool2d - linear forward and backward match the JS backend", () => {
    setBackend("js");
    const want = step(dtype, 1);
    setBackend("wasm");
    for (const threads of [1, 2]) {
      const got = step(dtype, threads);
      got.forEach((g, i) =>
        expect(relErr(g, want[i]), `output ${i}, ${threads} threads`).toBeLessThanOrEqual(tol),
      );
    }
  });
});
