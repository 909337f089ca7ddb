// W5 compiled: the training step of bench/train-step.ts through compile(), timed in the same process
// as the eager step (alternating runs), float32, at 1 and 2 threads on the selected backend; plus the
// losses of 20 compiled and 20 eager steps from the same seed, and the memory of each.
// With --torch, PyTorch's W5 step (bench/peers/torch_peer.py, run as bench/run.ts runs it) is
// measured in the same run before each thread count's rounds, and the compiled row carries the
// ratios (vsTorch: compiled / PyTorch time; speedup: eager / compiled time).
//   node --import tsx bench/compile.ts [--smoke] [--threads 1,2] [--torch]
// Prints one JSON line per measurement (the format of bench/timing.ts's row()).
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { compile, setNumThreads } from "../src/index.js";
import { shutdownThreads } from "../src/backend/wasm/index.js";
import { bench, row, type BenchOptions, type Row } from "./timing.js";
import { CASES, FULL, SMOKE, netFlops, type NetShape, type Workloads } from "./peers/shapes.js";
import { selectBackend, SYS } from "./pool.js";
import { makeTrainStep } from "./train-step.js";

const MB = (bytes: number) => +(bytes / 2 ** 20).toFixed(2);

/** Losses of `steps` eager and compiled steps from the same seed, and the compiled graph's memory. */
export function compiledLosses(t: NetShape, steps: number) {
  const eager = makeTrainStep(t, "float32");
  const eagerLosses = Array.from({ length: steps }, () => eager.step());
  const c = makeTrainStep(t, "float32");
  const step = compile(c.stepLoss, { name: "W5" });
  const compiledLosses = Array.from({ length: steps }, () => step().item());
  const memory = step.graph(0).memory;
  return {
    lossesEqual: compiledLosses.every((l, i) => l === eagerLosses[i]),
    maxLossDiff: Math.max(...compiledLosses.map((l, i) => Math.abs(l - eagerLosses[i]))),
    firstLoss: +eagerLosses[0].toFixed(4),
    lastLoss: +eagerLosses[steps - 1].toFixed(4),
    arenaMb: memory ? MB(memory.arenaBytes) : null,
    eagerAllocatedMb: memory ? MB(memory.eagerAllocatedBytes) : null,
    peakLiveMb: memory ? MB(memory.peakLiveBytes) : null,
    freshPerReplay: step.graph(0).lastReplay?.fresh ?? null,
  };
}

/** PyTorch's W5 float32 row at `threads` threads (its own process), or an { error } row. */
export function torchStep(w: Workloads, threads: number): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  // the native backend sets OpenBLAS variables in this process; the peer gets bench/run.ts's
  delete env.OPENBLAS_THREAD_TIMEOUT;
  if (threads === 2) env.OPENBLAS_THREAD_TIMEOUT = "4";
  const r = spawnSync(
    "/usr/bin/python3",
    ["bench/peers/torch_peer.py", JSON.stringify({ threads, only: ["W5"], workloads: w })],
    { encoding: "utf8", env },
  );
  const rows = (r.stdout ?? "")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return (
    rows.find((x) => x.case === CASES.step32) ??
    rows.find((x) => "missing" in x) ?? { error: `torch_peer.py: ${r.stderr?.slice(0, 300) ?? r.error}` }
  );
}

/** Eager and compiled W5 float32, measured alternately at each thread count. */
export function benchCompiled(
  t: NetShape,
  threadCounts: number[],
  smoke: boolean,
  torch: Workloads | null = null,
): Row[] {
  const opts: BenchOptions = smoke
    ? { warmup: 1, minRuns: 2, minTimeS: 0 }
    : { warmup: 3, minRuns: 10, minTimeS: 2 };
  const eager = makeTrainStep(t, "float32");
  const c = makeTrainStep(t, "float32");
  const step = compile(c.stepLoss, { name: "W5" });
  const check = compiledLosses(t, smoke ? 3 : 20);
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    const peer = torch ? torchStep(torch, threads) : null;
    setNumThreads(threads);
    // two rounds each, alternating, so that both see the same machine
    const timings = [0, 1].flatMap(() => [
      { name: "eager", t: bench(() => eager.stepLoss(), opts) },
      { name: "compiled", t: bench(() => step(), opts) },
    ]);
    const best = (name: string) =>
      timings.filter((x) => x.name === name).sort((a, b) => a.t.ms - b.t.ms)[0].t;
    const eagerT = best("eager");
    const compiledT = best("compiled");
    const torchMs = typeof peer?.ms === "number" ? peer.ms : null;
    const ratios = {
      speedup: +(eagerT.ms / compiledT.ms).toFixed(3),
      speedupCpu: +(eagerT.cpuMs / compiledT.cpuMs).toFixed(3),
      ...(torchMs !== null ? { torchMs, vsTorch: +(compiledT.ms / torchMs).toFixed(3) } : {}),
    };
    rows.push(
      row(SYS, threads, "W5", CASES.step32, eagerT, netFlops(t), { dtype: "float32", mode: "eager" }),
    );
    rows.push(
      row(SYS, threads, "W5", CASES.step32, compiledT, netFlops(t), {
        dtype: "float32",
        mode: "compiled",
        ...ratios,
        ...check,
      }),
    );
    if (peer) rows.push({ ...(peer as unknown as Row), threads });
  }
  return rows;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const smoke = process.argv.includes("--smoke");
  const threadCounts = (argValue("--threads") ?? "1,2").split(",").map(Number);
  const backendNote = selectBackend();
  try {
    const w = smoke ? SMOKE : FULL;
    for (const r of benchCompiled(w.net, threadCounts, smoke, process.argv.includes("--torch") ? w : null))
      console.log(JSON.stringify({ ...r, backend: backendNote }));
  } finally {
    await shutdownThreads();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
