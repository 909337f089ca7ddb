/**
 * Interrupts through the real kernel process and sockets: the library's state after interrupting
 * training loops and library calls, user finally blocks, loops after and around await, SIGINT at
 * random moments, the first cell of a fresh kernel, process.exit and late errors.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelClient, type ExecuteResult } from "../../kernel/client.js";
import { assertBuilt } from "./integration.js";

const cwd = mkdtempSync(join(tmpdir(), "cnnlab-interrupt-"));
let k: KernelClient;

const result = (r: ExecuteResult) =>
  r.outputs.find((o) => o.header.msg_type === "execute_result")?.content.data["text/plain"];
const stdout = (r: ExecuteResult) =>
  r.outputs
    .filter((o) => o.header.msg_type === "stream" && o.content.name === "stdout")
    .map((o) => o.content.text)
    .join("");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const interruptRequest = (client: KernelClient) =>
  client.request("interrupt_request", {}, { channel: "control", timeoutMs: 20_000, waitIdle: false });

/**
 * Runs `code` and sends an interrupt_request `afterMs` after the cell printed "go" (its first
 * statement), or after it was sent when `fromStart`; returns the execute result.
 */
async function interrupted(
  code: string,
  afterMs: number,
  client = k,
  fromStart = false,
): Promise<ExecuteResult> {
  let started!: () => void;
  const go = new Promise<void>((r) => (started = r));
  client.onIopub = (m) => {
    if (m.header.msg_type === "stream" && String(m.content.text).includes("go")) started();
  };
  const pending = client.execute(fromStart ? code : `console.log("go"); ${code}`, { timeoutMs: 30_000 });
  if (!fromStart) await go;
  client.onIopub = undefined;
  await sleep(afterMs);
  const reply = await interruptRequest(client);
  expect(reply.reply.content.status).toBe("ok");
  return pending;
}

// A fixed network and batch: the gradient of its loss is the reference the state checks compare.
const SETUP = `manualSeed(7);
const net = new nn.Sequential(new nn.Linear(32, 64), new nn.ReLU(), new nn.Linear(64, 4));
const opt = new optim.SGD(net.parameters(), { lr: 0.01 });
const x = randn([128, 32]);
const big = randn([256, 256]);
const img = randn([4, 8, 32, 32]);
const w = randn([16, 8, 3, 3]);
function gradNorm(): number {
  manualSeed(3);
  const probe = new nn.Linear(32, 4);
  probe.zeroGrad();
  probe.forward(x).pow(2).mean().backward();
  return probe.weight.grad!.abs().sum().item();
}
const reference = gradNorm();
let steps = 0;`;

beforeAll(async () => {
  assertBuilt();
  k = await KernelClient.start({ cwd, env: { CNNLAB_KERNEL_LOG: join(cwd, "kernel.log") } });
  const r = await k.execute(SETUP, { timeoutMs: 180_000 });
  expect(r.reply.content.status).toBe("ok");
}, 240_000);

afterAll(async () => {
  await k?.shutdown();
  rmSync(cwd, { recursive: true, force: true });
});

