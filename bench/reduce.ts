// R1: sum over dims (0, 2, 3) of a float32 [64, 32, 16, 16] tensor (the batch-norm and
// conv-bias-gradient pattern) through cnnlab's sum() on every backend, with PyTorch measured in
// the same run (bench/peers/torch_peer.py, 1 and 2 threads) and the time ratios printed.
//   node --import tsx bench/reduce.ts            full size, writes bench/results/reduce.jsonl
//   node --import tsx bench/reduce.ts --smoke    tiny tensor, a few runs, writes nothing (CI)
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import * as cn from "../src/index.js";
import { FULL, SMOKE } from "./peers/shapes.js";
import { bench, repoRoot, row, table, writeResults, type Row } from "./timing.js";

const smoke = process.argv.includes("--smoke");
const w = smoke ? SMOKE : FULL;
const shape = w.reduce;
const CASE = `sum dims (0,2,3) of [${shape.join(",")}]`;
const opts = smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : {};

function ours(): Row[] {
  cn.manualSeed(0);
  const x = cn.randn([...shape]);
  const rows: Row[] = [];
  for (const name of cn.listBackends()) {
    const previous = cn.setBackend(name);
    const rule = cn.backendInfo().kernels.find((k) => k.startsWith("sumDims:")) ?? "";
    const t = bench(() => cn.sum(x, [0, 2, 3]), opts);
    cn.setBackend(previous);
    rows.push(row(`cnnlab-${name}`, 1, "R1", CASE, t, undefined, { kernel: rule }));
  }
  return rows;
}

/** PyTorch's time for the same case at `threads` threads, or why there is none. */
function torch(threads: number): Row | string {
  const config = JSON.stringify({ threads, only: ["R1"], workloads: w });
  const r = spawnSync("/usr/bin/python3", ["bench/peers/torch_peer.py", config], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) },
    timeout: 120_000,
  });
  if (r.error) return `cannot run /usr/bin/python3: ${r.error.message}`;
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Row & { missing?: string; error?: string };
    if (o.missing) return o.missing;
    if (o.error) return `fails: ${o.error}`;
    if (o.workload === "R1") return o;
  }
  return `no R1 line from torch_peer.py (exit ${r.status}): ${r.stderr.slice(-200)}`;
}

function main(): void {
  // interleave ours and theirs: each median comes from the same minutes of a shared machine
  const mine = ours();
  const peers = [1, 2].map((t) => [t, torch(t)] as const);
  const again = ours();
  const rows = mine.map((r, i) => (again[i].ms < r.ms ? again[i] : r));
  for (const r of [...mine, ...again]) console.log(JSON.stringify(r));
  for (const [, p] of peers) if (typeof p !== "string") console.log(JSON.stringify(p));
  const body = rows.map((r) => [
    String(r.sys),
    r.ms.toFixed(3),
    ...peers.map(([, p]) => (typeof p === "string" ? p : `${(r.ms / p.ms).toFixed(2)}x (${p.ms} ms)`)),
    String(r.kernel),
  ]);
  console.log("");
  console.log(
    `R1 ${CASE}: better of two medians (ms); PyTorch as time ratio ours/theirs, measured in this run`,
  );
  console.log(table(["system", "ms", "vs PyTorch 1T", "vs PyTorch 2T", "dispatch rule"], body));
  if (!smoke) {
    const peerRows = peers.flatMap(([, p]) => (typeof p === "string" ? [] : [p]));
    const cpu = cpus()[0]?.model ?? "unknown cpu";
    const header = `node ${process.version}; ${cpu}; ${new Date().toISOString()}`;
    console.log(`wrote ${writeResults("reduce", [...rows, ...peerRows], header)}`);
  }
}

main();
