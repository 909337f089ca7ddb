import type { Backend } from "./backend.js";
import { jsBackend } from "./js/index.js";

export type { Backend, GemmArgs } from "./backend.js";

const backends = new Map<string, Backend>([["js", jsBackend]]);
let active: Backend = jsBackend;

/** The backend that runs hot kernels now. */
export function backend(): Backend {
  return active;
}

export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

/** Selects a backend by name ("js" is always available); returns the previous one's name. */
export function setBackend(name: string): string {
  const b = backends.get(name);
  if (!b)
    throw new Error(`setBackend: unknown backend "${name}"; available: ${[...backends.keys()].join(", ")}`);
  const previous = active.name;
  active = b;
  return previous;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}
