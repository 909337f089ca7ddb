/**
 * The grader's side of a kernel's zeromq channels (shell, control, iopub). Every message is
 * delivered with the id of the request it answers (its parent header), so that outputs are
 * charged to the cell that caused them and nothing else. Messages larger than `maxMessageBytes`
 * are never parsed: only their parent is read, and their size reported, so that one submission
 * printing gigabytes cannot exhaust the grader.
 *
 * zeromq and the wire format (kernel/wire.ts) are loaded at run time: the grading library does
 * not depend on the kernel statically.
 */
import type { ConnectionInfo } from "./kernel-process.js";

interface Header {
  msg_id: string;
  msg_type: string;
  [key: string]: unknown;
}
interface WireModule {
  Signer: new (
    key: string,
    scheme?: string,
  ) => {
    sign(frames: readonly Buffer[]): string;
    verify(signature: Buffer, frames: readonly Buffer[]): boolean;
  };
  makeHeader(msgType: string, session: string, username?: string): Header;
  serialize(
    msg: { header: Header; parent_header: object; metadata: object; content: object },
    signer: InstanceType<WireModule["Signer"]>,
  ): Buffer[];
  endpoint(info: ConnectionInfo, channel: "shell" | "control" | "iopub" | "stdin" | "hb"): string;
}
interface Socket {
  connect(address: string): void;
  close(): void;
  send(frames: Buffer[]): Promise<void>;
  linger: number;
  receiveHighWaterMark: number;
  readonly closed: boolean;
  [Symbol.asyncIterator](): AsyncIterator<Buffer[]>;
}
interface ZmqModule {
  Dealer: new () => Socket;
  Subscriber: new () => Socket & { subscribe(...topics: string[]): void };
}

export interface KernelMessage {
  msgType: string;
  /** msg_id of the request this message answers ("" when it has no parent) */
  parentId: string;
  content: Record<string, unknown>;
  /** set instead of content when the message was too large to parse */
  oversizedBytes?: number;
}

async function loadModules(): Promise<{ wire: WireModule; zmq: ZmqModule }> {
  const zmq = (await import("zeromq")) as unknown as ZmqModule;
  const errors: string[] = [];
  // dist/src/grading/executors/channels.js → dist/kernel/wire.js; from the sources, the .ts file.
  for (const rel of ["../../../kernel/wire.js", "../../../kernel/wire.ts"]) {
    try {
      const wire = (await import(new URL(rel, import.meta.url).href)) as WireModule;
      return { wire, zmq };
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(
    `the kernel's wire format could not be loaded (${errors[0]}); build cnnlab (npm run build)`,
  );
}

const DELIMITER = Buffer.from("<IDS|MSG>");

function parseObject(frame: Buffer | undefined): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse((frame ?? Buffer.alloc(0)).toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export class KernelChannels {
  /** called with every correctly signed message from shell, control and iopub */
  onMessage: ((channel: "shell" | "control" | "iopub", msg: KernelMessage) => void) | undefined;
  readonly #session = `grader-${Math.random().toString(36).slice(2)}`;
  readonly #signer: InstanceType<WireModule["Signer"]>;
  readonly #sockets: { shell: Socket; control: Socket; iopub: Socket };
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly wire: WireModule,
    zmq: ZmqModule,
    connection: ConnectionInfo,
    private readonly maxMessageBytes: number,
  ) {
    this.#signer = new wire.Signer(connection.key, connection.signature_scheme);
    const iopub = new zmq.Subscriber();
    this.#sockets = { shell: new zmq.Dealer(), control: new zmq.Dealer(), iopub };
    for (const [name, s] of Object.entries(this.#sockets) as ["shell" | "control" | "iopub", Socket][]) {
      s.linger = 0;
      s.connect(wire.endpoint(connection, name));
      void this.#loop(name, s);
    }
    iopub.subscribe();
  }

  static async connect(connection: ConnectionInfo, maxMessageBytes: number): Promise<KernelChannels> {
    const { wire, zmq } = await loadModules();
    return new KernelChannels(wire, zmq, connection, maxMessageBytes);
  }

  async #loop(channel: "shell" | "control" | "iopub", sock: Socket): Promise<void> {
    try {
      for await (const frames of sock as AsyncIterable<Buffer[]>) {
        const msg = this.#parse(frames);
        if (msg) this.onMessage?.(channel, msg);
      }
    } catch {
      // closed
    }
  }

  #parse(frames: Buffer[]): KernelMessage | undefined {
    const i = frames.findIndex((f) => f.equals(DELIMITER));
    if (i < 0 || frames.length < i + 6) return undefined;
    const parts = frames.slice(i + 2, i + 6);
    if (!this.#signer.verify(frames[i + 1]!, parts)) return undefined;
    const header = parseObject(parts[0]);
    const parent = parseObject(parts[1]);
    const msgType = typeof header.msg_type === "string" ? header.msg_type : "";
    const parentId = typeof parent.msg_id === "string" ? parent.msg_id : "";
    const size = frames.reduce((s, f) => s + f.length, 0);
    if (size > this.maxMessageBytes) return { msgType, parentId, content: {}, oversizedBytes: size };
    return { msgType, parentId, content: parseObject(parts[3]) };
  }

  /** Send a request; returns its msg_id (replies and outputs carry it as their parent). */
  send(
    channel: "shell" | "control",
    msgType: string,
    content: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ): string {
    const header = this.wire.makeHeader(msgType, this.#session, "grader");
    const frames = this.wire.serialize({ header, parent_header: {}, metadata, content }, this.#signer);
    // A zeromq socket takes one send at a time.
    this.#queue = this.#queue.then(() => this.#sockets[channel].send(frames)).catch(() => undefined);
    return header.msg_id;
  }

  close(): void {
    for (const s of Object.values(this.#sockets)) if (!s.closed) s.close();
  }
}
