/**
 * The optimizer base class: parameter groups, per-parameter state, `zeroGrad`, `step` and state
 * dicts, with PyTorch's semantics (torch.optim.Optimizer) in TypeScript spelling.
 */
import { enableGrad, noGrad } from "../autograd/grad-mode.js";
import { traced, traceNote } from "../runtime/trace.js";
import { zeros } from "../tensor/creation.js";
import { isFloating, type FloatArray, type TypedArray } from "../tensor/dtype.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { contiguousData } from "../ops/util.js";

/** Options every optimizer has: a learning rate. */
export interface BaseOptions {
  lr: number;
}

/** One parameter group: its tensors and its (complete) options. */
export type ParamGroup<O extends BaseOptions = BaseOptions> = O & {
  params: Tensor[];
  /** Set by learning-rate schedulers: the learning rate the group started with. */
  initialLr?: number;
};

/** A parameter group as passed to a constructor: tensors plus options that override the defaults. */
export type ParamGroupInput<O extends BaseOptions = BaseOptions> = Partial<O> & {
  params: Iterable<Tensor>;
};

/** What an optimizer accepts: tensors (one group) or a list of parameter groups. */
export type ParamsInput<O extends BaseOptions = BaseOptions> =
  Iterable<Tensor> | Iterable<ParamGroupInput<O>>;

/**
 * What an optimizer tells a compiled step's recorder about a unit it can run fused: the kernel,
 * the fused version of the unit's function, and how many parameters it updates.
 */
export interface FusedMeta {
  fused: { kernel: string; run: (...args: any[]) => unknown; count: () => number };
}

/** Per-parameter state: tensors (moment buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** An optimizer's state dict, indexing parameters by their position across the groups (as PyTorch does). */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

export type Closure = () => Tensor | number;

/** Describes a value in an error message. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  return String(value);
}

/** Option checks shared by the optimizers; each throws `${name}: ...` naming the option and value. */
export const check = {
  number(name: string, key: string, value: unknown, min = -Infinity, minInclusive = true): number {
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw new TypeError(`${name}: option ${key} must be a number, got ${show(value)}`);
    }
    if (minInclusive ? value < min : value <= min) {
      throw new RangeError(
        `${name}: invalid ${key} ${value}; it must be ${minInclusive ? ">=" : ">"} ${min}`,
      );
    }
    return value;
  },
  range(name: string, key: string, value: unknown, lo: number, hi: number): number {
    const v = check.number(name, key, value);
    if (!(v >= lo && v < hi))
      throw new RangeError(`${name}: invalid ${key} ${v}; it must be in [${lo}, ${hi})`);
    return v;
  },
  boolean(name: string, key: string, value: unknown): boolean {
    if (typeof value !== "boolean")
      throw new TypeError(`${name}: option ${key} must be a boolean, got ${show(value)}`);
    return value;
  },
};

function isTensorIterable(items: unknown[]): items is Tensor[] {
  return items.every((p) => p instanceof Tensor);
}

/**
 * Base class of the optimizers. Subclasses give their defaults, validate options, and update one
 * parameter from its gradient in `updateParam` (called inside `noGrad`).
 */
export abstract class Optimizer<O extends BaseOptions = BaseOptions> {
  readonly paramGroups: ParamGroup<O>[] = [];
  readonly defaults: O;
  /** Per-parameter state, created lazily at the first step that sees a gradient. */
  readonly state = new Map<Tensor, ParamState>();
  /** The optimizer's name in messages ("SGD", "Adam", ...). */
  readonly name: string;
  private readonly optionKeys: readonly string[];

  protected constructor(name: string, params: ParamsInput<O>, defaults: O, options: Partial<O> | undefined) {
    this.name = name;
    this.optionKeys = Object.keys(defaults);
    if (
      options !== undefined &&
      (typeof options !== "object" || options === null || Array.isArray(options))
    ) {
      throw new TypeError(`${name}: options must be an object, got ${show(options)}`);
    }
    this.checkKeys(options ?? {}, "option");
    this.defaults = { ...defaults, ...(options ?? {}) } as O;
    this.validate(this.defaults);
    if (params instanceof Tensor) {
      throw new TypeError(`${name}: params must be an array of tensors, got a single tensor; wrap it in [ ]`);
    }
    if (params === null || params === undefined || typeof (params as any)[Symbol.iterator] !== "function") {
      throw new TypeError(
        `${name}: params must be an array of tensors (e.g. model.parameters()) or of parameter groups, got ${show(params)}`,
      );
    }
    const items = [...(params as Iterable<unknown>)];
    if (items.length === 0) throw new RangeError(`${name}: got an empty parameter list`);
    if (isTensorIterable(items)) {
      this.addParamGroup({ params: items } as unknown as ParamGroupInput<O>);
    } else {
      items.forEach((g, i) => {
        if (g === null || typeof g !== "object" || g instanceof Tensor || !("params" in (g as object))) {
          throw new TypeError(
            `${name}: params[${i}] must be a tensor or a parameter group {params, ...options}; mixing the two is not allowed`,
          );
        }
        this.addParamGroup(g as ParamGroupInput<O>);
      });
    }
  }

