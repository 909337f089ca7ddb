// The parameter layout and op codes shared by the AssemblyScript kernels and their TypeScript
// callers are generated from one declaration (scripts/wasm-layout.mjs); this checks that the
// compiled module and the generated TypeScript agree.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CONV_PARAMS,
  CONV_PARAM_COUNT,
  CONV_PARAM_NAMES,
  OPS,
  PARAM_OPS,
} from "../../../src/backend/wasm/generated/layout.js";
import { runtime } from "../../../src/backend/wasm/runtime.js";

const rt = runtime();

describe.runIf(rt)("the WebAssembly parameter layout", () => {
  const exports = rt!.x as unknown as Record<string, unknown>;

  it("every conv parameter index of the TypeScript side is the module's exported P_* constant", () => {
    const keys = Object.keys(CONV_PARAMS) as (keyof typeof CONV_PARAMS)[];
    expect(keys).toHaveLength(CONV_PARAM_COUNT);
    for (const k of keys) {
      const g = exports[CONV_PARAM_NAMES[k]];
      expect(g, CONV_PARAM_NAMES[k]).toBeInstanceOf(WebAssembly.Global);
      expect((g as WebAssembly.Global).value, k).toBe(CONV_PARAMS[k]);
    }
    expect((exports.P_COUNT as WebAssembly.Global).value).toBe(CONV_PARAM_COUNT);
    expect(new Set(Object.values(CONV_PARAMS)).size).toBe(CONV_PARAM_COUNT);
  });

  it("every op code names a kernel export of the module", () => {
    for (const [name, code] of Object.entries(OPS)) {
      expect(typeof exports[name], name).toBe("function");
      if (code >= 3) expect(PARAM_OPS[code]).toBe(name);
    }
  });

  it("the AssemblyScript sources take the P_* indices from the generated module only", () => {
    const dir = fileURLToPath(new URL("../../../src/backend/wasm/assembly/", import.meta.url));
    const conv = readFileSync(`${dir}conv.as`, "utf8");
    expect(conv).toMatch(/from "\.\/layout"/);
    expect(conv).not.toMatch(/const P_\w+: i32 = \d+/);
  });
});