describe("interrupts", () => {
  it("a training loop: KeyboardInterrupt, then backward works and gives the same gradient", async () => {
    const r = await interrupted(
      "for (;;) { opt.zeroGrad(); net.forward(x).pow(2).mean().backward(); opt.step(); steps++; }",
      700,
    );
    expect(r.reply.content.ename).toBe("KeyboardInterrupt");
    const after = await k.execute("[isGradEnabled(), steps > 0, gradNorm() === reference]");
    expect(result(after)).toBe("[ true, true, true ]");
  });

  it("a loop of library calls (matmul, conv2d, noGrad) is stopped and the next tensor cell runs", async () => {
    for (let round = 0; round < 3; round++) {
      const r = await interrupted(
        "for (;;) { matmul(big, big); noGrad(() => F.conv2d(img, w, null, { padding: 1 }).sum().item()); }",
        300 + 200 * round,
      );
      expect(r.reply.content.ename).toBe("KeyboardInterrupt");
      const next = await k.execute(
        "[matmul(big, big).shape[0], F.conv2d(img, w).shape[1], isGradEnabled()]",
        {
          timeoutMs: 30_000,
        },
      );
      expect(result(next)).toBe("[ 256, 16, true ]");
    }
  });

  it("one long multi-threaded library call is terminated; the thread pool restarts and matmul is right", async () => {
    await k.execute(
      "const huge = randn([3072, 3072]); const s1 = randn([300, 200]); const s2 = randn([200, 100]);",
      {
        timeoutMs: 60_000,
      },
    );
    // Eight products of 58 GFLOP each: seconds even on a fast machine's BLAS, so the interrupt and
    // the preemption 0.4 s after it both land inside the call.
    const r = await interrupted(
      "[1, 2, 3, 4, 5, 6, 7, 8].reduce((a) => matmul(a, huge), huge).sum().item()",
      300,
    );
    expect(r.reply.content.ename).toBe("KeyboardInterrupt");
    const check = await k.execute(
      'setBackend("js"); const jsRef = matmul(s1, s2); setBackend("wasm"); [matmul(s1, s2).sub(jsRef).abs().max().item() < 1e-4, matmul(huge, randn([3072, 64])).shape]',
      { timeoutMs: 60_000 },
    );
    expect(result(check)).toBe("[ true, [ 3072, 64 ] ]");
  }, 120_000);

  it("a user's finally block runs; the traceback names the cell's line", async () => {
    const r = await interrupted(
      "let spins = 0;\ntry {\n  for (;;) spins++;\n} finally {\n  console.log('cleaned up');\n}",
      300,
    );
    expect(r.reply.content.ename).toBe("KeyboardInterrupt");
    expect(stdout(r)).toBe("go\ncleaned up\n");
    const tb = r.outputs.find((o) => o.header.msg_type === "error")!.content.traceback.join("\n");
    expect(tb).toMatch(/cell\[\d+\], line 3:/);
  });

  it("a busy loop after an await, and a loop with an await inside, both stop for good", async () => {
    const r1 = await interrupted("await new Promise((r) => setTimeout(r, 50));\nwhile (true) {}", 400);
    expect(r1.reply.content.ename).toBe("KeyboardInterrupt");
    const r2 = await interrupted(
      "let ticks = 0;\nfor (;;) { ticks++; await new Promise((r) => setTimeout(r, 5)); }",
      300,
    );
    expect(r2.reply.content.ename).toBe("KeyboardInterrupt");
    const t1 = Number(result(await k.execute("ticks")));
    await sleep(200);
    expect(Number(result(await k.execute("ticks")))).toBe(t1);
  });

  it("SIGINT at random moments while short cells run back to back never kills the kernel", async () => {
    let stop = false;
    let signals = 0;
    const shooter = (async () => {
      while (!stop) {
        await sleep(1 + Math.random() * 25);
        k.interrupt();
        signals++;
      }
    })();
    const statuses = new Set<string>();
    // Cells get faster over time; run them until enough signals have landed, not a fixed count.
    let cells = 0;
    for (let i = 0; i < 60 || (signals <= 150 && i < 2_000); i++) {
      cells++;
      const r = await k.execute(
        i % 3 === 0
          ? "opt.zeroGrad(); net.forward(x).pow(2).mean().backward(); opt.step(); 1"
          : i % 3 === 1
            ? "matmul(big, big).sum().item()"
            : "F.conv2d(img, w).shape",
        { timeoutMs: 30_000 },
      );
      statuses.add(String(r.reply.content.status === "ok" ? "ok" : r.reply.content.ename));
    }
    stop = true;
    await shooter;
    expect(signals, `signals sent over ${cells} cells`).toBeGreaterThan(150);
    expect([...statuses].every((s) => s === "ok" || s === "KeyboardInterrupt")).toBe(true);
    expect(k.process?.exitCode).toBeNull();
    await sleep(100);
    const after = await k.execute("[isGradEnabled(), gradNorm() === reference]", { timeoutMs: 30_000 });
    expect(result(after)).toBe("[ true, true ]");
  }, 120_000);

  it("a late rejection is charged to the cell that caused it, not to the running one", async () => {
    const errors: { parent: string; evalue: string }[] = [];
    k.onIopub = (m) => {
      if (m.header.msg_type === "error")
        errors.push({ parent: String(m.parent_header.msg_id), evalue: String(m.content.evalue) });
    };
    const early = await k.execute('setTimeout(() => { Promise.reject(new Error("late boom")); }, 200); 1');
    const running = k.execute("await new Promise((r) => setTimeout(r, 600)); 2");
    const queued = k.execute("3");
    expect(result(await running)).toBe("2");
    expect(result(await queued)).toBe("3");
    k.onIopub = undefined;
    expect(errors).toEqual([{ parent: early.reply.parent_header.msg_id, evalue: "late boom" }]);
  });
});

describe("a fresh kernel", () => {
  it("interrupted while it prepares its first cell cancels that cell; process.exit(3) replies, then exits with 3", async () => {
    const fresh = await KernelClient.start({ cwd });
    try {
      const r = await interrupted("while (true) {}", 150, fresh, true);
      expect(r.reply.content.ename).toBe("KeyboardInterrupt");
      expect(result(await fresh.execute("1 + 1", { timeoutMs: 60_000 }))).toBe("2");
      const exit = new Promise((resolve) =>
        fresh.process!.once("exit", (code, signal) => resolve([code, signal])),
      );
      const r2 = await fresh.execute("process.exit(3)", { timeoutMs: 30_000 });
      expect(r2.reply.content.ename).toBe("SystemExit");
      // a cell sent once the reply is in (as a grader does) never runs: the kernel is on its way out
      const next = fresh.execute("'ran after process.exit'", { timeoutMs: 10_000 }).then(
        (r) => r.reply.content.status as string,
        () => "no reply",
      );
      expect(await exit).toEqual([3, null]);
      expect(await next).toBe("no reply");
    } finally {
      await fresh.close(0);
    }
  }, 120_000);
});
