import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ALL_PEERS,
  ALL_WORKLOADS,
  COLUMNS,
  buildTable,
  mergeRounds,
  parseArgs,
  type Line,
} from "../../bench/run.js";
import { CASES, FULL, SMOKE, convFlops, netFlops } from "../../bench/peers/shapes.js";
import { repoRoot } from "../../bench/timing.js";

/** Every W1..W5 case of the full workloads, as cnnlab result lines at 1 and 2 threads. */
function allCases(): { workload: string; case: string }[] {
  return [
    ...FULL.gemm.map((n) => ({ workload: "W1", case: CASES.gemm(n) })),
    ...FULL.convs.map((c) => ({ workload: "W2", case: CASES.convFwd(c) })),
    ...FULL.convs.map((c) => ({ workload: "W3", case: CASES.convBwd(c) })),
    { workload: "W4", case: CASES.poolBoth },
    { workload: "W5", case: CASES.step32 },
    { workload: "W5", case: CASES.step64 },
  ];
}

const ours = (threads: number, ms: number): Line[] =>
  allCases().map((c) => ({ sys: "cnnlab", threads, ...c, ms, variant: "x" }));

/** The data rows of a markdown table (header and rule dropped), split into trimmed cells. */
function rows(md: string): string[][] {
  return md
    .split("\n")
    .slice(2)
    .map((l) =>
      l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

describe("bench/run.ts table", () => {
  it("has a row for every workload case and a column for every peer", () => {
    const md = buildTable({ lines: [...ours(1, 10), ...ours(2, 5)], missing: {} });
    const body = rows(md);
    expect(body.map((r) => `${r[0]} ${r[1]}`)).toEqual(allCases().map((c) => `${c.workload} ${c.case}`));
    const head = md.split("\n")[0];
    for (const c of COLUMNS) expect(head).toContain(c.title);
    // no peer results at all: every peer cell says so
    for (const r of body) for (const cell of r.slice(5)) expect(cell).toBe("not measured");
  });

  it("prints cnnlab/peer time ratios at the same thread count", () => {
    const lines: Line[] = [
      ...ours(1, 30),
      ...ours(2, 20),
      { sys: "torch-1.13", threads: 1, workload: "W5", case: CASES.step32, ms: 40 },
      { sys: "torch-1.13", threads: 2, workload: "W5", case: CASES.step32, ms: 25 },
      { sys: "convnetjs-0.3.0", threads: 1, workload: "W5", case: CASES.step32, ms: 3000 },
    ];
    const w5 = rows(buildTable({ lines, missing: {} })).find((r) => r[1] === CASES.step32);
    expect(w5).toBeDefined();
    const col = (title: string) => 5 + COLUMNS.findIndex((c) => c.title === title);
    expect(w5?.[col("PyTorch 1T")]).toBe("0.75× (40.0)"); // 30 / 40
    expect(w5?.[col("PyTorch 2T")]).toBe("0.80× (25.0)"); // 20 / 25
    expect(w5?.[col("convnetjs (1T)")]).toBe("0.01× (3000)"); // 30 / 3000
  });

  it("has a column per backend and gives each backend's ratio in the peer cells", () => {
    const lines: Line[] = [
      {
        sys: "cnnlab",
        threads: 1,
        workload: "W5",
        case: CASES.step32,
        ms: 30,
        variant: "x",
        backend: "native",
      },
      {
        sys: "cnnlab",
        threads: 1,
        workload: "W5",
        case: CASES.step32,
        ms: 60,
        variant: "x",
        backend: "wasm (note)",
      },
      {
        sys: "cnnlab",
        threads: 2,
        workload: "W5",
        case: CASES.step32,
        ms: 20,
        variant: "x",
        backend: "native",
      },
      { sys: "torch-1.13", threads: 1, workload: "W5", case: CASES.step32, ms: 40 },
    ];
    const md = buildTable({ lines, missing: {} });
    expect(md.split("\n")[0]).toMatch(
      /native 1T ms \| native 2T ms \| wasm 1T ms \| wasm 2T ms \| PyTorch 1T/,
    );
    const w5 = rows(md)[0];
    expect(w5.slice(3, 7)).toEqual(["30.0", "20.0", "60.0", "–"]);
    expect(w5[7]).toBe("native 0.75× · wasm 1.50× (40.0)");
    expect(w5[8]).toBe("not measured");
  });

  it("reports peers that are missing or cannot run a case instead of dropping them", () => {
    const lines: Line[] = [
      ...ours(1, 10),
      {
        sys: "tfjs-wasm-4.22",
        threads: 1,
        workload: "W3",
        case: CASES.convBwd(FULL.convs[0]),
        ms: NaN,
        error: "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'",
      },
      {
        sys: "tfjs-cpu-4.22",
        threads: 1,
        workload: "W5",
        case: CASES.step64,
        ms: NaN,
        error: "tfjs has no float64 dtype",
      },
    ];
    const md = buildTable({
      lines,
      missing: { torch1: "cannot import torch", torch2: "cannot import torch" },
    });
    const body = rows(md);
    const w3 = body.find((r) => r[1] === CASES.convBwd(FULL.convs[0]));
    expect(w3).toContain("cannot: no Conv2DBackpropFilter kernel");
    expect(body.find((r) => r[1] === CASES.step64)).toContain("cannot: tfjs has no float64 dtype");
    for (const r of body) {
      expect(r[5]).toBe("missing: cannot import torch");
      expect(r[6]).toBe("missing: cannot import torch");
    }
  });

  it("lists a peer's case that cnnlab did not run", () => {
    const lines: Line[] = [{ sys: "torch-1.13", threads: 1, workload: "W4", case: CASES.poolFwd, ms: 9.7 }];
    const body = rows(buildTable({ lines, missing: {} }));
    expect(body).toHaveLength(1);
    expect(body[0].slice(0, 3)).toEqual(["W4", CASES.poolFwd, "(not run by cnnlab)"]);
  });
});

describe("bench/run.ts options", () => {
  it("parses --smoke, --only and --peers and rejects unknown names", () => {
    const o = parseArgs(["--smoke", "--only", "W4,W5", "--peers", "torch,convnetjs"]);
    expect(o).toMatchObject({ smoke: true, only: ["W4", "W5"], peers: ["torch", "convnetjs"], out: "smoke" });
    expect(parseArgs([])).toMatchObject({ smoke: false, only: [], rssSteps: 1000, out: "latest" });
    expect(() => parseArgs(["--only", "W9"])).toThrow(/unknown workload W9/);
    expect(() => parseArgs(["--peers", "mxnet"])).toThrow(/unknown peer mxnet/);
    expect(parseArgs([]).rounds).toBe(3);
    expect(parseArgs(["--only", "W5"]).rounds).toBe(1);
    expect(parseArgs(["--only", "W5", "--rounds", "5"]).rounds).toBe(5);
    expect(() => parseArgs(["--rounds", "0"])).toThrow("bench: --rounds must be a positive integer, got 0");
    expect(ALL_WORKLOADS).toEqual(["W1", "W2", "W3", "W4", "W5", "naive", "rss"]);
    expect(ALL_PEERS).toEqual(["torch", "tfjs-wasm", "tfjs-cpu", "convnetjs"]);
  });

  it("uses the issue's workload sizes and flop counts", () => {
    expect(FULL.gemm).toEqual([256, 512, 1024]);
    expect(FULL.pool).toEqual([64, 32, 32, 32]);
    // conv1: 2·64·32·3·5·5·32·32 (the peers' REPORT: 12.6 ms = 25 GFLOP/s)
    expect(convFlops(FULL.convs[0])).toBe(2 * 64 * 32 * 3 * 25 * 1024);
    // W5: 2.16 GFLOP per step (REPORT.md)
    expect(netFlops(FULL.net) / 1e9).toBeCloseTo(2.16, 2);
    expect(SMOKE.smoke).toBe(true);
  });
});

describe("bench/run.ts smoke run (subprocess)", () => {
  it("writes JSON lines with the W4 and W5 rows, the naive ratio and the RSS check", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/run.ts", "--smoke", "--only", "W4,W5,naive,rss", "--peers", "convnetjs"],
      { cwd: repoRoot, encoding: "utf8", timeout: 170_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("| W4");
    expect(r.stdout).toMatch(/naive \/ fast/);
    expect(r.stdout).toMatch(/RSS over 30 W5 float32 training steps/);
    const lines = readFileSync(join(repoRoot, "bench", "results", "smoke.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Line & { steps?: number });
    const has = (sys: string, workload: string, name: string, threads: number) =>
      lines.some(
        (l) =>
          l.sys.startsWith(sys) &&
          l.workload === workload &&
          l.case === name &&
          l.threads === threads &&
          l.ms > 0,
      );
    for (const t of [1, 2]) {
      expect(has("cnnlab", "W4", CASES.poolBoth, t)).toBe(true);
      expect(has("cnnlab", "W5", CASES.step32, t)).toBe(true);
      expect(has("cnnlab", "W5", CASES.step64, t)).toBe(true);
    }
    expect(has("convnetjs", "W5", CASES.step32, 1)).toBe(true);
    expect(lines.some((l) => l.workload === "naive" && l.case.startsWith("naive fwd"))).toBe(true);
    expect(lines.find((l) => l.case === "RSS over training steps")?.steps).toBe(30);
    // peers left out with --peers are reported in the table, not dropped
    expect(r.stdout).toContain("missing: not run (--peers)");
  }, 180_000);
});

describe("bench/run.ts rounds", () => {
  const line = (sys: string, ms: number, extra: Partial<Line> = {}): Line => ({
    sys,
    threads: 1,
    workload: "W5",
    case: "step",
    ms,
    min: ms - 1,
    max: ms + 1,
    runs: 10,
    ...extra,
  });

  it("keeps the median round of each measurement, with every round's median listed", () => {
    const merged = mergeRounds([
      line("cnnlab", 90, { gflops: 24 }),
      line("torch", 60),
      line("cnnlab", 130, { gflops: 24 * (90 / 130) }),
      line("torch", 58),
      line("cnnlab", 88, { gflops: 24 * (90 / 88) }),
      line("torch", 80),
    ]);
    expect(merged).toHaveLength(2);
    const ours = merged.find((l) => l.sys === "cnnlab")!;
    expect(ours).toMatchObject({ ms: 90, min: 87, max: 131, runs: 30, rounds_ms: [90, 130, 88] });
    expect(ours.gflops).toBeCloseTo(24, 6);
    expect(merged.find((l) => l.sys === "torch")).toMatchObject({ ms: 60, rounds_ms: [60, 58, 80] });
  });

  it("merges the CPU time as the median of the rounds' CPU times, independently of the wall clock", () => {
    const merged = mergeRounds([
      line("cnnlab", 90, { cpu_ms: 40 }),
      line("cnnlab", 130, { cpu_ms: 20 }),
      line("cnnlab", 88, { cpu_ms: 70 }),
    ]);
    expect(merged).toHaveLength(1);
    // the wall-clock median round is the 90 ms one (CPU 40); the CPU median of 20, 40, 70 is 40 too,
    // so a second case separates them
    expect(merged[0]).toMatchObject({ ms: 90, cpu_ms: 40 });
    const other = mergeRounds([
      line("cnnlab", 90, { cpu_ms: 70 }),
      line("cnnlab", 130, { cpu_ms: 20 }),
      line("cnnlab", 88, { cpu_ms: 30 }),
    ]);
    expect(other[0]).toMatchObject({ ms: 90, cpu_ms: 30 });
  });

  it("takes the mean of the two middle rounds for an even count, and leaves errors and other threads apart", () => {
    const merged = mergeRounds([
      line("cnnlab", 10),
      line("cnnlab", 20),
      line("cnnlab", 5, { threads: 2 }),
      { sys: "tfjs-wasm-4.22", threads: 1, workload: "W5", case: "step", ms: NaN, error: "cannot" },
    ]);
    expect(merged.map((l) => [l.sys, l.threads, l.ms])).toEqual([
      ["cnnlab", 1, 15],
      ["cnnlab", 2, 5],
      ["tfjs-wasm-4.22", 1, NaN],
    ]);
  });
});
