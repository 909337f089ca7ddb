// W5 compiled: the training step of bench/train-step.ts through compile(), timed in the same process
// as the eager step (alternating runs), float32, at 1 and 2 threads on the selected backend; plus the
// losses of 20 compiled and 20 eager steps from the same seed, and the memory of each.
//   node --import tsx bench/compile.ts [--smoke] [--threads 1,2]
// Prints one JSON line per measurement (the format of bench/timing.ts's row()).
import { pathToFileURL } from "node:url";
import { compile, setNumThreads } from "../src/index.js";
import { shutdownThreads } from "../src/backend/wasm/index.js";
import { bench, row, type BenchOptions, type Row } from "./timing.js";
import { CASES, FULL, SMOKE, netFlops, type NetShape } from "./peers/shapes.js";
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

/** Eager and compiled W5 float32, measured alternately at each thread count. */
export function benchCompiled(t: NetShape, threadCounts: number[], smoke: boolean): Row[] {
  const opts: BenchOptions = smoke
    ? { warmup: 1, minRuns: 2, minTimeS: 0 }
    : { warmup: 3, minRuns: 10, minTimeS: 2 };
  const eager = makeTrainStep(t, "float32");
  const c = makeTrainStep(t, "float32");
  const step = compile(c.stepLoss, { name: "W5" });
  const check = compiledLosses(t, smoke ? 3 : 20);
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    setNumThreads(threads);
    // two rounds each, alternating, so that both see the same machine
    const timings = [0, 1].flatMap(() => [
      { name: "eager", t: bench(() => eager.stepLoss(), opts) },
      { name: "compiled", t: bench(() => step(), opts) },
    ]);
    for (const name of ["eager", "compiled"]) {
      const best = timings.filter((x) => x.name === name).sort((a, b) => a.t.ms - b.t.ms)[0].t;
      rows.push(
        row(SYS, threads, "W5", CASES.step32, best, netFlops(t), {
          dtype: "float32",
          mode: name,
          ...(name === "compiled" ? check : {}),
        }),
      );
    }
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
    for (const r of benchCompiled((smoke ? SMOKE : FULL).net, threadCounts, smoke))
      console.log(JSON.stringify({ ...r, backend: backendNote }));
  } finally {
    await shutdownThreads();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
