/** Sequential and ModuleList share one container base: the same checks, indexing and iteration. */
import { describe, expect, it } from "vitest";
import { nn, randn } from "../../src/index.js";

describe.each([
  ["Sequential", (ms: nn.Module[]) => new nn.Sequential(...ms)],
  ["ModuleList", (ms: nn.Module[]) => new nn.ModuleList(ms)],
] as const)("%s", (name, make) => {
  it("refuses a non-Module in the constructor and in append, naming the call", () => {
    expect(() => make([new nn.ReLU(), null as unknown as nn.Module])).toThrow(
      new RegExp(`^${name}: (argument|module) 1 must be a Module, got null$`),
    );
    const c = make([new nn.ReLU()]);
    expect(() => c.append(null as unknown as nn.Module)).toThrow(
      `${name}.append: the module must be a Module, got null`,
    );
    expect(() => c.append({} as nn.Module)).toThrow(
      `${name}.append: the module must be a Module, got object`,
    );
    expect(c.length).toBe(1);
  });

  it("names children 0, 1, ..., indexes from either end and iterates in order", () => {
    const a = new nn.Linear(2, 3);
    const b = new nn.ReLU();
    const c = make([a]).append(b);
    expect(c.length).toBe(2);
    expect(c.at(0)).toBe(a);
    expect(c.at(-1)).toBe(b);
    expect(() => c.at(2)).toThrow(`${name}.at: index 2 is out of range for 2 modules`);
    expect([...c]).toEqual([a, b]);
    expect(c.namedParameters().map(([n]) => n)).toEqual(["0.weight", "0.bias"]);
  });
});

it("Sequential runs its children in order", () => {
  const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU());
  const out = seq.forward(randn([4, 2]));
  expect(out.shape).toEqual([4, 3]);
  expect(
    out
      .toArray()
      .flat()
      .every((v: number) => v >= 0),
  ).toBe(true);
});
