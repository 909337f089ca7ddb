import { decode } from "fast-png";
import { vi } from "vitest";
import { Tensor, randn, zeros, F } from "../../src/index.js";

const HOOK = Symbol.for("cnnlab.kernel.display");

export interface Emitted {
  bundle: Record<string, unknown>;
  options: { displayId?: string; update?: boolean } | undefined;
}

/** Installs a fake kernel display hook; returns what was displayed and a restore function. */
export function fakeKernel(): { emitted: Emitted[]; clears: boolean[]; restore: () => void } {
  const emitted: Emitted[] = [];
  const clears: boolean[] = [];
  (globalThis as any)[HOOK] = {
    display(bundle: Record<string, unknown>, options?: Emitted["options"]) {
      emitted.push({ bundle, options });
    },
    clearOutput(wait?: boolean) {
      clears.push(!!wait);
    },
  };
  return { emitted, clears, restore: () => delete (globalThis as any)[HOOK] };
}

/** Captures stdout and stderr writes (and keeps them off the test output). */
export function captureStreams(): { stdout: string[]; stderr: string[]; restore: () => void } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const a = vi.spyOn(process.stdout, "write").mockImplementation((chunk: any) => {
    stdout.push(String(chunk));
    return true;
  });
  const b = vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => {
    stderr.push(String(chunk));
    return true;
  });
  return {
    stdout,
    stderr,
    restore: () => {
      a.mockRestore();
      b.mockRestore();
    },
  };
}

/** Decodes a base64 PNG with fast-png: width, height, channels and a pixel reader. */
export function decodePng(b64: unknown): {
  width: number;
  height: number;
  channels: number;
  px: (x: number, y: number) => number[];
} {
  if (typeof b64 !== "string") throw new Error(`expected a base64 PNG string, got ${typeof b64}`);
  const img = decode(Buffer.from(b64, "base64"));
  const ch = img.channels;
  return {
    width: img.width,
    height: img.height,
    channels: ch,
    px: (x, y) => Array.from(img.data.slice((y * img.width + x) * ch, (y * img.width + x) * ch + ch)),
  };
}

/**
 * A minimal well-formedness check of XML/SVG: tags nest and close properly, attributes are quoted,
 * and entities are known. Returns the element names in document order.
 */
export function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  const text = (s: string) => {
    if (/[<>]/.test(s)) throw new Error(`stray markup in text: ${s.slice(0, 60)}`);
    for (const ent of s.match(/&[^;\s]*;?/g) ?? []) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);$/i.test(ent)) throw new Error(`bad entity ${ent}`);
    }
  };
  while ((m = re.exec(xml))) {
    text(xml.slice(last, m.index));
    last = re.lastIndex;
    if (!m[2]) continue;
    const [, close, name, attrs, selfClose] = m;
    for (const ent of attrs.match(/&[^;\s"]*;?/g) ?? []) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);$/i.test(ent))
        throw new Error(`bad entity ${ent} in attribute`);
    }
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      names.push(name);
      if (!selfClose) stack.push(name);
    }
  }
  text(xml.slice(last));
  if (stack.length) throw new Error(`unclosed <${stack.join("><")}>`);
  if (names.length === 0) throw new Error("no elements");
  return names;
}

type Hook = (module: any, inputs: any, output: any) => unknown;

/** A stand-in for nn.Module with the API display code relies on. */
export class FakeModule {
  hooks: Hook[] = [];
  children: [string, FakeModule][] = [];
  own: Tensor[] = [];
  namedChildren(): [string, FakeModule][] {
    return this.children;
  }
  parameters(): Tensor[] {
    return [...this.own, ...this.children.flatMap(([, c]) => c.parameters())];
  }
  registerForwardHook(fn: Hook): { remove(): void } {
    this.hooks.push(fn);
    return { remove: () => (this.hooks = this.hooks.filter((h) => h !== fn)) };
  }
  run(x: Tensor): Tensor {
    return x;
  }
  forward(x: Tensor): Tensor {
    const y = this.run(x);
    for (const h of this.hooks) h(this, [x], y);
    return y;
  }
}

export class Conv2d extends FakeModule {
  weight: Tensor;
  bias: Tensor;
  constructor(cin: number, cout: number, k: number) {
    super();
    this.weight = randn([cout, cin, k, k], { requiresGrad: true });
    this.bias = zeros([cout], { requiresGrad: true });
    this.own = [this.weight, this.bias];
  }
  override run(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { padding: Math.floor(this.weight.shape[2] / 2) });
  }
}

export class ReLU extends FakeModule {
  override run(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Flatten extends FakeModule {
  override run(x: Tensor): Tensor {
    return x.reshape(x.shape[0], -1);
  }
}

export class Linear extends FakeModule {
  weight: Tensor;
  constructor(nin: number, nout: number) {
    super();
    this.weight = randn([nin, nout], { requiresGrad: true });
    this.own = [this.weight];
  }
  override run(x: Tensor): Tensor {
    return x.matmul(this.weight);
  }
}

export class Sequential extends FakeModule {
  constructor(...layers: [string, FakeModule][]) {
    super();
    this.children = layers;
  }
  override run(x: Tensor): Tensor {
    let y = x;
    for (const [, m] of this.children) y = m.forward(y);
    return y;
  }
}
