import { describe, expect, it } from "vitest";
import type { DisplayPayload } from "../../kernel/display.js";
import type { Engine, EngineIO, ExecuteOutcome, InspectResult } from "../../kernel/engine.js";
import { KernelHandler, type OutChannel } from "../../kernel/handler.js";
import { makeHeader, type IncomingMessage, type JupyterMessage } from "../../kernel/wire.js";

/** A scripted engine: code is a small command language. */
class FakeEngine implements Engine {
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
  interrupted = 0;
  executed: string[] = [];
  #release: (() => void) | undefined;
  async ready() {}
  setIO(io: EngineIO) {
    this.io = io;
  }
  async execute(code: string): Promise<ExecuteOutcome> {
    this.executed.push(code);
    if (code.startsWith("print ")) this.io.stdout(code.slice(6) + "\n");
    if (code.startsWith("warn ")) this.io.stderr(code.slice(5) + "\n");
    if (code === "fail")
      return { status: "error", ename: "Error", evalue: "boom", traceback: ["Error: boom"] };
    if (code === "display")
      this.io.display({ data: { "text/html": "<b>x</b>" }, metadata: {} } as DisplayPayload, "d1", false);
    if (code === "block") await new Promise<void>((r) => (this.#release = r));
    if (code.startsWith("value "))
      return { status: "ok", result: { data: { "text/plain": code.slice(6) }, metadata: {} } };
    return { status: "ok" };
  }
  release() {
    this.#release?.();
  }
  async complete(code: string, pos: number) {
    return { matches: ["abs"], cursorStart: pos - 2, cursorEnd: pos };
  }
  async inspect(_code: string, _pos: number, _detail: number): Promise<InspectResult> {
    return { found: true, data: { "text/plain": "doc" } };
  }
  async isComplete(code: string) {
    return code.endsWith("{")
      ? { status: "incomplete" as const, indent: "  " }
      : { status: "complete" as const };
  }
  interrupt() {
    this.interrupted++;
  }
}

interface Sent {
  channel: OutChannel;
  msg: JupyterMessage;
}

function setup(now?: () => number) {
  const engine = new FakeEngine();
  const sent: Sent[] = [];
  let shutdown: boolean | undefined;
  const handler = new KernelHandler({
    engine,
    out: { send: (channel, msg) => sent.push({ channel, msg }) },
    onShutdown: (restart) => (shutdown = restart),
    now,
    streamFlushMs: 5,
  });
  const request = (
    type: string,
    content: Record<string, unknown> = {},
    channel: "shell" | "control" = "shell",
    receivedAt?: number,
  ): IncomingMessage => {
    const m: IncomingMessage = {
      idents: [Buffer.from("client")],
      header: makeHeader(type, "client-session"),
      parent_header: {},
      metadata: {},
      content,
    };
    handler.receive(channel, m, receivedAt);
    return m;
  };
  const forRequest = (req: IncomingMessage) =>
    sent.filter((s) => s.msg.parent_header.msg_id === req.header.msg_id);
  const iopubTypes = (req: IncomingMessage) =>
    forRequest(req)
      .filter((s) => s.channel === "iopub")
      .map((s) => s.msg.header.msg_type);
  const reply = (req: IncomingMessage) => forRequest(req).find((s) => s.channel !== "iopub")!;
  return { engine, handler, sent, request, forRequest, iopubTypes, reply, shutdown: () => shutdown };
}

describe("KernelHandler with a fake engine", () => {
  it("answers kernel_info with status, protocol 5.3, TypeScript language_info, banner and help links", async () => {
    const t = setup();
    const req = t.request("kernel_info_request");
    await t.handler.drain();
    const r = t.reply(req);
    expect(r.channel).toBe("shell");
    expect(r.msg.header.msg_type).toBe("kernel_info_reply");
    expect(r.msg.content).toMatchObject({
      status: "ok",
      protocol_version: "5.3",
      implementation: "cnnlab",
      banner: "fake",
    });
    expect(r.msg.content.language_info.name).toBe("typescript");
    expect(r.msg.content.language_info.file_extension).toBe(".ts");
    expect(r.msg.content.help_links.length).toBeGreaterThan(0);
    expect(t.iopubTypes(req)).toEqual(["status", "status"]);
    expect(
      t
        .forRequest(req)
        .filter((s) => s.channel === "iopub")
        .map((s) => s.msg.content.execution_state),
    ).toEqual(["busy", "idle"]);
  });

  it("execute: busy, execute_input, stream, execute_result, idle; reply ok with the count", async () => {
    const t = setup();
    const req = t.request("execute_request", { code: "print hello" });
    const req2 = t.request("execute_request", { code: "value 42" });
    await t.handler.drain();
    expect(t.iopubTypes(req)).toEqual(["status", "execute_input", "stream", "status"]);
    expect(t.forRequest(req).find((s) => s.msg.header.msg_type === "stream")!.msg.content).toEqual({
      name: "stdout",
      text: "hello\n",
    });
    expect(t.reply(req).msg.content).toMatchObject({ status: "ok", execution_count: 1 });
    expect(t.iopubTypes(req2)).toEqual(["status", "execute_input", "execute_result", "status"]);
    const result = t.forRequest(req2).find((s) => s.msg.header.msg_type === "execute_result")!;
    expect(result.msg.content).toEqual({ execution_count: 2, data: { "text/plain": "42" }, metadata: {} });
  });

  it("silent execution sends no execute_input/result and does not count", async () => {
    const t = setup();
    const req = t.request("execute_request", { code: "value 1", silent: true });
    await t.handler.drain();
    expect(t.iopubTypes(req)).toEqual(["status", "status"]);
    expect(t.reply(req).msg.content.execution_count).toBe(0);
    const req2 = t.request("execute_request", { code: "value 1", store_history: false });
    await t.handler.drain();
    expect(t.reply(req2).msg.content.execution_count).toBe(0);
    expect(t.iopubTypes(req2)).toContain("execute_result");
    expect(t.handler.history).toHaveLength(0);
  });

  it("after an error aborts only requests queued before it; later ones run", async () => {
    let clock = 0;
    const t = setup(() => clock);
    const failing = t.request("execute_request", { code: "fail" }, "shell", 1);
    const queued = t.request("execute_request", { code: "value queued" }, "shell", 2);
    clock = 10; // the error happens after `queued` arrived
    await t.handler.drain();
    const later = t.request("execute_request", { code: "value later" }, "shell", 20);
    await t.handler.drain();
    expect(t.reply(failing).msg.content).toMatchObject({ status: "error", ename: "Error", evalue: "boom" });
    expect(t.iopubTypes(failing)).toEqual(["status", "execute_input", "error", "status"]);
    expect(t.reply(queued).msg.content.status).toBe("aborted");
    expect(t.iopubTypes(queued)).toEqual(["status", "status"]);
    expect(t.reply(later).msg.content).toMatchObject({ status: "ok", execution_count: 2 });
    expect(t.engine.executed).toEqual(["fail", "value later"]);
  });

  it("stop_on_error=false does not abort queued requests", async () => {
    let clock = 0;
    const t = setup(() => clock);
    t.request("execute_request", { code: "fail", stop_on_error: false }, "shell", 1);
    const queued = t.request("execute_request", { code: "value q" }, "shell", 2);
    clock = 10;
    await t.handler.drain();
    expect(t.reply(queued).msg.content.status).toBe("ok");
  });

  it("complete, inspect, is_complete, comm_info replies", async () => {
    const t = setup();
    const c = t.request("complete_request", { code: "Math.ab", cursor_pos: 7 });
    const i = t.request("inspect_request", { code: "Math.max", cursor_pos: 8, detail_level: 0 });
    const ic = t.request("is_complete_request", { code: "function f() {" });
    const ci = t.request("comm_info_request", {});
    await t.handler.drain();
    expect(t.reply(c).msg.content).toEqual({
      status: "ok",
      matches: ["abs"],
      cursor_start: 5,
      cursor_end: 7,
      metadata: {},
    });
    expect(t.reply(i).msg.content).toEqual({
      status: "ok",
      found: true,
      data: { "text/plain": "doc" },
      metadata: {},
    });
    expect(t.reply(ic).msg.content).toEqual({ status: "incomplete", indent: "  " });
    expect(t.reply(ci).msg.content).toEqual({ status: "ok", comms: {} });
  });

  it("comm_open to an unknown target is answered with comm_close; comm_info lists no open comm", async () => {
    const t = setup();
    const open = t.request("comm_open", { comm_id: "c-1", target_name: "jupyter.widget", data: {} });
    const info = t.request("comm_info_request", { target_name: "jupyter.widget" });
    await t.handler.drain();
    const close = t.forRequest(open).find((s) => s.msg.header.msg_type === "comm_close")!;
    expect(close.channel).toBe("iopub");
    expect(close.msg.content).toEqual({ comm_id: "c-1", data: {} });
    expect(t.reply(info).msg.content).toEqual({ status: "ok", comms: {} });
  });

  it("user_expressions are evaluated after the cell; errors are reported per expression", async () => {
    const t = setup();
    const req = t.request("execute_request", {
      code: "print cell",
      user_expressions: { a: "value 7", b: "fail" },
    });
    await t.handler.drain();
    const ue = t.reply(req).msg.content.user_expressions;
    expect(ue.a).toEqual({ status: "ok", data: { "text/plain": "7" }, metadata: {} });
    expect(ue.b).toMatchObject({ status: "error", ename: "Error", evalue: "boom" });
    expect(t.engine.executed).toEqual(["print cell", "value 7", "fail"]);
    expect(t.iopubTypes(req).filter((x) => x === "execute_result")).toEqual([]);
  });

  it("cursor positions are clamped into the code; detail_level is 0 or 1", async () => {
    const t = setup();
    const seen: number[] = [];
    t.engine.complete = async (_code: string, pos: number) => {
      seen.push(pos);
      return { matches: [], cursorStart: pos + 5, cursorEnd: pos + 5 };
    };
    const details: number[] = [];
    t.engine.inspect = async (_c: string, pos: number, detail: number) => {
      seen.push(pos);
      details.push(detail);
      return { found: false, data: {} };
    };
    const c1 = t.request("complete_request", { code: "abc", cursor_pos: 99 });
    t.request("complete_request", { code: "abc", cursor_pos: -4 });
    t.request("inspect_request", { code: "abcd", cursor_pos: "x", detail_level: 1 });
    t.request("inspect_request", { code: "abcd", cursor_pos: 2, detail_level: 7 });
    await t.handler.drain();
    expect(seen).toEqual([3, 0, 4, 2]);
    expect(details).toEqual([1, 0]);
    expect(t.reply(c1).msg.content).toMatchObject({ cursor_start: 3, cursor_end: 3 });
  });

  it("history: tail, range, search with glob, unique and n", async () => {
    const t = setup();
    for (const code of ["value 1", "value 2", "value 1", "print x"]) t.request("execute_request", { code });
    await t.handler.drain();
    const tail = t.request("history_request", { hist_access_type: "tail", n: 2, output: false, raw: true });
    const withOut = t.request("history_request", { hist_access_type: "tail", n: 1, output: true, raw: true });
    const range = t.request("history_request", {
      hist_access_type: "range",
      session: 1,
      start: 2,
      stop: 3,
      output: false,
      raw: true,
    });
    const search = t.request("history_request", {
      hist_access_type: "search",
      pattern: "value*",
      output: false,
      raw: true,
    });
    const uniq = t.request("history_request", {
      hist_access_type: "search",
      pattern: "value*",
      unique: true,
      output: false,
      raw: true,
    });
    const n1 = t.request("history_request", {
      hist_access_type: "search",
      pattern: "value*",
      n: 1,
      output: false,
      raw: true,
    });
    await t.handler.drain();
    expect(t.reply(tail).msg.content.history).toEqual([
      [1, 3, "value 1"],
      [1, 4, "print x"],
    ]);
    expect(t.reply(withOut).msg.content.history).toEqual([[1, 4, ["print x", "x\n"]]]);
    expect(t.reply(range).msg.content.history).toEqual([[1, 2, "value 2"]]);
    expect(t.reply(search).msg.content.history.map((h: unknown[]) => h[1])).toEqual([1, 2, 3]);
    expect(t.reply(uniq).msg.content.history.map((h: unknown[]) => h[2])).toEqual(["value 2", "value 1"]);
    expect(t.reply(n1).msg.content.history).toEqual([[1, 3, "value 1"]]);
  });

  it("interrupt_request interrupts the engine; control is served while shell is blocked", async () => {
    const t = setup();
    const blocked = t.request("execute_request", { code: "block" });
    await new Promise((r) => setTimeout(r, 10));
    const ki = t.request("kernel_info_request", {}, "control");
    const intr = t.request("interrupt_request", {}, "control");
    await new Promise((r) => setTimeout(r, 10));
    expect(t.reply(ki).channel).toBe("control");
    expect(t.reply(intr).msg.content).toEqual({ status: "ok" });
    expect(t.engine.interrupted).toBe(1);
    expect(t.reply(blocked)).toBeUndefined();
    t.engine.release();
    await t.handler.drain();
    expect(t.reply(blocked).msg.content.status).toBe("ok");
  });

  it("shutdown replies on control and then calls onShutdown with restart", async () => {
    const t = setup();
    const req = t.request("shutdown_request", { restart: true }, "control");
    await t.handler.drain();
    expect(t.reply(req).msg.content).toEqual({ status: "ok", restart: true });
    expect(t.shutdown()).toBe(true);
  });

  it("unknown requests get an error reply; unknown non-requests are only logged", async () => {
    const t = setup();
    const req = t.request("frobnicate_request", {});
    const other = t.request("something_else", {});
    await t.handler.drain();
    expect(t.reply(req).msg.header.msg_type).toBe("frobnicate_reply");
    expect(t.reply(req).msg.content).toMatchObject({ status: "error", ename: "UnknownMessageType" });
    expect(t.reply(other)).toBeUndefined();
    expect(t.iopubTypes(other)).toEqual(["status", "status"]);
  });

  it("display_data carries the display id in transient; stderr goes to the stderr stream", async () => {
    const t = setup();
    const req = t.request("execute_request", { code: "display" });
    const req2 = t.request("execute_request", { code: "warn careful" });
    await t.handler.drain();
    const d = t.forRequest(req).find((s) => s.msg.header.msg_type === "display_data")!;
    expect(d.msg.content).toEqual({
      data: { "text/html": "<b>x</b>" },
      metadata: {},
      transient: { display_id: "d1" },
    });
    expect(t.forRequest(req2).find((s) => s.msg.header.msg_type === "stream")!.msg.content).toEqual({
      name: "stderr",
      text: "careful\n",
    });
  });

  it("batches many small writes into few stream messages", async () => {
    const t = setup();
    const req = t.request("execute_request", { code: "noop" });
    await t.handler.drain();
    for (let i = 0; i < 10_000; i++) t.engine.io.stdout(`line ${i}\n`);
    t.handler.flushStreams();
    const streams = t.sent.filter(
      (s) => s.msg.header.msg_type === "stream" && s.msg.parent_header.msg_id === req.header.msg_id,
    );
    expect(streams.length).toBeLessThan(10);
    expect(
      streams
        .map((s) => s.msg.content.text)
        .join("")
        .split("\n").length,
    ).toBe(10_001);
  });
});
