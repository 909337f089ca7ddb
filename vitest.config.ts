import { defineConfig } from "vitest/config";

const shared = { testTimeout: 30_000, hookTimeout: 120_000, pool: "forks" } as const;

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: "all", include: ["test/**/*.test.ts"] } },
      {
        // The WebAssembly kernels and every op test once more on the plain SIMD128 build (the
        // default build uses relaxed SIMD's fused multiply-add where the engine has it), with
        // WebAssembly as the default backend (the "all" project's default is native where a BLAS loads).
        test: {
          ...shared,
          name: "simd128",
          include: ["test/backend/wasm/**/*.test.ts", "test/ops/**/*.test.ts", "test/nn/**/*.test.ts"],
          env: { CNNLAB_WASM_FMA: "0", CNNLAB_BACKEND: "wasm" },
        },
      },
      {
        // Autograd and every op once more with released gradient buffers poisoned with NaN: a
        // backward that keeps the gradient it was given fails here.
        test: {
          ...shared,
          name: "debug-buffers",
          // compile's arena replays run the same backward passes: a buffer its plan reuses too
          // early would show as NaN here
          include: ["test/autograd/**/*.test.ts", "test/ops/**/*.test.ts", "test/compile/**/*.test.ts"],
          env: { CNNLAB_DEBUG_BUFFERS: "1" },
        },
      },
    ],
  },
});
