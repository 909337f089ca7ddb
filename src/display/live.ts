/**
 * Live displays updated in place: `liveplot` (training curves) and `progress` (a progress bar).
 * In a notebook they use display ids and update_display_data (throttled); in a terminal they
 * redraw one line with `\r` (TTY) or print a line now and then. Nothing goes to stderr.
 */
import { checkOptions } from "../tensor/options.js";
import { emit, hasDisplayHook, newDisplayId, stdoutIsTTY, writeStdout, type MimeBundle } from "./emit.js";
import { escapeHtml, fmtNumber } from "./bundle.js";
import { Figure, figureBundle } from "./figure.js";
import { PALETTE, type Layout, type Trace } from "./svg.js";

type Mode = "notebook" | "tty" | "lines";

function currentMode(): Mode {
  return hasDisplayHook() ? "notebook" : stdoutIsTTY() ? "tty" : "lines";
}

/** Calls `flush` at most once per `interval` ms, with a trailing call for the last change. */
class Throttle {
  private last = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pending = false;

  constructor(
    private interval: number,
    private readonly flush: () => void,
  ) {}

  setInterval(ms: number): void {
    this.interval = ms;
  }

  request(): void {
    const now = Date.now();
    if (now - this.last >= this.interval) {
      this.cancel();
      this.last = now;
      this.pending = false;
      this.flush();
      return;
    }
    this.pending = true;
    if (!this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = null;
          if (this.pending) this.request();
        },
        Math.max(0, this.interval - (now - this.last)),
      );
    }
  }

  /** Runs a pending flush now. */
  finish(): void {
    this.cancel();
    if (this.pending) {
      this.pending = false;
      this.last = Date.now();
      this.flush();
    }
  }

  /** Drops a pending flush (the caller draws the final state itself). */
  cancelPending(): void {
    this.cancel();
    this.pending = false;
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

// ---- liveplot -------------------------------------------------------------------------------

export interface LivePlotOptions {
  /** Metric names; each gets a panel. Nest names to share a panel: `[["train", "val"], "lr"]`. */
  metrics: readonly (string | readonly string[])[];
  title?: string;
  xlabel?: string;
  /** Log-scale y for these panels' metrics (names) or all (true). */
  logy?: boolean | readonly string[];
  /** Minimum milliseconds between redraws in a notebook (default 250, i.e. at most 4 per second). */
  interval?: number;
  width?: number;
  height?: number;
}

/** Training curves redrawn in place. `update({loss: 0.5})` adds a point; `done()` flushes. */
export class LivePlot {
  readonly displayId = newDisplayId("liveplot");
  private readonly groups: string[][];
  private readonly xs = new Map<string, number[]>();
  private readonly ys = new Map<string, number[]>();
  private step = 0;
  private shown = false;
  private readonly mode: Mode;
  private readonly throttle: Throttle;

  constructor(private readonly options: LivePlotOptions) {
    const o = checkOptions("liveplot", options, [
      "metrics",
      "title",
      "xlabel",
      "logy",
      "interval",
      "width",
      "height",
    ]);
    if (!Array.isArray(o.metrics) || o.metrics.length === 0) {
      throw new TypeError(
        'liveplot: metrics must be a non-empty array of names, e.g. { metrics: ["loss", "acc"] }',
      );
    }
    this.groups = o.metrics.map((g) => (typeof g === "string" ? [g] : [...g]));
    for (const name of this.groups.flat()) {
      if (typeof name !== "string")
        throw new TypeError(`liveplot: metric names must be strings, got ${typeof name}`);
      this.xs.set(name, []);
      this.ys.set(name, []);
    }
    this.mode = currentMode();
    this.throttle = new Throttle(
      this.mode === "notebook" ? (o.interval ?? 250) : this.mode === "tty" ? 100 : 2000,
      () => this.render(),
    );
  }

  /** Adds values for some metrics at `step` (default: one past the last step). */
  update(values: Record<string, number>, step?: number): void {
    const x = step ?? this.step;
    this.step = x + 1;
    for (const [name, v] of Object.entries(values)) {
      const ys = this.ys.get(name);
      if (!ys)
        throw new RangeError(
          `liveplot.update: unknown metric "${name}"; metrics are ${[...this.ys.keys()].join(", ")}`,
        );
      ys.push(typeof v === "number" ? v : Number(v));
      this.xs.get(name)!.push(x);
    }
    this.throttle.request();
  }

  /** Draws any pending update now (call after the loop). */
  done(): void {
    this.throttle.finish();
    if (this.mode === "tty" && this.shown) writeStdout("\n");
    this.shown = this.mode === "tty" ? false : this.shown;
  }

  /** The values recorded so far. */
  history(): Record<string, { x: number[]; y: number[] }> {
    const out: Record<string, { x: number[]; y: number[] }> = {};
    for (const k of this.ys.keys()) out[k] = { x: [...this.xs.get(k)!], y: [...this.ys.get(k)!] };
    return out;
  }

  /** The current chart. */
  figure(): Figure {
    const n = this.groups.length;
    const width = this.options.width ?? Math.min(1000, 340 * n + 60);
    const height = this.options.height ?? 320;
    const layout: Layout = {
      width,
      height,
      margin: { l: 55, r: 15, t: this.options.title ? 60 : 40, b: 45 },
      showlegend: this.groups.some((g) => g.length > 1),
      legend: { orientation: "h", y: 1.12 },
    };
    if (this.options.title) layout.title = { text: this.options.title };
    const traces: Trace[] = [];
    let color = 0;
    const gap = n > 1 ? 0.06 : 0;
    this.groups.forEach((g, k) => {
      const s = k === 0 ? "" : String(k + 1);
      const logOpt = this.options.logy;
      const logy =
        logOpt === true ||
        (Array.isArray(logOpt) && g.some((m) => (logOpt as readonly string[]).includes(m)));
      layout[`xaxis${s}`] = {
        domain: [k / n + (k ? gap / 2 : 0), (k + 1) / n - (k < n - 1 ? gap / 2 : 0)],
        anchor: `y${s}`,
        title: { text: this.options.xlabel ?? "step" },
      };
      layout[`yaxis${s}`] = {
        anchor: `x${s}`,
        title: { text: g.join(", ") },
        ...(logy ? { type: "log" } : {}),
      };
      for (const name of g) {
        const c = PALETTE[color++ % PALETTE.length];
        traces.push({
          type: "scatter",
          mode: "lines",
          name,
          x: this.xs.get(name)!,
          y: this.ys.get(name)!.map((v) => (Number.isFinite(v) ? v : null)),
          xaxis: `x${s}`,
          yaxis: `y${s}`,
          line: { color: c, width: 2 },
        });
      }
    });
    return new Figure(traces, layout);
  }

  /** One text line: step and the latest value of each metric. */
  statusLine(): string {
    const parts = [...this.ys.entries()]
      .filter(([, ys]) => ys.length)
      .map(([k, ys]) => `${k} ${fmtNumber(ys[ys.length - 1])}`);
    return `step ${Math.max(0, this.step - 1)}  ${parts.join("  ")}`;
  }

  bundle(): MimeBundle {
    return figureBundle(this.figure());
  }

  private render(): void {
    if (this.mode === "notebook") {
      emit(this.bundle(), { displayId: this.displayId, update: this.shown });
      this.shown = true;
    } else if (this.mode === "tty") {
      writeStdout(`\r${this.statusLine()}\x1b[K`);
      this.shown = true;
    } else {
      writeStdout(this.statusLine() + "\n");
    }
  }
}

/** A live training chart: `const lp = liveplot({metrics: ["loss", "acc"]}); lp.update({loss, acc}); lp.done()`. */
export function liveplot(options: LivePlotOptions): LivePlot {
  return new LivePlot(options);
}

// ---- progress -------------------------------------------------------------------------------

export interface ProgressOptions {
  total?: number;
  desc?: string;
  /** Minimum milliseconds between redraws (default 200 in a notebook, 100 on a TTY, 5000 for plain lines). */
  interval?: number;
  /** Unit name for the rate (default "it"). */
  unit?: string;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A progress bar over an iterable (or a count), updated in place, with count, rate and ETA. */
export class Progress<T = number> implements Iterable<T>, AsyncIterable<T> {
  readonly displayId = newDisplayId("progress");
  n = 0;
  readonly total: number | null;
  readonly desc: string;
  private readonly unit: string;
  private start = 0;
  private started = false;
  private closed = false;
  private shown = false;
  private readonly mode: Mode;
  private readonly throttle: Throttle;

  constructor(
    private readonly source: Iterable<T> | AsyncIterable<T> | null,
    options?: ProgressOptions,
  ) {
    const o = checkOptions("progress", options, ["total", "desc", "interval", "unit"]);
    let total = o.total ?? null;
    if (total === null && source && !(Symbol.asyncIterator in (source as object))) {
      const s = source as any;
      if (typeof s.length === "number") total = s.length;
      else if (typeof s.size === "number") total = s.size;
    }
    if (total !== null && !(Number.isFinite(total) && total >= 0))
      throw new RangeError(`progress: total must be a non-negative number, got ${total}`);
    this.total = total;
    this.desc = o.desc ?? "";
    this.unit = o.unit ?? "it";
    this.mode = currentMode();
    const interval = o.interval ?? (this.mode === "notebook" ? 200 : this.mode === "tty" ? 100 : 5000);
    this.throttle = new Throttle(interval, () => this.render());
  }

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.start = Date.now();
    if (this.mode !== "lines") this.render();
  }

  /** Advances the bar by `k` (for manual use: `const p = progress(null, {total}); p.update()`). */
  update(k = 1): void {
    this.begin();
    this.n += k;
    this.throttle.request();
  }

  /** Final redraw; called automatically when iteration ends or breaks. */
  close(): void {
    if (this.closed) return;
    this.begin();
    this.closed = true;
    this.throttle.cancelPending();
    this.render();
    if (this.mode === "tty") writeStdout("\n");
  }

  *[Symbol.iterator](): Iterator<T> {
    if (!this.source || !(Symbol.iterator in (this.source as object))) {
      throw new TypeError("progress: this source is not synchronously iterable; use for await");
    }
    this.begin();
    try {
      for (const v of this.source as Iterable<T>) {
        yield v;
        this.update(1);
      }
    } finally {
      this.close();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (!this.source) throw new TypeError("progress: nothing to iterate");
    this.begin();
    try {
      for await (const v of this.source as AsyncIterable<T>) {
        yield v;
        this.update(1);
      }
    } finally {
      this.close();
    }
  }

  /** Seconds since the start, items per second, and the estimated seconds left. */
  stats(): { elapsed: number; rate: number; eta: number } {
    const elapsed = this.started ? (Date.now() - this.start) / 1000 : 0;
    const rate = elapsed > 0 ? this.n / elapsed : NaN;
    const eta = this.total !== null && rate > 0 ? (this.total - this.n) / rate : NaN;
    return { elapsed, rate, eta };
  }

  /** tqdm-style text: `desc:  45%|█████▍      | 45/100 [00:12<00:15, 3.70it/s]`. */
  toString(): string {
    const { elapsed, rate, eta } = this.stats();
    const rateText = Number.isFinite(rate)
      ? `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(2)}${this.unit}/s`
      : `?${this.unit}/s`;
    const prefix = this.desc ? `${this.desc}: ` : "";
    if (this.total === null || this.total === 0)
      return `${prefix}${this.n}${this.unit} [${clock(elapsed)}, ${rateText}]`;
    const frac = Math.min(1, this.n / this.total);
    const width = 24;
    const cells = frac * width;
    const full = Math.floor(cells);
    const partial = " ▏▎▍▌▋▊▉"[Math.floor((cells - full) * 8)];
    const bar = "█".repeat(full) + (full < width ? partial : "") + " ".repeat(Math.max(0, width - full - 1));
    return `${prefix}${String(Math.floor(frac * 100)).padStart(3)}%|${bar}| ${this.n}/${this.total} [${clock(elapsed)}<${clock(eta)}, ${rateText}]`;
  }

  toHTML(): string {
    const { elapsed, rate, eta } = this.stats();
    const frac = this.total ? Math.min(1, this.n / this.total) : this.closed ? 1 : 0;
    const color = this.closed && this.total !== null && this.n < this.total ? "#d62728" : "#2ca02c";
    const count = this.total !== null ? `${this.n}/${this.total}` : `${this.n}`;
    const rateText = Number.isFinite(rate) ? `${fmtNumber(rate, 3)} ${this.unit}/s` : `? ${this.unit}/s`;
    const time =
      this.total !== null && !this.closed
        ? `${clock(elapsed)} elapsed, ${clock(eta)} left`
        : `${clock(elapsed)}`;
    return (
      `<div class="cnnlab-progress" style="display:flex;align-items:center;gap:8px;font-family:monospace;font-size:90%">` +
      (this.desc ? `<span>${escapeHtml(this.desc)}</span>` : "") +
      `<div style="width:260px;height:12px;background:#e5e5e5;border-radius:3px;overflow:hidden">` +
      `<div style="width:${(frac * 100).toFixed(1)}%;height:100%;background:${color}"></div></div>` +
      `<span>${this.total ? `${Math.floor(frac * 100)}% ` : ""}${count} [${time}, ${rateText}]</span></div>`
    );
  }

  bundle(): MimeBundle {
    return { "text/plain": this.toString(), "text/html": this.toHTML() };
  }

  private render(): void {
    if (this.mode === "notebook") {
      emit(this.bundle(), { displayId: this.displayId, update: this.shown });
      this.shown = true;
    } else if (this.mode === "tty") {
      writeStdout(`\r${this.toString()}\x1b[K`);
    } else {
      writeStdout(this.toString() + "\n");
    }
  }
}

/**
 * Wraps an iterable (or a count n, meaning 0..n-1) in a progress bar:
 * `for (const batch of progress(loader, {desc: "epoch 1"})) { ... }`.
 */
export function progress<T>(iterable: Iterable<T> | AsyncIterable<T>, options?: ProgressOptions): Progress<T>;
export function progress(count: number, options?: ProgressOptions): Progress<number>;
export function progress(source: null, options: ProgressOptions): Progress<never>;
export function progress<T>(
  source: Iterable<T> | AsyncIterable<T> | number | null,
  options?: ProgressOptions,
): Progress<T | number> {
  if (typeof source === "number") {
    if (!Number.isInteger(source) || source < 0)
      throw new RangeError(`progress: count must be a non-negative integer, got ${source}`);
    const n = source;
    const range = {
      *[Symbol.iterator]() {
        for (let i = 0; i < n; i++) yield i;
      },
    };
    return new Progress<number>(range, { total: n, ...options });
  }
  if (
    source !== null &&
    (typeof source !== "object" || !(Symbol.iterator in source || Symbol.asyncIterator in source))
  ) {
    throw new TypeError(`progress: expected an iterable, a count or null, got ${typeof source}`);
  }
  return new Progress<T>(source, options);
}
