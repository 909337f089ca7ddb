/**
 * The built-in tslab module without sockets: each display method's MIME bundle (the MIME types of
 * tslab 1.0.22's src/public.ts), newDisplay's display_id updates, and versions.
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import type { DisplayOptions, KernelDisplayHook, MimeBundle } from "../../kernel/display.js";
import { makeTslabModule, TSLAB_DTS } from "../../kernel/tslab-module.js";

function recorder() {
  const shown: { bundle: MimeBundle; options: DisplayOptions }[] = [];
  const hook: KernelDisplayHook = {
    display: (bundle, options = {}) => shown.push({ bundle, options }),
    clearOutput: () => undefined,
  };
  return { shown, tslab: makeTslabModule(() => hook) };
}

describe("tslab module", () => {
  it("sends one MIME type per display method, as tslab does", () => {
    const { shown, tslab } = recorder();
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    tslab.display.html("<b>b</b>");
    tslab.display.markdown("# t");
    tslab.display.latex("$x^2$");
    tslab.display.svg("<svg/>");
    tslab.display.javascript("1+1");
    tslab.display.text("plain");
    tslab.display.png(png);
    tslab.display.jpeg(png);
    tslab.display.gif(png);
    tslab.display.pdf(png);
    tslab.display.raw("application/x-thing", "raw!");
    expect(shown.map((s) => s.bundle)).toEqual([
      { "text/html": "<b>b</b>" },
      { "text/markdown": "# t" },
      { "text/latex": "$x^2$" },
      { "image/svg+xml": "<svg/>" },
      { "text/javascript": "1+1" },
      { "text/plain": "plain" },
      { "image/png": png },
      { "image/jpeg": png },
      { "image/gif": png },
      { "application/pdf": png },
      { "application/x-thing": "raw!" },
    ]);
    // The module-level display never replaces an output.
    expect(shown.every((s) => s.options.displayId === undefined && !s.options.update)).toBe(true);
  });

  it("newDisplay: one display_id per display; the first call shows, later calls update", () => {
    const { shown, tslab } = recorder();
    const a = tslab.newDisplay();
    const b = tslab.newDisplay();
    a.text("a1");
    a.html("<i>a2</i>");
    b.text("b1");
    a.text("a3");
    const ids = shown.map((s) => s.options.displayId);
    expect(ids[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(ids).toEqual([ids[0], ids[0], ids[2], ids[0]]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(shown.map((s) => !!s.options.update)).toEqual([false, true, false, true]);
  });

  it("versions names the tslab API level with cnnlab as build metadata, and the real TypeScript and Node", () => {
    const { tslab } = recorder();
    const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
    const tsVersion = (createRequire(import.meta.url)("typescript/package.json") as { version: string })
      .version;
    expect(tslab.versions).toEqual({
      tslab: `1.0.22+cnnlab.${pkg.version}`,
      typescript: tsVersion,
      node: process.version,
      cnnlab: pkg.version,
    });
  });

  it("rejects bad arguments with the method and what was given", () => {
    const { tslab } = recorder();
    expect(() => tslab.display.raw("html", "x")).toThrow(
      /tslab\.display\.raw: contentType must be a MIME type/,
    );
    expect(() => tslab.display.raw("text/html", 5 as unknown as string)).toThrow(
      /tslab\.display\.raw\(text\/html\): data must be a string or a Uint8Array, got number/,
    );
    expect(() => makeTslabModule().display.html("x")).toThrow(/no kernel display is installed/);
  });

  it("declares every runtime member", () => {
    const { tslab } = recorder();
    for (const name of Object.keys(tslab))
      expect(TSLAB_DTS).toMatch(new RegExp(`export declare (const|function) ${name}\\b`));
    for (const method of Object.getOwnPropertyNames(Object.getPrototypeOf(tslab.display)).filter(
      (m) => m !== "constructor",
    ))
      expect(TSLAB_DTS).toMatch(new RegExp(`\\n  ${method}\\(`));
  });
});
