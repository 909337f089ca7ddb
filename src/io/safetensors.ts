/**
 * `save` / `load`: state dicts in the safetensors format, which PyTorch users can read and write.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 * `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`
 * (padded with spaces to a multiple of 8), then the little-endian data; offsets count from the
 * end of the header and the tensors tile the data region exactly.
 *
 * Writing is atomic: the bytes go to a temporary file in the target's directory, which is then
 * renamed over the target, so a failed save leaves any previous file intact. Reading checks every
 * field and names the file and the problem when something is wrong.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { allocate, type DType, type TypedArray } from "../tensor/dtype.js";
import { shapeToString } from "../tensor/shape.js";
import { Tensor } from "../tensor/tensor.js";
import { Module } from "../nn/module.js";

const SAVE_CODES: Record<DType, string> = { float32: "F32", float64: "F64", int32: "I32", bool: "BOOL" };

/** Bytes per element of the safetensors dtypes we read, and the cnnlab dtype each becomes. */
const LOAD_TYPES: Record<string, { bytes: number; dtype: DType }> = {
  F64: { bytes: 8, dtype: "float64" },
  F32: { bytes: 4, dtype: "float32" },
  F16: { bytes: 2, dtype: "float32" },
  BF16: { bytes: 2, dtype: "float32" },
  I64: { bytes: 8, dtype: "int32" },
  I32: { bytes: 4, dtype: "int32" },
  I16: { bytes: 2, dtype: "int32" },
  I8: { bytes: 1, dtype: "int32" },
  U32: { bytes: 4, dtype: "int32" },
  U16: { bytes: 2, dtype: "int32" },
  U8: { bytes: 1, dtype: "int32" },
  BOOL: { bytes: 1, dtype: "bool" },
};

/** The largest header we accept (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100_000_000;

export interface SaveOptions {
  /** String-to-string metadata stored under `__metadata__`. */
  metadata?: Record<string, string>;
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of a tensor's values. */
function tensorBytes(t: Tensor): Uint8Array {
  const data = t.contiguous().data;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndian || t.dtype === "bool") return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (t.dtype === "float64") view.setFloat64(i * 8, data[i], true);
    else if (t.dtype === "float32") view.setFloat32(i * 4, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
  return out;
}

