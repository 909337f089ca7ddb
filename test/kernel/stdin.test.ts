/**
 * stdin without sockets: the handler's input_request/input_reply exchange (its Outbound is the
 * injected "send"), the cell-facing input/prompt, the process.stdin stream and the cells' require.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as readline from "node:readline/promises";
import { afterAll, describe, expect, it } from "vitest";
import { makeCellRequire } from "../../kernel/cell-require.js";
import type { Engine, EngineIO, ExecuteOutcome } from "../../kernel/engine.js";
import { KernelHandler, type OutChannel } from "../../kernel/handler.js";
import { KernelStdin, makeInputApi, StdinNotImplementedError } from "../../kernel/stdin.js";
import { makeHeader, type IncomingMessage, type JupyterMessage } from "../../kernel/wire.js";

/** Cells: "ask <prompt>" awaits input(prompt) and prints the answer; "secret" asks for a password. */
class AskingEngine implements Engine {
  readonly languageInfo = {
    name: "typescript",
    version: "5.9.3",
    mimetype: "text/typescript",
    file_extension: ".ts",
    pygments_lexer: "typescript",
    codemirror_mode: "typescript",
    nbconvert_exporter: "script",
  };
  readonly banner = "fake";
  io!: EngineIO;
  async ready() {}
  setIO(io: EngineIO) {
    this.io = io;
  }
  async execute(code: string): Promise<ExecuteOutcome> {
    try {
      if (code.startsWith("ask ") || code === "secret") {
        const password = code === "secret";
        this.io.stdout("before\n");
        const answer = await this.io.input!(password ? "pw: " : code.slice(4), password, "input");
        this.io.stdout(`got ${answer}\n`);
      }
      if (code === "double")
        await Promise.all([this.io.input!("a", false, "input"), this.io.input!("b", false, "input")]);
      if (code === "forget") void this.io.input!("never answered", false, "input").catch(() => undefined);
      if (code === "forget stdin") void this.io.input!("", false, "stdin").catch(() => undefined);
      return { status: "ok" };
    } catch (e) {
      const err = e as Error;
      return { status: "error", ename: err.name, evalue: err.message, traceback: [] };
    }
  }
  async complete() {
    return { matches: [], cursorStart: 0, cursorEnd: 0 };
  }
  async inspect() {
    return { found: false, data: {} };
  }
  async isComplete() {
    return { status: "complete" as const };
  }
  interrupt() {}
}

interface Sent {
  channel: OutChannel;
  msg: JupyterMessage;
  idents?: Uint8Array[];
}

function setup() {
  const engine = new AskingEngine();
  const sent: Sent[] = [];
  let onStdin: ((m: Sent) => void) | undefined;
  const handler = new KernelHandler({
    engine,
    out: {
      send: (channel, msg, idents) => {
        const s = { channel, msg, idents };
        sent.push(s);
        if (channel === "stdin") onStdin?.(s);
      },
    },
    streamFlushMs: 1,
  });
  const incoming = (type: string, content: Record<string, unknown>, parent = {}): IncomingMessage => ({
    idents: [Buffer.from("client-7")],
    header: makeHeader(type, "client-session"),
    parent_header: parent,
    metadata: {},
    content,
  });
  const execute = (code: string, allowStdin: boolean | undefined) => {
    const m = incoming(
      "execute_request",
      allowStdin === undefined ? { code } : { code, allow_stdin: allowStdin },
    );
    handler.receive("shell", m);
    return m;
  };
  const reply = (m: JupyterMessage) =>
    sent.find(
      (s) => s.msg.parent_header.msg_id === m.header.msg_id && s.msg.header.msg_type === "execute_reply",
    )?.msg.content;
  const stdout = () =>
    sent
      .filter((s) => s.msg.header.msg_type === "stream")
      .map((s) => s.msg.content.text)
      .join("");
  const stderr = () =>
    sent
      .filter((s) => s.msg.header.msg_type === "stream" && s.msg.content.name === "stderr")
      .map((s) => s.msg.content.text)
      .join("");
  const nextInputRequest = () => new Promise<Sent>((resolve) => (onStdin = resolve));
  return { handler, sent, incoming, execute, reply, stdout, stderr, nextInputRequest };
}

