import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  DELIMITER,
  deserialize,
  makeHeader,
  serialize,
  Signer,
  WireError,
  type JupyterMessage,
} from "../../kernel/wire.js";

const msg = (): JupyterMessage => ({
  header: makeHeader("execute_request", "sess"),
  parent_header: {},
  metadata: {},
  content: { code: "1 + 1", silent: false },
});

describe("wire protocol", () => {
  it("signs the four JSON frames with HMAC-SHA256 (checked against node:crypto directly)", () => {
    const signer = new Signer("secret-key");
    const frames = serialize(msg(), signer, [Buffer.from("ident-1")]);
    expect(frames[0].toString()).toBe("ident-1");
    expect(frames[1].toString()).toBe(DELIMITER);
    const h = createHmac("sha256", "secret-key");
    for (const f of frames.slice(3, 7)) h.update(f);
    expect(frames[2].toString()).toBe(h.digest("hex"));
  });

  it("round-trips a message with identities and buffers", () => {
    const signer = new Signer("k");
    const m = { ...msg(), buffers: [new Uint8Array([1, 2, 3])] };
    const back = deserialize(serialize(m, signer, [Buffer.from("a"), Buffer.from("b")]), signer);
    expect(back.idents.map((i) => Buffer.from(i).toString())).toEqual(["a", "b"]);
    expect(back.header).toEqual(m.header);
    expect(back.content).toEqual({ code: "1 + 1", silent: false });
    expect([...back.buffers![0]]).toEqual([1, 2, 3]);
  });

  it("rejects a wrong signature, a truncated signature and a tampered frame", () => {
    const signer = new Signer("k");
    const frames = serialize(msg(), signer);
    const bad = [...frames];
    bad[1] = Buffer.from("0".repeat(64));
    expect(() => deserialize(bad, signer)).toThrow(/invalid message signature/);
    const short = [...frames];
    short[1] = Buffer.from("abc");
    expect(() => deserialize(short, signer)).toThrow(WireError);
    const tampered = [...frames];
    tampered[5] = Buffer.from(JSON.stringify({ code: "evil()" }));
    expect(() => deserialize(tampered, signer)).toThrow(/signature/);
    expect(() => deserialize(frames, new Signer("other"))).toThrow(/signature/);
  });

  it("with an empty key sends an empty signature and checks nothing", () => {
    const signer = new Signer("");
    const frames = serialize(msg(), signer);
    expect(frames[1].toString()).toBe("");
    expect(deserialize(frames, signer).content.code).toBe("1 + 1");
  });

  it("reports malformed JSON, missing delimiter and missing frames", () => {
    const signer = new Signer("");
    const frames = serialize(msg(), signer);
    const broken = [...frames];
    broken[5] = Buffer.from("{not json");
    expect(() => deserialize(broken, signer)).toThrow(/malformed content frame/);
    expect(() => deserialize(frames.slice(1), signer)).toThrow(/delimiter/);
    expect(() => deserialize(frames.slice(0, 4), signer)).toThrow(/frames after the delimiter/);
  });

  it("uses protocol version 5.3 in headers and refuses unknown signature schemes", () => {
    expect(makeHeader("x", "s").version).toBe("5.3");
    expect(() => new Signer("k", "hmac-md5")).toThrow(/unsupported/);
  });
});
