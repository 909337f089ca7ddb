/** Finding dataset files (explicit root, then $CNNLAB_DATA, then system locations) and reading them. */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { constants, gunzipSync } from "node:zlib";

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

export interface SearchPlace {
  dir: string;
  /** Why this folder is searched ("root option", "$CNNLAB_DATA", ...). */
  reason: string;
}

/** The folders to search, in order: `root` and its subfolders, then `$CNNLAB_DATA`'s, then `system`. */
export function searchPlaces(
  root: string | undefined,
  subdirs: readonly string[],
  system: readonly string[] = [],
): SearchPlace[] {
  const places: SearchPlace[] = [];
  const add = (base: string, reason: string) => {
    places.push({ dir: base, reason });
    for (const sub of subdirs) places.push({ dir: join(base, sub), reason });
  };
  if (root !== undefined) add(root, "root option");
  const env = process.env.CNNLAB_DATA;
  if (env !== undefined && env !== "") add(env, "$CNNLAB_DATA");
  for (const dir of system) places.push({ dir, reason: "system location" });
  return places;
}

/** A file the loader needs: its accepted names (e.g. with and without ".gz"). */
export type Wanted = readonly string[];

/**
 * The first place holding every wanted file (any of its names), with the resolved paths; otherwise
 * an error listing each folder searched, what was looked for, and how to get the data.
 */
export function findFiles(
  op: string,
  places: SearchPlace[],
  wanted: readonly Wanted[],
  howToGet: string,
): string[] {
  for (const place of places) {
    const paths: string[] = [];
    for (const names of wanted) {
      const hit = names.map((n) => join(place.dir, n)).find((p) => existsSync(p) && statSync(p).isFile());
      if (hit === undefined) break;
      paths.push(hit);
    }
    if (paths.length === wanted.length) return paths;
  }
  const files = wanted.map((names) => names.join(" or ")).join(", ");
  const searched = places.length
    ? places.map((p) => `  - ${p.dir} (${p.reason})`).join("\n")
    : "  (nowhere: no root option and no $CNNLAB_DATA)";
  throw new Error(`${op}: cannot find the data files ${files}.\nSearched:\n${searched}\n${howToGet}`);
}

/** The bytes of a file, gunzipped when it starts with the gzip magic; a truncated gzip names the file. */
export function readMaybeGzip(op: string, path: string): { bytes: Uint8Array; gzipError?: string } {
  const raw = readFileSync(path);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b)
    return { bytes: new Uint8Array(raw.buffer, raw.byteOffset, raw.length) };
  try {
    const out = gunzipSync(raw);
    return { bytes: new Uint8Array(out.buffer, out.byteOffset, out.length) };
  } catch (e) {
    // decompress what is there, so the caller can say which record is cut off
    let partial: Buffer;
    try {
      partial = gunzipSync(raw, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      throw new Error(`${op}: ${path} is not a valid gzip file (${(e as Error).message})`);
    }
    return {
      bytes: new Uint8Array(partial.buffer, partial.byteOffset, partial.length),
      gzipError: `${path} is a truncated or corrupt gzip file (${(e as Error).message})`,
    };
  }
}
