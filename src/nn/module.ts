/**
 * `nn.Module`: the base class of layers and models, PyTorch's `torch.nn.Module` in TypeScript.
 *
 * Design
 * - Registration by assignment. A module's parameters, buffers and submodules are its own
 *   properties, found in assignment order (class field order, then constructor order):
 *     * a property holding a `Module` is a child (its name is the property name);
 *     * a property holding a tensor made by `nn.Parameter(t)` (or registered with
 *       `registerParameter`) is a parameter; a property registered as a parameter stays one when a
 *       new tensor is assigned to it, and holding `null` means "absent" (e.g. `bias: null`);
 *     * tensors registered with `registerBuffer` are buffers (running statistics and the like).
 *   So `class Net extends nn.Module { conv = new nn.Conv2d(3, 8, 3); ... }` just works, as
 *   `self.conv = nn.Conv2d(...)` does in PyTorch. Names that are not identifiers ("0", "1" in
 *   `Sequential`) are registered with `registerModule` / `addModule`.
 * - Calling. A TypeScript instance cannot be called like `model(x)`; call `model.forward(x)`.
 *   Subclasses implement `forward` as a method. The base constructor puts a wrapper on the
 *   instance (an own, non-configurable accessor) that runs the forward pre-hooks, the subclass's
 *   `forward`, then the forward hooks; so hooks run whoever calls `forward` (a Sequential, a
 *   user's own forward, a test). `super.forward(...)` inside a subclass reaches the prototype
 *   method and does not run hooks twice. Assigning `m.forward = fn` replaces the implementation
 *   and keeps the hooks. (Declaring `forward` as an arrow-function class field is refused with a
 *   TypeError at construction: define it as a method.)
 */
import { noGrad } from "../autograd/grad-mode.js";
import { traceNote } from "../runtime/trace.js";
import { isFloating, type DType } from "../tensor/dtype.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor, type RemovableHandle } from "../tensor/tensor.js";

/** Tensors created by `Parameter(...)`: a property holding one is a parameter of its module. */
const PARAMETERS = new WeakSet<Tensor>();

/**
 * Marks a tensor as a module parameter (PyTorch's `nn.Parameter`): returns a leaf tensor over the
 * same storage with `requiresGrad` set (unless `requiresGrad` is false).
 */
export function Parameter(data: Tensor, requiresGrad = true): Tensor {
  if (!(data instanceof Tensor)) throw new TypeError(`Parameter: expected a tensor, got ${typeof data}`);
  const leaf = data.isLeaf ? data : data.detach();
  if (requiresGrad && !isFloating(leaf.dtype)) {
    throw new TypeError(`Parameter: only floating point tensors can require gradients, got ${leaf.dtype}`);
  }
  leaf.requiresGrad = requiresGrad;
  PARAMETERS.add(leaf);
  return leaf;
}

export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && PARAMETERS.has(t);
}

/** `fn(module, inputs, output)`; returning a value replaces the output. */
export type ForwardHook = (module: Module, inputs: unknown[], output: any) => unknown;
/** `fn(module, inputs)`; returning an array replaces the inputs. */
export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown[] | void;

export interface LoadStateDictOptions {
  /** Require the keys to match exactly (default true). */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export type StateDict = Record<string, Tensor>;

const INTERNAL = new Set(["training", "forward"]);

export class Module {
  /** Training mode (dropout active, batchnorm uses batch statistics); see `train()` / `eval()`. */
  training = true;
  // Bookkeeping lives in non-enumerable fields (defined in the constructor) so that it never shows
  // up as attributes.
  declare private readonly parameterNames: Set<string>;
  declare private readonly bufferNames: Set<string>;
  declare private readonly nonPersistent: Set<string>;
  declare private readonly forwardHooks: ForwardHook[];
  declare private readonly forwardPreHooks: ForwardPreHook[];

  constructor() {
    const hidden = (name: string, value: unknown) =>
      Object.defineProperty(this, name, { value, enumerable: false, writable: false });
    hidden("parameterNames", new Set<string>());
    hidden("bufferNames", new Set<string>());
    hidden("nonPersistent", new Set<string>());
    hidden("forwardHooks", []);
    hidden("forwardPreHooks", []);
    let impl: (...args: any[]) => any = this.forward;
    const wrapped = (...args: any[]): any => this.runForward(impl, args);
    Object.defineProperty(this, "forward", {
      enumerable: false,
      configurable: false,
      get: () => wrapped,
      set: (fn: unknown) => {
        if (typeof fn !== "function") throw new TypeError(`${this.typeName()}.forward must be a function`);
        impl = fn as (...args: any[]) => any;
      },
    });
  }

