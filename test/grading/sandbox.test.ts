import { describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { MemoryCgroup, bwrapArgs, isZombie, processTree } from "../../src/grading/sandbox.js";

describe("the sandbox's layout", () => {
  it("shows the install read-only, hides grader folders inside it, never the install itself", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "cnnlab-layout-"));
    const install = path.join(root, "course");
    for (const d of ["node_modules", "assignments/hw1", "submitted"])
      await mkdir(path.join(install, d), { recursive: true });
    await writeFile(path.join(install, "assignments/hw1/hw1.ipynb"), "{}");
    const args = bwrapArgs({
      bwrap: "bwrap",
      workDir: "/tmp/w",
      runDir: "/tmp/r",
      expose: [install, path.join(install, "node_modules")],
      hide: [path.join(install, "assignments/hw1"), path.join(install, "submitted"), install, "/elsewhere"],
      env: { A: "1" },
      command: ["node"],
    });
    const line = args.join(" ");
    expect(line).toContain(`--ro-bind ${install} ${install}`);
    expect(line).not.toContain(`--ro-bind ${install}/node_modules`); // inside an exposed folder already
    expect(line).toContain(`--tmpfs ${install}/assignments/hw1`);
    expect(line).toContain(`--tmpfs ${install}/submitted`);
    expect(line).not.toContain(`--tmpfs ${install} `); // holds the install: never hidden
    expect(line).not.toContain("/elsewhere"); // not visible anyway
    expect(line).toMatch(
      /--unshare-all --die-with-parent --new-session --cap-drop ALL .*--clearenv --setenv A 1/,
    );
    expect(args.indexOf("--tmpfs")).toBeLessThan(args.indexOf(`${install}/assignments/hw1`));
    expect(line).toMatch(/--bind \/tmp\/w \/submission --bind \/tmp\/r \/run\/kernel --chdir \/submission$/);
  });
});

describe("cgroup v2 memory limits", () => {
  async function fakeHierarchy(controllers: string): Promise<string> {
    const root = await mkdtemp(path.join(os.tmpdir(), "cnnlab-cgroup-"));
    await mkdir(path.join(root, "grader"));
    await writeFile(path.join(root, "grader", "cgroup.controllers"), controllers);
    await writeFile(path.join(root, "grader", "cgroup.subtree_control"), "");
    return root;
  }

  it("makes a child cgroup with memory.max, moving the grader into a leaf to delegate memory", async () => {
    const root = await fakeHierarchy("cpu memory pids\n");
    const g = MemoryCgroup.create("kernel-1", 300 * 2 ** 20, root, "0::/grader\n")!;
    expect(g.dir).toBe(path.join(root, "grader", "kernel-1"));
    expect(await readFile(path.join(g.dir, "memory.max"), "utf8")).toBe(String(300 * 2 ** 20));
    expect(await readFile(path.join(g.dir, "memory.swap.max"), "utf8")).toBe("0");
    expect(await readFile(path.join(root, "grader", "cnnlab-grader", "cgroup.procs"), "utf8")).toBe(
      String(process.pid),
    );
    expect(await readFile(path.join(root, "grader", "cgroup.subtree_control"), "utf8")).toBe("+memory");
    expect(g.add(4242)).toBe(true);
    expect(await readFile(path.join(g.dir, "cgroup.procs"), "utf8")).toBe("4242");
    expect(g.oomKilled()).toBe(false);
    await writeFile(path.join(g.dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    expect(g.oomKilled()).toBe(true);
  });

  it("gives up (the watchdog alone bounds memory) without cgroup v2's memory controller", async () => {
    const root = await fakeHierarchy("cpu pids\n");
    expect(MemoryCgroup.create("k", 1e8, root, "0::/grader\n")).toBeUndefined();
    expect(MemoryCgroup.create("k", 1e8, root, "4:memory:/x\n")).toBeUndefined(); // cgroup v1
    expect(MemoryCgroup.create("k", 1e8, path.join(root, "missing"), "0::/grader\n")).toBeUndefined();
  });
});

describe("which of a kernel's processes are still alive", () => {
  it("an exited child nobody reaps (a zombie) is not counted: it runs nothing and cannot be killed", async () => {
    // sh starts a child that exits at once, then becomes `sleep`, which never reaps it.
    const parent = spawn("/bin/sh", ["-c", "true & exec sleep 30"], { stdio: "ignore" });
    try {
      let zombie: number | undefined;
      for (let i = 0; i < 100 && zombie === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const children = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, "utf8")
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
        zombie = children.find((c) => isZombie(c));
      }
      expect(zombie, "no zombie child appeared").toBeDefined();
      expect(isZombie(parent.pid!)).toBe(false);
      expect(processTree(parent.pid!)).toEqual([parent.pid]);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
