/**
 * The kernel's start-up snapshot (snapshot-builder.cts): a V8 heap holding TypeScript and the
 * declaration files every program reads, parsed and bound. A kernel started from it (launch.sh runs
 * `node --snapshot-blob <blob> main.js`) neither compiles TypeScript nor parses those files (over a
 * second of a fresh kernel's first cell without it).
 *
 * Lifecycle:
 *  - A kernel that is warm (its first program built) and did not start from an up-to-date snapshot
 *    asks for one: `requestSnapshot()` writes a manifest (compiler options, the program's
 *    declaration files) and starts the builder as a detached, niced process. The blob is written
 *    under a temporary name and renamed into place only when Node exits cleanly, with a sidecar
 *    recording the files it holds; a lock file keeps concurrent kernels from building it twice.
 *  - launch.sh starts Node from the blob when one exists for that Node's version, machine and
 *    install (`kernel-<node version>-<machine>-<cksum of main.js's path>.blob` in the cache
 *    folder, ts-code-cache.ts's cacheDir()) and no Node options are given (Node refuses a snapshot
 *    built with other V8 flags).
 *  - The kernel then uses the snapshot's TypeScript only when it is the file `typescript` resolves
 *    to, unchanged, and its documents only when every file still has its size and modification
 *    time: anything else and the kernel loads and parses as without a snapshot, and asks for a
 *    new one.
 * CNNLAB_SNAPSHOT=0 turns all of it off (launch.sh too). Windows kernels never use a snapshot.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire, Module } from "node:module";
import { machine, platform } from "node:os";
import { dirname, join } from "node:path";
import type * as TS from "typescript";
import {
  KERNEL_SNAPSHOT_FORMAT,
  KERNEL_SNAPSHOT_KEY,
  type KernelSnapshot,
  type SnapshotFile,
  type SnapshotManifest,
} from "./snapshot-format.js";
import type { LastingResolutions } from "./checker.js";
import { distDir, kernelMainJs } from "./paths.js";
import { cacheDir } from "./ts-code-cache.js";

const require = createRequire(import.meta.url);
/** A lock older than this belongs to a builder that died. */
const STALE_LOCK_MS = 10 * 60_000;

export const snapshotBuilderJs = join(distDir, "kernel", "snapshot-builder.cjs");

const CKSUM_TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = i << 24;
  for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
  return c >>> 0;
});

