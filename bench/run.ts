// `npm run bench`: every workload W1..W5 (W5 in float32 and float64, the naive-vs-fast conv ratio,
// the RSS check over 1,000 training steps) on cnnlab at 1 and 2 threads, and the same workloads on
// the peers (PyTorch at 1 and 2 threads, tfjs-backend-wasm, tfjs-backend-cpu, convnetjs) measured in
// this same run. Each runner is a subprocess (threads and memory isolated) printing JSON lines; this
// script collects them, prints one table of ratios and writes bench/results/latest.jsonl (and
// latest.md, the table as markdown).
//   node --import tsx bench/run.ts [--smoke] [--only W1,W5,naive,rss] [--peers torch,tfjs-wasm,tfjs-cpu,convnetjs]
//                                  [--rss-steps N] [--timeout S]
// --smoke: tiny sizes and few runs (CI; bench/smoke.ts), writes bench/results/smoke.jsonl instead;
// --only / --peers (a partial run) write bench/results/partial.jsonl.
// The exit code is non-zero only when one of cnnlab's own runners crashes, never for a slow number or a
// missing peer (those are reported in the table).
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { table, writeResults, repoRoot, type Row } from "./timing.js";
import { CASES, FULL, SMOKE, type Workloads } from "./peers/shapes.js";

// ---------------------------------------------------------------- options

export interface RunOptions {
  smoke: boolean;
  /** Workloads to run: W1..W5, "naive", "rss" (all when empty). */
  only: string[];
  /** Peers to run (all when undefined). */
  peers?: string[];
  rssSteps: number;
  /** Per-runner timeout in seconds. */
  timeoutS: number;
  /** Where the JSON lines go (relative to bench/results, without .jsonl). */
  out: string;
  /**
   * How many times cnnlab's runners and PyTorch's run, alternating (the other peers run once); each
   * cell is the median of its rounds' medians, so that a slow spell of the machine hits both sides.
   */
  rounds: number;
}

