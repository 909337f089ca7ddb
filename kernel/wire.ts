/**
 * Jupyter wire protocol (messaging spec 5.3): message framing, HMAC-SHA256 signatures.
 *
 * A message on the wire is a list of frames:
 *   [ident..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffer...]
 * The signature is the hex HMAC of the four JSON frames; an empty key means messages are unsigned
 * (signature frame empty) and no check is made.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const PROTOCOL_VERSION = "5.3";
export const DELIMITER = "<IDS|MSG>";

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [key: string]: unknown;
}

export interface JupyterMessage<C = Record<string, any>> {
  header: MessageHeader;
  /** Empty object when there is no parent. */
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, any>;
  content: C;
  buffers?: Uint8Array[];
}

/** A message received on a ROUTER socket together with its routing identities. */
export interface IncomingMessage extends JupyterMessage {
  idents: Uint8Array[];
}

export type Frame = Buffer | Uint8Array | string;

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

export function makeHeader(msgType: string, session: string, username = "cnnlab"): MessageHeader {
  return {
    msg_id: randomUUID(),
    msg_type: msgType,
    session,
    username,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION,
  };
}

export class Signer {
  readonly #key: string;
  readonly #scheme: string;

  constructor(key: string, scheme = "hmac-sha256") {
    if (key !== "" && scheme !== "hmac-sha256") {
      throw new WireError(`signature_scheme: unsupported scheme "${scheme}" (only hmac-sha256)`);
    }
    this.#key = key;
    this.#scheme = scheme;
  }

  get signs(): boolean {
    return this.#key !== "";
  }

  get scheme(): string {
    return this.#scheme;
  }

  /** Hex HMAC-SHA256 of the four JSON frames, "" when the key is empty. */
  sign(frames: readonly Frame[]): string {
    if (!this.signs) return "";
    const h = createHmac("sha256", this.#key);
    for (const f of frames) h.update(f);
    return h.digest("hex");
  }

  /** Constant-time check of a received signature. */
  verify(signature: Frame, frames: readonly Frame[]): boolean {
    if (!this.signs) return true;
    const expected = Buffer.from(this.sign(frames), "ascii");
    const got = Buffer.from(
      typeof signature === "string" ? signature : Buffer.from(signature).toString("ascii"),
      "ascii",
    );
    if (got.length !== expected.length) {
      // Still do a comparison of equal-length buffers so timing does not depend on content.
      timingSafeEqual(expected, expected);
      return false;
    }
    return timingSafeEqual(expected, got);
  }
}

function jsonFrame(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value ?? {}), "utf8");
}

/** Serialise a message to frames (identities first). */
export function serialize(msg: JupyterMessage, signer: Signer, idents: readonly Frame[] = []): Buffer[] {
  const parts = [
    jsonFrame(msg.header),
    jsonFrame(msg.parent_header),
    jsonFrame(msg.metadata),
    jsonFrame(msg.content),
  ];
  const sig = signer.sign(parts);
  const out: Buffer[] = idents.map((i) => (typeof i === "string" ? Buffer.from(i) : Buffer.from(i)));
  out.push(Buffer.from(DELIMITER), Buffer.from(sig, "ascii"), ...parts);
  for (const b of msg.buffers ?? []) out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return out;
}

function parseJsonFrame(frame: Frame, what: string): any {
  const text = typeof frame === "string" ? frame : Buffer.from(frame).toString("utf8");
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v;
  } catch (e) {
    throw new WireError(`malformed ${what} frame: ${(e as Error).message}`);
  }
}

/** Parse frames received from a socket; throws WireError on bad framing, signature or JSON. */
export function deserialize(frames: readonly Frame[], signer: Signer): IncomingMessage {
  const asString = (f: Frame) => (typeof f === "string" ? f : Buffer.from(f).toString("utf8"));
  let i = frames.findIndex((f) => asString(f) === DELIMITER);
  if (i < 0) throw new WireError("no <IDS|MSG> delimiter in message");
  const idents = frames.slice(0, i).map((f) => (typeof f === "string" ? Buffer.from(f) : Buffer.from(f)));
  i += 1;
  if (frames.length < i + 5)
    throw new WireError(`message has ${frames.length - i} frames after the delimiter, need 5`);
  const signature = frames[i];
  const parts = frames.slice(i + 1, i + 5);
  if (!signer.verify(signature, parts)) throw new WireError("invalid message signature");
  const header = parseJsonFrame(parts[0], "header");
  if (typeof header.msg_type !== "string" || typeof header.msg_id !== "string") {
    throw new WireError("header lacks msg_type or msg_id");
  }
  return {
    idents,
    header,
    parent_header: parseJsonFrame(parts[1], "parent_header"),
    metadata: parseJsonFrame(parts[2], "metadata"),
    content: parseJsonFrame(parts[3], "content"),
    buffers: frames.slice(i + 5).map((f) => (typeof f === "string" ? Buffer.from(f) : new Uint8Array(f))),
  };
}

/** The connection file written by Jupyter clients. */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  control_port: number;
  iopub_port: number;
  stdin_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export type Channel = "shell" | "control" | "iopub" | "stdin" | "hb";

export function endpoint(info: ConnectionInfo, channel: Channel): string {
  const port = info[`${channel}_port` as const];
  if (info.transport === "ipc") return `ipc://${info.ip}-${port}`;
  return `${info.transport}://${info.ip}:${port}`;
}
