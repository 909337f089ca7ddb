/**
 * stdin through the real kernel process and real zeromq sockets (kernel/client.ts answers the
 * input requests on its stdin socket), and through Debian's jupyter_client (`kc.input`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { assertBuilt, missing, PYTHON, pythonModule, skipTitle } from "./integration.js";

let k: KernelClient;
const cwd = mkdtempSync(join(tmpdir(), "cnnlab-stdin-test-"));

const stream = (r: ExecuteResult, name = "stdout") =>
  r.outputs
    .filter((o) => o.header.msg_type === "stream" && o.content.name === name)
    .map((o) => o.content.text)
    .join("");
const result = (r: ExecuteResult) =>
  r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"];
const run = (code: string, allowStdin = true, timeoutMs = 60_000) =>
  k.execute(code, { timeoutMs, allowStdin });

beforeAll(async () => {
  assertBuilt();
  writeFileSync(join(cwd, "helper.cjs"), "module.exports = { twice: (x) => 2 * x };\n");
  k = await KernelClient.start({ cwd, env: { CNNLAB_KERNEL_LOG: join(cwd, "kernel.log") } });
  await run("1", false, 180_000);
}, 240_000);

afterAll(async () => {
  await k?.shutdown();
  rmSync(cwd, { recursive: true, force: true });
});

describe("stdin through the kernel's sockets", () => {
  it("await input(prompt) and input(prompt, { password: true }) send input_request with that prompt", async () => {
    const answers = ["Grace", "s3cret"];
    k.onInputRequest = () => answers.shift();
    const seen = k.inputRequests.length;
    const r = await run(
      [
        'console.log("asking");',
        'const user: string = await input("user: ");',
        'const pw = await input("password: ", { password: true });',
        "`${user}/${pw.length}`",
      ].join("\n"),
    );
    expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
    expect(result(r)).toBe("'Grace/6'");
    expect(stream(r)).toBe("asking\n");
    const requests = k.inputRequests.slice(seen);
    expect(requests.map((m) => m.content)).toEqual([
      { prompt: "user: ", password: false },
      { prompt: "password: ", password: true },
    ]);
    expect(requests.map((m) => m.parent_header.msg_id)).toEqual([
      r.reply.parent_header.msg_id,
      r.reply.parent_header.msg_id,
    ]);
    expect(requests[0].parent_header.msg_type).toBe("execute_request");
  });

  it("prompt() is typed as a promise of a string and gives its default for an empty answer", async () => {
    const answers = ["", "7"];
    k.onInputRequest = () => answers.shift();
    const r = await run(
      [
        'const size: string = await prompt("size?", "10");',
        'const n: string = await prompt("n?");',
        "Number(size) + Number(n)",
      ].join("\n"),
    );
    expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
    expect(result(r)).toBe("17");
    const bad = await run('const wrong: number = await prompt("x");', true);
    expect(bad.reply.content.ename).toBe("TypeScriptError");
    expect(bad.reply.content.evalue).toMatch(/Type 'string' is not assignable to type 'number'/);
  });

  it("input() with allow_stdin false fails at once with StdinNotImplementedError (no request sent)", async () => {
    const seen = k.inputRequests.length;
    const r = await run('const name = await input("name? ");', false, 20_000);
    expect(r.reply.content).toMatchObject({ status: "error", ename: "StdinNotImplementedError" });
    expect(r.reply.content.evalue).toMatch(
      /^input\(\) was called but this frontend does not support input requests/,
    );
    expect(k.inputRequests.length).toBe(seen);
  });

  it("an interrupt while awaiting input() ends the cell with KeyboardInterrupt; the next input works", async () => {
    k.onInputRequest = () => undefined;
    const seen = k.inputRequests.length;
    const pending = run('let got = "none";\ngot = await input("wait: ");', true, 30_000);
    const t0 = Date.now();
    while (k.inputRequests.length === seen && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    await k.request("interrupt_request", {}, { channel: "control", timeoutMs: 10_000, waitIdle: false });
    const r = await pending;
    expect(r.reply.content).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    k.onInputRequest = () => "after";
    const next = await run('`${got} ${await input("again: ")}`');
    expect(result(next)).toBe("'none after'");
  });

  it("readline/promises on process.stdin reads lines through input requests", async () => {
    const answers = ["Ada", "36"];
    k.onInputRequest = () => answers.shift();
    const seen = k.inputRequests.length;
    const r = await run(
      [
        'import * as readline from "node:readline/promises";',
        "const rl = readline.createInterface({ input: process.stdin, output: process.stdout });",
        'const who = await rl.question("name? ");',
        'const age = Number(await rl.question("age? "));',
        "rl.close();",
        "`${who} is ${age + 1} next year`",
      ].join("\n"),
    );
    expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
    expect(result(r)).toBe("'Ada is 37 next year'");
    expect(stream(r)).toBe("name? age? ");
    const requests = k.inputRequests.slice(seen);
    expect(requests).toHaveLength(2);
    expect(requests[0].parent_header.msg_id).toBe(r.reply.parent_header.msg_id);
  });

  it("process.stdin with allow_stdin false fails the cell at once with StdinNotImplementedError naming await input()", async () => {
    const seen = k.inputRequests.length;
    const r = await run(
      [
        'import * as readline from "node:readline/promises";',
        "const rl2 = readline.createInterface({ input: process.stdin });",
        'await rl2.question("never? ");',
      ].join("\n"),
      false,
      20_000,
    );
    expect(r.reply.content).toMatchObject({ status: "error", ename: "StdinNotImplementedError" });
    expect(r.reply.content.evalue).toMatch(
      /^process\.stdin was read but this frontend does not support input requests.*`await input\(prompt\)`/,
    );
    expect(k.inputRequests.length).toBe(seen);
    expect(result(await run("1 + 1", false))).toBe("2");
  });

  it("process.stdin.on('data') is fed through the same channel", async () => {
    k.onInputRequest = () => "chunk";
    const r = await run(
      [
        "const got = await new Promise<string>((resolve) =>",
        "  process.stdin.once('data', (d) => { process.stdin.pause(); resolve(String(d)); }),",
        ");",
        "JSON.stringify(got)",
      ].join("\n"),
    );
    expect(result(r)).toBe(`'"chunk\\\\n"'`);
  });

  it("an interrupt_request while a cell waits for input ends it with KeyboardInterrupt; the kernel stays usable", async () => {
    k.onInputRequest = () => undefined; // leave it unanswered
    const seen = k.inputRequests.length;
    const pending = run(
      [
        "let before = 1;",
        'import * as readline from "node:readline/promises";',
        "const rl3 = readline.createInterface({ input: process.stdin });",
        'await rl3.question("wait? ");',
        "before = 2;",
      ].join("\n"),
      true,
      30_000,
    );
    const t0 = Date.now();
    while (k.inputRequests.length === seen && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    expect(k.inputRequests.length).toBe(seen + 1);
    await k.request("interrupt_request", {}, { channel: "control", timeoutMs: 10_000, waitIdle: false });
    const r = await pending;
    expect(r.reply.content).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    // A late answer to the withdrawn request is ignored; the next cell reads its own line.
    await k.inputReply("stale", k.inputRequests[seen].header);
    k.onInputRequest = () => "fresh";
    const next = await run(
      [
        'import * as readline from "node:readline/promises";',
        "const rl4 = readline.createInterface({ input: process.stdin });",
        'const line = await rl4.question("again? ");',
        "rl4.close();",
        "`${before} ${line}`",
      ].join("\n"),
    );
    expect(result(next)).toBe("'1 fresh'");
  });

  it("SIGINT while a cell waits for input ends it with KeyboardInterrupt too", async () => {
    k.onInputRequest = () => undefined;
    const seen = k.inputRequests.length;
    const pending = run(
      [
        'import * as readline from "node:readline/promises";',
        "const rl5 = readline.createInterface({ input: process.stdin });",
        'await rl5.question("wait? ");',
      ].join("\n"),
      true,
      30_000,
    );
    const t0 = Date.now();
    while (k.inputRequests.length === seen && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 20));
    k.interrupt();
    const r = await pending;
    expect(r.reply.content).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    expect(result(await run("3 * 3", false))).toBe("9");
  });

  it("callback-style readline whose cell ends before the answer: the request is withdrawn with a note on stderr", async () => {
    k.onInputRequest = () => undefined;
    const r = await run(
      [
        'import * as readlineCb from "node:readline";',
        "const rl6 = readlineCb.createInterface({ input: process.stdin, output: process.stdout });",
        'rl6.question("name? ", (a) => console.log(a));',
      ].join("\n"),
    );
    expect(r.reply.content.status).toBe("ok");
    expect(stream(r, "stderr")).toMatch(
      /process\.stdin: the cell ended while a read was waiting for input; the request was withdrawn/,
    );
  });

  it("require and __dirname work in cells: Node built-ins, CommonJS next to the notebook, cnnlab", async () => {
    const r = await run(
      [
        'const fs = require("fs");',
        'const helper = require("./helper.cjs");',
        'const lib = require("cnnlab");',
        `[typeof fs.readFileSync, helper.twice(21), lib.tensor === tensor, __dirname === ${JSON.stringify(cwd)}].join(' ')`,
      ].join("\n"),
      false,
    );
    expect(r.reply.content.status, JSON.stringify(r.reply.content)).toBe("ok");
    expect(result(r)).toBe("'function 42 true true'");
  });
});

const pyReason = missing([pythonModule("jupyter_client")]);

describe.skipIf(!!pyReason)(skipTitle("stdin through jupyter_client", pyReason), () => {
  it("kc.execute(code, allow_stdin=True) + kc.input(value) answers the kernel's input_request", () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), "cnnlab-stdin-jc-"));
    try {
      const script = `
import json, sys, queue
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="cnnlab", startup_timeout=180)
try:
    kc.execute_interactive("1", timeout=180, output_hook=lambda msg: None)
    code = 'const a = await input("Your answer: ");\\nconsole.log("you typed", a)'
    msg_id = kc.execute(code, allow_stdin=True)
    req = kc.get_stdin_msg(timeout=60)
    kc.input("forty two")
    reply = kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=60)
    out = []
    while True:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    print("RESULT", json.dumps({"request": req["msg_type"], "parent": req["parent_header"]["msg_id"] == msg_id,
                      "content": req["content"], "status": reply["content"]["status"], "out": "".join(out)}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`;
      const file = join(dir, "stdin_jc.py");
      writeFileSync(file, script);
      installKernelSpec({ prefix: dir });
      const env = {
        ...process.env,
        JUPYTER_PATH: join(dir, "share", "jupyter"),
        JUPYTER_DATA_DIR: join(dir, "data"),
        JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
        JUPYTER_CONFIG_DIR: join(dir, "config"),
        JUPYTER_PLATFORM_DIRS: "1",
      };
      const r = spawnSync(PYTHON, [file], {
        cwd: dir,
        env,
        encoding: "utf8",
        timeout: 300_000,
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
      expect(line, r.stdout).toBeDefined();
      const got = JSON.parse(line!.slice("RESULT ".length));
      expect(got).toEqual({
        request: "input_request",
        parent: true,
        content: { prompt: "Your answer: ", password: false },
        status: "ok",
        out: "you typed forty two\n",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
