/**
 * End to end in a real browser: a notebook using every display is executed (by the kernel's runner
 * when the built library is current, otherwise by calling the same code here and storing the
 * bundles as outputs), exported with `jupyter nbconvert --to html`, and opened in headless
 * Chromium. Skips loudly without chromium or nbconvert, and fails instead when CI=true.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { DEMO_CELLS, asOutput, bundleOf, demoNotebook } from "./demo-cells.js";
import { fakeKernel } from "./helpers.js";

const ROOT = resolve(import.meta.dirname, "../..");
const OUT = join(ROOT, "test-artifacts", "display");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CI = process.env.CI === "true";

function hasNbconvert(): boolean {
  const r = spawnSync("jupyter", ["nbconvert", "--version"], { encoding: "utf8" });
  return r.status === 0;
}

const missing = [
  ...(existsSync(CHROMIUM) ? [] : [`chromium (${CHROMIUM}; apt-get install chromium)`]),
  ...(hasNbconvert() ? [] : ["jupyter nbconvert (apt-get install jupyter-nbconvert)"]),
];
if (missing.length && CI)
  throw new Error(`display browser test: missing ${missing.join(", ")} (required when CI=true)`);
if (missing.length) {
  // A loud skip: the reason is printed once, the tests below are marked skipped.
  process.stdout.write(`\n[display browser test] SKIPPED: missing ${missing.join(", ")}\n`);
}

/** Executes the demo cells in-process; outputs are what the kernel would send. */
function executeDirectly(): Record<string, any> {
  const nb = demoNotebook() as any;
  const env: Record<string, any> = {};
  let count = 0;
  for (let i = 0; i < DEMO_CELLS.length; i++) {
    const cell = DEMO_CELLS[i];
    if (!cell.run) continue;
    const k = fakeKernel();
    let value: unknown;
    try {
      value = cell.run(env);
    } finally {
      k.restore();
    }
    const outputs: Record<string, unknown>[] = [];
    const byId = new Map<string, number>();
    for (const e of k.emitted) {
      const id = e.options?.displayId;
      if (e.options?.update && id !== undefined && byId.has(id)) {
        outputs[byId.get(id)!] = asOutput(e.bundle);
      } else {
        if (id !== undefined) byId.set(id, outputs.length);
        outputs.push(asOutput(e.bundle));
      }
    }
    count++;
    if (value !== undefined) outputs.push(asOutput(bundleOf(value), count));
    nb.cells[i].outputs = outputs;
    nb.cells[i].execution_count = count;
  }
  return nb;
}

function newestMtime(dir: string): number {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
}

/** Is dist/ built from the current display sources (so the kernel preloads them)? */
function builtLibraryIsCurrent(): boolean {
  const dist = join(ROOT, "dist", "src", "display");
  if (!existsSync(join(dist, "index.js"))) return false;
  return newestMtime(dist) >= newestMtime(join(ROOT, "src", "display"));
}

