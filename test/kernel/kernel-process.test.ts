/**
 * The real kernel process (dist/kernel/main.js) through real zeromq sockets, driven by the
 * client in kernel/client.ts.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { endpoint, makeHeader, serialize } from "../../kernel/wire.js";
import { assertBuilt } from "./integration.js";

let k: KernelClient;
const cwd = mkdtempSync(join(tmpdir(), "cnnlab-kernel-test-"));

const types = (r: ExecuteResult) => r.outputs.map((o) => o.header.msg_type);
const text = (r: ExecuteResult, name = "stdout") =>
  r.outputs
    .filter((o) => o.header.msg_type === "stream" && o.content.name === name)
    .map((o) => o.content.text)
    .join("");
const result = (r: ExecuteResult) =>
  r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"];
const error = (r: ExecuteResult) => r.outputs.find((o) => o.header.msg_type === "error")?.content;
const run = (code: string, timeoutMs = 60_000) => k.execute(code, { timeoutMs });

beforeAll(async () => {
  assertBuilt();
  writeFileSync(
    join(cwd, "util.ts"),
    "export function triple(x: number): number {\n  return 3 * x;\n}\nexport const NAME: string = 'util';\n",
  );
  k = await KernelClient.start({ cwd, env: { CNNLAB_KERNEL_LOG: join(cwd, "kernel.log") } });
  // First cell waits for TypeScript and the library to load.
  await run("1", 180_000);
}, 240_000);

afterAll(async () => {
  await k?.shutdown();
  rmSync(cwd, { recursive: true, force: true });
});

describe("kernel process over zeromq", () => {
  it("prints to stdout and stderr streams and returns the last value", async () => {
    const r = await run('console.log("out", 1); console.error("err"); 6 * 7');
    expect(r.reply.content.status).toBe("ok");
    expect(text(r)).toBe("out 1\n");
    expect(text(r, "stderr")).toBe("err\n");
    expect(result(r)).toBe("42");
  });

  it("reports type errors with the cell's own line numbers and does not run the cell", async () => {
    const r = await run('const ok = 1;\nconsole.log("ran");\nconst bad: string = ok;');
    expect(r.reply.content.status).toBe("error");
    expect(r.reply.content.ename).toBe("TypeScriptError");
    const e = error(r)!;
    expect(e.traceback.join("\n")).toMatch(
      /:3:7 - error TS2322: Type 'number' is not assignable to type 'string'/,
    );
    expect(text(r)).toBe("");
  });

  it("keeps declarations across cells: let, const, function, class, interface, imports; redefinition and shadowing", async () => {
    expect(
      (
        await run(
          "let counter = 1;\nfunction bump(by: number) { counter += by; return counter; }\nclass Box { constructor(public v: number) {} }\ninterface Pt { x: number }",
        )
      ).reply.content.status,
    ).toBe("ok");
    expect(result(await run("counter += 10; bump(1)"))).toBe("12");
    expect(result(await run("const p: Pt = { x: new Box(3).v }; p.x"))).toBe("3");
    // redefining a const by re-running with another type
    expect(result(await run("const p = 'now a string'; p.toUpperCase()"))).toBe("'NOW A STRING'");
    // a user name shadows a preloaded library export (cnnlab exports `data`)
    expect(result(await run("const data = [1, 2, 3]; data.length"))).toBe("3");
    expect(result(await run("data.map((x) => x * 2)"))).toBe("[ 2, 4, 6 ]");
    // the library stays reachable through its namespace
    expect((await run("typeof cnnlab")).reply.content.status).toBe("ok");
  });

  it("after an error aborts the requests already queued, then runs the next one sent", async () => {
    const failing = k.execute('throw new Error("first fails")');
    const queued = k.execute('"queued behind the error"');
    expect((await failing).reply.content.status).toBe("error");
    expect((await queued).reply.content.status).toBe("aborted");
    expect(result(await run('"sent afterwards"'))).toBe("'sent afterwards'");
  });

  it("supports top-level await", async () => {
    const r = await run("const v = await new Promise<number>((res) => setTimeout(() => res(5), 20));\nv + 1");
    expect(result(r)).toBe("6");
  });

  it("imports local .ts files relative to its working directory and npm packages", async () => {
    expect(result(await run('import { triple, NAME } from "./util";\ntriple(4)'))).toBe("12");
    expect(result(await run("NAME + triple(1)"))).toBe("'util3'");
    expect(result(await run('import { triple as t3 } from "./util.js";\nt3(2)'))).toBe("6");
    expect(result(await run('import { Command } from "commander";\ntypeof new Command().name'))).toBe(
      "'function'",
    );
    expect(result(await run('import * as path from "node:path";\npath.basename("/a/b.txt")'))).toBe(
      "'b.txt'",
    );
    const typeErr = await run('import { triple } from "./util";\ntriple("x")');
    expect(typeErr.reply.content.ename).toBe("TypeScriptError");
  });

  it("preloads the cnnlab library with types", async () => {
    const r = await run("const t = tensor([[1, 2], [3, 4]]);\nt.shape");
    expect(r.reply.content.status).toBe("ok");
    expect(result(r)).toBe("[ 2, 2 ]");
    const bad = await run("const t2: string = tensor([1]);");
    expect(bad.reply.content.ename).toBe("TypeScriptError");
  });

  it("reports throw 42, rejected promises and errors with a clear message", async () => {
    const r1 = await run("throw 42");
    expect(r1.reply.content.status).toBe("error");
    expect(error(r1)!.evalue).toBe("42");
    const r2 = await run('await Promise.reject(new Error("rejected!"))');
    expect(error(r2)!.evalue).toBe("rejected!");
    const r3 = await run('Promise.reject(new Error("last value rejected"))');
    expect(error(r3)!.evalue).toBe("last value rejected");
    const alive = await run("1 + 1");
    expect(result(alive)).toBe("2");
  });

  it("reports an unhandled rejection after its cell ended and stays alive", async () => {
    const errors: Record<string, any>[] = [];
    k.onIopub = (m) => {
      if (m.header.msg_type === "error") errors.push(m);
    };
    const late = await run('setTimeout(() => { Promise.reject(new Error("late boom")); }, 50); "scheduled"');
    expect(result(late)).toBe("'scheduled'");
    const mine = () => errors.find((m) => m.parent_header.msg_id === late.reply.parent_header.msg_id);
    for (let i = 0; i < 100 && !mine(); i++) await new Promise((r) => setTimeout(r, 100));
    k.onIopub = undefined;
    const got = mine()!.content;
    expect(got.evalue).toBe("late boom");
    expect(got.ename).toMatch(/Unhandled promise rejection/);
    expect(result(await run("2 + 2"))).toBe("4");
  });

  it("gives a clear error for an impossible tensor", async () => {
    const r = await run("zeros([1000000, 1000000])");
    expect(r.reply.content.status).toBe("error");
    expect(error(r)!.evalue).toMatch(/1000000/);
    expect(result(await run("3"))).toBe("3");
  });

  it("display, updateDisplay, clearOutput, the library hook, bytes as base64 and JSON as objects", async () => {
    const r = await run(
      [
        'display({ "text/html": "<b>a</b>", "text/plain": "a" }, { displayId: "d1" });',
        'updateDisplay("d1", { "text/plain": "b" });',
        'display({ "image/png": new Uint8Array([137, 80, 78, 71]), "application/json": \'{"a": 1}\' });',
        "clearOutput({ wait: true });",
        '(globalThis as any)[Symbol.for("cnnlab.kernel.display")].display({ "text/plain": "hook" }, { displayId: "h1" });',
        '(globalThis as any)[Symbol.for("cnnlab.kernel.display")].display({ "text/plain": "hook2" }, { displayId: "h1", update: true });',
        '({ [Symbol.for("Jupyter.display")]() { return { "text/markdown": "**md**", "text/plain": "md" }; } })',
      ].join("\n"),
    );
    expect(types(r)).toEqual([
      "display_data",
      "update_display_data",
      "display_data",
      "clear_output",
      "display_data",
      "update_display_data",
      "execute_result",
    ]);
    const o = r.outputs.map((m) => m.content);
    expect(o[0]).toEqual({
      data: { "text/html": "<b>a</b>", "text/plain": "a" },
      metadata: {},
      transient: { display_id: "d1" },
    });
    expect(o[1].data).toEqual({ "text/plain": "b" });
    expect(o[2].data["image/png"]).toBe(Buffer.from([137, 80, 78, 71]).toString("base64"));
    expect(o[2].data["application/json"]).toEqual({ a: 1 });
    expect(o[3]).toEqual({ wait: true });
    expect(o[5].transient).toEqual({ display_id: "h1" });
    expect(o[6].data).toEqual({ "text/markdown": "**md**", "text/plain": "md" });
  });

  it("completion in code points, inspection with docs, is_complete", async () => {
    const c = await k.request("complete_request", { code: "const é = 'x'; Math.ab", cursor_pos: 22 });
    expect(c.reply.content.matches).toEqual(["abs"]);
    expect(c.reply.content.cursor_start).toBe(20);
    const lib = await k.request("complete_request", { code: "rand", cursor_pos: 4 });
    expect(lib.reply.content.matches).toEqual(expect.arrayContaining(["randn", "randint"]));
    const i = await k.request("inspect_request", { code: "Math.max", cursor_pos: 8, detail_level: 0 });
    expect(i.reply.content.found).toBe(true);
    expect(i.reply.content.data["text/plain"]).toMatch(/Returns the larger/);
    const ic = await k.request("is_complete_request", { code: "for (const x of [1]) {" });
    expect(ic.reply.content).toEqual({ status: "incomplete", indent: "  " });
    expect((await k.request("is_complete_request", { code: "1 +* 2" })).reply.content.status).toBe("invalid");
  });

  it("answers heartbeat and control requests while a cell runs synchronously", async () => {
    const hb = new zmq.Request();
    hb.linger = 0;
    hb.receiveTimeout = 1000;
    hb.connect(endpoint(k.connection, "hb"));
    const busy = run("const end = Date.now() + 2500; while (Date.now() < end) {}");
    await new Promise((r) => setTimeout(r, 500));
    await hb.send("ping");
    const [pong] = await hb.receive();
    expect(pong.toString()).toBe("ping");
    const info = await k.request(
      "kernel_info_request",
      {},
      { channel: "control", timeoutMs: 1000, waitIdle: false },
    );
    expect(info.reply.content.implementation).toBe("cnnlab");
    expect((await busy).reply.content.status).toBe("ok");
    hb.close();
  });

  it("SIGINT stops a busy loop and a pending await; state survives", async () => {
    await run("const kept = 'still here'");
    const loop = run("while (true) {}");
    await new Promise((r) => setTimeout(r, 800));
    k.interrupt();
    const r = await loop;
    expect(r.reply.content.status).toBe("error");
    expect(r.reply.content.ename).toBe("KeyboardInterrupt");
    const wait = run("await new Promise(() => {})");
    await new Promise((r) => setTimeout(r, 800));
    k.interrupt();
    expect((await wait).reply.content.ename).toBe("KeyboardInterrupt");
    expect(result(await run("kept"))).toBe("'still here'");
  });

  it("interrupt_request on control interrupts a busy loop too", async () => {
    const loop = run("while (true) {}");
    await new Promise((r) => setTimeout(r, 800));
    const ir = await k.request(
      "interrupt_request",
      {},
      { channel: "control", timeoutMs: 2000, waitIdle: false },
    );
    expect(ir.reply.content.status).toBe("ok");
    expect((await loop).reply.content.ename).toBe("KeyboardInterrupt");
  });

  it("drops messages with a bad signature or malformed JSON and keeps serving", async () => {
    const msg = {
      header: makeHeader("execute_request", "evil"),
      parent_header: {},
      metadata: {},
      content: { code: "globalThis.hacked = true" },
    };
    const frames = serialize(msg, k.signer);
    frames[1] = Buffer.from("f".repeat(64));
    await k.sendRaw(frames);
    const parts = [JSON.stringify(makeHeader("execute_request", "evil")), "{}", "{}", "{not json"].map((s) =>
      Buffer.from(s),
    );
    const h = createHmac("sha256", k.connection.key);
    for (const p of parts) h.update(p);
    await k.sendRaw([Buffer.from("<IDS|MSG>"), Buffer.from(h.digest("hex")), ...parts]);
    await k.sendRaw([Buffer.from("garbage")]);
    const r = await run("typeof (globalThis as any).hacked");
    expect(result(r)).toBe("'undefined'");
    const unknown = await k.request("no_such_request", {}, { timeoutMs: 5000 });
    expect(unknown.reply.content.status).toBe("error");
  });

  it("stays responsive after a cell prints a million lines (output is batched)", async () => {
    let streams = 0;
    let newlines = 0;
    k.onIopub = (m) => {
      if (m.header.msg_type === "stream") {
        streams++;
        newlines += (m.content.text.match(/\n/g) ?? []).length;
      }
    };
    const r = await run("for (let i = 0; i < 1_000_000; i++) console.log(i);", 180_000);
    k.onIopub = undefined;
    expect(r.reply.content.status).toBe("ok");
    expect(newlines).toBe(1_000_000);
    expect(streams).toBeLessThan(1000);
    const info = await k.request("kernel_info_request", {}, { timeoutMs: 5000 });
    expect(info.reply.content.status).toBe("ok");
    // the banner names the backend, as backendInfo() reports it
    expect(String(info.reply.content.banner)).toMatch(
      /; backend (native|wasm|js)\b.*threads?, WebAssembly \S+\./,
    );
  }, 240_000);

  it("shuts down on request: reply, then the process exits with code 0", async () => {
    const k2 = await KernelClient.start({ cwd });
    const reply = await k2.shutdown(false);
    expect(reply?.content).toEqual({ status: "ok", restart: false });
    expect(await k2.exited()).toBe(0);
  }, 120_000);
});
