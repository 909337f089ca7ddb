import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { liveplot, progress, PLOTLY_MIME, data, randn } from "../../src/index.js";
import { captureStreams, fakeKernel } from "./helpers.js";

describe("liveplot in a notebook", () => {
  let k: ReturnType<typeof fakeKernel>;
  beforeEach(() => {
    vi.useFakeTimers();
    k = fakeKernel();
  });
  afterEach(() => {
    k.restore();
    vi.useRealTimers();
  });

  it("redraws in place, at most every 250 ms, with a final flush", () => {
    const lp = liveplot({ metrics: ["loss", "acc"], title: "training" });
    for (let i = 0; i < 100; i++) {
      lp.update({ loss: 1 / (i + 1), acc: i / 100 });
      vi.advanceTimersByTime(10); // 100 updates over one second
    }
    lp.done();
    const n = k.emitted.length;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(6); // ≤ 4 per second + first + final
    expect(k.emitted[0].options).toMatchObject({ displayId: lp.displayId, update: false });
    for (const e of k.emitted.slice(1))
      expect(e.options).toMatchObject({ displayId: lp.displayId, update: true });
    const last = k.emitted[n - 1].bundle[PLOTLY_MIME] as any;
    expect(last.data.map((t: any) => [t.name, t.y.length, t.xaxis])).toEqual([
      ["loss", 100, "x"],
      ["acc", 100, "x2"],
    ]);
    expect(last.data[0].y[99]).toBeCloseTo(0.01);
    expect(Object.keys(k.emitted[n - 1].bundle)).toContain("image/svg+xml");
  });

  it("a trailing update is flushed by a timer even without done()", () => {
    const lp = liveplot({ metrics: [["train", "val"]] });
    lp.update({ train: 1, val: 2 });
    lp.update({ train: 0.5 });
    expect(k.emitted).toHaveLength(1);
    vi.advanceTimersByTime(300);
    expect(k.emitted).toHaveLength(2);
    expect((k.emitted[1].bundle[PLOTLY_MIME] as any).data[0].y).toEqual([1, 0.5]);
    expect(() => lp.update({ lr: 1 })).toThrow(
      /liveplot.update: unknown metric "lr"; metrics are train, val/,
    );
  });
});

describe("progress in a notebook", () => {
  let k: ReturnType<typeof fakeKernel>;
  beforeEach(() => {
    vi.useFakeTimers();
    k = fakeKernel();
  });
  afterEach(() => {
    k.restore();
    vi.useRealTimers();
  });

  it("wraps an iterable, updates one display in place and ends at 100%", () => {
    const seen: number[] = [];
    for (const v of progress([10, 20, 30, 40], { desc: "epoch 1" })) {
      seen.push(v);
      vi.advanceTimersByTime(500);
    }
    expect(seen).toEqual([10, 20, 30, 40]);
    const ids = new Set(k.emitted.map((e) => e.options?.displayId));
    expect(ids.size).toBe(1);
    expect(k.emitted[0].options?.update).toBe(false);
    const last = k.emitted[k.emitted.length - 1];
    expect(last.options?.update).toBe(true);
    // 4 items in 2 s: 2 it/s, nothing left
    expect(last.bundle["text/plain"]).toBe(
      "epoch 1: 100%|████████████████████████| 4/4 [00:02<00:00, 2.00it/s]",
    );
    expect(String(last.bundle["text/html"])).toContain("width:100.0%");
  });

  it("shows count, rate and ETA midway; breaking out closes the bar", () => {
    const p = progress(100);
    let i = 0;
    for (const _ of p) {
      vi.advanceTimersByTime(100);
      if (++i === 25) break;
    }
    // as in tqdm, an item counts once the loop asks for the next one: 24 of 100 after 2.5 s is
    // 9.6 it/s with 76 / 9.6 = 7.9 s left; 24 cells * 0.24 = 5.76 -> 5 full blocks and a 6/8 block
    expect(p.toString()).toBe(" 24%|█████▊                  | 24/100 [00:03<00:08, 9.60it/s]");
    expect(String(k.emitted[k.emitted.length - 1].bundle["text/html"])).toContain("#d62728"); // stopped early
  });

  it("manual updates and unknown totals", () => {
    const p = progress(null, { desc: "batches" });
    p.update(3);
    vi.advanceTimersByTime(1000);
    p.update(3);
    p.close();
    expect(p.toString()).toBe("batches: 6it [00:01, 6.00it/s]");
  });

  it("takes the total from a DataLoader's length", () => {
    const loader = new data.DataLoader(new data.TensorDataset(randn([10, 2])), { batchSize: 4 });
    const p = progress(loader, { desc: "batches" });
    expect(p.total).toBe(3);
    let n = 0;
    for (const _ of p) n++;
    expect(n).toBe(3);
    expect(k.emitted[k.emitted.length - 1].bundle["text/plain"]).toContain("3/3");
  });

  it("async iterables", async () => {
    async function* gen() {
      yield 1;
      yield 2;
    }
    const out: number[] = [];
    for await (const v of progress(gen(), { total: 2 })) out.push(v);
    expect(out).toEqual([1, 2]);
    expect(k.emitted[k.emitted.length - 1].bundle["text/plain"]).toContain("2/2");
  });
});

describe("terminal fallback", () => {
  let s: ReturnType<typeof captureStreams>;
  let tty: boolean | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    s = captureStreams();
    tty = process.stdout.isTTY;
  });
  afterEach(() => {
    s.restore();
    (process.stdout as any).isTTY = tty;
    vi.useRealTimers();
  });

  it("on a TTY, progress redraws a single line with \\r and ends with a newline", () => {
    (process.stdout as any).isTTY = true;
    for (const _ of progress(3, { desc: "x" })) vi.advanceTimersByTime(200);
    const out = s.stdout.join("");
    expect(out.startsWith("\r")).toBe(true);
    expect(out.endsWith("\n")).toBe(true);
    expect(out.split("\n")).toHaveLength(2);
    expect(out).toContain("x: 100%");
    expect(s.stderr).toEqual([]);
  });

  it("without a TTY, progress prints periodic lines and a final one; liveplot prints status lines", () => {
    (process.stdout as any).isTTY = false;
    for (const _ of progress(20, { desc: "y" })) vi.advanceTimersByTime(1000);
    const lines = s.stdout.join("").trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(7); // every 5 s over 20 s, plus the end
    expect(lines[lines.length - 1]).toBe("y: 100%|████████████████████████| 20/20 [00:20<00:00, 1.00it/s]");
    s.stdout.length = 0;
    const lp = liveplot({ metrics: ["loss"] });
    lp.update({ loss: 2 });
    lp.update({ loss: 1 });
    lp.done();
    expect(s.stdout.join("")).toBe("step 0  loss 2\nstep 1  loss 1\n");
    expect(s.stderr).toEqual([]);
  });
});
