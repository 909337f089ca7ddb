/**
 * Kernel benchmark, cnnlab against ipykernel and tslab (when present) in the same run, each
 * through real sockets (kernel/client.ts) and measured as the round trip execute_request → reply
 * and idle:
 *  - start: process spawn → first kernel_info_reply;
 *  - first cell: a trivial cell sent as soon as the client is ready (kernel_info answered and
 *    iopub delivering, as jupyter_client's wait_for_ready does), and the first cell of a second
 *    fresh kernel sent after it sat idle for IDLE_MS (what a person sees);
 *  - spawn → first result: process spawn → the reply to that first cell (what the two above
 *    cannot hide between them: a kernel slow to deliver iopub delays the client's readiness);
 *  - trivial cell `1` (median of ROUNDS), and a trivial cell whose text changes every time
 *    (`1 + i`: no cache of an identical cell can answer it);
 *  - a small tensor cell and a small nn cell (each kernel's own library: cnnlab, torch, plain JS
 *    for tslab, which has no tensor library), text changing every time;
 *  - history (cnnlab and ipykernel): SERIES cells that each declare a new name, use the previous
 *    cell's name and a tensor; the median of the last 100 against the first 100.
 * The kernels run in an empty temporary folder, as a notebook's would.
 * Run: node --import tsx bench/kernel.ts   (needs `npm run build` for dist/kernel/main.js)
 * BENCH_ROUNDS (default 100), BENCH_SERIES (default 1000), BENCH_IDLE_MS (default 3000).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KernelClient } from "../kernel/client.js";
import { kernelMainJs, packageRoot } from "../kernel/paths.js";
import { snapshotBlobPath } from "../kernel/snapshot.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);
const SERIES = Number(process.env.BENCH_SERIES ?? 1000);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 3000);
/** The kernels run in an empty notebook folder (no tsconfig.json of this repository applies). */
const NOTEBOOK_DIR = mkdtempSync(join(tmpdir(), "cnnlab-bench-kernel-"));

interface Peer {
  kernel: string;
  argv: string[] | undefined;
  /** Cells run once before the tensor/nn cells (imports, a layer). */
  setup: string[];
  trivial: (i: number) => string;
  tensor: (i: number) => string;
  nn: (i: number) => string;
  /** Cell i of the history series (declares a name, uses the previous one). */
  series?: (i: number) => string;
}

interface Row {
  kernel: string;
  startMs?: number;
  firstCellMs?: number;
  spawnToFirstMs?: number;
  firstCellIdleMs?: number;
  trivialMs?: number;
  varyingMs?: number;
  tensorMs?: number;
  nnMs?: number;
  seriesFirst?: number;
  seriesLast?: number;
  note?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function run(client: KernelClient, kernel: string, code: string): Promise<number> {
  const t = performance.now();
  const r = await client.execute(code, { timeoutMs: 300_000 });
  const ms = performance.now() - t;
  if (r.reply.content.status !== "ok")
    throw new Error(`${kernel}: cell failed: ${code}\n${JSON.stringify(r.reply.content)}`);
  return ms;
}

async function medianOf(client: KernelClient, p: Peer, cell: (i: number) => string): Promise<number> {
  for (let i = 0; i < 3; i++) await run(client, p.kernel, cell(-1 - i));
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await run(client, p.kernel, cell(i)));
  return median(times);
}

async function firstCell(
  p: Peer,
  idleMs: number,
): Promise<{ startMs: number; firstMs: number; spawnToFirstMs: number }> {
  const client = await KernelClient.start({ argv: p.argv, cwd: NOTEBOOK_DIR, startTimeoutMs: 180_000 });
  try {
    const spawned = client.startedAt ?? Date.now();
    const startMs = (client.firstKernelInfoAt ?? Date.now()) - spawned;
    if (idleMs > 0) await sleep(idleMs);
    const firstMs = await run(client, p.kernel, p.trivial(0));
    return { startMs, firstMs, spawnToFirstMs: Date.now() - spawned };
  } finally {
    await client.shutdown();
  }
}

