/** The start-up snapshot's shapes, shared by the builder (snapshot-builder.cts) and the kernel (snapshot.ts). */
import type * as TS from "typescript";

/** Bumped whenever what the snapshot holds changes shape: a kernel ignores a snapshot of another format. */
export const KERNEL_SNAPSHOT_FORMAT = 1;
/** The global symbol (Symbol.for) the snapshot's contents sit under. */
export const KERNEL_SNAPSHOT_KEY = "cnnlab.kernelSnapshot";

/** What the kernel asks the builder for (snapshot.ts writes it). */
export interface SnapshotManifest {
  format: number;
  key: string;
  typescriptFile: string;
  compilerOptions: TS.CompilerOptions;
  cwd: string;
  /** Declaration files on disk that the kernel's program holds and that never change under it. */
  files: string[];
  /** The kernel's resolutions from those files (checker.ts LastingResolutions), kept as they are. */
  resolutions: unknown;
}

export interface SnapshotFile {
  fileName: string;
  size: number;
  mtimeMs: number;
}

/** What a kernel started from the snapshot finds on globalThis[Symbol.for(KERNEL_SNAPSHOT_KEY)]. */
export interface KernelSnapshot {
  format: number;
  typescriptFile: string;
  typescriptSize: number;
  typescriptMtimeMs: number;
  ts: typeof TS;
  /** Parsed and bound documents, version "disk", under the manifest's compiler options. */
  registry: TS.DocumentRegistry;
  /** Every document in the registry, as it was on disk when it was read. */
  files: SnapshotFile[];
  /** The manifest's resolutions. */
  resolutions: unknown;
  builtAt: string;
  /**
   * node:console's Console class as the builder saw it: a process started from a snapshot finds
   * `Console` undefined on node:console (Node 20), and the kernel's output capture needs it.
   */
  Console: typeof import("node:console").Console;
}
