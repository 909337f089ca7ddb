/**
 * Submissions written to attack the grader and their classmates (issue observations 1–3), graded
 * with the real cnnlab kernel in its bubblewrap sandbox at --jobs 2: each attack must find
 * nothing and change nothing, and the honest students next to it keep full marks.
 */
import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { autograde } from "../../src/grading/autograde.js";
import type { SubmissionResult } from "../../src/grading/report.js";
import {
  FULL_MARKS,
  HIDDEN_MARKER,
  HONEST,
  kernelBuilt,
  processesWith,
  sandboxAvailable,
  submission,
  writeBatch,
} from "./tiny-assignment.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The text a student cell printed (the executed notebook in the student's output folder). */
async function printed(out: string, student: string, marker: string): Promise<string> {
  const nb = JSON.parse(await readFile(path.join(out, student, "doubling.ipynb"), "utf8")) as {
    cells: { outputs?: { text?: string | string[] }[] }[];
  };
  for (const c of nb.cells) {
    for (const o of c.outputs ?? []) {
      const t = Array.isArray(o.text) ? o.text.join("") : (o.text ?? "");
      const i = t.indexOf(marker);
      if (i >= 0) return t.slice(i + marker.length).split("\n")[0]!;
    }
  }
  throw new Error(`${student} printed no ${marker}`);
}

/** The folder of this cnnlab checkout, which the sandbox shows read-only at the same path. */
const installRoot = realpathSync(fileURLToPath(new URL("../..", import.meta.url))).replace(/\/$/, "");

const byName = (rs: SubmissionResult[]) => Object.fromEntries(rs.map((r) => [r.student, r]));