export const ALL_WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "naive", "rss"];
export const ALL_PEERS = ["torch", "tfjs-wasm", "tfjs-cpu", "convnetjs"];

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: ${name} must be a positive integer, got ${v}`);
  return n;
}

/**
 * Merges the rounds of one measurement (same sys, threads, workload, case, path): the median of
 * their medians, the smallest minimum and largest maximum, and every round's median in `rounds_ms`.
 */
export function mergeRounds(lines: Line[]): Line[] {
  const key = (l: Line) =>
    JSON.stringify([l.sys, l.threads, l.workload, l.case, l.variant ?? "", l.dtype ?? "", backendOf(l)]);
  const groups = new Map<string, Line[]>();
  const out: Line[] = [];
  for (const l of lines) {
    if (typeof l.ms !== "number" || Number.isNaN(l.ms) || l.error || l.missing) {
      out.push(l);
      continue;
    }
    const k = key(l);
    const g = groups.get(k);
    if (g) g.push(l);
    else {
      groups.set(k, [l]);
      out.push(l);
    }
  }
  return out.map((l) => {
    const g = groups.get(key(l));
    if (!g || g[0] !== l || g.length === 1) return l;
    const ms = g.map((x) => x.ms).sort((a, b) => a - b);
    const mid = ms.length >> 1;
    const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
    const pick = g.reduce((best, x) => (Math.abs(x.ms - median) < Math.abs(best.ms - median) ? x : best));
    const merged: Line = { ...pick, ms: +median.toFixed(3), rounds_ms: g.map((x) => x.ms) };
    if (pick.gflops && pick.ms) merged.gflops = +((pick.gflops * pick.ms) / median).toFixed(2);
    const mins = g.map((x) => x.min).filter((x): x is number => typeof x === "number");
    const maxs = g.map((x) => x.max).filter((x): x is number => typeof x === "number");
    if (mins.length) merged.min = Math.min(...mins);
    if (maxs.length) merged.max = Math.max(...maxs);
    merged.runs = g.reduce((n, x) => n + (x.runs ?? 0), 0);
    // the CPU time (steadier than the wall clock on a loaded machine) is merged the same way
    const cpu = g.map((x) => x.cpu_ms).filter((x): x is number => typeof x === "number");
    if (cpu.length === g.length) {
      cpu.sort((a, b) => a - b);
      const m = cpu.length >> 1;
      merged.cpu_ms = +(cpu.length % 2 ? cpu[m] : (cpu[m - 1] + cpu[m]) / 2).toFixed(3);
    }
    return merged;
  });
}

export function parseArgs(argv: string[]): RunOptions {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`bench: ${name} needs a value`);
    return v;
  };
  const list = (name: string) =>
    value(name)
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const smoke = argv.includes("--smoke");
  const only = list("--only") ?? [];
  for (const w of only) {
    if (!ALL_WORKLOADS.includes(w))
      throw new Error(`bench: unknown workload ${w} in --only; known: ${ALL_WORKLOADS.join(",")}`);
  }
  const peers = list("--peers");
  for (const p of peers ?? []) {
    if (!ALL_PEERS.includes(p))
      throw new Error(`bench: unknown peer ${p} in --peers; known: ${ALL_PEERS.join(",")}`);
  }
  return {
    smoke,
    only,
    peers,
    rssSteps: Number(value("--rss-steps") ?? (smoke ? 30 : 1000)),
    timeoutS: Number(value("--timeout") ?? (smoke ? 40 : 1200)),
    rounds: positiveInt(value("--rounds") ?? (smoke || only.length > 0 || peers ? "1" : "3"), "--rounds"),
    // a partial run (--only / --peers) never replaces the full run's latest.jsonl
    out: smoke ? "smoke" : only.length > 0 || peers ? "partial" : "latest",
  };
}

const wanted = (o: RunOptions, w: string) => o.only.length === 0 || o.only.includes(w);

// ---------------------------------------------------------------- subprocess runners

/** One result line: a measurement (ms), a case a system cannot run (error), or a missing system. */
export type Line = Row & {
  error?: string;
  missing?: string;
  /** cnnlab rows: which path was measured ("kernel" = the backend's kernel, else the public API). */
  variant?: string;
  /** cnnlab rows: the backend measured ("native" or "wasm"; runners may add a note after the name). */
  backend?: string;
};

/** The backends with a column of their own, best first; the peer ratios are given for each. */
export const BACKENDS = ["native", "wasm"] as const;

/** The backend column of a cnnlab row (rows without one are the WebAssembly backend's). */
export function backendOf(l: Line): string {
  const b = (l.backend ?? "wasm").split(" ")[0];
  return (BACKENDS as readonly string[]).includes(b) ? b : "wasm";
}

interface Job {
  label: string;
  cmd: string;
  args: string[];
  env?: Record<string, string | undefined>;
  /** cnnlab's own runner (its crash fails the run) or a peer (reported only). */
  own: boolean;
  /** Turns a raw JSON line into a result line (or drops it). */
  map?: (o: Line) => Line | null;
  /** What a missing/crashed/timed-out runner stands for in the table. */
  sys: string;
  threads: number;
}

interface JobResult {
  lines: Line[];
  ok: boolean;
  reason?: string;
  seconds: number;
}

const TSX = ["--import", "tsx"];

function runJob(job: Job, timeoutS: number): Promise<JobResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const lines: Line[] = [];
    let buf = "";
    let stderr = "";
    let timedOut = false;
    const child = spawn(job.cmd, job.args, {
      cwd: repoRoot,
      env: { ...process.env, ...job.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (text: string) => {
      const t = text.trim();
      if (!t.startsWith("{")) return;
      try {
        const o = JSON.parse(t) as Line;
        const m = job.map ? job.map(o) : o;
        if (m) lines.push(m);
      } catch {
        // not a result line
      }
    };
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        take(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutS * 1e3);
    const finish = (code: number | null, err?: Error) => {
      clearTimeout(timer);
      take(buf);
      const seconds = (performance.now() - t0) / 1e3;
      if (err) resolve({ lines, ok: false, reason: `cannot start ${job.cmd}: ${err.message}`, seconds });
      else if (timedOut) resolve({ lines, ok: false, reason: `timed out after ${timeoutS} s`, seconds });
      else if (code !== 0) {
        const last = stderr.trim().split("\n").filter(Boolean).slice(-3).join(" / ");
        resolve({ lines, ok: false, reason: `exit code ${code}: ${last.slice(0, 300)}`, seconds });
      } else resolve({ lines, ok: true, seconds });
    };
    child.on("error", (err) => finish(null, err));
    child.on("close", (code) => finish(code));
  });
}

/** Drops the " (smoke, ...)" tag that bench/gemm.ts and bench/conv.ts put on case names. */
function baseCase(name: string): string {
  return name.replace(/ \(smoke[^)]*\)$/, "");
}

/** The backends that load here (the native one needs a BLAS); bench/run.ts runs the API rows on each. */
export async function benchBackends(): Promise<string[]> {
  const { listBackends } = await import("../src/index.js");
  const have = listBackends();
  return BACKENDS.filter((b) => have.includes(b));
}

function ownJobs(o: RunOptions, backends: string[]): Job[] {
  const smoke = o.smoke ? ["--smoke"] : [];
  const jobs: Job[] = [];
  const tag = (variant: string) => (x: Line) => ({ ...x, sys: "cnnlab", case: baseCase(x.case), variant });
  if (wanted(o, "W1")) {
    jobs.push({
      label: "cnnlab W1 (bench/gemm.ts)",
      cmd: process.execPath,
      args: [...TSX, "bench/gemm.ts", ...smoke],
      own: true,
      sys: "cnnlab",
      threads: 0,
      map: tag("kernel"),
    });
  }
  if (wanted(o, "W2") || wanted(o, "W3") || wanted(o, "W4")) {
    jobs.push({
      label: "cnnlab W2/W3 (bench/conv.ts)",
      cmd: process.execPath,
      args: [...TSX, "bench/conv.ts", ...smoke],
      own: true,
      sys: "cnnlab",
      threads: 0,
      map: (x) => {
        if (!wanted(o, x.workload)) return null;
        // conv.ts's W4 rows time the bare kernels; bench/pool.ts times the public F.maxPool2d
        const variant = x.workload === "W4" ? "kernels" : "kernel";
        return { ...x, sys: "cnnlab", case: baseCase(x.case), variant };
      },
    });
  }
  for (const b of backends) {
    const env = { CNNLAB_BENCH_BACKEND: b };
    const on = ` on ${b}`;
    if (wanted(o, "W2") || wanted(o, "W3") || wanted(o, "naive")) {
      jobs.push({
        label: `cnnlab F.conv2d / conv2dNaive${on} (bench/run.ts --child conv-api)`,
        cmd: process.execPath,
        args: [...TSX, "bench/run.ts", "--child", "conv-api", ...smoke],
        env,
        own: true,
        sys: "cnnlab",
        threads: 0,
        // the naive-vs-fast comparison is the default backend's
        map: (x) => (x.workload === "naive" && b !== backends[0] ? null : x),
      });
    }
    if (wanted(o, "W4")) {
      jobs.push({
        label: `cnnlab W4${on} (bench/pool.ts)`,
        cmd: process.execPath,
        args: [...TSX, "bench/pool.ts", ...smoke],
        env,
        own: true,
        sys: "cnnlab",
        threads: 0,
        map: tag("F.maxPool2d"),
      });
    }
    if (wanted(o, "W5")) {
      jobs.push({
        label: `cnnlab W5${on} (bench/train-step.ts)`,
        cmd: process.execPath,
        args: [...TSX, "bench/train-step.ts", ...smoke],
        env,
        own: true,
        sys: "cnnlab",
        threads: 0,
        map: tag("nn + optim.SGD"),
      });
      jobs.push({
        label: `cnnlab W5 compiled and eager${on} (bench/compile.ts)`,
        cmd: process.execPath,
        args: [...TSX, "bench/compile.ts", ...smoke],
        env,
        own: true,
        sys: "cnnlab",
        threads: 0,
        map: (x) => tag(x.mode === "compiled" ? "compile(step)" : "eager, beside compiled")(x),
      });
    }
  }
  if (wanted(o, "rss")) {
    jobs.push({
      label: `cnnlab RSS over ${o.rssSteps} W5 steps on ${backends[0] ?? "wasm"}`,
      cmd: process.execPath,
      args: ["--expose-gc", ...TSX, "bench/train-step.ts", ...smoke, "--rss", String(o.rssSteps)],
      env: { CNNLAB_BENCH_BACKEND: backends[0] ?? "wasm" },
      own: true,
      sys: "cnnlab",
      threads: 0,
    });
  }
  return jobs;
}

function peerJobs(o: RunOptions, w: Workloads): Job[] {
  const only = o.only.filter((x) => /^W\d$/.test(x));
  if (o.only.length > 0 && only.length === 0) return [];
  const config = (threads: number) => JSON.stringify({ threads, only, workloads: w });
  const peers = o.peers ?? ALL_PEERS;
  const jobs: Job[] = [];
  const noOpenblasTuning = { OPENBLAS_CORETYPE: undefined, OPENBLAS_L2_SIZE: undefined };
  if (peers.includes("torch")) {
    for (const threads of [1, 2]) {
      jobs.push({
        label: `PyTorch ${threads}T`,
        cmd: "/usr/bin/python3",
        args: ["bench/peers/torch_peer.py", config(threads)],
        env: {
          ...noOpenblasTuning,
          OPENBLAS_NUM_THREADS: String(threads),
          ...(threads === 2 ? { OPENBLAS_THREAD_TIMEOUT: "4" } : {}),
        },
        own: false,
        sys: "torch",
        threads,
      });
    }
  }
  for (const b of ["wasm", "cpu"]) {
    if (!peers.includes(`tfjs-${b}`)) continue;
    jobs.push({
      label: `tfjs-${b}`,
      cmd: process.execPath,
      args: [...TSX, "bench/peers/tfjs.ts", b, config(1)],
      own: false,
      sys: `tfjs-${b}-4.22`,
      threads: 1,
    });
  }
  if (peers.includes("convnetjs")) {
    jobs.push({
      label: "convnetjs",
      cmd: process.execPath,
      args: [...TSX, "bench/peers/convnetjs.ts", config(1)],
      own: false,
      sys: "convnetjs-0.3.0",
      threads: 1,
    });
  }
  return jobs;
}

// ---------------------------------------------------------------- the table

/** The peer columns: a system-name prefix and thread count; cnnlab's rows at the same count are compared. */
export const COLUMNS: { key: string; title: string; prefix: string; threads: number }[] = [
  { key: "torch1", title: "PyTorch 1T", prefix: "torch", threads: 1 },
  { key: "torch2", title: "PyTorch 2T", prefix: "torch", threads: 2 },
  { key: "tfjs-wasm", title: "tfjs-wasm (1T)", prefix: "tfjs-wasm", threads: 1 },
  { key: "tfjs-cpu", title: "tfjs-cpu (1T)", prefix: "tfjs-cpu", threads: 1 },
  { key: "convnetjs", title: "convnetjs (1T)", prefix: "convnetjs", threads: 1 },
];

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function ourCell(r: Line | undefined): string {
  if (!r) return "–";
  if (r.error) return `fails: ${r.error.slice(0, 40)}`;
  return `${fmtMs(r.ms)}${r.gflops ? ` (${r.gflops} GF/s)` : ""}`;
}

/** "ours/theirs× (their ms)" for each backend measured ("native 0.9× · wasm 1.2× (their ms)"), or why there is none. */
function peerCell(ours: Line[], peer: Line | undefined, missing: string | undefined): string {
  if (missing) return `missing: ${missing.slice(0, 44)}`;
  if (!peer) return "not measured";
  if (peer.error)
    return `cannot: ${peer.error.replace(/^Kernel '(\w+)' not registered.*/, "no $1 kernel").slice(0, 44)}`;
  const ok = ours.filter((o) => !o.error && typeof o.ms === "number" && !Number.isNaN(o.ms));
  if (ok.length === 0) return `(${fmtMs(peer.ms)})`;
  const ratios = ok.map((o) => `${ok.length > 1 ? `${backendOf(o)} ` : ""}${(o.ms / peer.ms).toFixed(2)}×`);
  return `${ratios.join(" · ")} (${fmtMs(peer.ms)})`;
}

export interface TableInput {
  lines: Line[];
  /** Peer column key -> reason the whole peer is missing (not installed, crashed, timed out). */
  missing: Record<string, string>;
}

/**
 * Builds the markdown table: one row per (workload, case, cnnlab path), a column per backend and
 * thread count, then every peer column with each backend's ratio at the peer's thread count.
 */
export function buildTable({ lines, missing }: TableInput): string {
  const inTable = (l: Line) => /^W\d$/.test(l.workload);
  const ours = lines.filter((l) => l.sys === "cnnlab" && inTable(l) && l.case && l.ms !== undefined);
  const keys: { workload: string; case: string; variant: string }[] = [];
  for (const l of ours) {
    const variant = l.variant ?? "";
    if (!keys.some((k) => k.workload === l.workload && k.case === l.case && k.variant === variant)) {
      keys.push({ workload: l.workload, case: l.case, variant });
    }
  }
  // peer rows whose case cnnlab did not run are listed too (never dropped silently)
  for (const l of lines) {
    if (l.sys === "cnnlab" || !inTable(l) || !l.case) continue;
    if (!keys.some((k) => k.workload === l.workload && k.case === l.case)) {
      keys.push({ workload: l.workload, case: l.case, variant: "(not run by cnnlab)" });
    }
  }
  const order = (w: string) => ALL_WORKLOADS.indexOf(w);
  keys.sort((a, b) => order(a.workload) - order(b.workload));
  const present = BACKENDS.filter((b) => ours.some((l) => backendOf(l) === b));
  const shown = present.length ? present : (["wasm"] as const);
  const body = keys.map((k) => {
    const find = (threads: number, b: string) =>
      ours.find(
        (l) =>
          l.workload === k.workload &&
          l.case === k.case &&
          (l.variant ?? "") === k.variant &&
          l.threads === threads &&
          backendOf(l) === b,
      );
    const cells = [k.workload, k.case, k.variant];
    for (const b of shown) cells.push(ourCell(find(1, b)), ourCell(find(2, b)));
    for (const c of COLUMNS) {
      const peer = lines.find(
        (l) =>
          l.sys.startsWith(c.prefix) &&
          l.threads === c.threads &&
          l.workload === k.workload &&
          l.case === k.case,
      );
      const mine = shown.map((b) => find(c.threads, b)).filter((l): l is Line => l !== undefined);
      cells.push(peerCell(mine, peer, missing[c.key]));
    }
    return cells;
  });
  return table(
    [
      "workload",
      "case",
      "cnnlab path",
      ...shown.flatMap((b) => [`${b} 1T ms`, `${b} 2T ms`]),
      ...COLUMNS.map((c) => c.title),
    ],
    body,
  );
}

// ---------------------------------------------------------------- targets

function targetLines(lines: Line[]): string[] {
  const get = (
    sysPrefix: string,
    threads: number,
    workload: string,
    name: string,
    variant?: string,
    be?: string,
  ) =>
    lines.find(
      (l) =>
        l.sys.startsWith(sysPrefix) &&
        l.threads === threads &&
        l.workload === workload &&
        l.case === name &&
        typeof l.ms === "number" &&
        (variant === undefined || l.variant === variant) &&
        (be === undefined || backendOf(l) === be),
    );
  const out: string[] = [];
  const say = (
    what: string,
    value: number | undefined,
    limit: number,
    unit: string,
    atMost: boolean,
    note = "",
  ) => {
    if (value === undefined || !Number.isFinite(value)) {
      out.push(`- ${what}: not measured`);
      return;
    }
    const met = atMost ? value <= limit : value >= limit;
    out.push(
      `- ${what}: ${value.toFixed(2)}${unit} (target ${atMost ? "≤" : "≥"} ${limit}${unit}) ${met ? "met" : "NOT met"}${note}`,
    );
  };
  const ratio = (a?: Line, b?: Line) => (a && b ? a.ms / b.ms : undefined);
  const vsTorch = (t: number, w: string, name: string, variant: string, be = "native") =>
    ratio(get("cnnlab", t, w, name, variant, be), get("torch", t, w, name));
  // the same ratio on the processes' CPU time, printed beside the wall-clock verdict
  const cpuVsTorch = (t: number, w: string, name: string, variant: string, be = "native") => {
    const a = get("cnnlab", t, w, name, variant, be)?.cpu_ms;
    const b = get("torch", t, w, name)?.cpu_ms;
    return typeof a === "number" && typeof b === "number" && b > 0 ? `; CPU time ${(a / b).toFixed(2)}×` : "";
  };
  for (const t of [1, 2]) {
    const gf = get("cnnlab", t, "W1", "sgemm n=1024", "kernel", "native")?.gflops;
    const torchGf = get("torch", t, "W1", "sgemm n=1024")?.gflops;
    say(
      `W1 sgemm n=1024 ${t}T native GF/s / PyTorch's`,
      gf && torchGf ? gf / torchGf : undefined,
      0.9,
      "",
      false,
    );
    for (const c of FULL.convs) {
      say(
        `W2 ${c.name} ${t}T native F.conv2d vs PyTorch`,
        vsTorch(t, "W2", CASES.convFwd(c), "F.conv2d"),
        1.1,
        "×",
        true,
        cpuVsTorch(t, "W2", CASES.convFwd(c), "F.conv2d"),
      );
      say(
        `W3 ${c.name} ${t}T native kernel vs PyTorch`,
        vsTorch(t, "W3", CASES.convBwd(c), "kernel"),
        1.1,
        "×",
        true,
        cpuVsTorch(t, "W3", CASES.convBwd(c), "kernel"),
      );
    }
    say(
      `W4 ${t}T F.maxPool2d vs PyTorch`,
      vsTorch(t, "W4", CASES.poolBoth, "F.maxPool2d"),
      1.0,
      "×",
      true,
      cpuVsTorch(t, "W4", CASES.poolBoth, "F.maxPool2d"),
    );
    say(
      `W5 ${t}T native vs PyTorch`,
      vsTorch(t, "W5", CASES.step32, "nn + optim.SGD"),
      1.0,
      "×",
      true,
      cpuVsTorch(t, "W5", CASES.step32, "nn + optim.SGD"),
    );
    say(
      `W5 float64 ${t}T native vs PyTorch float64`,
      vsTorch(t, "W5", CASES.step64, "nn + optim.SGD"),
      1.0,
      "×",
      true,
      cpuVsTorch(t, "W5", CASES.step64, "nn + optim.SGD"),
    );
  }
  for (const be of BACKENDS) {
    for (const t of [1, 2]) {
      const compiled = get("cnnlab", t, "W5", CASES.step32, "compile(step)", be);
      const eagerBeside = get("cnnlab", t, "W5", CASES.step32, "eager, beside compiled", be);
      say(
        `W5 ${t}T ${be} compiled vs PyTorch eager`,
        ratio(compiled, get("torch", t, "W5", CASES.step32)),
        0.75,
        "×",
        true,
      );
      say(
        `W5 ${t}T ${be} compiled speed-up over cnnlab eager`,
        ratio(eagerBeside, compiled),
        1.3,
        "×",
        false,
      );
      if (compiled && t === 1) {
        out.push(
          `- W5 ${be} compiled vs eager losses over 20 steps: ${compiled.lossesEqual ? "equal" : `differ (max ${compiled.maxLossDiff})`}; ` +
            `memory: eager allocates ${compiled.eagerAllocatedMb} MB per step (at most ${compiled.peakLiveMb} MB alive at once), compiled arena ${compiled.arenaMb} MB, ${compiled.freshPerReplay} arrays allocated per replay`,
        );
      }
    }
  }
  const conv = get("convnetjs", 1, "W5", CASES.step32);
  const w5one = get("cnnlab", 1, "W5", CASES.step32, "nn + optim.SGD", "wasm");
  say("W5 1T wasm speed-up over convnetjs", conv && w5one ? conv.ms / w5one.ms : undefined, 40, "×", false);
  return out;
}