async function measure(p: Peer): Promise<Row> {
  const cold = await firstCell(p, 0);
  const idle = await firstCell(p, IDLE_MS);
  const client = await KernelClient.start({ argv: p.argv, cwd: NOTEBOOK_DIR, startTimeoutMs: 180_000 });
  try {
    const row: Row = {
      kernel: p.kernel,
      startMs: cold.startMs,
      firstCellMs: cold.firstMs,
      spawnToFirstMs: cold.spawnToFirstMs,
    };
    row.firstCellIdleMs = idle.firstMs;
    row.trivialMs = await medianOf(client, p, () => p.trivial(0));
    row.varyingMs = await medianOf(client, p, p.trivial);
    for (const c of p.setup) await run(client, p.kernel, c);
    row.tensorMs = await medianOf(client, p, p.tensor);
    row.nnMs = await medianOf(client, p, p.nn);
    if (p.series) {
      const times: number[] = [];
      for (let i = 0; i < SERIES; i++) times.push(await run(client, p.kernel, p.series(i)));
      row.seriesFirst = median(times.slice(0, 100));
      row.seriesLast = median(times.slice(-100));
    }
    return row;
  } finally {
    await client.shutdown();
  }
}

function pythonHas(mod: string): boolean {
  return (
    existsSync("/usr/bin/python3") &&
    spawnSync("/usr/bin/python3", ["-c", `import ${mod}`], { stdio: "ignore" }).status === 0
  );
}

