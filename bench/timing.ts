// Timing and reporting helpers shared by cnnlab's benchmarks. Same method as the peers'
// measurements (../shared/peers/js/common.js): in-process wall clock, 3 warm-up calls, then the
// median of at least 7 runs and at least 1 s (at most 200 runs); kernels slower than 1 s get
// 1 warm-up and 3 runs.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Timing {
  ms: number;
  min: number;
  max: number;
  runs: number;
  /** Median CPU time (user + system, all threads of the process) per run, in ms. */
  cpuMs: number;
}

export interface BenchOptions {
  warmup?: number;
  minRuns?: number;
  maxRuns?: number;
  minTimeS?: number;
  slowMs?: number;
}

export function bench(fn: () => void, opts: BenchOptions = {}): Timing {
  let { warmup = 3, minRuns = 7, minTimeS = 1.0 } = opts;
  const { maxRuns = 200, slowMs = 1000 } = opts;
  const w0 = performance.now();
  fn();
  if (performance.now() - w0 > slowMs) {
    warmup = 1;
    minRuns = 3;
    minTimeS = 0;
  }
  for (let i = 1; i < warmup; i++) fn();
  const ts: number[] = [];
  const cs: number[] = [];
  const t0 = performance.now();
  while (ts.length < minRuns || (performance.now() - t0 < minTimeS * 1e3 && ts.length < maxRuns)) {
    const c = process.cpuUsage();
    const a = performance.now();
    fn();
    ts.push(performance.now() - a);
    const d = process.cpuUsage(c);
    cs.push((d.user + d.system) / 1e3);
  }
  return { ...summarize(ts), cpuMs: summarize(cs).ms };
}

function summarize(xs: number[]): { ms: number; min: number; max: number; runs: number } {
  const ts = xs.slice().sort((x, y) => x - y);
  const n = ts.length;
  const ms = n % 2 ? ts[(n - 1) / 2] : 0.5 * (ts[n / 2 - 1] + ts[n / 2]);
  return { ms, min: ts[0], max: ts[n - 1], runs: n };
}

/** One result line, in the peers' JSON-lines format (sys, threads, workload, case, ms, ..., gflops). */
export interface Row {
  sys: string;
  threads: number;
  workload: string;
  case: string;
  ms: number;
  min?: number;
  max?: number;
  runs?: number;
  gflops?: number;
  [extra: string]: unknown;
}

export function row(
  sys: string,
  threads: number,
  workload: string,
  name: string,
  t: Timing,
  flops?: number,
  extra: Record<string, unknown> = {},
): Row {
  const r: Row = {
    sys,
    threads,
    workload,
    case: name,
    ms: +t.ms.toFixed(3),
    min: +t.min.toFixed(3),
    max: +t.max.toFixed(3),
    runs: t.runs,
    cpu_ms: +t.cpuMs.toFixed(3),
  };
  if (flops) {
    r.gflops = +(flops / (t.ms * 1e-3) / 1e9).toFixed(2);
    // Per CPU-second (all threads): less sensitive to other processes than wall-clock figures.
    if (t.cpuMs > 0) r.gflops_per_cpu = +(flops / (t.cpuMs * 1e-3) / 1e9).toFixed(2);
  }
  return Object.assign(r, extra);
}

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Writes rows as JSON lines to bench/results/<name>.jsonl (replacing the file). */
export function writeResults(name: string, rows: Row[], header?: string): string {
  const dir = join(repoRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.jsonl`);
  const lines = rows.map((r) => JSON.stringify(r));
  if (header) lines.unshift(`# ${header}`);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** Where the peers' measurements live: $CNNLAB_PEERS, else ../shared/peers/results next to the repo. */
export function peersDir(): string {
  return process.env.CNNLAB_PEERS ?? join(repoRoot, "..", "shared", "peers", "results");
}

/** All peer rows (from every *.jsonl in peersDir()), tagged with the file they came from. */
export function loadPeers(): { rows: (Row & { file: string })[]; dir: string; found: boolean } {
  const dir = peersDir();
  if (!existsSync(dir)) return { rows: [], dir, found: false };
  const rows: (Row & { file: string })[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith(".jsonl")) continue;
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const t = line.trim();
      if (!t || t.startsWith("#")) continue;
      try {
        const r = JSON.parse(t) as Row;
        rows.push({ ...r, threads: Number(r.threads), file: f.replace(/\.jsonl$/, "") });
      } catch {
        // not a result line
      }
    }
  }
  return { rows, dir, found: true };
}

/** Formats a table of strings with padded columns (markdown pipe style). */
export function table(head: string[], body: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => "| " + r.map((c, i) => (c ?? "").padEnd(w[i])).join(" | ") + " |";
  return [fmt(head), "|" + w.map((x) => "-".repeat(x + 2)).join("|") + "|", ...body.map(fmt)].join("\n");
}

/** The peers compared in every table: results file name and its thread count. */
export const PEERS: readonly (readonly [string, number])[] = [
  ["torch_t1", 1],
  ["torch_t2", 2],
  ["numpy_t1", 1],
  ["numpy_t2", 2],
  ["tfjs_wasm", 1],
  ["tfjs_cpu", 1],
  ["convnetjs", 1],
];

/**
 * Prints our rows next to the peers' rows of the same workload and case as time ratios
 * (ours / theirs; below 1 is faster). Missing peers and unmeasured cases are said, not skipped.
 */
export function printPeerRatios(rows: Row[]): void {
  const peers = loadPeers();
  const used = PEERS.filter(([file]) =>
    peers.rows.some((p) => p.file === file && rows.some((r) => r.workload === p.workload)),
  );
  const cols = peers.found ? used : PEERS;
  const body: string[][] = [];
  for (const r of rows) {
    const cells = [
      r.workload,
      r.case,
      String(r.threads),
      `${r.ms.toFixed(3)}${r.gflops ? ` (${r.gflops})` : ""}`,
      r.gflops_per_cpu ? String(r.gflops_per_cpu) : "",
    ];
    for (const [file, th] of cols) {
      if (!peers.found) {
        cells.push("peers missing");
        continue;
      }
      const p = peers.rows.find((x) => x.file === file && x.workload === r.workload && x.case === r.case);
      if (th !== r.threads) cells.push("");
      else if (!p) cells.push("not measured");
      else if (typeof p.ms !== "number") cells.push(`fails: ${String(p.error ?? "no time").slice(0, 40)}`);
      else cells.push(`${(r.ms / p.ms).toFixed(2)}x (${p.ms} ms)`);
    }
    body.push(cells);
  }
  console.log("");
  console.log(`median ms (GFLOP/s); peers as time ratio ours/theirs (their median ms). Peers: ${peers.dir}`);
  if (!peers.found) console.log("peers: results directory not found; set CNNLAB_PEERS to compare");
  console.log(
    table(["workload", "case", "threads", "cnnlab wasm", "GF/cpu-s", ...cols.map(([f]) => f)], body),
  );
}