/** What POSIX `cksum` prints first for `text` (UTF-8): launch.sh names the blob with it. */
export function cksum(text: string): number {
  let crc = 0;
  const step = (byte: number) => {
    crc = ((crc << 8) ^ CKSUM_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
  };
  const bytes = Buffer.from(text, "utf8");
  for (const b of bytes) step(b);
  for (let n = bytes.length; n > 0; n = Math.floor(n / 256)) step(n & 0xff);
  return ~crc >>> 0;
}

/**
 * The blob launch.sh looks for: one per Node version, machine and cnnlab install (the kernel
 * entry's path), so two installs on one machine do not replace each other's.
 */
export function snapshotBlobPath(): string {
  return join(cacheDir(), `kernel-${process.version}-${machine()}-${cksum(kernelMainJs)}.blob`);
}

/** Why this process cannot build or use a snapshot, or undefined when it can. */
export function snapshotUnsupported(): string | undefined {
  if (process.env.CNNLAB_SNAPSHOT === "0") return "CNNLAB_SNAPSHOT=0";
  if (platform() === "win32") return "not on Windows";
  if (!(process.features as { require_module?: boolean }).require_module)
    return `Node ${process.version} cannot require() ES modules (needs 20.19 or 22.12)`;
  if (!existsSync(snapshotBuilderJs)) return `${snapshotBuilderJs} is missing (npm run build)`;
  return undefined;
}

function changed(files: SnapshotFile[]): string | undefined {
  for (const f of files) {
    try {
      const s = statSync(f.fileName);
      if (s.size !== f.size || s.mtimeMs !== f.mtimeMs) return `${f.fileName} changed`;
    } catch {
      return `${f.fileName} is gone`;
    }
  }
  return undefined;
}

type ConsoleClass = KernelSnapshot["Console"];

function startupSnapshot(): KernelSnapshot | undefined {
  return (globalThis as Record<symbol, unknown>)[Symbol.for(KERNEL_SNAPSHOT_KEY)] as
    KernelSnapshot | undefined;
}

/** node:console's Console; in a process started from a snapshot, the one the snapshot kept. */
export function consoleClass(fromModule: ConsoleClass | undefined): ConsoleClass {
  if (typeof fromModule === "function") return fromModule;
  const kept = startupSnapshot()?.Console;
  if (typeof kept === "function") return kept;
  throw new Error("node:console has no Console class in this process");
}

let adopted: KernelSnapshot | undefined;
let fromSnapshot = false;

/**
 * Whether this process started from a start-up snapshot it can use whole: its format, the installed
 * TypeScript and every document as they were when it was built.
 */
export function startedFromSnapshot(): boolean {
  const snap = startupSnapshot();
  if (!snap || snap.format !== KERNEL_SNAPSHOT_FORMAT) return false;
  try {
    if (require.resolve("typescript") !== snap.typescriptFile) return false;
  } catch {
    return false;
  }
  const ts = { fileName: snap.typescriptFile, size: snap.typescriptSize, mtimeMs: snap.typescriptMtimeMs };
  return !changed([ts, ...snap.files]);
}

/**
 * Makes the snapshot's TypeScript the one every `require`/`import` of "typescript" gets, when this
 * process started from a snapshot whose TypeScript is the installed one. Returns what happened, or
 * undefined when the process did not start from a snapshot.
 */
export function adoptSnapshotTypeScript(): string | undefined {
  const snap = startupSnapshot();
  if (!snap) return undefined;
  fromSnapshot = true;
  if (snap.format !== KERNEL_SNAPSHOT_FORMAT)
    return `start-up snapshot ignored: format ${snap.format}, this kernel reads ${KERNEL_SNAPSHOT_FORMAT}`;
  let file: string;
  try {
    file = require.resolve("typescript");
  } catch (e) {
    return `start-up snapshot ignored: ${(e as Error).message}`;
  }
  if (file !== snap.typescriptFile)
    return `start-up snapshot ignored: it holds ${snap.typescriptFile}, not ${file}`;
  const why = changed([{ fileName: file, size: snap.typescriptSize, mtimeMs: snap.typescriptMtimeMs }]);
  if (why) return `start-up snapshot ignored: ${why}`;
  if (require.cache[file]) return "start-up snapshot ignored: typescript was already loaded";
  const m = new Module(file);
  m.filename = file;
  m.exports = snap.ts;
  m.loaded = true;
  (m as unknown as { paths: string[] }).paths = (
    Module as unknown as { _nodeModulePaths(dir: string): string[] }
  )._nodeModulePaths(dirname(file));
  require.cache[file] = m;
  adopted = snap;
  return `typescript from the start-up snapshot built ${snap.builtAt}`;
}

/**
 * The snapshot's parsed and bound documents, when its TypeScript was adopted and none of its files
 * changed since it was built; otherwise undefined and why (for the log).
 */
export function snapshotDocumentRegistry(): {
  registry?: TS.DocumentRegistry;
  resolutions?: LastingResolutions;
  note: string;
} {
  if (!adopted) return { note: "no start-up snapshot in use" };
  const why = changed(adopted.files);
  if (why) return { note: `start-up snapshot's documents not used: ${why}` };
  return {
    registry: adopted.registry,
    resolutions: adopted.resolutions as LastingResolutions,
    note: `${adopted.files.length} documents from the start-up snapshot`,
  };
}

/** What a snapshot of a kernel holds (TsEngine.snapshotContents). */
export interface SnapshotContents {
  compilerOptions: TS.CompilerOptions;
  cwd: string;
  /** The program's declaration files on disk that never change under a running kernel. */
  files: string[];
  resolutions: LastingResolutions;
}

interface Sidecar {
  format: number;
  node: string;
  /** The kernel entry of the install the blob is for. */
  entry?: string;
  files: SnapshotFile[];
}

/** Blobs left without an install (a deleted checkout, an older clone) are this old at least. */
const ORPHAN_MS = 60 * 60_000;

/**
 * Removes the cache folder's blobs of installs that are gone (their kernel entry no longer
 * exists), and blobs without a sidecar that are over an hour old: every clone or install builds
 * its own 40-50 MB blob, and nothing else would ever delete them. Returns how many were removed.
 */
export function removeOrphanSnapshots(dir = cacheDir()): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!/^kernel-.*\.blob$/.test(name)) continue;
    const blob = join(dir, name);
    let orphan: boolean;
    try {
      const side = JSON.parse(readFileSync(`${blob}.json`, "utf8")) as Sidecar;
      const entry = side.entry ?? side.files[0]?.fileName;
      orphan = entry !== undefined && !existsSync(entry);
    } catch {
      try {
        orphan = Date.now() - statSync(blob).mtimeMs > ORPHAN_MS;
      } catch {
        orphan = false;
      }
    }
    if (!orphan) continue;
    for (const f of [blob, `${blob}.json`, `${blob}.log`]) rmSync(f, { force: true });
    removed++;
  }
  return removed;
}

function upToDate(blob: string, files: SnapshotFile[]): boolean {
  try {
    const side = JSON.parse(readFileSync(`${blob}.json`, "utf8")) as Sidecar;
    if (side.format !== KERNEL_SNAPSHOT_FORMAT || side.node !== process.version) return false;
    const held = new Set(side.files.map((f) => f.fileName));
    return files.every((f) => held.has(f.fileName)) && !changed(side.files);
  } catch {
    return false;
  }
}

