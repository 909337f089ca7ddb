/**
 * Node module-loader hooks (registered with `module.register` by the kernel) so cells can import
 * local TypeScript files: `import { f } from "./util"` / `"./util.js"` / `"./util.ts"`.
 * TypeScript is loaded only when a .ts file is imported.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

type Next = (specifier: string, context: any) => Promise<any>;

const TS_EXT = /\.(ts|mts|cts)$/;

function isFile(url: URL): boolean {
  try {
    return existsSync(url) && statSync(url).isFile();
  } catch {
    return false;
  }
}

export async function resolve(specifier: string, context: any, next: Next): Promise<any> {
  try {
    return await next(specifier, context);
  } catch (err) {
    const relative =
      specifier.startsWith("./") ||
      specifier.startsWith("../") ||
      specifier.startsWith("/") ||
      specifier.startsWith("file:");
    if (!relative || !context.parentURL) throw err;
    const [path, query] = specifier.split("?");
    const candidates: string[] = [];
    if (/\.(js|mjs|cjs)$/.test(path))
      candidates.push(path.replace(/\.(m|c)?js$/, (m) => m.replace("js", "ts")));
    else if (!TS_EXT.test(path)) candidates.push(path + ".ts", path + "/index.ts");
    for (const c of candidates) {
      const url = new URL(c, context.parentURL);
      if (isFile(url)) return { url: url.href + (query ? "?" + query : ""), shortCircuit: true };
    }
    throw err;
  }
}

export async function load(url: string, context: any, next: Next): Promise<any> {
  const u = new URL(url);
  if (u.protocol === "file:" && TS_EXT.test(u.pathname)) {
    const ts = (await import("typescript")).default;
    const file = fileURLToPath(u);
    const out = ts.transpileModule(readFileSync(file, "utf8"), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        inlineSourceMap: true,
        esModuleInterop: true,
      },
    });
    return { format: "module", source: out.outputText, shortCircuit: true };
  }
  return next(url, context);
}
