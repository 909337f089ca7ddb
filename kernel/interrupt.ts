/**
 * The interrupt control block: a few Int32 slots in a SharedArrayBuffer shared by the main thread
 * (which runs cells) and the socket thread (which receives interrupt requests and SIGINT while the
 * main thread is busy).
 *
 * - RUNNING: the number of the execution the main thread is handling now (0: none). Written by main.
 * - REQUEST: the execution the socket thread (or a SIGINT seen by main) asked to stop. A request for
 *   an execution that is no longer RUNNING is stale and ignored. A negative value -n asks to stop
 *   every execution numbered n or lower: the socket thread's answer to an interrupt that comes
 *   before the main thread has even received the execute_request (it is busy starting up).
 * - RECEIVED: how many execute_requests the main thread has received. Executions are numbered in
 *   the order their requests arrive, by both threads.
 * - STARTED: the execution whose cell code has started (before that, the main thread is type
 *   checking or starting up: kernel code, which the socket thread never pauses or terminates).
 *
 * An interrupt is first cooperative: the checks compiled into the cell's loops and await resumptions
 * (see cell-compiler.ts) throw `KeyboardInterrupt` as soon as REQUEST equals RUNNING, and a cell
 * that is only awaiting is failed at once. If the main thread stays busy in code without checks
 * (a long library call), the socket thread terminates the cell's JavaScript through the inspector
 * (transport-worker.ts) and the kernel restores the library's state checkpoint (src/runtime/state.ts).
 */
export const RUNNING = 0;
export const REQUEST = 1;
export const RECEIVED = 2;
export const STARTED = 3;
export const CONTROL_INTS = 4;

/** How long the socket thread waits for a cooperative stop before terminating the cell. */
export const PREEMPT_AFTER_MS = 400;

/** The cell frames' script names: `cell[<execution count>]`. */
export const CELL_SCRIPT = /^cell\[\d+\]$/;

export class KeyboardInterrupt extends Error {
  constructor(message = "interrupted by the user") {
    super(message);
    this.name = "KeyboardInterrupt";
  }
}

/** Whether the execution running now was asked to stop. */
export function isRequested(ints: Int32Array): boolean {
  const r = Atomics.load(ints, REQUEST);
  const running = Atomics.load(ints, RUNNING);
  return running !== 0 && (r === running || (r < 0 && running <= -r));
}

export class InterruptControl {
  readonly ints: Int32Array;
  #next = 0;
  #depth = 0;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(CONTROL_INTS * 4)) {
    this.ints = new Int32Array(buffer, 0, CONTROL_INTS);
  }

  get buffer(): SharedArrayBuffer {
    return this.ints.buffer as SharedArrayBuffer;
  }

  /**
   * Starts execution `n` (its request's arrival number; default: one more than the last). Nested
   * begin() calls share the outer execution. Returns the execution's number.
   */
  begin(n?: number): number {
    if (this.#depth++ === 0) {
      this.#next = n ?? this.#next + 1;
      const r = Atomics.load(this.ints, REQUEST);
      Atomics.store(this.ints, REQUEST, r < 0 && this.#next <= -r ? this.#next : 0);
      Atomics.store(this.ints, RUNNING, this.#next);
    }
    return Atomics.load(this.ints, RUNNING);
  }

  /** The running execution's cell code starts now. */
  started(): void {
    Atomics.store(this.ints, STARTED, Atomics.load(this.ints, RUNNING));
  }

  /** The main thread received an execute_request: returns its execution number. */
  received(): number {
    return Atomics.add(this.ints, RECEIVED, 1) + 1;
  }

  end(): void {
    if (this.#depth > 0 && --this.#depth === 0) Atomics.store(this.ints, RUNNING, 0);
  }

  get running(): number {
    return Atomics.load(this.ints, RUNNING);
  }

  /** Whether the running execution was asked to stop. */
  requested(): boolean {
    return isRequested(this.ints);
  }

  /** Asks the running execution (if any) to stop; returns its number or 0. */
  request(): number {
    const running = Atomics.load(this.ints, RUNNING);
    if (running !== 0) Atomics.store(this.ints, REQUEST, running);
    return running;
  }
}
