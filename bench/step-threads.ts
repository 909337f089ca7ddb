// Where a W5 training step's time goes, per thread and per kernel: the step's wall-clock median,
// the CPU time of each of the process's threads (from /proc/self/task, Linux only: the calling
// thread, cnnlab's pool workers, OpenBLAS's threads, V8's GC helpers) and the wall-clock time inside
// each backend kernel (what is left is JS glue: autograd, allocation, the ops around the kernels).
// The calling thread's CPU time is the step's serial part; on a quiet machine the 2-thread step
// cannot be faster than it.
//   node --import tsx bench/step-threads.ts [--threads 1,2] [--steps 20] [--dtype float64]
// on the backend CNNLAB_BENCH_BACKEND names (default wasm). Prints one JSON line per thread count.
import { readFileSync, readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { setNumThreads } from "../src/index.js";
import { backend, registerBackend, setBackend } from "../src/backend/index.js";
import { shutdownThreads } from "../src/backend/wasm/index.js";
import { makeTrainStep } from "./train-step.js";
import { FULL } from "./peers/shapes.js";
import { selectBackend } from "./pool.js";

/** CPU ms (user + system) of each thread of this process, by thread id. */
function threadCpu(): Map<string, number> {
  const m = new Map<string, number>();
  let ids: string[] = [];
  try {
    ids = readdirSync("/proc/self/task");
  } catch {
    return m;
  }
  for (const id of ids) {
    try {
      const s = readFileSync(`/proc/self/task/${id}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      // utime and stime, in clock ticks (100 per second on Linux)
      m.set(id, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}

/** Wraps every kernel of the active backend with a wall-clock timer; returns the totals. */
function timeKernels(): Map<string, { ms: number; calls: number }> {
  const active = backend() as unknown as Record<string, unknown>;
  const totals = new Map<string, { ms: number; calls: number }>();
  const timed: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(active)) {
    if (typeof f !== "function") {
      timed[k] = f;
      continue;
    }
    timed[k] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return (f as (...a: unknown[]) => unknown)(...args);
      } finally {
        const e = totals.get(k) ?? { ms: 0, calls: 0 };
        e.ms += performance.now() - t0;
        e.calls++;
        totals.set(k, e);
      }
    };
  }
  registerBackend(timed as never);
  setBackend(active.name as string);
  return totals;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const threadCounts = (argValue("--threads") ?? "1,2").split(",").map(Number);
  const steps = Number(argValue("--steps") ?? 20);
  const dtype = argValue("--dtype") === "float64" ? "float64" : "float32";
  const note = selectBackend();
  const kernels = timeKernels();
  const ts = makeTrainStep(FULL.net, dtype);
  try {
    for (const threads of threadCounts) {
      setNumThreads(threads);
      for (let i = 0; i < 4; i++) ts.step();
      kernels.clear();
      const before = threadCpu();
      const per: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        ts.step();
        per.push(performance.now() - t0);
      }
      const after = threadCpu();
      per.sort((a, b) => a - b);
      const cpu = [...after]
        .map(([id, ms]) => ({ id, ms: (ms - (before.get(id) ?? 0)) / steps }))
        .filter((t) => t.ms > 0)
        .sort((a, b) => b.ms - a.ms);
      const main = cpu.find((t) => t.id === String(process.pid))?.ms ?? NaN;
      const others = cpu.filter((t) => t.id !== String(process.pid)).map((t) => +t.ms.toFixed(1));
      const inKernels = [...kernels.values()].reduce((s, e) => s + e.ms, 0) / steps;
      const mean = per.reduce((s, v) => s + v, 0) / steps;
      console.log(
        JSON.stringify({
          backend: note,
          dtype,
          threads,
          steps,
          msMedian: +per[steps >> 1].toFixed(1),
          mainThreadCpuMs: +main.toFixed(1),
          otherThreadsCpuMs: others,
          kernelsMs: Object.fromEntries(
            [...kernels].sort((a, b) => b[1].ms - a[1].ms).map(([k, e]) => [k, +(e.ms / steps).toFixed(2)]),
          ),
          outsideKernelsMs: +(mean - inKernels).toFixed(1),
        }),
      );
    }
  } finally {
    await shutdownThreads();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
