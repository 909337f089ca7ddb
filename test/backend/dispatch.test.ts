// The dispatch table: every backend has every kernel, the last rule of each is unconditional, the
// conditions pick as documented, and backendInfo() prints the active table.
import { describe, expect, it } from "vitest";
import { backendInfo, listBackends, setBackend } from "../../src/index.js";
import {
  describeTable,
  jsTable,
  nativeTable,
  pick,
  wasmTable,
  WASM_ELEMENTWISE_MIN,
  type KernelQuery,
  type Rule,
  type Table,
} from "../../src/backend/dispatch.js";
import type { Blas } from "../../src/backend/native/blas.js";
import type { KernelName } from "../../src/backend/backend.js";

const fakeBlas: Blas = {
  path: "/fake/libcblas.so",
  kind: "openblas",
  description: "OpenBLAS fake (libcblas.so)",
  sgemm: () => {},
  dgemm: () => {},
  setThreads: () => {},
};
const TABLES: [string, Table][] = [
  ["js", jsTable],
  ["wasm", wasmTable],
  ["native", nativeTable(fakeBlas)],
];
const KERNELS: KernelName[] = [
  "gemm",
  "im2col",
  "col2im",
  "conv2dForward",
  "conv2dBackward",
  "maxPool2d",
  "maxPool2dBackward",
  "avgPool2d",
  "avgPool2dBackward",
  "relu",
  "reluBackward",
  "sgdUpdate",
  "adamUpdate",
  "sumDims",
  "reduce",
  "channelMoments",
  "channelAffine",
  "channelAffineBackward",
  "batchNormBackward",
  "rowNormalize",
  "rowNormalizeBackward",
  "lrn",
  "lrnBackward",
  "softmax",
  "softmaxBackward",
  "nllLoss",
  "nllLossBackward",
  "multiMarginLoss",
  "multiMarginLossBackward",
  "cat",
  "pad",
  "indexSelect",
  "indexAdd",
  "gather",
  "scatterAdd",
];
const q = (o: Partial<KernelQuery>): KernelQuery => ({ dtype: "float32", size: 1, groups: 1, ...o });

describe.each(TABLES)("the %s table", (_, table) => {
  it("has every kernel, each ending in an unconditional rule", () => {
    expect(Object.keys(table).sort()).toEqual([...KERNELS].sort());
    for (const k of KERNELS) {
      const rules = table[k] as Rule<KernelName>[];
      expect(rules.length, k).toBeGreaterThan(0);
      expect(rules[rules.length - 1].accepts, k).toBeUndefined();
      for (const r of rules.slice(0, -1)) expect(r.when, `${k}: ${r.impl}`).toBeTruthy();
    }
  });
});

describe("what runs (WebAssembly loaded)", () => {
  const native = nativeTable(fakeBlas);
  it("wasm: fused conv for groups = 1 only; relu from the size threshold; relu backward float32 only; max-pool backward in JS", () => {
    expect(pick(wasmTable.conv2dForward, q({ groups: 1 })).impl).toBe("WebAssembly fused conv");
    expect(pick(wasmTable.conv2dForward, q({ groups: 2 })).impl).toBe("im2col (JS) + the GEMM above");
    expect(pick(wasmTable.relu, q({ size: WASM_ELEMENTWISE_MIN - 1 })).impl).toBe("JS loops");
    expect(pick(wasmTable.relu, q({ size: WASM_ELEMENTWISE_MIN })).impl).toBe("WebAssembly SIMD");
    expect(pick(wasmTable.maxPool2dBackward, q({ size: 1 << 22 })).impl).toBe("JS loops");
    expect(pick(wasmTable.reluBackward, q({ dtype: "float64", size: 1 << 20 })).impl).toBe("JS loops");
    expect(pick(wasmTable.maxPool2d, q({})).impl).toBe("WebAssembly SIMD");
    expect(pick(wasmTable.avgPool2d, q({})).impl).toBe("JS loops");
  });

  it("native: GEMMs on the BLAS (grouped convolutions too), memory-bound kernels as wasm's", () => {
    expect(pick(native.gemm, q({})).impl).toBe("BLAS (OpenBLAS fake (libcblas.so))");
    expect(pick(native.conv2dForward, q({ groups: 3 })).impl).toBe("BLAS GEMMs on WebAssembly im2col");
    expect(native.relu).toBe(wasmTable.relu);
    expect(native.maxPool2dBackward).toBe(wasmTable.maxPool2dBackward);
  });

  it("describes a table one line per kernel", () => {
    expect(describeTable(wasmTable)).toContain(
      `relu: WebAssembly SIMD (WebAssembly SIMD loads and size >= ${WASM_ELEMENTWISE_MIN}), else JS loops`,
    );
    expect(describeTable(jsTable)).toContain("conv2dForward: im2col + GEMM (JS)");
  });

  it("backendInfo() prints the active backend's table", () => {
    for (const name of listBackends()) {
      const previous = setBackend(name);
      try {
        const info = backendInfo();
        expect(info.name).toBe(name);
        expect(info.kernels).toHaveLength(KERNELS.length);
        expect(info.kernels[0]).toMatch(/^gemm: /);
      } finally {
        setBackend(previous);
      }
    }
  });
});

describe("a backend of one's own", () => {
  it("is built from a table (every kernel has an implementation) and can be registered and selected", async () => {
    const cn = await import("../../src/index.js");
    let calls = 0;
    const mine = cn.makeBackend("counting", {
      ...cn.jsTable,
      gemm: [
        {
          impl: "counting JS GEMM",
          run: (args) => {
            calls++;
            cn.jsTable.gemm[0].run(args);
          },
        },
      ],
    });
    cn.registerBackend(mine);
    const previous = cn.setBackend("counting");
    try {
      const y = cn.matmul(cn.tensor([[1, 2]]), cn.tensor([[3], [4]]));
      expect(y.toArray()).toEqual([[11]]);
      expect(calls).toBe(1);
      expect(cn.backendInfo().kernels[0]).toBe("gemm: counting JS GEMM");
    } finally {
      cn.setBackend(previous);
    }
  });
});
