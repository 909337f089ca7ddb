/** What kernel_info reports about the language and the kernel (one definition for every thread). */
import { createRequire } from "node:module";
import type { LanguageInfo } from "./engine.js";
import { packageVersion } from "./paths.js";

/** The TypeScript version, read without loading the compiler. */
export const tsVersion = (() => {
  try {
    return String(createRequire(import.meta.url)("typescript/package.json").version);
  } catch {
    return "5";
  }
})();

export const languageInfo: LanguageInfo = {
  name: "typescript",
  version: tsVersion,
  mimetype: "text/typescript",
  file_extension: ".ts",
  pygments_lexer: "typescript",
  codemirror_mode: { name: "javascript", typescript: true },
  nbconvert_exporter: "script",
};

/** The kernel_info banner; `backend` says which backend runs the kernels (backendSummary()). */
export function kernelBanner(backend?: string): string {
  return `cnnlab ${packageVersion()} — a TypeScript kernel (TypeScript ${tsVersion}, Node ${process.version})${backend ? `; ${backend}` : ""}.\nThe cnnlab library is preloaded: tensor, randn, nn, F, optim, ... (also as \`cnnlab\`).`;
}