describe.runIf(kernelBuilt && sandboxAvailable)("each submission is sealed off", () => {
  it("sees no other kernel, process, connection file, grader file or variable, and outlives nothing", async () => {
    const batch = await writeBatch({});
    const out = batch.out;
    // Observation 1: look for other kernels' connection files and every process, then kill and
    // stop whatever can be seen (with --jobs 2 the classmates' kernels run at the same time).
    const snoop = `import * as fs from "node:fs";
const found: string[] = [];
const walk = (d: string, depth: number): void => {
  if (depth > 5) return;
  let es: fs.Dirent[] = [];
  try { es = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
  for (const e of es) {
    const p = d + "/" + e.name;
    if (e.isDirectory()) walk(p, depth + 1);
    else if (/\\.json$/.test(e.name)) {
      // the cnnlab install is visible read-only (it may sit under /tmp); a connection file is not
      let text = "";
      try { text = fs.readFileSync(p, "utf8"); } catch {}
      if (!p.startsWith(${JSON.stringify(installRoot + "/")}) || /"(shell_port|signature_scheme)"/.test(text)) found.push(p);
    }
  }
};
for (const d of ["/tmp", "/run", "/root", "/home", "/var/tmp", "/dev/shm"]) walk(d, 0);
const pids = fs.readdirSync("/proc").filter((n) => /^\\d+$/.test(n)).map(Number);
for (const p of pids) if (p !== process.pid) { try { process.kill(p, "SIGSTOP"); } catch {} }
const tamper: string[] = [];
for (const f of fs.readdirSync("/run/kernel")) {
  try { fs.renameSync("/run/kernel/" + f, "/run/kernel/" + f + ".old"); tamper.push("renamed " + f); } catch {}
}
try { fs.writeFileSync("/run/kernel/kernel-1", ""); tamper.push("created"); } catch {}
console.log("SNOOP" + JSON.stringify({ found, pids, tamper }));`;
    // Observation 2: detached children that outlive the kernel, one rewriting results later.
    const escape = `import { spawn } from "node:child_process";
const later = 'setTimeout(() => { for (const f of ${JSON.stringify([path.join(out, "escaper", "result.json"), path.join(out, "honest1", "result.json")])}) { try { require("fs").writeFileSync(f, "HACKED"); } catch {} } }, 1500); setInterval(() => {}, 1000);';
spawn(process.execPath, ["-e", later, "cnnlab-escape-marker"], { detached: true, stdio: "ignore" }).unref();
spawn(process.execPath, ["-e", "for (;;) {}", "cnnlab-spin-marker"], { detached: true, stdio: "ignore" }).unref();
console.log("ESCAPE started");`;
    // Observation 3: the grader's command line, its source notebook, its environment.
    const leak = `import * as fs from "node:fs";
let cmd = "", src = "";
try { cmd = fs.readFileSync("/proc/" + process.ppid + "/cmdline", "utf8"); } catch {}
try { src = fs.readFileSync(${JSON.stringify(batch.source)}, "utf8"); } catch (e) { src = "unreadable"; }
let others = "";
try { others = fs.readdirSync(${JSON.stringify(path.dirname(batch.files[0] ?? path.join(batch.dir, "submitted", "x")))}).join(","); } catch { others = "unreadable"; }
console.log("LEAK" + JSON.stringify({ cmd, src, others, env: process.env }));`;
    const subs = {
      honest1: submission(HONEST),
      snooper: submission(HONEST, [snoop]),
      honest2: submission(HONEST),
      escaper: submission(HONEST, [escape]),
      leaker: submission(HONEST, [leak]),
      honest3: submission(HONEST),
    };
    const b = await writeBatch(subs, batch.dir);
    process.env.CNNLAB_TEST_GRADER_SECRET = "grader-secret-91c2";
    let s;
    try {
      s = await autograde({
        submissions: b.files,
        source: b.source,
        out,
        jobs: 2,
        cores: 2,
        timeoutSeconds: 60,
      });
    } finally {
      delete process.env.CNNLAB_TEST_GRADER_SECRET;
    }
    const by = byName(s.results);
    for (const name of Object.keys(subs)) {
      expect({ name, score: by[name]!.score, status: by[name]!.status }).toEqual({
        name,
        score: FULL_MARKS,
        status: "graded",
      });
    }

    const snooped = JSON.parse(await printed(out, "snooper", "SNOOP")) as {
      found: string[];
      pids: number[];
      tamper: string[];
    };
    // not even its own connection file (deleted once the kernel is up), and its sockets stay
    expect(snooped.found).toEqual([]);
    expect(snooped.tamper).toEqual([]);
    expect(snooped.pids.length).toBeLessThanOrEqual(3); // the sandbox's init, the kernel, itself

    const leaked = JSON.parse(await printed(out, "leaker", "LEAK")) as {
      cmd: string;
      src: string;
      others: string;
      env: Record<string, string>;
    };
    // Its parent is the sandbox's init, whose command line names no grader file.
    expect(leaked.cmd).not.toContain(path.dirname(b.source));
    expect(leaked.cmd).not.toContain(out);
    expect(leaked.src).not.toContain(HIDDEN_MARKER);
    expect(leaked.others).not.toMatch(/honest|snooper/);
    expect(Object.keys(leaked.env).sort()).not.toContain("CNNLAB_TEST_GRADER_SECRET");
    expect(leaked.env).toMatchObject({ CNNLAB_GRADING: "1", CNNLAB_NUM_THREADS: "1" });
    // What students get back (the executed notebook is the grader's copy, hidden tests included).
    for (const name of Object.keys(subs)) {
      for (const f of ["feedback.html", "results.json"]) {
        expect(await readFile(path.join(out, name, f), "utf8")).not.toContain(HIDDEN_MARKER);
      }
    }

    // Nothing a submission started is left, and nothing rewrites the results afterwards.
    expect(await processesWith("cnnlab-spin-marker")).toEqual([]);
    expect(await processesWith("cnnlab-escape-marker")).toEqual([]);
    await sleep(2500);
    for (const name of ["escaper", "honest1"]) {
      const r = JSON.parse(await readFile(path.join(out, name, "result.json"), "utf8")) as SubmissionResult;
      expect(r.score).toBe(FULL_MARKS);
    }
    const csv = await readFile(path.join(out, "grades.csv"), "utf8");
    expect(csv.trim().split("\n")).toHaveLength(1 + Object.keys(subs).length);
  }, 180_000);
});