  /** The computation; subclasses override this method. */
  forward(..._inputs: any[]): any {
    throw new Error(`${this.typeName()}: forward() is not implemented; define forward(...) in the subclass`);
  }

  private runForward(impl: (...args: any[]) => any, args: any[]): any {
    traceNote("module", this);
    let inputs: unknown[] = args;
    for (const hook of [...this.forwardPreHooks]) {
      const replaced = hook(this, inputs);
      if (replaced !== undefined) inputs = Array.isArray(replaced) ? replaced : [replaced];
    }
    let output = impl.apply(this, inputs);
    for (const hook of [...this.forwardHooks]) {
      const replaced = hook(this, inputs, output);
      if (replaced !== undefined) output = replaced;
    }
    return output;
  }

  /** The class name, e.g. "Conv2d" (used by `toString`, summaries and errors). */
  typeName(): string {
    return this.constructor.name || "Module";
  }

  // ---------------------------------------------------------------- registration

  /** Registers `value` (a tensor or null) as parameter `name`; the tensor becomes a `Parameter`. */
  registerParameter(name: string, value: Tensor | null): void {
    this.checkName("registerParameter", name);
    if (value !== null && !(value instanceof Tensor)) {
      throw new TypeError(`registerParameter: "${name}" must be a tensor or null, got ${typeof value}`);
    }
    this.parameterNames.add(name);
    this.bufferNames.delete(name);
    (this as any)[name] = value === null || isParameter(value) ? value : Parameter(value);
  }

  /**
   * Registers a buffer: state that is not trained but belongs to the module (saved in `stateDict`
   * unless `persistent` is false, converted by `to(dtype)` when floating), e.g. BatchNorm's
   * `running_mean`.
   */
  registerBuffer(name: string, value: Tensor | null, options: { persistent?: boolean } = {}): void {
    this.checkName("registerBuffer", name);
    if (value !== null && !(value instanceof Tensor)) {
      throw new TypeError(`registerBuffer: "${name}" must be a tensor or null, got ${typeof value}`);
    }
    this.bufferNames.add(name);
    this.parameterNames.delete(name);
    if (options.persistent === false) this.nonPersistent.add(name);
    else this.nonPersistent.delete(name);
    (this as any)[name] = value;
  }

  /** Registers a child module under any name (also names like "0" that are not identifiers). */
  registerModule(name: string, module: Module | null): void {
    this.checkName("registerModule", name);
    if (module !== null && !(module instanceof Module)) {
      throw new TypeError(`registerModule: "${name}" must be a Module or null, got ${typeof module}`);
    }
    (this as any)[name] = module;
  }

  /** Alias of `registerModule` (PyTorch's `add_module`). */
  addModule(name: string, module: Module | null): void {
    this.registerModule(name, module);
  }

  private checkName(op: string, name: string): void {
    if (typeof name !== "string" || name === "" || name.includes(".")) {
      throw new TypeError(`${op}: name must be a non-empty string without ".", got ${JSON.stringify(name)}`);
    }
    if (INTERNAL.has(name) || name in Module.prototype) {
      throw new TypeError(`${op}: "${name}" is a Module attribute and cannot be used as a name`);
    }
  }

  /** Own parameters (null ones included), buffers and children, each in assignment order. */
  private slots(): {
    params: [string, Tensor | null][];
    buffers: [string, Tensor | null][];
    children: [string, Module][];
  } {
    const params: [string, Tensor | null][] = [];
    const buffers: [string, Tensor | null][] = [];
    const children: [string, Module][] = [];
    for (const key of Object.keys(this)) {
      if (INTERNAL.has(key)) continue;
      const value = (this as any)[key];
      if (this.bufferNames.has(key)) {
        if (value === null || value === undefined || value instanceof Tensor)
          buffers.push([key, value ?? null]);
      } else if (this.parameterNames.has(key)) {
        if (value === null || value === undefined || value instanceof Tensor)
          params.push([key, value ?? null]);
      } else if (isParameter(value)) {
        this.parameterNames.add(key);
        params.push([key, value]);
      } else if (value instanceof Module) {
        children.push([key, value]);
      }
    }
    return { params, buffers, children };
  }

