import type { GradHook, Tensor } from "../tensor/tensor.js";

const FREED_MESSAGE =
  "Trying to backward through the graph a second time (or to read saved tensors after they were freed). " +
  "Saved tensors are freed after .backward(); pass { retainGraph: true } to the first backward to keep them.";

/**
 * Per-call state of an op: which inputs need a gradient and the saved tensors. The fields an op
 * keeps between forward and backward are typed by the op (`OpContext & S`, see `Ctx`).
 */
export class OpContext {
  /** For each forward argument: does it need a gradient? */
  readonly needsInputGrad: readonly boolean[];
  private saved: { tensor: Tensor | null; version: number }[] = [];
  private freed = false;
  private readonly opName: string;

  constructor(opName: string, needsInputGrad: boolean[]) {
    this.opName = opName;
    this.needsInputGrad = needsInputGrad;
  }

  /** Keeps tensors for backward; modifying them in place before backward is detected. */
  saveForBackward(...tensors: (Tensor | null | undefined)[]): void {
    this.saved = tensors.map((t) => ({ tensor: t ?? null, version: t ? t.storage.version : 0 }));
  }

  get savedTensors(): Tensor[] {
    if (this.freed) throw new Error(`${this.opName}: ${FREED_MESSAGE}`);
    return this.saved.map(({ tensor, version }, i) => {
      if (tensor && tensor.storage.version !== version) {
        throw new Error(
          `${this.opName}: saved tensor ${i} (shape [${tensor.shape.join(",")}]) was modified in place after it was saved ` +
            `(version ${tensor.storage.version}, expected ${version}); gradients would be wrong`,
        );
      }
      return tensor as Tensor;
    });
  }

  /**
   * Drops saved tensors (after backward without retainGraph). An op that saved none can run
   * backward again, as in PyTorch.
   */
  free(): void {
    if (this.saved.some((s) => s.tensor !== null)) this.freed = true;
    this.saved = [];
  }

  get isFreed(): boolean {
    return this.freed;
  }
}

/** The context of an op whose forward keeps the fields `S` for its backward. */
export type Ctx<S extends object> = OpContext & S;

/** The context a user-defined Function gets: any field may be set on it (PyTorch's `ctx.foo = ...`). */
export class Context extends OpContext {
  [field: string]: any;
}

export type BackwardFn = (ctx: Context, gradOutput: Tensor) => readonly (Tensor | null | undefined)[];

let recorded = 0;

/** How many nodes have been recorded so far (a node's `seq` is its position in that count). */
export function recordedNodes(): number {
  return recorded;
}

/** A recorded operation in the define-by-run graph. */
export class Node {
  readonly hooks: GradHook[] = [];
  retainTarget: Tensor | null = null;
  /** Order of recording: nodes made during a composition have seq ≥ the count taken before it. */
  readonly seq = recorded++;
  /**
   * Recorded inside an op that is shown as one node (see `composite`): displays walk through it,
   * backward runs it as any other node.
   */
  hidden = false;

  constructor(
    /** PyTorch's name for the node (`MmBackward`), shown in grad_fn, reprs and graphs. */
    public name: string,
    readonly backward: BackwardFn,
    readonly ctx: Context,
    /** One entry per forward argument: the tensor if it needs a gradient, else null. */
    readonly inputs: readonly (Tensor | null)[],
    readonly outputShape: readonly number[],
    readonly outputDtype: string,
  ) {}
}
