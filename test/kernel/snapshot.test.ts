/**
 * The kernel's start-up snapshot (kernel/snapshot.ts, snapshot-builder.cts, launch.sh), with real
 * kernels started through launch.sh in fresh processes, a cache folder of the test's own, and a
 * notebook folder with its own copy of @types/node (so a test can change a declaration file the
 * snapshot holds). A kernel without a snapshot builds one once it is warm; the next kernel starts
 * from it and must behave exactly as a kernel that never uses one (CNNLAB_SNAPSHOT=0), cell for
 * cell: type errors, output, tensors, a local .ts import, an interrupt. A changed declaration file is
 * read fresh and a new snapshot built. launch.sh's choice is tested with a stand-in for node.
 */
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { machine, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { kernelMainJs, launchSh, packageRoot } from "../../kernel/paths.js";
import {
  cksum,
  removeOrphanSnapshots,
  snapshotBlobPath,
  snapshotUnsupported,
} from "../../kernel/snapshot.js";
import { assertBuilt, missing, skipTitle } from "./integration.js";

const root = mkdtempSync(join(tmpdir(), "cnnlab-snapshot-"));
const cacheDir = join(root, "cache");
const notebook = join(root, "notebook");
mkdirSync(cacheDir);
mkdirSync(notebook);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const blobName = `kernel-${process.version}-${machine()}-${cksum(kernelMainJs)}.blob`;
const blob = join(cacheDir, blobName);
const typesNode = join(notebook, "node_modules", "@types", "node");
cpSync(dirname(createRequire(join(packageRoot, "noop.js")).resolve("@types/node/package.json")), typesNode, {
  recursive: true,
});
writeFileSync(join(notebook, "util.ts"), "export const twice = (x: number): number => 2 * x;\n");

const unsupported = missing([
  { what: "a Node that can start a kernel from a snapshot", ok: () => snapshotUnsupported() === undefined },
]);

let logCount = 0;
async function kernel(env: Record<string, string> = {}): Promise<{ k: KernelClient; log: string }> {
  const log = join(root, `kernel-${++logCount}.log`);
  const k = await KernelClient.start({
    cwd: notebook,
    env: { CNNLAB_CACHE_DIR: cacheDir, CNNLAB_KERNEL_LOG: log, ...env },
    startTimeoutMs: 120_000,
  });
  return { k, log };
}
const readLog = (log: string) => (existsSync(log) ? readFileSync(log, "utf8") : "");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => boolean, ms = 150_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
const sidecarMtime = () => (existsSync(`${blob}.json`) ? statSync(`${blob}.json`).mtimeMs : 0);

/** What a cell showed: its status, error, result and printed text, without ids and timings. */
function seen(r: ExecuteResult) {
  const c = r.reply.content;
  return {
    status: c.status,
    error: c.status === "error" ? `${c.ename}: ${c.evalue}` : undefined,
    result: r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"],
    printed: r.outputs
      .filter((o) => o.header.msg_type === "stream")
      .map((o) => `${o.content.name}:${o.content.text}`)
      .join(""),
  };
}

const CELLS = [
  "1 + 1",
  'const wrong: number = "text";',
  "const t = tensor([1, 2, 3]);\nt.mul(2).sum().item()",
  'console.log("hi %d", 5, { a: [1, 2] });\nconsole.table([{ x: 1 }]);\nconsole.error("to stderr")',
  'import { readFileSync } from "fs";\ntypeof readFileSync',
  'import { twice } from "./util";\ntwice(21)',
  "const m: Map<string, number[]> = new Map([['a', [1]]]);\n[...m.keys()].join() + process.version.slice(0, 1)",
  "undefinedName + 1",
  "Buffer.from('ab').length + [1, 2].at(-1)!",
];

async function runAll(k: KernelClient) {
  const out = [];
  for (const c of CELLS) out.push(seen(await k.execute(c, { timeoutMs: 120_000 })));
  // An interrupt of a busy loop, then the kernel goes on.
  const pending = k.execute("for (;;) {}", { timeoutMs: 60_000 });
  await sleep(600);
  await k.request("interrupt_request", {}, { channel: "control", timeoutMs: 20_000, waitIdle: false });
  out.push(seen(await pending));
  out.push(seen(await k.execute("t.shape[0] + 1")));
  return out;
}

describe.skipIf(unsupported !== undefined)(skipTitle("the start-up snapshot", unsupported), () => {
  let reference: Awaited<ReturnType<typeof runAll>>;

  it("a kernel without one builds it once warm: a complete blob, its sidecar, nothing temporary left", async () => {
    assertBuilt();
    const { k, log } = await kernel();
    try {
      expect(seen(await k.execute("1"))).toMatchObject({ status: "ok", result: "1" });
      await waitFor("the snapshot", () => existsSync(blob) && existsSync(`${blob}.json`));
    } finally {
      await k.shutdown();
    }
    expect(readLog(log)).toMatch(/building the start-up snapshot/);
    expect(readLog(log)).not.toMatch(/from the start-up snapshot/);
    await waitFor(
      "the builder to clean up",
      () => !readdirSync(cacheDir).some((f) => /\.(tmp|lock)/.test(f)),
    );
    const files = readdirSync(cacheDir).filter((f) => !f.endsWith(".v8cache"));
    expect(files.sort()).toEqual(
      [`${blob}`, `${blob}.json`, `${blob}.log`].map((f) => f.slice(cacheDir.length + 1)),
    );
    expect(statSync(blob).size).toBeGreaterThan(1 << 20);
    const sidecar = JSON.parse(readFileSync(`${blob}.json`, "utf8")) as { files: { fileName: string }[] };
    expect(sidecar.files.some((f) => f.fileName.startsWith(typesNode))).toBe(true);
  }, 240_000);

  it("a kernel started from it gives, cell for cell, what a kernel without one gives", async () => {
    const plain = await kernel({ CNNLAB_SNAPSHOT: "0" });
    try {
      reference = await runAll(plain.k);
    } finally {
      await plain.k.shutdown();
    }
    expect(readLog(plain.log)).not.toMatch(/from the start-up snapshot/);
    expect(reference[1].error).toMatch(/TypeScriptError: .*'string' is not assignable to type 'number'/);
    expect(reference.slice(2, 4).map((r) => r.result)).toEqual(["12", undefined]);
    expect(reference[5]).toMatchObject({ status: "ok", result: "42" });
    expect(reference[CELLS.length].error).toMatch(/^KeyboardInterrupt/);

    const fromSnapshot = await kernel();
    let outcome;
    try {
      outcome = await runAll(fromSnapshot.k);
    } finally {
      await fromSnapshot.k.shutdown();
    }
    const log = readLog(fromSnapshot.log);
    expect(log).toMatch(/typescript from the start-up snapshot/);
    expect(log).toMatch(/\d{3} documents from the start-up snapshot/);
    expect(outcome).toEqual(reference);
  }, 300_000);

  it("a declaration file it holds changed: the kernel reads the new text and builds a new snapshot", async () => {
    const before = sidecarMtime();
    appendFileSync(
      join(typesNode, "globals.d.ts"),
      '\ndeclare module "cnnlab-snapshot-probe" {\n  export const probe: 1;\n}\n',
    );
    const probe = 'import type { probe } from "cnnlab-snapshot-probe";\nconst v: typeof probe = 1;\nv';
    const { k, log } = await kernel();
    try {
      expect(seen(await k.execute(probe))).toMatchObject({ status: "ok", result: "1" });
      await waitFor("a new snapshot", () => sidecarMtime() > before);
    } finally {
      await k.shutdown();
    }
    expect(readLog(log)).toMatch(/documents not used: .*globals\.d\.ts changed/);
    await waitFor("the new blob", () => !readdirSync(cacheDir).some((f) => /\.(tmp|lock)/.test(f)));
    const next = await kernel();
    try {
      expect(seen(await next.k.execute(probe))).toMatchObject({ status: "ok", result: "1" });
    } finally {
      await next.k.shutdown();
    }
    expect(readLog(next.log)).toMatch(/\d{3} documents from the start-up snapshot/);
  }, 300_000);
});

describe.skipIf(unsupported !== undefined)(skipTitle("no usable cache folder", unsupported), () => {
  it("the kernel works without a snapshot and its log says why", async () => {
    const bad = join(root, "a-file");
    writeFileSync(bad, "");
    const { k, log } = await kernel({ CNNLAB_CACHE_DIR: join(bad, "cache") });
    try {
      expect(seen(await k.execute("[1, 2].length"))).toMatchObject({ status: "ok", result: "2" });
      await waitFor(
        "the kernel's word on the snapshot",
        () => /no start-up snapshot: /.test(readLog(log)),
        60_000,
      );
      expect(seen(await k.execute("3 * 3"))).toMatchObject({ status: "ok", result: "9" });
    } finally {
      await k.shutdown();
    }
    expect(readLog(log)).toMatch(/no start-up snapshot: .*ENOTDIR/);
  }, 120_000);
});

describe("blobs of installs that are gone", () => {
  it("are removed with their sidecar and log; others, temporary files and code caches stay", () => {
    const dir = join(root, "orphans");
    mkdirSync(dir);
    const write = (name: string, entry?: string) => {
      writeFileSync(join(dir, name), "blob");
      writeFileSync(join(dir, `${name}.log`), "log");
      if (entry !== undefined)
        writeFileSync(join(dir, `${name}.json`), JSON.stringify({ format: 1, node: "v0", entry, files: [] }));
    };
    write("kernel-v1-x-1.blob", kernelMainJs); // this install: kept
    write("kernel-v1-x-2.blob", join(root, "deleted-clone", "dist", "kernel", "main.js")); // gone
    write("kernel-v1-x-3.blob"); // no sidecar, two hours old: gone
    utimesSync(
      join(dir, "kernel-v1-x-3.blob"),
      new Date(Date.now() - 7_200_000),
      new Date(Date.now() - 7_200_000),
    );
    write("kernel-v1-x-4.blob"); // no sidecar, fresh (its sidecar may be on its way): kept
    writeFileSync(join(dir, "kernel-v1-x-5.blob.77.tmp"), "building");
    writeFileSync(join(dir, "typescript-5.9.3-abc.v8cache"), "cache");
    expect(removeOrphanSnapshots(dir)).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(
      [
        "kernel-v1-x-1.blob",
        "kernel-v1-x-1.blob.json",
        "kernel-v1-x-1.blob.log",
        "kernel-v1-x-4.blob",
        "kernel-v1-x-4.blob.log",
        "kernel-v1-x-5.blob.77.tmp",
        "typescript-5.9.3-abc.v8cache",
      ].sort(),
    );
    expect(removeOrphanSnapshots(join(root, "no-such-folder"))).toBe(0);
  });
});

describe("launch.sh", () => {
  const dir = join(root, "launch");
  mkdirSync(dir, { recursive: true });
  // Stands in for node: answers --version as this Node does, else prints its arguments.
  const fakeNode = join(dir, "node");
  writeFileSync(
    fakeNode,
    `#!/bin/sh\nif [ "$1" = --version ]; then echo ${process.version}; exit 0; fi\nfor a in "$@"; do echo "$a"; done\n`,
  );
  chmodSync(fakeNode, 0o755);
  const launch = (env: Record<string, string>, nodeArgs: string[] = []) => {
    const r = spawnSync("/bin/sh", [launchSh, kernelMainJs, "/tmp/conn file.json", fakeNode, ...nodeArgs], {
      env: { PATH: process.env.PATH ?? "", ...env },
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trimEnd().split("\n");
  };
  const plain = (nodeArgs: string[] = []) => [...nodeArgs, kernelMainJs, "/tmp/conn file.json"];

  it("starts node from this Node version's blob when there is one and no Node options, else plainly", () => {
    const cache = join(dir, "cache");
    mkdirSync(cache, { recursive: true });
    const env = { CNNLAB_CACHE_DIR: cache };
    expect(launch(env)).toEqual(plain());
    const own = join(cache, blobName);
    writeFileSync(own, "");
    expect(launch(env)).toEqual(plain()); // empty: not a blob
    writeFileSync(join(cache, `kernel-v0.0.1-${machine()}-${cksum(kernelMainJs)}.blob`), "x");
    expect(launch(env)).toEqual(plain()); // another Node's
    writeFileSync(
      join(cache, `kernel-${process.version}-${machine()}-${cksum("/elsewhere/main.js")}.blob`),
      "x",
    );
    expect(launch(env)).toEqual(plain()); // another install's
    writeFileSync(own, "x");
    expect(launch(env)).toEqual(["--snapshot-blob", own, kernelMainJs, "/tmp/conn file.json"]);
    // Node refuses a snapshot whose V8 flags differ: options, given or in NODE_OPTIONS, start plainly.
    const args = ["--max-old-space-size=2048", "--title=a b"];
    expect(launch(env, args)).toEqual(plain(args));
    expect(launch({ ...env, NODE_OPTIONS: "--max-old-space-size=2048" })).toEqual(plain());
    expect(launch({ ...env, CNNLAB_SNAPSHOT: "0" })).toEqual(plain());
  });

  it("names the blob as the kernel does: cksum of the entry's path, as POSIX cksum prints it", () => {
    expect(snapshotBlobPath().endsWith(blobName)).toBe(true);
    for (const text of ["", "a", kernelMainJs, "/home/ünïcode/ﬁle/main.js", "x".repeat(70_000)]) {
      const r = spawnSync("cksum", { input: text, encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(cksum(text)).toBe(Number(r.stdout.split(" ")[0]));
    }
  });

  it("finds the cache folder as the kernel does: CNNLAB_CACHE_DIR, XDG_CACHE_HOME, then HOME", () => {
    const xdg = join(dir, "xdg");
    const home = join(dir, "home");
    for (const base of [join(xdg, "cnnlab"), join(home, ".cache", "cnnlab")]) {
      mkdirSync(base, { recursive: true });
      writeFileSync(join(base, blobName), "x");
    }
    const blobArg = (out: string[]) => out[out.indexOf("--snapshot-blob") + 1];
    expect(blobArg(launch({ XDG_CACHE_HOME: xdg, HOME: home }))).toBe(join(xdg, "cnnlab", blobName));
    expect(blobArg(launch({ XDG_CACHE_HOME: "", HOME: home }))).toBe(
      join(home, ".cache", "cnnlab", blobName),
    );
    expect(launch({})).toEqual(plain()); // no HOME, no cache folder: plainly
  });
});
