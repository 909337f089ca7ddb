/**
 * Builds the kernel's start-up snapshot: `node --snapshot-blob <file> --build-snapshot
 * snapshot-builder.cjs`, with the manifest's path in CNNLAB_SNAPSHOT_MANIFEST (snapshot.ts writes
 * it and starts this). A fresh kernel spends most of its first cell parsing and binding TypeScript's
 * declaration files (the ES library, @types/node, cnnlab's own: about 3 MB); the snapshot holds
 * TypeScript and a document registry of those files already parsed and bound, so a kernel started
 * from it (launch.sh) only deserializes them.
 *
 * Node runs this file as a script whose `require` reaches built-in modules only, so TypeScript is
 * evaluated from its source here, and nothing of cnnlab itself is loaded: after deserialization the
 * main function below loads the kernel's entry (argv[1]) the ordinary way. What the kernel needs
 * from the snapshot sits on globalThis under the manifest's key (snapshot-format.ts); the kernel
 * checks it (format, TypeScript file, every file's size and modification time) before using it.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a snapshot's entry is a CommonJS script */
import fs = require("node:fs");
import path = require("node:path");
import v8 = require("node:v8");
import vm = require("node:vm");
import nodeModule = require("node:module");
import nodeConsole = require("node:console");
// Used as a type only, so not emitted: TypeScript itself is evaluated from its source below.
import TS = require("typescript");
type KernelSnapshot = import("./snapshot-format.js").KernelSnapshot;
type SnapshotFile = import("./snapshot-format.js").SnapshotFile;
type SnapshotManifest = import("./snapshot-format.js").SnapshotManifest;

function evaluateTypeScript(file: string): typeof TS {
  const source = fs.readFileSync(file, "utf8");
  const module = { exports: {} as unknown };
  const wrapper = vm.runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: file },
  ) as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, require, module, file, path.dirname(file));
  return module.exports as typeof TS;
}

function stat(fileName: string): SnapshotFile {
  const s = fs.statSync(fileName);
  return { fileName, size: s.size, mtimeMs: s.mtimeMs };
}

function build(manifest: SnapshotManifest): KernelSnapshot {
  const ts = evaluateTypeScript(manifest.typescriptFile);
  const registry = ts.createDocumentRegistry();
  // The same answers the kernel's own host gives for these files (checker.ts): version "disk",
  // text from disk, the kernel's compiler options, so its registry lookups find these documents.
  const host: TS.LanguageServiceHost = {
    getCompilationSettings: () => manifest.compilerOptions,
    getScriptFileNames: () => manifest.files,
    getScriptVersion: () => "disk",
    getScriptSnapshot: (f) => {
      const text = ts.sys.readFile(f);
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
    },
    getCurrentDirectory: () => manifest.cwd,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: ts.sys.fileExists,
    readFile: ts.sys.readFile,
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
    realpath: ts.sys.realpath,
    useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
  };
  const service = ts.createLanguageService(host, registry);
  const program = service.getProgram();
  if (!program) throw new Error("TypeScript built no program");
  // Creating the checker binds every file; bound documents stay bound in the registry.
  program.getTypeChecker();
  const files = program.getSourceFiles().map((sf) => stat(sf.fileName));
  const tsStat = stat(manifest.typescriptFile);
  // The service is dropped, not disposed: disposing would release its documents from the registry.
  return {
    format: manifest.format,
    typescriptFile: manifest.typescriptFile,
    typescriptSize: tsStat.size,
    typescriptMtimeMs: tsStat.mtimeMs,
    // One module, seen from CommonJS here and from an ES module in the kernel.
    ts: ts as unknown as KernelSnapshot["ts"],
    registry,
    files,
    resolutions: manifest.resolutions,
    builtAt: new Date().toISOString(),
    Console: nodeConsole.Console,
  };
}

if (v8.startupSnapshot?.isBuildingSnapshot()) {
  const manifestFile = process.env.CNNLAB_SNAPSHOT_MANIFEST;
  if (!manifestFile) throw new Error("CNNLAB_SNAPSHOT_MANIFEST names no manifest");
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as SnapshotManifest;
  (globalThis as Record<symbol, unknown>)[Symbol.for(manifest.key)] = build(manifest);
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    const main = process.argv[1];
    if (!main) {
      process.stderr.write("cnnlab: a kernel snapshot was started without the kernel's entry file\n");
      process.exit(2);
    }
    nodeModule.createRequire(main)(main);
  });
}
