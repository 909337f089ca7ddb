/**
 * The registry of process-wide state (src/runtime/state.ts): every entry the kernel restores after
 * an interrupt, and what restoring does when the state was left half-way (a thread pool job cut short).
 */
import { describe, expect, it } from "vitest";
import { isGradEnabled, setGradEnabled } from "../../src/autograd/grad-mode.js";
import {
  wasmGemm as gemm,
  PARALLEL_MIN_FLOPS,
  setNumThreads,
  shutdownThreads,
  workerCount,
} from "../../src/backend/wasm/index.js";
import { runtime } from "../../src/backend/wasm/runtime.js";
import { getPool } from "../../src/backend/wasm/threads.js";
import "../../src/nn/layers.js";
import { checkpointGlobalState, globalStateNames, restoreGlobalState } from "../../src/runtime/state.js";
import { donateGradient, mayOverwriteGradient } from "../../src/autograd/function.js";
import { tensor } from "../../src/tensor/creation.js";
import {
  pooledBufferBytes,
  POOL_MIN_BYTES,
  releaseBuffer,
  setAllocationLog,
} from "../../src/tensor/dtype.js";
import { defaultGenerator, manualSeed } from "../../src/tensor/random.js";

describe("global state registry", () => {
  it("lists every piece of library state an interrupt can leave wrong", () => {
    expect(globalStateNames()).toEqual(
      expect.arrayContaining([
        "autograd/grad-mode: gradEnabled",
        "autograd/function: donatedGradient",
        "nn/layers: initEnabled",
        "tensor/random: defaultGenerator",
        "tensor/dtype: buffer pool, reuseEnabled, allocationLog",
        "backend/wasm/threads: thread pool job slots, wasm arena",
      ]),
    );
  });

  it("restores grad mode, the generator (with its cached normal) and the allocation log; empties the buffer pool", () => {
    manualSeed(11);
    defaultGenerator.normal();
    const checkpoint = checkpointGlobalState();
    const expected = [defaultGenerator.normal(), defaultGenerator.normal(), defaultGenerator.random()];
    restoreGlobalState(checkpoint);
    setGradEnabled(false);
    setAllocationLog(new WeakSet());
    defaultGenerator.random();
    expect(releaseBuffer(new Float64Array(POOL_MIN_BYTES / 8))).toBe(true);
    expect(pooledBufferBytes()).toBeGreaterThan(0);
    expect(restoreGlobalState(checkpoint)).toEqual([]);
    expect(isGradEnabled()).toBe(true);
    expect(setAllocationLog(null)).toBeNull();
    expect(pooledBufferBytes()).toBe(0);
    expect([defaultGenerator.normal(), defaultGenerator.normal(), defaultGenerator.random()]).toEqual(
      expected,
    );
  });

  it("a thread pool job cut short: the runtime and its workers are replaced, the next GEMM is right", async () => {
    const rt = runtime();
    if (!rt) return; // no WebAssembly SIMD here: the JS kernels have no pool to restore
    setNumThreads(2);
    const n = Math.ceil(Math.cbrt(PARALLEL_MIN_FLOPS)) * 2;
    const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) - 6);
    const c = new Float32Array(n * n);
    gemm({ a, b: a, c, m: n, n, k: n, transA: false, transB: false, accumulate: false });
    const checkpoint = checkpointGlobalState();
    getPool(rt).busy = true; // what a termination inside ThreadPool.run leaves behind
    restoreGlobalState(checkpoint);
    expect(runtime()).not.toBe(rt);
    expect(workerCount()).toBe(0);
    const again = new Float32Array(n * n);
    gemm({ a, b: a, c: again, m: n, n, k: n, transA: false, transB: false, accumulate: false });
    expect(again).toEqual(c);
    restoreGlobalState(checkpointGlobalState()); // an idle pool is kept
    expect(runtime()).not.toBe(rt);
    await shutdownThreads();
  });

  it("a donation left by a backward cut short is withdrawn", () => {
    const checkpoint = checkpointGlobalState();
    const g = tensor([1, -2, 3]);
    donateGradient(g); // what a termination inside the engine's runNode leaves behind
    expect(mayOverwriteGradient(g)).toBe(true);
    expect(restoreGlobalState(checkpoint)).toEqual([]);
    expect(mayOverwriteGradient(g)).toBe(false);
  });
});