describe("handler: input_request / input_reply", () => {
  it("sends input_request on stdin to the requesting client, parented to the execute_request, and resolves on input_reply", async () => {
    const t = setup();
    const asked = t.nextInputRequest();
    const req = t.execute("ask your name? ", true);
    const r = await asked;
    expect(r.channel).toBe("stdin");
    expect(r.msg.header.msg_type).toBe("input_request");
    expect(r.msg.content).toEqual({ prompt: "your name? ", password: false });
    expect(r.msg.parent_header).toEqual(req.header);
    expect(r.idents?.map((i) => Buffer.from(i).toString())).toEqual(["client-7"]);
    // What the cell printed before asking was sent before the request.
    const requestIndex = t.sent.indexOf(r);
    expect(t.sent.slice(0, requestIndex).some((s) => s.msg.content.text === "before\n")).toBe(true);
    t.handler.receiveStdin(t.incoming("input_reply", { value: "Ada" }, r.msg.header));
    await t.handler.drain();
    expect(t.reply(req)).toMatchObject({ status: "ok" });
    expect(t.stdout()).toBe("before\ngot Ada\n");
  });

  it("passes password: true and accepts a reply without parent header (jupyter_client's kc.input)", async () => {
    const t = setup();
    const asked = t.nextInputRequest();
    const req = t.execute("secret", true);
    const r = await asked;
    expect(r.msg.content).toEqual({ prompt: "pw: ", password: true });
    t.handler.receiveStdin(t.incoming("input_reply", { value: "hunter2" }));
    await t.handler.drain();
    expect(t.reply(req)).toMatchObject({ status: "ok" });
    expect(t.stdout()).toContain("got hunter2\n");
  });

  it("ignores replies to another request and other message types on stdin", async () => {
    const t = setup();
    const asked = t.nextInputRequest();
    const req = t.execute("ask q", true);
    const r = await asked;
    t.handler.receiveStdin(t.incoming("input_reply", { value: "wrong" }, makeHeader("input_request", "x")));
    t.handler.receiveStdin(t.incoming("comm_msg", { value: "wrong" }, r.msg.header));
    t.handler.receiveStdin(t.incoming("input_reply", { value: "right" }, r.msg.header));
    await t.handler.drain();
    expect(t.reply(req)).toMatchObject({ status: "ok" });
    expect(t.stdout()).toContain("got right\n");
    expect(t.stdout()).not.toContain("wrong");
  });

  it("allow_stdin false (or missing) fails input() at once with StdinNotImplementedError and sends no request", async () => {
    for (const allow of [false, undefined]) {
      const t = setup();
      const req = t.execute("ask q", allow);
      await t.handler.drain();
      expect(t.reply(req)).toMatchObject({ status: "error", ename: "StdinNotImplementedError" });
      expect(String(t.reply(req)?.evalue)).toMatch(
        /^input\(\) was called but this frontend does not support input requests/,
      );
      expect(t.sent.filter((s) => s.channel === "stdin")).toEqual([]);
    }
  });

  it("an interrupt_request while waiting rejects the input with KeyboardInterrupt; the next cell asks again", async () => {
    const t = setup();
    const asked = t.nextInputRequest();
    const req = t.execute("ask q", true);
    await asked;
    t.handler.receive("control", t.incoming("interrupt_request", {}));
    await t.handler.drain();
    expect(t.reply(req)).toMatchObject({ status: "error", ename: "KeyboardInterrupt" });
    const again = t.nextInputRequest();
    const req2 = t.execute("ask again", true);
    const r2 = await again;
    t.handler.receiveStdin(t.incoming("input_reply", { value: "fine" }, r2.msg.header));
    await t.handler.drain();
    expect(t.reply(req2)).toMatchObject({ status: "ok" });
    expect(t.stdout()).toContain("got fine\n");
  });

  it("a second request while one waits fails clearly; a request left when the cell ends is withdrawn", async () => {
    const t = setup();
    const twice = t.execute("double", true);
    await t.handler.drain();
    expect(String(t.reply(twice)?.evalue)).toMatch(/another input request still waits/);
    const forget = t.execute("forget", true);
    await t.handler.drain();
    expect(t.reply(forget)).toMatchObject({ status: "ok" });
    // The withdrawn request's late reply changes nothing, and input outside a cell fails clearly.
    t.handler.receiveStdin(t.incoming("input_reply", { value: "late" }));
    await expect(t.handler.requestInput("x", false)).rejects.toThrow(/while no cell is running/);
    const stdinForget = t.execute("forget stdin", true);
    await t.handler.drain();
    expect(t.reply(stdinForget)).toMatchObject({ status: "ok" });
    expect(t.stderr()).toMatch(
      /process\.stdin: the cell ended while a read was waiting for input.*await input\(prompt\)/,
    );
  });
});

