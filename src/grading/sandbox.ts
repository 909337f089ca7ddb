/**
 * Sealing a kernel off with bubblewrap (Debian `bubblewrap`), and finding, measuring and killing
 * the processes a kernel started.
 *
 * Inside the sandbox a kernel sees: the system (/usr, /etc, read-only), node and the cnnlab
 * install (read-only), a private /tmp, its own /proc (own PID namespace: no other process is
 * visible), `/submission` (the only writable folder: a fresh copy of its submission) and
 * `/run/kernel` (its connection file and its IPC sockets). It has no network (own network
 * namespace), no IPC, UTS or cgroup namespace shared with the host, no capabilities, a clean
 * environment and a new session (no terminal). Folders the grader reads secrets from (the
 * assignment source, the other submissions, the output folder) are hidden when they lie inside a
 * visible tree.
 *
 * Every process of a sandbox shares its PID namespace; killing the namespace's first process
 * kills them all (the kernel guarantees it), and the namespace is gone when no process in /proc
 * belongs to it. Without a sandbox the kernel's process group and descendants are killed.
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import * as path from "node:path";

/** Paths of the kernel's folders as the sandboxed kernel sees them. */
export const SANDBOX_WORK_DIR = "/submission";
export const SANDBOX_RUN_DIR = "/run/kernel";

export interface SandboxSpec {
  /** the bwrap executable */
  bwrap: string;
  /** host folder mounted read-write at SANDBOX_WORK_DIR (the kernel's working folder) */
  workDir: string;
  /** host folder mounted read-write at SANDBOX_RUN_DIR (connection file, sockets) */
  runDir: string;
  /** host folders or files made visible read-only at the same path */
  expose: string[];
  /** host paths hidden inside the sandbox (folders become empty, files empty) */
  hide: string[];
  /** the kernel's whole environment */
  env: Record<string, string>;
  /** the command, with paths as seen inside the sandbox */
  command: string[];
}

const SYSTEM_DIRS = ["/usr", "/etc"];
const MERGED_USR = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** The bwrap arguments (before the command) for a spec; see the file comment for the layout. */
export function bwrapArgs(spec: SandboxSpec): string[] {
  const args = [
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    "grading",
    "--clearenv",
  ];
  for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
  for (const d of SYSTEM_DIRS) if (existsSync(d)) args.push("--ro-bind", d, d);
  for (const d of MERGED_USR) {
    let st;
    try {
      st = lstatSync(d);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(d), d);
    else if (st.isDirectory()) args.push("--ro-bind", d, d);
  }
  args.push("--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp");
  const visible = [...SYSTEM_DIRS, ...MERGED_USR];
  const exposed = [...new Set(spec.expose.map(real))].filter((p) => !visible.some((v) => isInside(p, v)));
  // Outer folders first, so that a folder inside another one is mounted over it, not under it.
  exposed.sort((a, b) => a.length - b.length);
  for (const p of exposed) {
    if (!exposed.some((q) => q !== p && isInside(p, q))) args.push("--ro-bind", p, p);
  }
  const roots = [...visible, ...exposed];
  for (const h of [...new Set(spec.hide.map(real))]) {
    if (!roots.some((r) => isInside(h, r))) continue;
    // Never hide a folder that holds something the kernel needs.
    if (exposed.some((e) => isInside(e, h))) continue;
    let st;
    try {
      st = statSync(h);
    } catch {
      continue;
    }
    if (st.isDirectory()) args.push("--tmpfs", h);
    else args.push("--ro-bind", "/dev/null", h);
  }
  args.push("--bind", spec.workDir, SANDBOX_WORK_DIR, "--bind", spec.runDir, SANDBOX_RUN_DIR);
  args.push("--chdir", SANDBOX_WORK_DIR);
  return args;
}

let probed: { bwrap?: string; problem?: string } | undefined;

/**
 * The bwrap executable if sandboxes work on this machine (found on PATH and able to start a
 * sandbox with every namespace), else undefined with the reason. Checked once per process.
 * CNNLAB_GRADING_SANDBOX=none disables the sandbox (for comparisons; never in CI).
 */
