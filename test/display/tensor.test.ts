import { describe, expect, it } from "vitest";
import {
  tensor,
  randn,
  arange,
  gradcheck,
  tensorBundle,
  gradcheckBundle,
  relErrorReading,
  RelError,
  showRelError,
  display,
  JUPYTER_DISPLAY,
  F,
} from "../../src/index.js";
import { captureStreams, fakeKernel } from "./helpers.js";

describe("tensor display", () => {
  it("text/plain is the PyTorch-like repr and text/html has shape, dtype, grad flag and a table", () => {
    const t = tensor(
      [
        [1.5, 2],
        [3, 4],
        [5, 6],
      ],
      { dtype: "float64", requiresGrad: true },
    );
    const b = (t as any)[JUPYTER_DISPLAY]();
    expect(b["text/plain"]).toBe(t.toString());
    const html = String(b["text/html"]);
    expect(html).toContain("[3, 2]");
    expect(html).toContain("float64");
    expect(html).toContain("requires grad");
    expect(html.match(/<td /g)).toHaveLength(6);
    expect(html).toContain(">1.5<");
  });

  it("shows grad_fn for results", () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const html = String(tensorBundle(x.mul(x))["text/html"]);
    expect(html).toMatch(/grad_fn=<code>\w+<\/code>/);
  });

  it("summarises large tensors with statistics and an elided table", () => {
    const t = arange(0, 5000).reshape(50, 100);
    const html = String(tensorBundle(t)["text/html"]);
    // min 0, max 4999, mean 2499.5 of 0..4999
    expect(html).toContain("min 0 · max 4999 · mean 2500");
    expect(html).toContain("…");
    expect((html.match(/<td /g) ?? []).length).toBeLessThanOrEqual(11 * 11);
  });

  it("shows higher-rank tensors as preformatted text", () => {
    const html = String(tensorBundle(randn([2, 2, 2]))["text/html"]);
    expect(html).toContain("<pre");
    expect(html).not.toContain("<table");
  });
});

describe("gradcheck display", () => {
  it("a passing check renders a green table; the text form is the fallback", () => {
    const x = randn([2, 3], { dtype: "float64", requiresGrad: true });
    const r = gradcheck((a) => a.tanh().sum(), [x]);
    const b = (r as any)[JUPYTER_DISPLAY]();
    expect(b["text/plain"]).toBe(r.toString());
    const html = String(b["text/html"]);
    for (const h of ["input", "shape", "max abs err", "max rel err", "tolerance", "result"])
      expect(html).toContain(`>${h}<`);
    expect(html).toContain("✓ pass");
    expect(html).toContain("[2, 3]");
  });

  it("a failing check is marked red with the worst coordinate", () => {
    // A deliberately wrong backward: relu's gradient through a custom op is not needed; use
    // float32 with a tiny eps so the finite differences are garbage.
    const x = randn([4], { requiresGrad: true });
    const r = gradcheck((a) => a.mul(a).sum(), [x], { eps: 1e-9, atol: 1e-12, rtol: 1e-12 });
    expect(r.passed).toBe(false);
    const html = String(gradcheckBundle(r)["text/html"]);
    expect(html).toContain("✗ FAIL");
    expect(html).toContain("gradcheck FAILED");
    expect(html).toContain("float32"); // the float32 warning is shown
  });

  it("reads relative errors the CS231n way", () => {
    expect(relErrorReading(6e-9).level).toBe("great");
    expect(relErrorReading(3e-6).level).toBe("ok-with-kinks");
    expect(relErrorReading(2e-3).level).toBe("uncomfortable");
    expect(relErrorReading(1.0).level).toBe("wrong");
    expect(relErrorReading(NaN).level).toBe("wrong");
    const e = new RelError(6e-9, "dx error");
    expect(+e).toBe(6e-9);
    expect(String(e[JUPYTER_DISPLAY]()["text/html"])).toContain("dx error");
  });

  it("showRelError and display go through the kernel hook", () => {
    const k = fakeKernel();
    try {
      showRelError(1e-10);
      display(tensor([1, 2]));
      display({ "text/markdown": "**hi**" });
      expect(k.emitted.map((e) => Object.keys(e.bundle).sort())).toEqual([
        ["text/html", "text/plain"],
        ["text/html", "text/plain"],
        ["text/markdown"],
      ]);
    } finally {
      k.restore();
    }
  });

  it("without a kernel, display prints text/plain to stdout and nothing to stderr", () => {
    const s = captureStreams();
    try {
      display(tensor([1, 2]));
      showRelError(0.5);
    } finally {
      s.restore();
    }
    expect(s.stdout.join("")).toBe(
      "tensor([1., 2.])\n" + "relative error: 5.00e-1 (> 1e-2: the gradient is probably wrong)\n",
    );
    expect(s.stderr).toEqual([]);
  });

  it("works for conv gradients in float64 (the design's example)", () => {
    const x = randn([1, 2, 5, 5], { dtype: "float64", requiresGrad: true });
    const w = randn([3, 2, 3, 3], { dtype: "float64" });
    const r = gradcheck((a) => F.conv2d(a, w), [x]);
    expect(String(gradcheckBundle(r)["text/html"])).toContain("[1, 2, 5, 5]");
  });
});