async function checkInBrowser(htmlPath: string, screenshot: string): Promise<void> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // Offline: the page may reference CDNs (require.js, MathJax); nothing but the file loads.
    await page.route("**/*", (route) =>
      route.request().url().startsWith("file:") || route.request().url().startsWith("data:")
        ? route.continue()
        : route.abort(),
    );
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: "load", timeout: 60_000 });
    const figures = await page.locator(".cnnlab-figure").count();
    expect(figures).toBeGreaterThanOrEqual(6); // plot, heatmap, bar, scatter, liveplot, activation heatmaps
    await page.waitForFunction(
      (n) => document.querySelectorAll(".cnnlab-figure .cnnlab-plotly .main-svg").length >= n,
      figures,
      { timeout: 60_000 },
    );
    const drawn = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".cnnlab-figure")).map((fig) => ({
        traces: fig.querySelectorAll(
          ".cnnlab-plotly .trace, .cnnlab-plotly .hm image, .cnnlab-plotly g.heatmaplayer image",
        ).length,
        imgHidden: (fig.querySelector("img") as HTMLImageElement | null)?.style.display === "none",
        width: fig.querySelector(".cnnlab-plotly")?.getBoundingClientRect().width ?? 0,
      })),
    );
    for (const d of drawn) {
      expect(d.traces).toBeGreaterThan(0);
      expect(d.imgHidden).toBe(true);
      expect(d.width).toBeGreaterThan(100);
    }
    // Line plots drew their lines.
    const lines = await page.locator(".cnnlab-plotly .scatterlayer .trace path.js-line").count();
    expect(lines).toBeGreaterThanOrEqual(2 + 2);
    // Every PNG decoded.
    const pngs = await page.evaluate(() =>
      Array.from(document.querySelectorAll("img"))
        .filter((i) => i.src.startsWith("data:image/png"))
        .map((i) => ({ w: i.naturalWidth, h: i.naturalHeight, complete: i.complete })),
    );
    expect(pngs.length).toBeGreaterThanOrEqual(6); // images, filters, 2 activation grids, gradients, heatmaps
    for (const p of pngs) {
      expect(p.complete).toBe(true);
      expect(p.w).toBeGreaterThan(0);
      expect(p.h).toBeGreaterThan(0);
    }
    // The autograd graph is visible.
    const graph = page.locator("svg.cnnlab-graph").first();
    await expect(graph.isVisible()).resolves.toBe(true);
    const box = await graph.boundingBox();
    expect(box!.width).toBeGreaterThan(100);
    expect(box!.height).toBeGreaterThan(100);
    expect(await page.locator("svg.cnnlab-graph g.cnnlab-graph-leaf").count()).toBe(2);
    // The tables rendered.
    expect(await page.locator(".cnnlab-gradcheck td", { hasText: "pass" }).count()).toBe(1);
    expect(await page.locator(".cnnlab-summary tr").count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator(".cnnlab-progress").count()).toBe(1);
    expect(errors).toEqual([]);
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
}

function nbconvert(ipynb: string): string {
  execFileSync("jupyter", ["nbconvert", "--to", "html", "--output-dir", OUT, ipynb], {
    stdio: "pipe",
    timeout: 120_000,
  });
  const html = ipynb.replace(/\.ipynb$/, ".html").replace(/^.*[\\/]/, `${OUT}/`);
  expect(existsSync(html)).toBe(true);
  return html;
}

describe.skipIf(missing.length > 0)("displays in a browser (nbconvert HTML + headless Chromium)", () => {
  it("the demo notebook's outputs (computed in-process) render and become interactive offline", async () => {
    mkdirSync(OUT, { recursive: true });
    const nb = executeDirectly();
    const ipynb = join(OUT, "display-demo.direct.ipynb");
    writeFileSync(ipynb, JSON.stringify(nb, null, 1));
    const html = nbconvert(ipynb);
    await checkInBrowser(html, join(OUT, "display-demo.direct.png"));
  }, 240_000);

  it.skipIf(!builtLibraryIsCurrent() && !CI)(
    "notebooks/display-demo.ipynb executed by the cnnlab kernel renders",
    async () => {
      const { runNotebook } = await import("../../kernel/runner.js");
      mkdirSync(OUT, { recursive: true });
      const out = join(OUT, "display-demo.kernel.ipynb");
      const result = await runNotebook(join(ROOT, "notebooks", "display-demo.ipynb"), {
        outPath: out,
        timeoutSec: 120,
      });
      expect(result.errors).toEqual([]);
      expect(result.ok).toBe(true);
      const nb = JSON.parse(readFileSync(out, "utf8"));
      const stderr = nb.cells.flatMap((c: any) => c.outputs ?? []).filter((o: any) => o.name === "stderr");
      expect(stderr).toEqual([]);
      const html = nbconvert(out);
      await checkInBrowser(html, join(OUT, "display-demo.kernel.png"));
    },
    300_000,
  );
});
