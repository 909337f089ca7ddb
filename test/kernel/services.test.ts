/**
 * @jupyterlab/services 7 (what JupyterLab uses) against a real `jupyter server` on 127.0.0.1
 * running our kernel: start, execute, display_data / update_display_data, interrupt, restart,
 * shut down, input requests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelManager, KernelMessage, ServerConnection, type Kernel } from "@jupyterlab/services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { makeConnection } from "../../kernel/client.js";
import { installKernelSpec } from "../../kernel/kernelspec.js";
import { assertBuilt, command, missing, skipTitle } from "./integration.js";

const reason = missing([command("jupyter-server")]);

async function runCell(kernel: Kernel.IKernelConnection, code: string) {
  const future = kernel.requestExecute({ code });
  const iopub: KernelMessage.IIOPubMessage[] = [];
  future.onIOPub = (m) => {
    iopub.push(m);
  };
  const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
  return {
    reply,
    iopub,
    outputs: iopub.filter((m) => !["status", "execute_input"].includes(m.header.msg_type)),
  };
}

describe.skipIf(!!reason)(skipTitle("@jupyterlab/services against jupyter server", reason), () => {
  const dir = mkdtempSync(join(tmpdir(), "cnnlab-server-"));
  const token = randomBytes(16).toString("hex");
  let server: ChildProcess | undefined;
  let manager: KernelManager;
  let port = 0;

  beforeAll(async () => {
    assertBuilt();
    installKernelSpec({ prefix: dir });
    port = (await makeConnection()).shell_port;
    server = spawn(
      "jupyter-server",
      [
        "--allow-root",
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        `--ServerApp.token=${token}`,
        `--ServerApp.root_dir=${dir}`,
        "--ServerApp.port_retries=0",
      ],
      {
        cwd: dir,
        env: {
          ...process.env,
          JUPYTER_PATH: join(dir, "share", "jupyter"),
          JUPYTER_DATA_DIR: join(dir, "data"),
          JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
          JUPYTER_CONFIG_DIR: join(dir, "config"),
        },
        stdio: "ignore",
      },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/status?token=${token}`);
        if (r.ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error("jupyter server did not start within 60 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: `http://127.0.0.1:${port}/`,
      wsUrl: `ws://127.0.0.1:${port}/`,
      token,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    manager = new KernelManager({ serverSettings });
    await manager.ready;
  }, 120_000);

  afterAll(async () => {
    manager?.dispose();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once("exit", r));
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      server.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("starts the kernel, executes, displays and updates, interrupts, restarts and shuts down", async () => {
    const kernel = await manager.startNew({ name: "cnnlab" });
    const info = await kernel.info;
    expect(info.implementation).toBe("cnnlab");
    expect(info.language_info.name).toBe("typescript");

    const first = await runCell(kernel, 'const kept = 7;\nconsole.log("hi");\nkept * 6');
    expect(first.reply.content.status).toBe("ok");
    expect(first.outputs.map((m) => m.header.msg_type)).toEqual(["stream", "execute_result"]);
    expect((first.outputs[1].content as KernelMessage.IExecuteResultMsg["content"]).data["text/plain"]).toBe(
      "42",
    );

    const shown = await runCell(
      kernel,
      'display({ "text/plain": "v1" }, { displayId: "live" });\nupdateDisplay("live", { "text/plain": "v2" })',
    );
    expect(shown.outputs.map((m) => m.header.msg_type)).toEqual(["display_data", "update_display_data"]);
    expect((shown.outputs[1].content as KernelMessage.IUpdateDisplayDataMsg["content"]).transient).toEqual({
      display_id: "live",
    });

    const busy = runCell(kernel, "while (true) {}");
    await new Promise((r) => setTimeout(r, 1000));
    await kernel.interrupt();
    const interrupted = await busy;
    expect(interrupted.reply.content.status).toBe("error");
    expect((interrupted.reply.content as KernelMessage.IReplyErrorContent).ename).toBe("KeyboardInterrupt");
    expect(
      (await runCell(kernel, "kept")).outputs.map(
        (m) => (m.content as { data?: Record<string, string> }).data?.["text/plain"],
      ),
    ).toEqual(["7"]);

    await kernel.restart();
    const after = await runCell(kernel, "typeof (globalThis as any).kept");
    expect(after.reply.content.status).toBe("ok");
    expect((after.outputs[0].content as KernelMessage.IExecuteResultMsg["content"]).data["text/plain"]).toBe(
      "'undefined'",
    );

    await kernel.shutdown();
    expect(kernel.isDisposed || kernel.status === "dead").toBe(true);
    const running = await fetch(`http://127.0.0.1:${port}/api/kernels?token=${token}`).then((r) => r.json());
    expect(running).toEqual([]);
  }, 300_000);

  it("answers input requests the way JupyterLab does (future.onStdin + sendInputReply)", async () => {
    const kernel = await manager.startNew({ name: "cnnlab" });
    try {
      await runCell(kernel, "1");
      const future = kernel.requestExecute({
        code: 'const who = await input("who? ");\nconst pin = await input("pin: ", { password: true });\n`${who}:${pin.length}`',
        allow_stdin: true,
      });
      const requests: KernelMessage.IInputRequestMsg["content"][] = [];
      const answers = ["Lab", "1234"];
      future.onStdin = (msg) => {
        if (!KernelMessage.isInputRequestMsg(msg)) return;
        requests.push(msg.content);
        kernel.sendInputReply({ status: "ok", value: answers.shift()! }, msg.header as never);
      };
      const iopub: KernelMessage.IIOPubMessage[] = [];
      future.onIOPub = (m) => {
        iopub.push(m);
      };
      const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
      expect(reply.content.status).toBe("ok");
      expect(requests).toEqual([
        { prompt: "who? ", password: false },
        { prompt: "pin: ", password: true },
      ]);
      const result = iopub.find((m) => m.header.msg_type === "execute_result");
      expect((result?.content as KernelMessage.IExecuteResultMsg["content"]).data["text/plain"]).toBe(
        "'Lab:4'",
      );
    } finally {
      await kernel.shutdown();
    }
  }, 300_000);
});