function findTslab(): string | undefined {
  const local = join(packageRoot, "node_modules", ".bin", "tslab");
  if (existsSync(local)) return local;
  const r = spawnSync("sh", ["-c", "command -v tslab"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const cnnlab: Peer = {
  kernel: "cnnlab",
  argv: undefined,
  setup: ["const lin = new nn.Linear(8, 4);\nconst xin = randn([2, 8]);"],
  trivial: (i) => (i === 0 ? "1" : `1 + ${i}`),
  tensor: (i) => `const t = tensor([1, 2, 3]);\nt.mul(${i}).sum().item()`,
  nn: (i) => `lin.forward(xin.mul(${i})).relu().sum().item()`,
  series: (i) => `const n${i} = tensor([${i}, 1]);\n${i > 0 ? `n${i - 1}` : "n0"}.add(n${i}).sum().item()`,
};

const ipykernel: Peer = {
  kernel: "ipykernel",
  argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
  setup: pythonHas("torch")
    ? ["import torch\nlin = torch.nn.Linear(8, 4)\nxin = torch.randn(2, 8)"]
    : ["import numpy as np\nw = np.random.randn(8, 4)\nxin = np.random.randn(2, 8)"],
  trivial: (i) => (i === 0 ? "1" : `1 + ${i}`),
  tensor: pythonHas("torch")
    ? (i) => `t = torch.tensor([1., 2., 3.])\n(t * ${i}).sum().item()`
    : (i) => `t = np.array([1., 2., 3.])\n(t * ${i}).sum().item()`,
  nn: pythonHas("torch")
    ? (i) => `lin(xin * ${i}).relu().sum().item()`
    : (i) => `np.maximum((xin * ${i}) @ w, 0).sum().item()`,
  series: pythonHas("torch")
    ? (i) => `n${i} = torch.tensor([${i}., 1.])\n(${i > 0 ? `n${i - 1}` : "n0"} + n${i}).sum().item()`
    : undefined,
};

const tslabPeer = (bin: string): Peer => ({
  kernel: "tslab",
  argv: [bin, "kernel", "--config-path", "{connection_file}"],
  setup: ["const w = [1, 2, 3, 4];"],
  trivial: (i) => (i === 0 ? "1" : `1 + ${i}`),
  tensor: (i) => `const t = [1, 2, 3];\nt.map((v) => v * ${i}).reduce((a, b) => a + b, 0)`,
  nn: (i) => `w.map((v) => Math.max(0, v * ${i})).reduce((a, b) => a + b, 0)`,
});

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

/**
 * A kernel on a user's machine starts from the start-up snapshot that an earlier kernel built
 * (kernel/snapshot.ts); a new build of cnnlab makes it stale. This starts one kernel and waits for
 * any rebuild it asks for, so the cold kernels below start as a user's would; says what it found.
 */
async function primeSnapshot(): Promise<string> {
  const log = join(NOTEBOOK_DIR, "prime.log");
  const client = await KernelClient.start({ cwd: NOTEBOOK_DIR, env: { CNNLAB_KERNEL_LOG: log } });
  try {
    await run(client, "cnnlab", "1");
    const lock = `${snapshotBlobPath()}.lock`;
    const logText = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
    const end = Date.now() + 120_000;
    const started = Date.now();
    const request =
      /(building the start-up snapshot|the start-up snapshot is up to date|no start-up snapshot: .*|another kernel is building)/;
    while (!request.test(logText())) {
      if (Date.now() > end) return "start-up snapshot: the kernel did not say";
      await sleep(100);
    }
    const said = request.exec(logText())?.[1];
    while (existsSync(lock) && Date.now() < end) await sleep(200);
    const from = /typescript from the start-up snapshot/.test(logText())
      ? "this kernel started from one"
      : "this kernel started without one";
    return `start-up snapshot: ${said} (${from}; waited ${((Date.now() - started) / 1000).toFixed(1)} s)`;
  } finally {
    await client.shutdown();
  }
}

async function main(): Promise<void> {
  if (!existsSync(kernelMainJs)) throw new Error(`${kernelMainJs} missing: run npm run build first`);
  const snapshotNote = await primeSnapshot();
  const loadBefore = load();
  const rows: Row[] = [await measure(cnnlab)];
  if (pythonHas("ipykernel")) rows.push(await measure(ipykernel));
  else rows.push({ kernel: "ipykernel", note: "not installed (Debian: python3-ipykernel)" });
  const tslab = findTslab();
  rows.push(tslab ? await measure(tslabPeer(tslab)) : { kernel: "tslab", note: "not installed" });

  const ours = rows[0];
  const fmt = (x?: number) => (x === undefined ? "-" : `${x.toFixed(1)}`);
  const cell = (r: Row, k: keyof Row) => {
    const v = r[k] as number | undefined;
    const o = ours[k] as number | undefined;
    if (r === ours || v === undefined || o === undefined) return fmt(v);
    return `${fmt(v)} (${(o / v).toFixed(2)})`;
  };
  const cols: [string, keyof Row][] = [
    ["start", "startMs"],
    ["first cell", "firstCellMs"],
    ["spawn → first result", "spawnToFirstMs"],
    [`first after ${IDLE_MS / 1000}s idle`, "firstCellIdleMs"],
    ["`1`", "trivialMs"],
    ["`1 + i`", "varyingMs"],
    ["tensor", "tensorMs"],
    ["nn", "nnMs"],
  ];
  const out: string[] = [];
  out.push(`kernel benchmark, ms (medians of ${ROUNDS} cells; in parentheses cnnlab/that kernel)`);
  out.push(["kernel".padEnd(10), ...cols.map(([t]) => t.padEnd(20))].join(" "));
  for (const r of rows) {
    if (r.note) {
      out.push(`${r.kernel.padEnd(10)} ${r.note}`);
      continue;
    }
    out.push([r.kernel.padEnd(10), ...cols.map(([, k]) => cell(r, k).padEnd(20))].join(" "));
  }
  for (const r of rows)
    if (r.seriesFirst !== undefined && r.seriesLast !== undefined)
      out.push(
        `${r.kernel}: ${SERIES} cells, each declaring a new tensor: median of the first 100 ${fmt(r.seriesFirst)} ms, of the last 100 ${fmt(r.seriesLast)} ms (last/first ${(r.seriesLast / r.seriesFirst).toFixed(2)})`,
      );
  out.push("(cnnlab type-checks every cell before running it.)");
  out.push(snapshotNote);
  out.push(`load average (1, 5, 15 min) before: ${loadBefore}, after: ${load()}`);
  process.stdout.write(out.join("\n") + "\n");
}

main()
  .catch((e) => {
    process.stdout.write(`bench/kernel.ts failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(NOTEBOOK_DIR, { recursive: true, force: true }));