  /** Throws on a negative learning rate, out-of-range betas etc. (per optimizer). */
  protected abstract validate(options: O): void;

  /** Updates `param` in place from `grad` (same length, contiguous), with the group's options. */
  protected abstract updateParam(
    param: Tensor,
    p: FloatArray,
    grad: TypedArray,
    group: ParamGroup<O>,
    state: ParamState,
  ): void;

  private checkKeys(options: object, what: string): void {
    for (const key of Object.keys(options)) {
      if (key === "params" || key === "initialLr") continue;
      if (!this.optionKeys.includes(key)) {
        throw new TypeError(
          `${this.name}: unknown ${what} "${key}"; known options: ${this.optionKeys.join(", ")}`,
        );
      }
    }
  }

  /** Adds a group of parameters with its own options (the rest come from the defaults). */
  addParamGroup(group: ParamGroupInput<O>): void {
    const index = this.paramGroups.length;
    if (group === null || typeof group !== "object") {
      throw new TypeError(`${this.name}: a parameter group must be an object {params, ...options}`);
    }
    this.checkKeys(group, "option in parameter group " + index);
    const raw = group.params as unknown;
    let params: unknown[];
    if (raw instanceof Tensor) params = [raw];
    else if (raw !== null && raw !== undefined && typeof (raw as any)[Symbol.iterator] === "function")
      params = [...(raw as Iterable<unknown>)];
    else throw new TypeError(`${this.name}: parameter group ${index} needs params: an array of tensors`);
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) {
        throw new TypeError(
          `${this.name}: parameter group ${index}, params[${i}] is not a tensor (${show(p)})`,
        );
      }
      if (!isFloating(p.dtype)) {
        throw new TypeError(
          `${this.name}: parameter group ${index}, params[${i}] is ${p.dtype}; only float32 and float64 tensors can be optimized`,
        );
      }
      if (!p.isLeaf) {
        throw new Error(
          `${this.name}: parameter group ${index}, params[${i}] is not a leaf tensor (it was computed by an op); optimize the leaves`,
        );
      }
    });
    const seen = new Set<Tensor>(this.paramGroups.flatMap((g) => g.params));
    for (const p of params as Tensor[]) {
      if (seen.has(p)) {
        throw new Error(`${this.name}: a parameter appears more than once (in one group or across groups)`);
      }
      seen.add(p);
    }
    const full = { ...this.defaults, ...group, params: params as Tensor[] } as ParamGroup<O>;
    this.validate(full);
    this.paramGroups.push(full);
  }

  /**
   * The update of one group's parameters (those with a gradient, checked) in one kernel call, for
   * a compiled step; false when this optimizer, or these options or arrays, have none (the caller
   * then updates parameter by parameter). It must compute what `updateParam` computes, bit for bit.
   */
  protected updateGroup(
    _group: ParamGroup<O>,
    _params: readonly Tensor[],
    _grads: readonly TypedArray[],
    _states: readonly ParamState[],
  ): boolean {
    return false;
  }

  /** The kernel `updateGroup` runs, for displays ("sgdUpdate"), or null without one. */
  protected fusedKernel(): string | null {
    return null;
  }

  /** Clears the gradients: sets them to null (PyTorch's default), or zeroes them in place. */
  zeroGrad(setToNone = true): void {
    traced("optimizer", `${this.name}.zeroGrad`, [setToNone], (s: boolean) => this.zeroGradNow(s), {
      fused: {
        kernel: "fill",
        run: (s: boolean) => this.zeroGradFused(s),
        count: () => this.allParams().length,
      },
    } satisfies FusedMeta);
  }

  /** zeroGrad in one loop over the parameters: no op per gradient (a compiled step's replay). */
  private zeroGradFused(setToNone: boolean): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        if (g === null) continue;
        if (setToNone) p.grad = null;
        else if (g.isContiguous()) {
          g.data.fill(0);
          g.bumpVersion();
        } else noGrad(() => g.zero_());
      }
    }
  }

  private zeroGradNow(setToNone: boolean): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        if (setToNone) p.grad = null;
        else {
          const g = p.grad;
          noGrad(() => g.zero_());
        }
      }
    }
  }

  /**
   * One update of every parameter that has a gradient. With a closure, it first re-evaluates the
   * loss (with gradients enabled) and returns it.
   */
  step(closure?: Closure): Tensor | number | undefined {
    const kernel = this.fusedKernel();
    const meta: FusedMeta | undefined =
      kernel === null
        ? undefined
        : {
            fused: {
              kernel,
              run: (c?: Closure) => this.stepNow(c, true),
              count: () => this.allParams().filter((p) => p.grad !== null).length,
            },
          };
    return traced("optimizer", `${this.name}.step`, [closure], (c?: Closure) => this.stepNow(c, false), meta);
  }

  private stepNow(closure: Closure | undefined, fused: boolean): Tensor | number | undefined {
    let loss: Tensor | number | undefined;
    if (closure !== undefined) loss = enableGrad(closure);
    noGrad(() => {
      this.paramGroups.forEach((group, gi) => {
        this.validate(group);
        if (fused && this.stepGroupFused(group, gi)) return;
        group.params.forEach((param, pi) => {
          const grad = param.grad;
          if (grad === null) return;
          this.checkGrad(param, grad, gi, pi);
          let state = this.state.get(param);
          if (state === undefined) {
            state = {};
            this.state.set(param, state);
          }
          this.updateParam(param, param.data as FloatArray, contiguousData(grad), group, state);
          param.bumpVersion();
          traceNote("optimizer-state", this, [param, grad, ...Object.values(state)]);
        });
      });
    });
    return loss;
  }

  /** One group through `updateGroup`; false (nothing done) when it has no fused update for it. */
  private stepGroupFused(group: ParamGroup<O>, gi: number): boolean {
    const params: Tensor[] = [];
    const grads: TypedArray[] = [];
    const states: ParamState[] = [];
    group.params.forEach((param, pi) => {
      const grad = param.grad;
      if (grad === null) return;
      this.checkGrad(param, grad, gi, pi);
      let state = this.state.get(param);
      if (state === undefined) {
        state = {};
        this.state.set(param, state);
      }
      params.push(param);
      grads.push(contiguousData(grad));
      states.push(state);
    });
    if (params.length === 0) return true;
    if (!this.updateGroup(group, params, grads, states)) return false;
    params.forEach((param, k) => {
      param.bumpVersion();
      traceNote("optimizer-state", this, [param, param.grad, ...Object.values(states[k])]);
    });
    return true;
  }

  private checkGrad(param: Tensor, grad: Tensor, gi: number, pi: number): void {
    if (grad.numel() !== param.numel()) {
      throw new RangeError(
        `${this.name}.step: parameter ${pi} of group ${gi} has shape ${shapeToString(param.shape)} but its grad has shape ${shapeToString(grad.shape)}`,
      );
    }
    if (!param.isContiguous()) {
      throw new Error(
        `${this.name}.step: parameter ${pi} of group ${gi} is a non-contiguous view; optimizers update contiguous tensors only`,
      );
    }
  }

  /** A state buffer of `param`'s shape and dtype, created (filled with `fill`) on first use. */
  protected buffer(state: ParamState, key: string, param: Tensor, fill = 0): FloatArray {
    let t = state[key];
    if (!(t instanceof Tensor)) {
      t = zeros(param.shape, { dtype: param.dtype });
      if (fill !== 0) (t.data as FloatArray).fill(fill);
      state[key] = t;
    }
    return t.data as FloatArray;
  }

  /** Ordered list of every parameter (the numbering used by state dicts). */
  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** A snapshot of the optimizer: per-parameter state (tensors copied) and group options. */
  stateDict(): OptimizerStateDict {
    const params = this.allParams();
    const state: Record<number, ParamState> = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s === undefined || Object.keys(s).length === 0) return;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = v instanceof Tensor ? v.detach().clone() : v;
      state[i] = copy;
    });
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params: ps, ...options } = g;
      return { ...structuredClone(options), params: ps.map(() => next++) };
    });
    return { state, paramGroups };
  }

  /** Restores a snapshot taken by `stateDict()` of an optimizer over parameters of the same shapes. */
  loadStateDict(stateDict: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (stateDict === null || typeof stateDict !== "object" || !Array.isArray(stateDict.paramGroups)) {
      throw new TypeError(`${where}: expected an object {state, paramGroups} made by stateDict()`);
    }
    const groups = stateDict.paramGroups;
    if (groups.length !== this.paramGroups.length) {
      throw new RangeError(
        `${where}: the state dict has ${groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    groups.forEach((g, i) => {
      if (!Array.isArray(g.params) || g.params.length !== this.paramGroups[i].params.length) {
        throw new RangeError(
          `${where}: parameter group ${i} has ${Array.isArray(g.params) ? g.params.length : "no"} parameters in the state dict, ${this.paramGroups[i].params.length} in this optimizer`,
        );
      }
      this.checkKeys(g, `option in saved parameter group ${i}`);
    });
    // resolve saved indices to our parameters
    const byIndex = new Map<number, Tensor>();
    groups.forEach((g, i) => g.params.forEach((id, k) => byIndex.set(id, this.paramGroups[i].params[k])));
    const newState = new Map<Tensor, ParamState>();
    for (const [key, saved] of Object.entries(stateDict.state ?? {})) {
      const param = byIndex.get(Number(key));
      if (param === undefined)
        throw new RangeError(`${where}: state for parameter ${key}, which no group lists`);
      const s: ParamState = {};
      for (const [k, v] of Object.entries(saved)) {
        if (v instanceof Tensor) {
          if (v.numel() !== param.numel()) {
            throw new RangeError(
              `${where}: state ${k} of parameter ${key} has shape ${shapeToString(v.shape)}, the parameter has ${shapeToString(param.shape)}`,
            );
          }
          s[k] = noGrad(() => v.detach().to(param.dtype).reshape(param.shape).clone());
        } else if (typeof v === "number") s[k] = v;
        else throw new TypeError(`${where}: state ${k} of parameter ${key} must be a tensor or a number`);
      }
      newState.set(param, s);
    }
    groups.forEach((g, i) => {
      const { params: _ids, ...options } = g;
      const merged = { ...this.paramGroups[i], ...structuredClone(options) } as ParamGroup<O>;
      this.validate(merged);
      Object.assign(this.paramGroups[i], options);
    });
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }

  toString(): string {
    const lines = [`${this.name} (`];
    this.paramGroups.forEach((g, i) => {
      lines.push(`  group ${i}: ${g.params.length} parameter${g.params.length === 1 ? "" : "s"}`);
      for (const [k, v] of Object.entries(g)) if (k !== "params") lines.push(`    ${k}: ${show(v)}`);
    });
    lines.push(")");
    return lines.join("\n");
  }
}

const METADATA_KEY = "cnnlab.optimizer";

/**
 * An optimizer state dict as flat named tensors plus string metadata, the shape `save(tensors, path,
 * {metadata})` writes as safetensors: tensors are named `state.<param>.<key>`, the group options and
 * the numeric state (step counts) travel as JSON in `metadata["cnnlab.optimizer"]`.
 */
export function flattenStateDict(stateDict: OptimizerStateDict): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  const tensors: Record<string, Tensor> = {};
  const numbers: Record<string, Record<string, number>> = {};
  for (const [id, s] of Object.entries(stateDict.state)) {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor) tensors[`state.${id}.${k}`] = v;
      else (numbers[id] ??= {})[k] = v;
    }
  }
  return {
    tensors,
    metadata: { [METADATA_KEY]: JSON.stringify({ paramGroups: stateDict.paramGroups, numbers }) },
  };
}

/** The inverse of `flattenStateDict` (e.g. on what `loadFile(path)` returns). */
export function unflattenStateDict(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string>,
): OptimizerStateDict {
  const json = metadata?.[METADATA_KEY];
  if (typeof json !== "string") {
    throw new Error(
      `unflattenStateDict: the metadata has no "${METADATA_KEY}" entry; was it saved from flattenStateDict?`,
    );
  }
  const { paramGroups, numbers } = JSON.parse(json) as {
    paramGroups: OptimizerStateDict["paramGroups"];
    numbers: Record<string, Record<string, number>>;
  };
  const state: Record<number, ParamState> = {};
  for (const [id, s] of Object.entries(numbers)) state[Number(id)] = { ...s };
  for (const [name, t] of Object.entries(tensors)) {
    const m = /^state\.(\d+)\.(\w+)$/.exec(name);
    if (m === null)
      throw new Error(`unflattenStateDict: unexpected tensor name "${name}" (expected state.<index>.<key>)`);
    (state[Number(m[1])] ??= {})[m[2]] = t;
  }
  return { state, paramGroups };
}