/** Serialises named tensors to safetensors bytes. */
export function serialize(tensors: Record<string, Tensor>, options: SaveOptions = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) {
    const meta = options.metadata;
    if (meta === null || typeof meta !== "object" || Object.values(meta).some((v) => typeof v !== "string")) {
      throw new TypeError("save: metadata must be an object of string values");
    }
    header.__metadata__ = { ...meta };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new TypeError('save: "__metadata__" cannot be a tensor name');
    if (!(t instanceof Tensor)) {
      throw new TypeError(`save: "${name}" must be a tensor, got ${t === null ? "null" : typeof t}`);
    }
    const bytes = tensorBytes(t);
    header[name] = {
      dtype: SAVE_CODES[t.dtype],
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padding = (8 - (headerBytes.length % 8)) % 8;
  if (padding > 0) {
    json += " ".repeat(padding);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

function fail(where: string, message: string): never {
  throw new Error(`load: ${where} is not a valid safetensors file: ${message}`);
}

function decodeValues(
  code: string,
  bytes: Uint8Array,
  count: number,
  where: string,
  name: string,
): TypedArray {
  const { dtype } = LOAD_TYPES[code];
  const out = allocate(dtype, count);
  if (littleEndian && (code === "F32" || code === "F64" || code === "I32" || code === "BOOL")) {
    new Uint8Array(out.buffer).set(bytes);
    if (code === "BOOL") for (let i = 0; i < count; i++) out[i] = out[i] ? 1 : 0;
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    switch (code) {
      case "F64":
        out[i] = view.getFloat64(i * 8, true);
        break;
      case "F32":
        out[i] = view.getFloat32(i * 4, true);
        break;
      case "F16":
        out[i] = halfToFloat(view.getUint16(i * 2, true));
        break;
      case "BF16": {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = scratch.getFloat32(0);
        break;
      }
      case "I64": {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) {
          throw new RangeError(
            `load: ${where}: tensor "${name}" (I64) holds ${v} at element ${i}, which does not fit in int32 (cnnlab has no 64-bit integers)`,
          );
        }
        out[i] = Number(v);
        break;
      }
      case "I32":
        out[i] = view.getInt32(i * 4, true);
        break;
      case "I16":
        out[i] = view.getInt16(i * 2, true);
        break;
      case "I8":
        out[i] = view.getInt8(i);
        break;
      case "U32": {
        const v = view.getUint32(i * 4, true);
        if (v > 2147483647) {
          throw new RangeError(
            `load: ${where}: tensor "${name}" (U32) holds ${v} at element ${i}, which does not fit in int32`,
          );
        }
        out[i] = v;
        break;
      }
      case "U16":
        out[i] = view.getUint16(i * 2, true);
        break;
      case "U8":
        out[i] = view.getUint8(i);
        break;
      case "BOOL":
        out[i] = view.getUint8(i) ? 1 : 0;
        break;
    }
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Parses safetensors bytes; `where` names the source in errors. I64 tensors become int32 when every
 * value fits; F16/BF16 become float32; other integer types become int32.
 */
export function deserialize(buffer: Uint8Array, where = "buffer"): SafetensorsFile {
  if (buffer.length < 8) fail(where, `it has ${buffer.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(buffer.length - 8)) {
    fail(where, `the header length is ${n} bytes but only ${buffer.length - 8} bytes follow (truncated?)`);
  }
  if (n > BigInt(MAX_HEADER)) fail(where, `the header length ${n} exceeds ${MAX_HEADER} bytes`);
  const headerLength = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(8, 8 + headerLength)),
    );
  } catch (error) {
    fail(where, `the header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail(where, "the header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = buffer.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; code: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw))
        fail(where, "__metadata__ is not an object");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(where, `__metadata__ value "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== "object") fail(where, `entry "${name}" is not an object`);
    const code = info.dtype;
    if (typeof code !== "string" || !(code in LOAD_TYPES)) {
      fail(
        where,
        `tensor "${name}" has dtype ${JSON.stringify(code)}; supported: ${Object.keys(LOAD_TYPES).join(", ")}`,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(
        where,
        `tensor "${name}" has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`,
      );
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      fail(
        where,
        `tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] with begin <= end`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * LOAD_TYPES[code].bytes) {
      fail(
        where,
        `tensor "${name}" (${code} ${shapeToString(shape as number[])}) needs ${count * LOAD_TYPES[code].bytes} bytes but its data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > dataLength) {
      fail(
        where,
        `tensor "${name}" ends at byte ${end} of the data but the file has only ${dataLength} data bytes (truncated?)`,
      );
    }
    entries.push({ name, code, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor) {
      fail(
        where,
        e.begin < cursor
          ? `tensor "${e.name}" overlaps the previous tensor's bytes (starts at ${e.begin}, previous ends at ${cursor})`
          : `bytes ${cursor}..${e.begin} of the data belong to no tensor`,
      );
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    fail(where, `the tensors cover ${cursor} data bytes but the file has ${dataLength} (trailing bytes)`);
  }
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const bytes = buffer.subarray(dataStart + e.begin, dataStart + e.end);
    tensors[e.name] = Tensor.fromData(decodeValues(e.code, bytes, count, where, e.name), e.shape);
  }
  return { tensors, metadata };
}

function stateOf(value: Module | Record<string, Tensor>): Record<string, Tensor> {
  if (value instanceof Module) return value.stateDict();
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `save: expected a Module or a state dict (object of tensors), got ${value === null ? "null" : typeof value}`,
    );
  }
  return value;
}

/**
 * Saves a module's `stateDict()` (or a state dict) to `path` in the safetensors format, atomically:
 * a failed save leaves any existing file at `path` untouched.
 */
export function save(value: Module | Record<string, Tensor>, path: string, options: SaveOptions = {}): void {
  if (typeof path !== "string" || path === "") throw new TypeError("save: path must be a non-empty string");
  const bytes = serialize(stateOf(value), options);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temp, "wx");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, path);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // the temporary file was never created
    }
    throw new Error(`save: cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads a safetensors file and returns its tensors and `__metadata__`. */
export function loadFile(path: string): SafetensorsFile {
  if (typeof path !== "string" || path === "") throw new TypeError("load: path must be a non-empty string");
  let buffer: Uint8Array;
  try {
    buffer = readFileSync(path);
  } catch (error) {
    throw new Error(`load: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  return deserialize(buffer, path);
}

/**
 * Loads a safetensors file as a state dict (`Record<string, Tensor>`), e.g. for
 * `model.loadStateDict(load("model.safetensors"))`.
 */
export function load(path: string): Record<string, Tensor> {
  return loadFile(path).tensors;
}
