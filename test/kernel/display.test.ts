import { describe, expect, it } from "vitest";
import {
  isRawBundle,
  makeCellDisplayApi,
  makeHook,
  normalizeBundle,
  toDisplay,
  type DisplayPayload,
} from "../../kernel/display.js";

describe("display adapter", () => {
  it("sends bytes base64 and JSON MIME types as objects", () => {
    expect(
      normalizeBundle({
        "image/png": new Uint8Array([0xff, 0x00, 0x10]),
        "application/json": '{"a": [1, 2]}',
        "application/vnd.plotly.v1+json": { data: [], layout: { title: "t" } },
        "text/plain": "x",
      }),
    ).toEqual({
      "image/png": "/wAQ",
      "application/json": { a: [1, 2] },
      "application/vnd.plotly.v1+json": { data: [], layout: { title: "t" } },
      "text/plain": "x",
    });
    expect(normalizeBundle({ "image/png": Buffer.from("hi") })["image/png"]).toBe("aGk=");
  });

  it("uses Symbol.for('Jupyter.display') bundles, raw bundles, else inspect text", () => {
    const obj = { [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<b>t</b>" }) };
    expect(toDisplay(obj).data["text/html"]).toBe("<b>t</b>");
    expect(typeof toDisplay(obj).data["text/plain"]).toBe("string");
    expect(isRawBundle({ "text/html": "x" })).toBe(true);
    expect(isRawBundle({ html: "x" })).toBe(false);
    expect(toDisplay({ a: 1 }).data).toEqual({ "text/plain": "{ a: 1 }" });
    expect(toDisplay("s").data).toEqual({ "text/plain": "'s'" });
  });

  it("the library hook and cell helpers reach the sink with ids and update flags", () => {
    const seen: [DisplayPayload, string | undefined, boolean][] = [];
    const clears: boolean[] = [];
    const sink = {
      displayData: (p: DisplayPayload, id: string | undefined, u: boolean) => seen.push([p, id, u]),
      clearOutput: (w: boolean) => clears.push(w),
    };
    const hook = makeHook(sink);
    hook.display({ "text/plain": "a" }, { displayId: "x", metadata: { m: 1 } });
    hook.display({ "text/plain": "b" }, { displayId: "x", update: true });
    expect(() => hook.display({ "text/plain": "c" }, { update: true })).toThrow(/displayId/);
    hook.clearOutput(true);
    const api = makeCellDisplayApi(sink);
    api.display(5, { displayId: "n" });
    api.updateDisplay("n", 6);
    api.clearOutput({ wait: false });
    api.clearOutput(true);
    expect(seen.map(([p, id, u]) => [p.data["text/plain"], id, u])).toEqual([
      ["a", "x", false],
      ["b", "x", true],
      ["5", "n", false],
      ["6", "n", true],
    ]);
    expect(seen[0][0].metadata).toEqual({ m: 1 });
    expect(clears).toEqual([true, false, true]);
    expect(() => api.updateDisplay("", 1)).toThrow(/displayId/);
  });
});
