/**
 * One kernel process for one submission: started in a bubblewrap sandbox when the machine has
 * one (see ../sandbox.ts), with IPC sockets in a private folder, a clean environment and only the
 * submission in its working folder; watched (resident memory of all its processes) and killed as
 * a whole (every process it started, detached or not) when the submission ends.
 *
 * Every live kernel is in a registry, so that an interrupted or dying grader kills them all
 * (`killAllKernels`, called from autograde's signal and exit handlers); bwrap's
 * `--die-with-parent` kills a sandbox even when the grader is killed with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  MemoryCgroup,
  SANDBOX_RUN_DIR,
  bwrapArgs,
  hostPidOf,
  killQuietly,
  namespaceProcesses,
  processTree,
  residentBytes,
} from "../sandbox.js";

/** What a Jupyter connection file holds (transport "ipc": `ip` is a path prefix). */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  control_port: number;
  iopub_port: number;
  stdin_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export interface KernelLaunch {
  /** host folder with the submission: the kernel's working folder */
  workDir: string;
  /** extra environment (CNNLAB_NUM_THREADS, CNNLAB_GRADING) on top of the clean base */
  env: Record<string, string>;
  /** node arguments for the cnnlab kernel (e.g. --max-old-space-size) */
  nodeArgs: string[];
  /** a command to start instead of the cnnlab kernel; "{connection_file}" is replaced */
  argv?: string[];
  /** the bwrap executable, or undefined to run without a sandbox */
  bwrap?: string;
  /** host paths the sandbox must not show (assignment source, other submissions, output) */
  hide: string[];
  /** a hard memory limit through cgroup v2, where the grader may create cgroups */
  memoryLimitBytes?: number;
}

/** Variables the grader passes on to kernels (settings, never secrets). */
const PASSED_ON = ["CNNLAB_BACKEND", "CNNLAB_BLAS", "LANG", "LC_ALL", "TZ"];

function cleanEnv(extra: Record<string, string>, sandboxed: boolean): Record<string, string> {
  const env: Record<string, string> = {
    PATH: [path.dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(":"),
    HOME: sandboxed ? "/tmp" : tmpdir(),
    TMPDIR: sandboxed ? "/tmp" : tmpdir(),
  };
  for (const k of PASSED_ON) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  env.LANG ??= "C.UTF-8";
  return { ...env, ...extra };
}

function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "cnnlab") return dir;
      } catch {
        // keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("grading: cannot find the cnnlab package root");
    dir = up;
  }
}

/** What the kernel must be able to read: the cnnlab install (with its dependencies) and node. */
function installPaths(): string[] {
  const root = realpathSync(findPackageRoot());
  const parts = root.split(path.sep);
  const nm = parts.indexOf("node_modules");
  const install = nm > 0 ? parts.slice(0, nm + 1).join(path.sep) : root;
  const node = realpathSync(process.execPath);
  return [install, path.dirname(path.dirname(node))];
}

function kernelMain(): string {
  const main = path.join(findPackageRoot(), "dist", "kernel", "main.js");
  if (!existsSync(main)) {
    throw new Error(`the compiled cnnlab kernel is missing (${main}); build cnnlab first (npm run build)`);
  }
  return main;
}

const live = new Set<KernelProcess>();

/** Kill every live kernel at once, synchronously (for signal and exit handlers). */
export function killAllKernels(): void {
  for (const k of live) k.killNow();
}

export function liveKernelCount(): number {
  return live.size;
}

