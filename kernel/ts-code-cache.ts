/**
 * TypeScript (9 MB of JavaScript) loaded through a V8 code cache: compiling it is a large part of
 * a kernel's start, and Node 20 caches no module's code. `loadTypeScript()` runs typescript.js as
 * `require` would (the same module object ends up in require's cache, so every later
 * `require("typescript")` gets it) but compiles it with the cached data of an earlier kernel when
 * there is one. `saveTypeScriptCache()`, called once the checker is warm, writes the cache, which
 * then also holds the functions that checking ran (V8 includes every function compiled so far).
 * The cache file is keyed by the TypeScript, Node and V8 versions and written atomically (a
 * temporary file renamed into place), so concurrent kernels never read half a file. Any failure
 * falls back to a plain require.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

const require = createRequire(import.meta.url);

interface Loaded {
  script: Script;
  cacheFile: string;
  /** Whether a cache was read and V8 accepted it. */
  used: boolean;
}
let loaded: Loaded | undefined;

/** Where code caches go: $CNNLAB_CACHE_DIR, else $XDG_CACHE_HOME/cnnlab, else ~/.cache/cnnlab. */
export function cacheDir(): string {
  if (process.env.CNNLAB_CACHE_DIR) return process.env.CNNLAB_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), ".cache") : tmpdir());
  return join(base, "cnnlab");
}

/** Loads TypeScript (see the file's comment); returns what happened, for the log. */
export function loadTypeScript(): string {
  if (loaded) return "already loaded";
  let file: string;
  try {
    file = require.resolve("typescript");
  } catch (e) {
    return `typescript not found: ${(e as Error).message}`;
  }
  if (require.cache[file]) return "already required";
  try {
    const source = readFileSync(file, "utf8");
    const version = (
      JSON.parse(readFileSync(join(dirname(file), "..", "package.json"), "utf8")) as { version: string }
    ).version;
    const key = createHash("sha256")
      .update(
        `${file}\0${version}\0${process.version}\0${process.versions.v8}\0${process.arch}\0${source.length}`,
      )
      .digest("hex")
      .slice(0, 16);
    const cacheFile = join(cacheDir(), `typescript-${version}-${key}.v8cache`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
    const script = new Script(Module.wrap(source), { filename: file, cachedData });
    const m = new Module(file);
    m.filename = file;
    (m as unknown as { paths: string[] }).paths = (
      Module as unknown as { _nodeModulePaths(dir: string): string[] }
    )._nodeModulePaths(dirname(file));
    const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
    wrapper.call(m.exports, m.exports, createRequire(file), m, file, dirname(file));
    m.loaded = true;
    require.cache[file] = m;
    const used = cachedData !== undefined && !script.cachedDataRejected;
    loaded = { script, cacheFile, used };
    return used
      ? `typescript compiled from the code cache ${cacheFile}`
      : `typescript compiled (no usable code cache)`;
  } catch (e) {
    return `typescript loaded without a code cache: ${(e as Error).message}`;
  }
}

/** Writes the code cache when none was used (first run, or V8 rejected it); returns what happened. */
export function saveTypeScriptCache(): string | undefined {
  if (!loaded || loaded.used) return undefined;
  const { script, cacheFile } = loaded;
  loaded.used = true;
  try {
    const data = script.createCachedData();
    mkdirSync(dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, cacheFile);
    return `wrote ${data.length} bytes of code cache to ${cacheFile}`;
  } catch (e) {
    return `could not write the code cache ${cacheFile}: ${(e as Error).message}`;
  }
}