// ---------------------------------------------------------------- child: F.conv2d and the naive ratio

async function convApiChild(smoke: boolean): Promise<void> {
  const { F, noGrad, randn, setNumThreads } = await import("../src/index.js");
  const { shutdownThreads } = await import("../src/backend/wasm/index.js");
  const { selectBackend } = await import("./pool.js");
  const { bench, row } = await import("./timing.js");
  const { convFlops, convOut } = await import("./peers/shapes.js");
  const w = smoke ? SMOKE : FULL;
  const opts = smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : {};
  const backend = selectBackend();
  const print = (r: Row) => console.log(JSON.stringify({ ...r, backend }));
  try {
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      for (const c of w.convs) {
        const x = randn(c.x, { requiresGrad: true });
        const wt = randn(c.w, { requiresGrad: true });
        const dy = randn(convOut(c));
        const o = { padding: c.pad, stride: c.stride };
        const fwd = bench(() => noGrad(() => F.conv2d(x, wt, o)), opts);
        print({ ...row("cnnlab", threads, "W2", CASES.convFwd(c), fwd, convFlops(c)), variant: "F.conv2d" });
        const both = bench(() => {
          F.conv2d(x, wt, o).backward(dy);
          x.grad = null;
          wt.grad = null;
        }, opts);
        print({
          ...row("cnnlab", threads, "W3", `${c.name} fwd+bwd autograd`, both, 3 * convFlops(c)),
          variant: "F.conv2d",
        });
      }
    }
    // naive vs fast (one thread): the "fast layers" chapter's comparison
    setNumThreads(1);
    const c = w.naive;
    const x = randn(c.x, { requiresGrad: true });
    const wt = randn(c.w, { requiresGrad: true });
    const b = randn([c.w[0]], { requiresGrad: true });
    const dy = randn(convOut(c));
    const o = { padding: c.pad, stride: c.stride };
    const shape = `x [${c.x.join(",")}] w [${c.w.join(",")}] pad ${c.pad}`;
    const slow = { warmup: 1, minRuns: 3, minTimeS: 0 };
    for (const [name, conv] of [
      ["fast", F.conv2d],
      ["naive", F.conv2dNaive],
    ] as const) {
      const fwd = bench(() => noGrad(() => conv(x, wt, b, o)), smoke ? opts : name === "naive" ? slow : {});
      print({
        ...row("cnnlab", 1, "naive", `${name} fwd, ${shape}`, fwd, convFlops(c)),
        variant: name === "fast" ? "F.conv2d" : "F.conv2dNaive",
      });
      const both = bench(
        () => {
          conv(x, wt, b, o).backward(dy);
          x.grad = null;
          wt.grad = null;
          b.grad = null;
        },
        smoke ? opts : name === "naive" ? slow : {},
      );
      print({
        ...row("cnnlab", 1, "naive", `${name} fwd+bwd, ${shape}`, both, 3 * convFlops(c)),
        variant: name === "fast" ? "F.conv2d" : "F.conv2dNaive",
      });
    }
  } finally {
    await shutdownThreads();
  }
}