export function findSandbox(): { bwrap?: string; problem?: string } {
  if (probed) return probed;
  if (process.platform !== "linux") {
    return (probed = { problem: "sandboxes need Linux (bubblewrap and namespaces)" });
  }
  if (process.env.CNNLAB_GRADING_SANDBOX === "none") {
    return (probed = { problem: "disabled by CNNLAB_GRADING_SANDBOX=none" });
  }
  const dirs = (process.env.PATH ?? "/usr/bin:/bin").split(path.delimiter);
  const bwrap = dirs.map((d) => path.join(d, "bwrap")).find((f) => existsSync(f));
  if (!bwrap)
    return (probed = { problem: "bubblewrap (bwrap) is not installed (Debian: apt install bubblewrap)" });
  const r = spawnSync(
    bwrap,
    ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit code ${r.status}`).trim();
    return (probed = { problem: `bubblewrap cannot create a sandbox here (${why})` });
  }
  return (probed = { bwrap });
}

/** For tests: forget the cached probe. */
export function resetSandboxProbe(): void {
  probed = undefined;
}

// ------------------------------------------------------------------------------------ /proc

/** The PID namespace inode of a process, or undefined when it is gone. */
export function pidNamespace(pid: number): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/pid`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * Whether a process has exited and only waits to be reaped: it runs nothing and holds nothing, and
 * a parent that never reaps (a container's PID 1 that is no init) can keep it for ever.
 */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/** Every live process (host PIDs) in a PID namespace. */
export function namespaceProcesses(ns: number): number[] {
  return allPids().filter((p) => p !== process.pid && pidNamespace(p) === ns && !isZombie(p));
}

/** `pid` and every process descending from it (by parent PID), as far as /proc shows them. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(p);
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (out.includes(p)) continue;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out.filter((p) => existsSync(`/proc/${p}`) && !isZombie(p));
}

/** Resident memory of some processes in bytes (VmRSS summed; gone processes count 0). */
export function residentBytes(pids: number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/** The host PID of the process that is `nsPid` inside its namespace (e.g. 2: the kernel). */
export function hostPidOf(ns: number, nsPid: number): number | undefined {
  for (const p of namespaceProcesses(ns)) {
    try {
      const m = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      const ids = m ? m[1]!.trim().split(/\s+/).map(Number) : [];
      if (ids[ids.length - 1] === nsPid) return p;
    } catch {
      // gone
    }
  }
  return undefined;
}

export function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

// ------------------------------------------------------------------------------ cgroup v2

/**
 * A cgroup v2 memory limit for one kernel: a child of the grader's own cgroup with `memory.max`
 * (and no swap), into which the sandbox's first process is moved, so that every process it starts
 * is in it too. Used where the cgroup v2 hierarchy has the memory controller and is writable;
 * elsewhere (cgroup v1, no permission) `create` returns undefined and the grader's watchdog on
 * resident memory is the only bound.
 */
export class MemoryCgroup {
  private constructor(readonly dir: string) {}

  /** `root` is the cgroup2 mount (for tests); `self` is /proc/self/cgroup's text. */
  static create(
    name: string,
    limitBytes: number,
    root = "/sys/fs/cgroup",
    self: string | undefined = undefined,
  ): MemoryCgroup | undefined {
    try {
      const text = self ?? readFileSync("/proc/self/cgroup", "utf8");
      const line = text.split("\n").find((l) => l.startsWith("0::"));
      if (line === undefined) return undefined;
      const parent = path.join(root, line.slice(3).trim());
      if (!readFileSync(path.join(parent, "cgroup.controllers"), "utf8").split(/\s+/).includes("memory")) {
        return undefined;
      }
      // No process may stay in a cgroup that hands controllers to its children: when memory is
      // not delegated yet, the grader first moves itself into a leaf of its own.
      const delegated = readFileSync(path.join(parent, "cgroup.subtree_control"), "utf8").split(/\s+/);
      if (!delegated.includes("memory")) {
        const leaf = path.join(parent, "cnnlab-grader");
        mkdirSync(leaf, { recursive: true });
        writeFileSync(path.join(leaf, "cgroup.procs"), String(process.pid));
        writeFileSync(path.join(parent, "cgroup.subtree_control"), "+memory");
      }
      const dir = path.join(parent, name);
      mkdirSync(dir);
      const g = new MemoryCgroup(dir);
      try {
        writeFileSync(path.join(dir, "memory.max"), String(Math.floor(limitBytes)));
        try {
          writeFileSync(path.join(dir, "memory.swap.max"), "0");
        } catch {
          // no swap accounting: fine
        }
      } catch {
        g.remove();
        return undefined;
      }
      return g;
    } catch {
      return undefined;
    }
  }

  /** Move a process (and so everything it starts later) into the cgroup. */
  add(pid: number): boolean {
    try {
      writeFileSync(path.join(this.dir, "cgroup.procs"), String(pid));
      return true;
    } catch {
      return false;
    }
  }

  /** Whether the kernel's out-of-memory killer acted in this cgroup. */
  oomKilled(): boolean {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(path.join(this.dir, "memory.events"), "utf8"));
      return m !== null && Number(m[1]) > 0;
    } catch {
      return false;
    }
  }

  /** Kill every process in it (cgroup.kill, Linux ≥ 5.14; the namespace kill does the rest). */
  kill(): void {
    try {
      writeFileSync(path.join(this.dir, "cgroup.kill"), "1");
    } catch {
      // older kernel: the PID namespace is killed anyway
    }
  }

  /** Remove the (empty) cgroup. */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // still populated or already gone
    }
  }
}
