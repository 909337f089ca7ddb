/**
 * `cnnlab start` (what `npm start` runs): registers the kernel in a project-local Jupyter data
 * directory and opens JupyterLab (or classic Notebook) on notebooks/, bound to 127.0.0.1 with a
 * token. Without Jupyter, runs the first chapter headless and says how to run the others.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join, relative } from "node:path";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { packageRoot } from "../../kernel/paths.js";
import { runNotebook } from "../../kernel/runner.js";
import { printProgress } from "./progress.js";

export interface StartOptions {
  /** Project folder holding notebooks/ (default: the cnnlab package folder). */
  root?: string;
  port?: number;
  /** Print what would run instead of starting Jupyter (for tests). */
  dryRun?: boolean;
  /** Force the headless path even if Jupyter is installed. */
  headless?: boolean;
  /** Where the headless run writes its results (default ./out). */
  outDir?: string;
  out?: (line: string) => void;
}

function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

async function pickPort(from: number): Promise<number> {
  for (let p = from; p < from + 50; p++) if (await portFree(p)) return p;
  return 0;
}

export type Frontend = { kind: "lab" | "notebook"; tokenFlag: string; rootFlag: string; path: string };

export function detectFrontend(): Frontend | undefined {
  if (hasCommand("jupyter-lab"))
    return { kind: "lab", tokenFlag: "--ServerApp.token", rootFlag: "--ServerApp.root_dir", path: "lab" };
  if (hasCommand("jupyter-notebook")) {
    const v = spawnSync("jupyter-notebook", ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
    const major = Number(v.split(".")[0]);
    return major >= 7
      ? { kind: "notebook", tokenFlag: "--ServerApp.token", rootFlag: "--ServerApp.root_dir", path: "tree" }
      : {
          kind: "notebook",
          tokenFlag: "--NotebookApp.token",
          rootFlag: "--NotebookApp.notebook_dir",
          path: "tree",
        };
  }
  return undefined;
}

export async function start(options: StartOptions = {}): Promise<number> {
  const say = options.out ?? ((l: string) => process.stdout.write(l + "\n"));
  const root = options.root ?? packageRoot;
  const notebooks = join(root, "notebooks");
  const dataDir = join(root, ".jupyter-local");
  const specDir = installKernelSpec({ dataDir });
  say(
    `Registered the cnnlab kernel in ${relative(process.cwd(), specDir) || specDir} (project-local; nothing global changed).`,
  );
  const env = {
    ...process.env,
    JUPYTER_DATA_DIR: dataDir,
    JUPYTER_PATH: [dataDir, process.env.JUPYTER_PATH].filter(Boolean).join(delimiter),
  };
  const frontend = options.headless ? undefined : detectFrontend();
  if (frontend) {
    const port = await pickPort(options.port ?? 8888);
    const token = randomBytes(24).toString("hex");
    const args = [
      frontend.kind,
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      `${frontend.tokenFlag}=${token}`,
      `${frontend.rootFlag}=${notebooks}`,
      ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
    ];
    const url = `http://127.0.0.1:${port}/${frontend.path}?token=${token}`;
    say(`Starting Jupyter ${frontend.kind === "lab" ? "Lab" : "Notebook"} on ${notebooks}`);
    say(`Open ${url}`);
    if (options.dryRun) {
      say(`would run: jupyter ${args.join(" ")}`);
      return 0;
    }
    const child = spawn("jupyter", args, { env, stdio: "inherit" });
    process.on("SIGINT", () => child.kill("SIGINT"));
    return new Promise((resolve) => child.on("exit", (code) => resolve(code ?? 0)));
  }

  say("Jupyter is not installed, so the notebooks cannot open in a browser. To get it:");
  say("  pip install jupyterlab            (or: sudo apt install jupyter-notebook   on Debian/Ubuntu)");
  say(
    "and run `npm start` again. You can also open the notebooks in VS Code (Jupyter extension) and pick the",
  );
  say('"cnnlab (TypeScript)" kernel after `npx cnnlab install`.');
  const chapters = existsSync(notebooks)
    ? readdirSync(notebooks)
        .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
        .sort()
    : [];
  if (chapters.length === 0) {
    say(`No chapter notebooks found in ${notebooks}.`);
    return 0;
  }
  const first = join(notebooks, chapters[0]);
  const outDir = options.outDir ?? join(process.cwd(), "out");
  say("");
  say(`Meanwhile, running the first chapter headless: ${relative(process.cwd(), first)}`);
  if (options.dryRun) return 0;
  const result = await runNotebook(first, {
    outDir,
    html: true,
    timeoutSec: 600,
    onProgress: printProgress(say),
  });
  say("");
  say(`Executed notebook: ${relative(process.cwd(), result.outPath)}`);
  if (result.htmlPath)
    say(`HTML page:         ${relative(process.cwd(), result.htmlPath)}  (open it in a browser)`);
  if (chapters.length > 1) {
    say("");
    say("Run the other chapters the same way, for example:");
    say(`  npx cnnlab run notebooks/${chapters[1]} --html --out out`);
    say(`  npx cnnlab run notebooks/*.ipynb --html --out out`);
  }
  return result.ok ? 0 : 1;
}
