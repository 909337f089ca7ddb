/**
 * The registry of the library's process-wide mutable state.
 *
 * Every module-level variable that changes while the library runs (grad mode, the buffer pool, the
 * thread pool's control block, ...) registers here with a name and two functions: `save` returns
 * a snapshot, `restore` puts a snapshot back (or brings the state to a safe equivalent, such as
 * draining a thread pool whose job was cut short). The kernel takes a checkpoint before each cell
 * and restores it when the cell was terminated (V8's termination skips `finally`, so nothing else
 * would put the state back). `restore` must work whatever instruction the termination landed on.
 */
export interface GlobalState<S = unknown> {
  /** Module and variable, e.g. "autograd/grad-mode: gradEnabled". */
  readonly name: string;
  save(): S;
  /** Must leave the state valid even when the snapshot's owner was cut off mid-update. */
  restore(saved: S): void;
}

const registry: GlobalState[] = [];

/** Adds `state` to the registry (once per name: a module evaluated twice keeps its first entry). */
export function registerGlobalState<S>(state: GlobalState<S>): void {
  if (registry.some((s) => s.name === state.name)) return;
  registry.push(state as GlobalState);
}

/** The names of every registered piece of state, in registration order. */
export function globalStateNames(): string[] {
  return registry.map((s) => s.name);
}

/** A snapshot of every registered state. */
export interface StateCheckpoint {
  readonly entries: readonly { state: GlobalState; saved: unknown }[];
}

export function checkpointGlobalState(): StateCheckpoint {
  return { entries: registry.map((state) => ({ state, saved: state.save() })) };
}

/**
 * Restores every state saved in `checkpoint`; states registered since then are left alone. Returns
 * the failures (each restore runs even when an earlier one threw).
 */
export function restoreGlobalState(checkpoint: StateCheckpoint): { name: string; error: unknown }[] {
  const failures: { name: string; error: unknown }[] = [];
  for (const { state, saved } of checkpoint.entries) {
    try {
      state.restore(saved);
    } catch (error) {
      failures.push({ name: state.name, error });
    }
  }
  return failures;
}
