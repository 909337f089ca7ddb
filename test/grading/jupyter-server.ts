/** Start a real `jupyter server` on 127.0.0.1 for integration tests. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

export interface RunningServer {
  url: string;
  token: string;
  rootDir: string;
  stop(): Promise<void>;
}

export function jupyterAvailable(): boolean {
  const r = spawnSync("jupyter", ["server", "--version"], { encoding: "utf8" });
  return r.status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startJupyterServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const rootDir = await mkdtemp(path.join(os.tmpdir(), "cnnlab-jupyter-"));
  const port = await freePort();
  const token = randomBytes(12).toString("hex");
  const args = [
    "server",
    "--allow-root",
    "--no-browser",
    "--ip=127.0.0.1",
    `--port=${port}`,
    "--port-retries=0",
    `--ServerApp.token=${token}`,
    `--ServerApp.root_dir=${rootDir}`,
    "--FileContentsManager.delete_to_trash=False",
  ];
  const child: ChildProcess = spawn("jupyter", args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`jupyter server exited: ${log.slice(-2000)}`);
    try {
      const r = await fetch(`${url}api/status?token=${token}`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`jupyter server did not start: ${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    token,
    rootDir,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/** Skip loudly when a component is missing; fail instead when CI=true. */
export function requireOrSkip(ok: boolean, what: string): boolean {
  if (ok) return true;
  const msg = `SKIPPED: ${what} is not available`;
  if (process.env.CI === "true") throw new Error(`${msg} (CI=true: integration tests must run)`);
  process.stdout.write(`\n*** ${msg} ***\n\n`);
  return false;
}