/** Creates the lock file; false when another kernel holds it, the reason when it cannot be made. */
function takeLock(lock: string): true | false | string {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      closeSync(openSync(lock, "wx"));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return (e as Error).message;
      try {
        if (Date.now() - statSync(lock).mtimeMs < STALE_LOCK_MS) return false;
        rmSync(lock, { force: true });
      } catch {
        return false;
      }
    }
  }
  return false;
}

/**
 * Starts building a snapshot for the kernel's current program unless an up-to-date one exists or
 * another kernel is building it. Returns what happened (for the log).
 */
export function requestSnapshot(contents: SnapshotContents): string {
  const { compilerOptions, cwd, files } = contents;
  const unsupported = snapshotUnsupported();
  if (unsupported) return `no start-up snapshot: ${unsupported}`;
  const blob = snapshotBlobPath();
  const stats: SnapshotFile[] = [];
  for (const fileName of files) {
    try {
      const s = statSync(fileName);
      stats.push({ fileName, size: s.size, mtimeMs: s.mtimeMs });
    } catch {
      // a file the program read and that is gone now is not worth holding
    }
  }
  if (stats.length === 0) return "no start-up snapshot: the program has no declaration files on disk";
  if (adopted && !changed(adopted.files) && existsSync(blob)) return "the start-up snapshot is up to date";
  if (!fromSnapshot && upToDate(blob, stats)) return "the start-up snapshot is up to date";
  try {
    mkdirSync(dirname(blob), { recursive: true });
  } catch (e) {
    return `no start-up snapshot: ${(e as Error).message}`;
  }
  const orphans = removeOrphanSnapshots(dirname(blob));
  const lock = `${blob}.lock`;
  const locked = takeLock(lock);
  if (locked === false) return "another kernel is building the start-up snapshot";
  if (locked !== true) return `no start-up snapshot: ${locked}`;
  const tmp = `${blob}.${process.pid}.tmp`;
  const manifestFile = `${tmp}.manifest.json`;
  const sidecarTmp = `${tmp}.json`;
  const entryFile = `${tmp}.entry.cjs`;
  const checkFile = `${tmp}.check.cjs`;
  try {
    const manifest: SnapshotManifest = {
      format: KERNEL_SNAPSHOT_FORMAT,
      key: KERNEL_SNAPSHOT_KEY,
      typescriptFile: require.resolve("typescript"),
      compilerOptions,
      cwd,
      files: stats.map((f) => f.fileName),
      resolutions: contents.resolutions,
    };
    writeFileSync(manifestFile, JSON.stringify(manifest));
    // Node runs a snapshot's entry as a function of (require, __filename, __dirname) only, and
    // TypeScript's CommonJS output always marks `exports`.
    writeFileSync(entryFile, `var exports = {};\n${readFileSync(snapshotBuilderJs, "utf8")}`);
    writeFileSync(
      sidecarTmp,
      JSON.stringify({
        format: KERNEL_SNAPSHOT_FORMAT,
        node: process.version,
        entry: kernelMainJs,
        files: stats,
      } satisfies Sidecar),
    );
    // A blob Node cannot read crashes the Node that starts from it, so the new blob is started
    // once (its main function runs the check script) before it and its sidecar are renamed into
    // place; a failed or partial build leaves the old one, or none.
    writeFileSync(
      checkFile,
      `process.stdout.write(globalThis[Symbol.for(${JSON.stringify(KERNEL_SNAPSHOT_KEY)})] ? "ok" : "empty");\n`,
    );
    const script =
      'nice -n 10 "$0" --snapshot-blob "$1" --build-snapshot "$2" >"$5.log" 2>&1 && [ -s "$1" ] && ' +
      '[ "$("$0" --snapshot-blob "$1" "$7" 2>>"$5.log")" = ok ] && ' +
      'mv -f "$3" "$5.json" && mv -f "$1" "$5"; rm -f "$1" "$2" "$3" "$4" "$6" "$7"';
    const child = spawn(
      "/bin/sh",
      ["-c", script, process.execPath, tmp, entryFile, sidecarTmp, manifestFile, blob, lock, checkFile],
      {
        detached: true,
        stdio: "ignore",
        // Built without Node options: launch.sh starts from it only when none are given.
        env: { ...process.env, NODE_OPTIONS: "", CNNLAB_SNAPSHOT_MANIFEST: manifestFile },
      },
    );
    child.on("error", () => rmSync(lock, { force: true }));
    child.unref();
    const cleaned = orphans > 0 ? `; removed ${orphans} blob(s) of installs that are gone` : "";
    return `building the start-up snapshot ${blob} (pid ${child.pid})${cleaned}`;
  } catch (e) {
    rmSync(lock, { force: true });
    return `no start-up snapshot: ${(e as Error).message}`;
  }
}
