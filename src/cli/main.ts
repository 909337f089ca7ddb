#!/usr/bin/env node
/** The `cnnlab` command: install / uninstall the kernelspec, run notebooks headless, start Jupyter, grade. */
import { Command, Option } from "commander";
import { relative } from "node:path";
import { installKernelSpec, uninstallKernelSpec, type SpecLocation } from "../../kernel/kernelspec.js";
import { packageVersion } from "../../kernel/paths.js";
import { backendSummary } from "../backend/index.js";
import { runNotebook } from "../../kernel/runner.js";
import { addGradeCommand } from "../grading/cli.js";
import { printProgress } from "./progress.js";
import { start } from "./start.js";

const say = (line: string) => process.stdout.write(line + "\n");

function location(opts: { user?: boolean; sysPrefix?: boolean; prefix?: string }): SpecLocation {
  const chosen = [opts.user, opts.sysPrefix, opts.prefix !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new Error("choose one of --user, --sys-prefix, --prefix DIR");
  return { user: opts.user, sysPrefix: opts.sysPrefix, prefix: opts.prefix };
}

/** `cnnlab --version`: the package version and the backend (which loads the BLAS only when asked). */
function versionText(): string {
  const asked = process.argv.slice(2).some((a) => a === "-V" || a === "--version");
  return asked ? `${packageVersion()}\n${backendSummary()}` : packageVersion();
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("cnnlab")
    .description("cnnlab: a TypeScript Jupyter kernel for convolutional-network experiments")
    .version(versionText());

  program
    .command("install")
    .description('write the Jupyter kernelspec "cnnlab" (default: the user\'s Jupyter data directory)')
    .option("--user", "install for the current user (default)")
    .option("--sys-prefix", "install into the prefix of the jupyter on PATH")
    .option("--prefix <dir>", "install into DIR/share/jupyter/kernels/cnnlab")
    .option(
      "--node-arg <arg...>",
      "extra node arguments for the kernel, e.g. --node-arg=--max-old-space-size=4096",
    )
    .action((opts) => {
      const dir = installKernelSpec(location(opts), { nodeArgs: opts.nodeArg });
      say(`Installed kernelspec cnnlab in ${dir}`);
    });

  program
    .command("uninstall")
    .description('remove the kernelspec "cnnlab"')
    .option("--user", "the current user's kernelspec (default)")
    .option("--sys-prefix", "the one in the prefix of the jupyter on PATH")
    .option("--prefix <dir>", "the one in DIR/share/jupyter/kernels/cnnlab")
    .action((opts) => {
      const dir = uninstallKernelSpec(location(opts));
      say(dir ? `Removed kernelspec cnnlab from ${dir}` : "No cnnlab kernelspec was installed there.");
    });

  program
    .command("run")
    .description("execute notebooks headless with the cnnlab kernel and write the executed copies")
    .argument("<notebooks...>", "notebook files (.ipynb)")
    .option("--out <dir>", "output folder", "out")
    .addOption(
      new Option("--timeout <seconds>", "per-cell timeout in seconds (0 = none)")
        .default(600)
        .argParser((v) => Number(v)),
    )
    .option("--allow-errors", "keep executing after a cell errors")
    .option("--html", "also write a self-contained HTML page per notebook")
    .option(
      "--node-arg <arg...>",
      "extra node arguments for the kernel, e.g. --node-arg=--max-old-space-size=4096",
    )
    .option("-q, --quiet", "no progress lines")
    .action(async (notebooks: string[], opts) => {
      let failed = false;
      for (const nb of notebooks) {
        try {
          const r = await runNotebook(nb, {
            outDir: opts.out,
            timeoutSec: opts.timeout,
            allowErrors: !!opts.allowErrors,
            html: !!opts.html,
            nodeArgs: opts.nodeArg,
            onProgress: opts.quiet ? undefined : printProgress(say),
          });
          say(
            `wrote ${relative(process.cwd(), r.outPath)}${r.htmlPath ? ` and ${relative(process.cwd(), r.htmlPath)}` : ""}`,
          );
          if (!r.ok) failed = true;
        } catch (e) {
          say(`${nb}: ${(e as Error).message}`);
          failed = true;
        }
      }
      process.exitCode = failed ? 1 : 0;
    });

  program
    .command("start")
    .description(
      "register the kernel project-locally and open JupyterLab / Notebook on notebooks/ (headless run without Jupyter)",
    )
    .option("--port <n>", "first port to try", (v) => Number(v), 8888)
    .option("--headless", "do not start Jupyter; run the first chapter headless")
    .option("--dry-run", "print what would run")
    .action(async (opts) => {
      process.exitCode = await start({ port: opts.port, headless: !!opts.headless, dryRun: !!opts.dryRun });
    });

  addGradeCommand(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((e: Error) => {
    process.stdout.write(`cnnlab: ${e.message}\n`);
    process.exitCode = 1;
  });
