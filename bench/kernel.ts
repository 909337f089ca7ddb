/**
 * Kernel benchmark: process start → first kernel_info_reply, and a trivial cell's round trip
 * (execute_request → reply and idle; median of 100), for cnnlab, ipykernel and tslab when present.
 * Run: node --import tsx bench/kernel.ts   (needs `npm run build` for dist/kernel/main.js)
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KernelClient } from "../kernel/client.js";
import { kernelMainJs, packageRoot } from "../kernel/paths.js";

interface Row {
  kernel: string;
  startMs?: number;
  cellMedianMs?: number;
  note?: string;
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function measure(kernel: string, argv: string[] | undefined, trivial: string): Promise<Row> {
  const client = await KernelClient.start({ argv, startTimeoutMs: 180_000 });
  try {
    const startMs = (client.firstKernelInfoAt ?? Date.now()) - (client.startedAt ?? Date.now());
    // warm-up (loads the engine / compiler)
    for (let i = 0; i < 3; i++) await client.execute(trivial, { timeoutMs: 300_000 });
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      const r = await client.execute(trivial, { timeoutMs: 60_000 });
      times.push(performance.now() - t);
      if (r.reply.content.status !== "ok")
        throw new Error(`${kernel}: trivial cell failed: ${JSON.stringify(r.reply.content)}`);
    }
    return { kernel, startMs, cellMedianMs: median(times) };
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

async function main(): Promise<void> {
  if (!existsSync(kernelMainJs)) throw new Error(`${kernelMainJs} missing: run npm run build first`);
  const rows: Row[] = [];
  rows.push(await measure("cnnlab", undefined, "1"));
  if (pythonHas("ipykernel"))
    rows.push(
      await measure(
        "ipykernel",
        ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "1",
      ),
    );
  else rows.push({ kernel: "ipykernel", note: "not installed (Debian: python3-ipykernel)" });
  const tslab = findTslab();
  if (tslab) rows.push(await measure("tslab", [tslab, "kernel", "--config-path", "{connection_file}"], "1"));
  else rows.push({ kernel: "tslab", note: "not installed" });

  const ours = rows[0];
  const fmt = (x?: number) => (x === undefined ? "-" : `${x.toFixed(1)} ms`);
  const ratio = (a?: number, b?: number) =>
    a === undefined || b === undefined ? "" : ` (cnnlab/this ${(a / b).toFixed(2)})`;
  process.stdout.write(`kernel benchmark (${ROUNDS} trivial cells each)\n`);
  process.stdout.write(
    `${"kernel".padEnd(11)} ${"start→kernel_info".padEnd(28)} ${"trivial cell (median)".padEnd(30)}\n`,
  );
  for (const r of rows) {
    if (r.note) {
      process.stdout.write(`${r.kernel.padEnd(11)} ${r.note}\n`);
      continue;
    }
    const rs = r === ours ? "" : ratio(ours.startMs, r.startMs);
    const rc = r === ours ? "" : ratio(ours.cellMedianMs, r.cellMedianMs);
    process.stdout.write(
      `${r.kernel.padEnd(11)} ${(fmt(r.startMs) + rs).padEnd(28)} ${(fmt(r.cellMedianMs) + rc).padEnd(30)}\n`,
    );
  }
  process.stdout.write(
    "(cnnlab/this < 1: cnnlab is faster; > 1: slower. cnnlab type-checks every cell before running it.)\n",
  );
}

main().catch((e) => {
  process.stdout.write(`bench/kernel.ts failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
