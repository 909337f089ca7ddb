// Shared by the JavaScript peer runners (tfjs.ts, convnetjs.ts): the command line, timing and the
// JSON-lines output that bench/run.ts reads.
import { performance } from "node:perf_hooks";
import { bench, type BenchOptions, type Timing } from "../timing.js";
import type { Workloads } from "./shapes.js";

export interface PeerConfig {
  threads: number;
  only?: string[];
  workloads: Workloads;
}

/** The JSON config given as the runner's first argument. */
export function readConfig(): PeerConfig {
  const arg = process.argv[2];
  if (!arg) throw new Error("usage: node --import tsx bench/peers/<peer>.ts CONFIG_JSON");
  return JSON.parse(arg) as PeerConfig;
}

export function wants(cfg: PeerConfig, workload: string): boolean {
  return !cfg.only || cfg.only.length === 0 || cfg.only.includes(workload);
}

export function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

/** A call slower than this is measured once (tfjs-cpu's conv weight gradient takes 20-40 s). */
export const SINGLE_RUN_MS = 5000;

/**
 * Times `fn` like bench/timing.ts's bench(); when its first call takes longer than SINGLE_RUN_MS
 * that call is the measurement (runs = 1).
 */
export function measure(fn: () => void, smoke: boolean, opts: BenchOptions = {}): Timing & { single?: true } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const first = performance.now() - t0;
  if (first > SINGLE_RUN_MS) {
    const c = process.cpuUsage(c0);
    return { ms: first, min: first, max: first, runs: 1, cpuMs: (c.user + c.system) / 1e3, single: true };
  }
  return bench(fn, smoke ? { warmup: 1, minRuns: 2, minTimeS: 0 } : opts);
}

/** Emits a measurement, or an {error} line when `fn` throws (a peer that cannot run a case). */
export function record(
  base: { sys: string; threads: number },
  workload: string,
  name: string,
  fn: () => void,
  smoke: boolean,
  flops?: number,
  opts: BenchOptions = {},
  extra: Record<string, unknown> = {},
): void {
  try {
    const t = measure(fn, smoke, opts);
    const r: Record<string, unknown> = {
      ...base,
      workload,
      case: name,
      ms: +t.ms.toFixed(3),
      min: +t.min.toFixed(3),
      max: +t.max.toFixed(3),
      runs: t.runs,
      cpu_ms: +t.cpuMs.toFixed(3),
      ...extra,
    };
    if (t.single) r.note = `one run (the first call took more than ${SINGLE_RUN_MS / 1000} s)`;
    if (flops) r.gflops = +(flops / (t.ms * 1e-3) / 1e9).toFixed(2);
    emit(r);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    emit({ ...base, workload, case: name, error: msg.slice(0, 200) });
  }
}
