/** A self-contained HTML page of an executed notebook (inputs and outputs, no external files). */
import type { Notebook } from "./runner.js";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function text(v: unknown): string {
  return Array.isArray(v) ? v.join("") : typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** A minimal Markdown renderer for cells: headings, paragraphs, lists, code, emphasis, links. */
export function markdownToHtml(md: string): string {
  const lines = md.split("\n");
  const out: string[] = [];
  let inCode = false;
  let list: string | undefined;
  let para: string[] = [];
  const inline = (s: string) =>
    esc(s)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/\*([^*]+)\*/g, "<em>$1</em>")
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join(" "))}</p>`);
    para = [];
    if (list) out.push(`</${list}>`);
    list = undefined;
  };
  for (const line of lines) {
    if (line.startsWith("```")) {
      if (inCode) out.push("</code></pre>");
      else {
        flush();
        out.push("<pre><code>");
      }
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      out.push(esc(line) + "\n");
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    const li = /^\s*([-*]|\d+\.)\s+(.*)$/.exec(line);
    if (h) {
      flush();
      out.push(`<h${h[1].length}>${inline(h[2])}</h${h[1].length}>`);
    } else if (li) {
      if (para.length) flush();
      const tag = /\d/.test(li[1]) ? "ol" : "ul";
      if (list !== tag) {
        if (list) out.push(`</${list}>`);
        out.push(`<${tag}>`);
        list = tag;
      }
      out.push(`<li>${inline(li[2])}</li>`);
    } else if (line.trim() === "") {
      flush();
    } else {
      if (list) flush();
      para.push(line);
    }
  }
  if (inCode) out.push("</code></pre>");
  flush();
  return out.join("\n");
}

function outputHtml(o: Record<string, any>): string {
  switch (o.output_type) {
    case "stream":
      return `<pre class="stream ${o.name === "stderr" ? "stderr" : ""}">${esc(text(o.text))}</pre>`;
    case "error":
      return `<pre class="error">${esc((o.traceback?.length ? o.traceback : [`${o.ename}: ${o.evalue}`]).map((l: string) => l.replace(ANSI, "")).join("\n"))}</pre>`;
    case "display_data":
    case "execute_result": {
      const d = o.data ?? {};
      if (d["text/html"]) return `<div class="html">${text(d["text/html"])}</div>`;
      if (d["image/svg+xml"]) return `<div class="svg">${text(d["image/svg+xml"])}</div>`;
      if (d["image/png"])
        return `<img src="data:image/png;base64,${text(d["image/png"]).replace(/\s/g, "")}">`;
      if (d["image/jpeg"])
        return `<img src="data:image/jpeg;base64,${text(d["image/jpeg"]).replace(/\s/g, "")}">`;
      if (d["text/markdown"]) return `<div class="md">${markdownToHtml(text(d["text/markdown"]))}</div>`;
      const json = Object.keys(d).find((k) => k === "application/json" || k.endsWith("+json"));
      if (d["text/plain"] !== undefined) return `<pre>${esc(text(d["text/plain"]))}</pre>`;
      if (json) return `<pre>${esc(JSON.stringify(d[json], null, 2))}</pre>`;
      return "";
    }
    default:
      return "";
  }
}

export function notebookToHtml(nb: Notebook, title: string): string {
  const cells = nb.cells
    .map((c) => {
      const src = text(c.source);
      if (c.cell_type === "markdown") return `<div class="cell markdown">${markdownToHtml(src)}</div>`;
      if (c.cell_type !== "code") return `<div class="cell raw"><pre>${esc(src)}</pre></div>`;
      const count = c.execution_count ?? " ";
      const outs = (c.outputs ?? []).map((o) => outputHtml(o as Record<string, any>)).join("\n");
      return `<div class="cell code"><div class="input"><span class="prompt">[${count}]:</span><pre><code>${esc(src)}</code></pre></div>${outs ? `<div class="outputs">${outs}</div>` : ""}</div>`;
    })
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
.cell{margin:1em 0}.input{display:flex;gap:.5em}.prompt{color:#307fc1;font-family:monospace;min-width:4em;text-align:right}
.input pre{flex:1;background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:.5em;margin:0;overflow:auto}
.outputs{margin-left:4.5em}.outputs pre{margin:.3em 0;white-space:pre-wrap}.stderr{background:#fff0f0}.error{background:#fdd;padding:.5em}
img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}
</style></head><body>
<h1>${esc(title)}</h1>
${cells}
</body></html>
`;
}
