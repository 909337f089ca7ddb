/**
 * Learning-rate schedulers with PyTorch's recurrences: each `step()` (call it after
 * `optimizer.step()`, once per epoch or iteration) advances `lastEpoch` and writes the new rate
 * into every parameter group.
 */
import { checkOptions } from "../tensor/options.js";
import { check, Optimizer, type BaseOptions } from "./optimizer.js";

export interface SchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
  [option: string]: unknown;
}

/** Base class: keeps `baseLrs` (each group's `initialLr`), `lastEpoch` and the last rates. */
export abstract class LRScheduler {
  readonly optimizer: Optimizer<BaseOptions>;
  readonly baseLrs: number[];
  /** Number of `step()` calls so far, minus one (0 after construction). */
  lastEpoch = -1;
  private lastLr: number[] = [];
  protected readonly name: string;

  protected constructor(name: string, optimizer: Optimizer<any>) {
    this.name = name;
    if (!(optimizer instanceof Optimizer)) {
      throw new TypeError(`${name}: the first argument must be an optimizer (e.g. new optim.SGD(...))`);
    }
    this.optimizer = optimizer;
    for (const group of optimizer.paramGroups) group.initialLr ??= group.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
  }

  /** Rates for the current `lastEpoch`, computed from the groups' current rates. */
  protected abstract computeLr(): number[];

  /** Subclasses call this at the end of their constructor: sets epoch 0's rates. */
  protected initialStep(): void {
    this.step();
  }

  /** Advances one epoch and writes the new learning rates into the optimizer's groups. */
  step(): void {
    this.lastEpoch++;
    const lrs = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i];
    });
    this.lastLr = lrs;
  }

  /** The learning rate of each group after the last `step()`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The options of this scheduler (written into state dicts). */
  protected abstract options(): Record<string, number>;

  stateDict(): SchedulerStateDict {
    return {
      ...this.options(),
      lastEpoch: this.lastEpoch,
      baseLrs: [...this.baseLrs],
      lastLr: [...this.lastLr],
    };
  }

  loadStateDict(state: SchedulerStateDict): void {
    if (state === null || typeof state !== "object" || typeof state.lastEpoch !== "number") {
      throw new TypeError(`${this.name}.loadStateDict: expected an object made by stateDict()`);
    }
    if (!Array.isArray(state.baseLrs) || state.baseLrs.length !== this.baseLrs.length) {
      throw new RangeError(
        `${this.name}.loadStateDict: the state has ${Array.isArray(state.baseLrs) ? state.baseLrs.length : "no"} base rates, the optimizer has ${this.baseLrs.length} groups`,
      );
    }
    const own = this.options();
    for (const key of Object.keys(own)) {
      if (typeof state[key] === "number") (this as any)[key] = state[key];
    }
    this.lastEpoch = state.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.lastLr = [...state.lastLr];
  }

  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

export interface StepLROptions {
  /** Period (in epochs) of the decay. */
  stepSize: number;
  /** Multiplicative factor (default 0.1). */
  gamma?: number;
}

/** Multiplies the rate by `gamma` every `stepSize` epochs: lr = base · gamma^⌊epoch / stepSize⌋. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: Optimizer<any>, options: StepLROptions) {
    super("StepLR", optimizer);
    const o = checkOptions("StepLR", options, ["stepSize", "gamma"]);
    if (o.stepSize === undefined) throw new TypeError("StepLR: option stepSize is required");
    this.stepSize = check.number("StepLR", "stepSize", o.stepSize, 0, false);
    if (!Number.isInteger(this.stepSize))
      throw new RangeError(`StepLR: stepSize must be an integer, got ${o.stepSize}`);
    this.gamma = check.number("StepLR", "gamma", o.gamma ?? 0.1, 0);
    this.initialStep();
  }

  protected computeLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected options(): Record<string, number> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
}

export interface ExponentialLROptions {
  /** Multiplicative factor per epoch. */
  gamma: number;
}

/** Multiplies the rate by `gamma` every epoch: lr = base · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;

  constructor(optimizer: Optimizer<any>, options: ExponentialLROptions) {
    super("ExponentialLR", optimizer);
    const o = checkOptions("ExponentialLR", options, ["gamma"]);
    if (o.gamma === undefined) throw new TypeError("ExponentialLR: option gamma is required");
    this.gamma = check.number("ExponentialLR", "gamma", o.gamma, 0);
    this.initialStep();
  }

  protected computeLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected options(): Record<string, number> {
    return { gamma: this.gamma };
  }
}

export interface CosineAnnealingLROptions {
  /** Half period of the cosine, in epochs. */
  tMax: number;
  /** Lowest rate (default 0). */
  etaMin?: number;
}

/**
 * Cosine annealing (SGDR without restarts) with PyTorch's recurrence; past `tMax` the rate rises
 * again along the cosine: lr = etaMin + (base − etaMin)(1 + cos(π·epoch/tMax))/2.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;

  constructor(optimizer: Optimizer<any>, options: CosineAnnealingLROptions) {
    super("CosineAnnealingLR", optimizer);
    const o = checkOptions("CosineAnnealingLR", options, ["tMax", "etaMin"]);
    if (o.tMax === undefined) throw new TypeError("CosineAnnealingLR: option tMax is required");
    this.tMax = check.number("CosineAnnealingLR", "tMax", o.tMax, 0, false);
    this.etaMin = check.number("CosineAnnealingLR", "etaMin", o.etaMin ?? 0, 0);
    this.initialStep();
  }

  protected computeLr(): number[] {
    const lrs = this.groupLrs();
    const e = this.lastEpoch;
    const T = this.tMax;
    const etaMin = this.etaMin;
    if (e === 0) return lrs;
    if ((((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0) {
      return lrs.map((lr, i) => lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return lrs.map(
      (lr) =>
        ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) +
        etaMin,
    );
  }

  protected options(): Record<string, number> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
}