function readInfo(child: ChildProcess): Promise<{ "child-pid": number; "pid-namespace": number }> {
  return new Promise((resolve, reject) => {
    const fd = child.stdio[3] as NodeJS.ReadableStream | null;
    if (!fd) return reject(new Error("bwrap: no info pipe"));
    let text = "";
    const done = (): void => {
      try {
        resolve(JSON.parse(text) as { "child-pid": number; "pid-namespace": number });
      } catch {
        reject(new Error(`bwrap did not start the sandbox${text ? ` (info: ${text})` : ""}`));
      }
    };
    fd.on("data", (d: Buffer) => {
      text += d.toString("utf8");
      try {
        JSON.parse(text);
        fd.removeAllListeners("end");
        done();
      } catch {
        // not complete yet
      }
    });
    fd.on("end", done);
    child.once("exit", done);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class KernelProcess {
  /** the connection as the grader uses it (host paths) */
  readonly connection: ConnectionInfo;
  readonly sandboxed: boolean;
  /** resolves when the kernel process (or the sandbox) ended */
  readonly exited: Promise<void>;
  stderr = "";
  #child: ChildProcess;
  #runDir: string;
  #ns: number | undefined;
  #nsInit: number | undefined;
  #kernelPid: number | undefined;
  #cgroup: MemoryCgroup | undefined;
  #gone = false;

  private constructor(child: ChildProcess, connection: ConnectionInfo, runDir: string, sandboxed: boolean) {
    this.#child = child;
    this.connection = connection;
    this.#runDir = runDir;
    this.sandboxed = sandboxed;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    child.stderr?.on("data", (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString("utf8");
    });
    child.stdout?.resume();
  }

  static async start(opts: KernelLaunch): Promise<KernelProcess> {
    const runDir = mkdtempSync(path.join(tmpdir(), "cnnlab-kernel-"));
    const sandboxed = opts.bwrap !== undefined;
    const key = randomBytes(32).toString("hex");
    const ports = { shell_port: 1, control_port: 2, iopub_port: 3, stdin_port: 4, hb_port: 5 };
    const inside: ConnectionInfo = {
      transport: "ipc",
      ip: path.join(sandboxed ? SANDBOX_RUN_DIR : runDir, "kernel"),
      ...ports,
      key,
      signature_scheme: "hmac-sha256",
      kernel_name: "cnnlab",
    };
    const file = path.join(runDir, "connection.json");
    writeFileSync(file, JSON.stringify(inside), { mode: 0o600 });
    const fileInside = sandboxed ? path.join(SANDBOX_RUN_DIR, "connection.json") : file;
    const command = opts.argv
      ? opts.argv.map((a) => a.replace("{connection_file}", fileInside))
      : [process.execPath, ...opts.nodeArgs, kernelMain(), fileInside];
    const env = cleanEnv(opts.env, sandboxed);
    let child: ChildProcess;
    try {
      if (opts.bwrap !== undefined) {
        const args = bwrapArgs({
          bwrap: opts.bwrap,
          workDir: opts.workDir,
          runDir,
          expose: installPaths(),
          hide: [...opts.hide, runDir, opts.workDir],
          env,
          command,
        });
        child = spawn(opts.bwrap, [...args, "--info-fd", "3", ...command], {
          env: {},
          stdio: ["ignore", "pipe", "pipe", "pipe"],
        });
      } else {
        // The kernel exits by itself when the grader is gone (JPY_PARENT_PID, as ipykernel does).
        child = spawn(command[0]!, command.slice(1), {
          cwd: opts.workDir,
          env: { ...env, JPY_PARENT_PID: String(process.pid) },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
      }
    } catch (e) {
      rmSync(runDir, { recursive: true, force: true });
      throw e;
    }
    child.on("error", () => undefined);
    const host: ConnectionInfo = { ...inside, ip: path.join(runDir, "kernel") };
    const k = new KernelProcess(child, host, runDir, sandboxed);
    live.add(k);
    if (sandboxed) {
      try {
        const info = await readInfo(child);
        k.#ns = info["pid-namespace"];
        k.#nsInit = info["child-pid"];
      } catch (e) {
        await k.kill();
        throw new Error(`${(e as Error).message}${k.stderr ? `: ${k.stderr.trim()}` : ""}`);
      }
    }
    if (opts.memoryLimitBytes !== undefined) {
      const g = MemoryCgroup.create(path.basename(runDir), opts.memoryLimitBytes);
      const pid = k.#nsInit ?? child.pid;
      if (g && pid !== undefined && g.add(pid)) k.#cgroup = g;
      else g?.remove();
    }
    return k;
  }

  /** Host PIDs of every process of this kernel (in its namespace, or its tree and group). */
  processes(): number[] {
    if (this.#ns !== undefined) return namespaceProcesses(this.#ns);
    const pid = this.#child.pid;
    return pid === undefined || this.#gone ? [] : processTree(pid);
  }

  /** Resident memory of all of the kernel's processes, in bytes. */
  residentBytes(): number {
    return residentBytes(this.processes());
  }

  /** SIGINT to the kernel process (what Jupyter's interrupt does for a signal-mode kernel). */
  interrupt(): void {
    if (this.#ns !== undefined) {
      this.#kernelPid ??= hostPidOf(this.#ns, 2);
      if (this.#kernelPid !== undefined) killQuietly(this.#kernelPid, "SIGINT");
    } else if (this.#child.pid !== undefined) {
      killQuietly(this.#child.pid, "SIGINT");
    }
  }

  /**
   * Once the kernel has bound its sockets: delete the connection file (with the signing key) and,
   * when the grader runs as root, give the socket folder to nobody, so that student code (root
   * without capabilities inside the sandbox) can neither read the key nor replace a socket with
   * its own to intercept the grader's requests.
   */
  sealConnection(): void {
    rmSync(path.join(this.#runDir, "connection.json"), { force: true });
    if (this.sandboxed && process.getuid?.() === 0) {
      try {
        chownSync(this.#runDir, 65534, 65534);
        chmodSync(this.#runDir, 0o755);
      } catch {
        // left as it is
      }
    }
  }

  /** whether the kernel's cgroup (if it has one) hit its memory limit */
  memoryCgroupOom(): boolean {
    return this.#cgroup?.oomKilled() ?? false;
  }

  /** SIGKILL to everything, without waiting (safe in signal and exit handlers). */
  killNow(): void {
    this.#cgroup?.kill();
    const pid = this.#child.pid;
    if (this.#nsInit !== undefined) killQuietly(this.#nsInit);
    if (pid !== undefined) {
      if (!this.sandboxed) {
        const tree = this.#gone ? [] : processTree(pid);
        killQuietly(-pid);
        for (const p of tree) killQuietly(p);
      }
      killQuietly(pid);
    }
    try {
      rmSync(this.#runDir, { recursive: true, force: true });
    } catch {
      // best effort in a handler
    }
  }

  /**
   * Kill every process of the kernel and wait until none is left (the PID namespace is empty, or
   * no descendant remains); then remove the private folder. Results may be written after this.
   */
  async kill(): Promise<void> {
    for (let round = 0; ; round++) {
      const left = this.processes();
      this.killNow();
      // Killing the namespace's init ends the rest, but not before the kernel gets the signal; one
      // that outlives a round is killed directly.
      if (round > 0) for (const p of left) killQuietly(p);
      if (left.length === 0 && (this.#child.exitCode !== null || this.#child.signalCode !== null)) break;
      if (round > 200) {
        throw new Error(`grading: processes ${left.join(", ")} of a kernel survived SIGKILL for 10 s`);
      }
      await sleep(50);
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) this.#gone = true;
    }
    this.#gone = true;
    live.delete(this);
    this.#cgroup?.remove();
    rmSync(this.#runDir, { recursive: true, force: true });
  }
}