  // ---------------------------------------------------------------- introspection

  /** Direct children as [name, module] pairs. */
  namedChildren(): [string, Module][] {
    return this.slots().children;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and all its descendants, depth first, each once, with dotted names ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const stack: [string, Module][] = [[prefix, this]];
    while (stack.length > 0) {
      const [name, m] = stack.pop() as [string, Module];
      if (seen.has(m)) continue;
      seen.add(m);
      out.push([name, m]);
      const kids = m.namedChildren();
      for (let i = kids.length - 1; i >= 0; i--) {
        const [k, child] = kids[i];
        stack.push([name === "" ? k : `${name}.${k}`, child]);
      }
    }
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Parameters with dotted names (`features.0.weight`), each tensor once. */
  namedParameters(options: { recurse?: boolean } = {}): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const owners: [string, Module][] = options.recurse === false ? [["", this]] : this.namedModules();
    for (const [prefix, m] of owners) {
      for (const [name, t] of m.slots().params) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([prefix === "" ? name : `${prefix}.${name}`, t]);
      }
    }
    return out;
  }

  parameters(options: { recurse?: boolean } = {}): Tensor[] {
    return this.namedParameters(options).map(([, t]) => t);
  }

  /** Buffers with dotted names (non-persistent ones included). */
  namedBuffers(options: { recurse?: boolean } = {}): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const owners: [string, Module][] = options.recurse === false ? [["", this]] : this.namedModules();
    for (const [prefix, m] of owners) {
      for (const [name, t] of m.slots().buffers) {
        if (t !== null) out.push([prefix === "" ? name : `${prefix}.${name}`, t]);
      }
    }
    return out;
  }

  buffers(options: { recurse?: boolean } = {}): Tensor[] {
    return this.namedBuffers(options).map(([, t]) => t);
  }

  /** The forward hooks currently registered on this module (read-only copy). */
  getForwardHooks(): ForwardHook[] {
    return [...this.forwardHooks];
  }

  // ---------------------------------------------------------------- modes, grads, hooks

  /** Sets training mode on this module and all descendants; returns this. */
  train(mode = true): this {
    if (typeof mode !== "boolean") throw new TypeError(`train: mode must be a boolean, got ${typeof mode}`);
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`); returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Sets every parameter's `.grad` to null (PyTorch's default `set_to_none=True`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Turns gradients of all parameters on or off (PyTorch's `requires_grad_`); returns this. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /**
   * Registers `hook(module, inputs, output)`, called after every `forward`; a hook that returns a
   * value replaces the output. Returns a handle whose `remove()` unregisters it.
   */
  registerForwardHook(hook: ForwardHook): RemovableHandle {
    if (typeof hook !== "function") throw new TypeError("registerForwardHook: hook must be a function");
    return addHook(this.forwardHooks, hook);
  }

  /** Registers `hook(module, inputs)`, called before every `forward`; returning an array replaces the inputs. */
  registerForwardPreHook(hook: ForwardPreHook): RemovableHandle {
    if (typeof hook !== "function") throw new TypeError("registerForwardPreHook: hook must be a function");
    return addHook(this.forwardPreHooks, hook);
  }

  /** Calls `fn` on every descendant then on this module (PyTorch's `apply`); returns this. */
  apply(fn: (m: Module) => void): this {
    const all = this.modules();
    for (let i = all.length - 1; i >= 0; i--) fn(all[i]);
    return this;
  }

  // ---------------------------------------------------------------- state

  /**
   * Parameters and persistent buffers under PyTorch's key names (`0.weight`, `features.0.bias`,
   * `bn.running_mean`), per module: parameters, then buffers, then children. The tensors are
   * detached views of the module's own tensors (no copy), as in PyTorch.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    // Depth first without de-duplication: a module reachable under two names is saved under both
    // (as PyTorch does); only a cycle (a module inside itself) is cut.
    const stack: [string, Module, Module[]][] = [["", this, []]];
    while (stack.length > 0) {
      const [prefix, m, ancestors] = stack.pop() as [string, Module, Module[]];
      const { params, buffers, children } = m.slots();
      const key = (name: string) => (prefix === "" ? name : `${prefix}.${name}`);
      for (const [name, t] of params) if (t !== null) out[key(name)] = t.detach();
      for (const [name, t] of buffers) {
        if (t !== null && !m.nonPersistent.has(name)) out[key(name)] = t.detach();
      }
      const path = [...ancestors, m];
      for (let i = children.length - 1; i >= 0; i--) {
        const [name, child] = children[i];
        if (!path.includes(child)) stack.push([key(name), child, path]);
      }
    }
    return out;
  }

  /**
   * Copies `stateDict` into this module's parameters and buffers (values cast to each tensor's
   * dtype). With `strict` (the default) missing and unexpected keys are an error; shape
   * mismatches always are. The error lists every problem. Returns the missing and unexpected keys.
   */
  loadStateDict(stateDict: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    if (stateDict === null || typeof stateDict !== "object") {
      throw new TypeError(
        `loadStateDict: expected an object of tensors, got ${stateDict === null ? "null" : typeof stateDict}`,
      );
    }
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(stateDict, k));
    const unexpectedKeys = Object.keys(stateDict).filter((k) => !Object.hasOwn(own, k));
    const problems: string[] = [];
    for (const [key, target] of Object.entries(own)) {
      if (!Object.hasOwn(stateDict, key)) continue;
      const source = stateDict[key];
      if (!(source instanceof Tensor)) {
        problems.push(`${key}: expected a tensor, got ${source === null ? "null" : typeof source}`);
      } else if (!sameShape(source.shape, target.shape)) {
        problems.push(
          `size mismatch for ${key}: copying a tensor of shape ${shapeToString(source.shape)}, the module's is ${shapeToString(target.shape)}`,
        );
      }
    }
    if (strict) {
      if (missingKeys.length > 0)
        problems.push(`missing keys: ${missingKeys.map((k) => `"${k}"`).join(", ")}`);
      if (unexpectedKeys.length > 0)
        problems.push(`unexpected keys: ${unexpectedKeys.map((k) => `"${k}"`).join(", ")}`);
    }
    if (problems.length > 0) {
      throw new Error(`loadStateDict: cannot load into ${this.typeName()}:\n  ${problems.join("\n  ")}`);
    }
    noGrad(() => {
      for (const [key, target] of Object.entries(own)) {
        if (Object.hasOwn(stateDict, key)) target.copy_(stateDict[key]);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Converts floating point parameters and buffers to `dtype` (integer buffers such as
   * `num_batches_tracked` stay as they are); returns this. Gradients are dropped when the dtype changes.
   */
  to(dtype: DType): this {
    if (dtype !== "float32" && dtype !== "float64") {
      throw new TypeError(
        `${this.typeName()}.to: modules convert to float32 or float64, got ${JSON.stringify(dtype)}`,
      );
    }
    for (const m of this.modules()) {
      const { params, buffers } = m.slots();
      for (const [name, t] of params) {
        if (t === null || t.dtype === dtype || !isFloating(t.dtype)) continue;
        const converted = Parameter(
          noGrad(() => t.to(dtype)),
          t.requiresGrad,
        );
        (m as any)[name] = converted;
      }
      for (const [name, t] of buffers) {
        if (t === null || t.dtype === dtype || !isFloating(t.dtype)) continue;
        (m as any)[name] = noGrad(() => t.to(dtype));
      }
    }
    return this;
  }

  double(): this {
    return this.to("float64");
  }

  float(): this {
    return this.to("float32");
  }

  // ---------------------------------------------------------------- printing

  /** The part inside the parentheses of this module's one-line description (layers override it). */
  extraRepr(): string {
    return "";
  }

  /** PyTorch-style nested description: `Sequential(\n  (0): Conv2d(3, 8, kernelSize=[3, 3], ...)\n)`. */
  toString(): string {
    const kids = this.namedChildren();
    const extra = this.extraRepr();
    if (kids.length === 0) return `${this.typeName()}(${extra})`;
    const lines: string[] = [];
    if (extra) lines.push(...extra.split("\n"));
    for (const [name, child] of kids) {
      const text = child.toString().split("\n");
      lines.push(`(${name}): ${text[0]}`, ...text.slice(1));
    }
    return `${this.typeName()}(\n${lines.map((l) => `  ${l}`).join("\n")}\n)`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

function addHook<T>(list: T[], hook: T): RemovableHandle {
  list.push(hook);
  return {
    remove: () => {
      const i = list.indexOf(hook);
      if (i >= 0) list.splice(i, 1);
    },
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