describe("cell-facing input, prompt and process.stdin", () => {
  it("input passes prompt and password; prompt gives the default for an empty answer", async () => {
    const calls: [string, boolean, string][] = [];
    const answers = ["typed", "", "x"];
    const api = makeInputApi(async (p, pw, src) => {
      calls.push([p, pw, src]);
      return answers.shift()!;
    });
    expect(await api.input("name? ")).toBe("typed");
    expect(await api.prompt("size?", "10")).toBe("10");
    expect(await api.input("pw", { password: true })).toBe("x");
    expect(calls).toEqual([
      ["name? ", false, "input"],
      ["size?", false, "input"],
      ["pw", true, "input"],
    ]);
  });

  it("readline/promises' question on the kernel stdin reads one line per input request", async () => {
    const lines = ["first", "second"];
    let requests = 0;
    const stdin = new KernelStdin(
      async () => {
        requests++;
        return lines.shift() ?? new Promise<string>(() => {});
      },
      () => undefined,
    );
    const rl = readline.createInterface({ input: stdin, terminal: false });
    expect(await rl.question("a? ")).toBe("first");
    expect(await rl.question("b? ")).toBe("second");
    rl.close();
    expect(requests).toBeGreaterThanOrEqual(2);
  });

  it("when no line can come, the stream fails the running cell with StdinNotImplementedError naming await input()", async () => {
    const failed: Error[] = [];
    const stdin = new KernelStdin(
      () => Promise.reject(new StdinNotImplementedError("process.stdin was read while no cell is running")),
      (e) => failed.push(e),
    );
    stdin.on("data", () => undefined);
    await new Promise((r) => setTimeout(r, 10));
    expect(failed).toHaveLength(1);
    expect(failed[0].name).toBe("StdinNotImplementedError");
    expect(failed[0].message).toMatch(
      /^process\.stdin was read while no cell is running\. In a notebook, .*`await input\(prompt\)`/,
    );
    expect(stdin.destroyed).toBe(true);
  });
});

describe("require in cells", () => {
  const dir = mkdtempSync(join(tmpdir(), "cnnlab-require-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads Node built-ins, CommonJS files next to the notebook, and the kernel's built-in modules", () => {
    writeFileSync(join(dir, "helper.cjs"), "module.exports = { twice: (x) => 2 * x };\n");
    const lib = { marker: 1 };
    const req = makeCellRequire(dir, (name) => (name === "cnnlab" ? lib : undefined));
    expect(typeof req("fs").readFileSync).toBe("function");
    expect(req("node:path").join("a", "b")).toBe("a/b");
    expect(req("./helper.cjs").twice(21)).toBe(42);
    expect(req("cnnlab")).toBe(lib);
    expect(req.resolve("./helper.cjs")).toBe(join(dir, "helper.cjs"));
    expect(() => req("./missing-module")).toThrow(/Cannot find module/);
  });
});