// ---------------------------------------------------------------- main

export interface RunResult {
  lines: Line[];
  table: string;
  crashed: string[];
  file: string;
}

export async function runAll(o: RunOptions, log: (s: string) => void = console.log): Promise<RunResult> {
  const w = o.smoke ? SMOKE : FULL;
  const started = new Date();
  log(
    `cnnlab benchmarks${o.smoke ? " (smoke: tiny sizes, numbers not comparable)" : ""}: node ${process.version}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
  );
  const lines: Line[] = [];
  const missing: Record<string, string> = {};
  const crashed: string[] = [];
  const backends = await benchBackends();
  const peers = peerJobs(o, w);
  const torch = peers.filter((j) => j.sys === "torch");
  const jobs: Job[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const tag = o.rounds > 1 ? ` (round ${r + 1}/${o.rounds})` : "";
    for (const j of [...ownJobs(o, backends), ...torch]) {
      // the RSS check (1,000 steps) runs once
      if (r > 0 && j.own && /RSS/.test(j.label)) continue;
      jobs.push({ ...j, label: j.label + tag });
    }
  }
  jobs.push(...peers.filter((j) => j.sys !== "torch"));
  const skipped = ALL_PEERS.filter((p) => o.peers && !o.peers.includes(p));
  for (const p of skipped) {
    for (const c of COLUMNS.filter((c) => c.prefix === p || (p === "torch" && c.prefix === "torch")))
      missing[c.key] = "not run (--peers)";
  }
  // full runs: one runner at a time (they measure); smoke runs: three at once (they only exercise)
  const results: Promise<JobResult>[] = [];
  const width = o.smoke ? 3 : 1;
  const slots: Promise<unknown>[] = [];
  for (const job of jobs) {
    if (slots.length >= width) await Promise.race(slots);
    const load0 = loadavg()[0];
    const p = runJob(job, o.timeoutS).then((r) => {
      const got = r.lines.filter((l) => l.ms !== undefined || l.error || l.steps !== undefined).length;
      const load = `load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`;
      for (const l of r.lines) l.load1 = +load0.toFixed(2);
      log(
        `  ${job.label}: ${got} results in ${r.seconds.toFixed(1)} s (${load})${r.ok ? "" : ` — FAILED: ${r.reason}`}`,
      );
      return r;
    });
    results.push(p);
    const slot: Promise<unknown> = p.then(() => slots.splice(slots.indexOf(slot), 1));
    slots.push(slot);
  }
  for (const [i, job] of jobs.entries()) {
    const r = await results[i];
    for (const l of r.lines) {
      if (l.missing) {
        for (const c of COLUMNS.filter((c) => l.sys.startsWith(c.prefix) && c.threads === Number(l.threads)))
          missing[c.key] = l.missing;
      }
    }
    lines.push(...r.lines);
    if (!r.ok) {
      if (job.own) crashed.push(`${job.label}: ${r.reason}`);
      else {
        const cols = COLUMNS.filter((c) => job.sys.startsWith(c.prefix) && c.threads === job.threads);
        for (const c of cols)
          if (r.lines.filter((l) => l.ms !== undefined).length === 0) missing[c.key] = r.reason ?? "failed";
        lines.push({
          sys: job.sys,
          threads: job.threads,
          workload: "",
          case: "",
          ms: NaN,
          error: `runner failed: ${r.reason}`,
        });
      }
    }
  }
  const merged = mergeRounds(lines);
  lines.splice(0, lines.length, ...merged);
  const tableText = buildTable({ lines, missing });
  log("");
  log(
    "Median wall ms (GFLOP/s); peer cells: cnnlab time / peer time at the same thread count (below 1 = cnnlab faster), peer ms in parentheses.",
  );
  log(tableText);

  const naive = lines.filter((l) => l.workload === "naive");
  const pick = (p: string) => naive.find((l) => l.case.startsWith(p));
  const [nf, ff, nb, fb] = [
    pick("naive fwd,"),
    pick("fast fwd,"),
    pick("naive fwd+bwd"),
    pick("fast fwd+bwd"),
  ];
  if (nf && ff) {
    log(`\nnaive vs fast conv, 1 thread (${nf.case.replace(/^naive fwd, /, "")}):`);
    const body = [
      ["forward", fmtMs(nf.ms), fmtMs(ff.ms), `${(nf.ms / ff.ms).toFixed(0)}×`],
      ...(nb && fb
        ? [["forward + backward", fmtMs(nb.ms), fmtMs(fb.ms), `${(nb.ms / fb.ms).toFixed(0)}×`]]
        : []),
    ];
    log(table(["pass", "F.conv2dNaive ms", "F.conv2d ms", "naive / fast"], body));
  }

  const rss = lines.find((l) => l.case === "RSS over training steps");
  if (rss) {
    const r = rss as unknown as {
      rssAfterGcWarmMb: number;
      rssAfterGcMaxMb: number;
      rssAfterGcFinalMb: number;
      growthAfterGc: number;
      flatAfterGc: boolean;
      trend: number;
      steps: number;
      warmupSteps: number;
      rssWarmMb: number;
      rssMaxMb: number;
      rssFinalMb: number;
      growth: number;
      flat: boolean;
      msPerStep: number;
    };
    log(
      `\nRSS over ${r.steps} W5 float32 training steps (threads ${rss.threads}): ${r.rssWarmMb} MB after ${r.warmupSteps} warm-up steps, ` +
        `max ${r.rssMaxMb} MB, final ${r.rssFinalMb} MB: growth ${(100 * r.growth).toFixed(1)}% -> ${r.flat ? "flat (within 10%)" : "NOT flat (over 10%)"}; ${r.msPerStep} ms/step`,
    );
    if (Number.isFinite(r.trend)) {
      log(
        `RSS trend (median of the last quarter of the samples after warm-up vs the first quarter): ${(100 * r.trend).toFixed(1)}% -> ${r.trend <= 0.1 ? (r.trend < -0.1 ? "falls (no growth)" : "no growth beyond 10%") : "GROWS over 10%"}`,
      );
    }
    if (Number.isFinite(r.rssAfterGcWarmMb)) {
      log(
        `RSS right after a full GC: ${r.rssAfterGcWarmMb} MB after warm-up, max ${r.rssAfterGcMaxMb} MB, final ${r.rssAfterGcFinalMb} MB: ` +
          `growth ${(100 * r.growthAfterGc).toFixed(1)}% -> ${r.flatAfterGc ? "flat (within 10%)" : "NOT flat (over 10%)"}`,
      );
    }
  }
  if (!o.smoke) {
    log("\nTargets (native-speed work; same-run medians):");
    for (const s of targetLines(lines)) log(s);
  }
  const header = `cnnlab bench ${o.smoke ? "smoke" : o.out === "partial" ? "partial" : "full"} run ${started.toISOString()}; node ${process.version}; ${cpus()[0]?.model ?? "unknown cpu"}; load average at start ${loadavg()[0].toFixed(1)}`;
  const file = writeResults(o.out, lines as Row[], header);
  writeFileSync(join(repoRoot, "bench", "results", `${o.out}.md`), `<!-- ${header} -->\n${tableText}\n`);
  log(`\nwrote ${file} and ${o.out}.md`);
  for (const c of crashed) log(`CRASH: ${c}`);
  return { lines, table: tableText, crashed, file };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const ci = argv.indexOf("--child");
  if (ci >= 0) {
    if (argv[ci + 1] !== "conv-api") throw new Error(`bench: unknown child ${argv[ci + 1]}`);
    await convApiChild(argv.includes("--smoke"));
    return;
  }
  const o = parseArgs(argv);
  const r = await runAll(o);
  if (r.crashed.length > 0) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
