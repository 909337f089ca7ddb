/**
 * In the real kernel: a synchronous training loop updates the live plot and the progress bar while
 * it runs (update_display_data messages arrive during the loop, not only after it), throttled,
 * and nothing is written to stderr. Needs the built library (dist/) to be current.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const CI = process.env.CI === "true";

function newestMtime(dir: string): number {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
}

const dist = join(ROOT, "dist", "src", "display");
const current =
  existsSync(join(dist, "index.js")) && newestMtime(dist) >= newestMtime(join(ROOT, "src", "display"));
if (!current && !CI)
  process.stdout.write(
    "\n[display kernel test] SKIPPED: dist/ is missing or older than src/display (npm run build)\n",
  );

describe.skipIf(!current && !CI)("live displays in the cnnlab kernel", () => {
  it("a synchronous loop streams throttled in-place updates", async () => {
    const { KernelClient } = await import("../../kernel/client.js");
    const client = await KernelClient.start({ cwd: ROOT });
    try {
      await client.waitForReady();
      await client.execute("", { silent: true, storeHistory: false, timeoutMs: 300_000 });
      const messages: { type: string; at: number; content: any }[] = [];
      client.onIopub = (msg) =>
        messages.push({ type: msg.header.msg_type, at: Date.now(), content: msg.content });
      const code = [
        'const lp = liveplot({ metrics: ["loss"] });',
        "const t0 = Date.now();",
        'for (const step of progress(30, { desc: "train" })) {',
        "  const until = Date.now() + 50;",
        "  while (Date.now() < until) {}",
        "  lp.update({ loss: 1 / (step + 1) });",
        "}",
        "lp.done();",
      ].join("\n");
      const r = await client.execute(code, { timeoutMs: 60_000 });
      expect(r.reply.content.status).toBe("ok");
      const updates = messages.filter((m) => m.type === "update_display_data");
      const displays = messages.filter((m) => m.type === "display_data");
      expect(displays).toHaveLength(2); // the bar and the chart, each shown once
      const ids = new Set(updates.map((m) => m.content.transient?.display_id));
      expect(ids.size).toBe(2);
      // 1.5 s of work: the chart redraws at most 4 times a second, the bar 5 times
      const chart = updates.filter((m) => m.content.data["application/vnd.plotly.v1+json"]);
      expect(chart.length).toBeGreaterThanOrEqual(3);
      expect(chart.length).toBeLessThanOrEqual(1.5 * 4 + 2);
      const last = chart[chart.length - 1].content.data["application/vnd.plotly.v1+json"];
      expect(last.data[0].y).toHaveLength(30);
      // updates arrived while the loop was still running, not in a burst at the end
      const lastAt = updates[updates.length - 1].at;
      expect(updates.filter((m) => m.at < lastAt - 500).length).toBeGreaterThanOrEqual(2);
      expect(messages.filter((m) => m.type === "stream" && m.content.name === "stderr")).toEqual([]);
    } finally {
      await client.shutdown().catch(() => undefined);
      await client.close();
    }
  }, 180_000);
});
