/**
 * A compiled graph's arena in WebAssembly memory: the GEMM and conv kernels read and write arrays
 * that live there in place (no copy in or out). Their results must equal those on the same numbers
 * held in the JS heap (the copying path, tested against references in test/backend/wasm), bit for
 * bit, at 1 and 2 threads, and kernels' scratch must never touch a reserved region.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  setNumThreads,
  shutdownThreads,
  wasmConvBackwardKernel,
  wasmConvForwardKernel,
  wasmGemm,
} from "../../src/backend/wasm/index.js";
import { runtime } from "../../src/backend/wasm/runtime.js";
import { convGeometry } from "../../src/backend/geometry.js";
import {
  compile,
  F,
  manualSeed,
  nn,
  optim,
  randint,
  randn,
  setBackend,
  backend,
  Tensor,
} from "../../src/index.js";
import { blasConvKernels } from "../../src/backend/native/conv.js";
import { blasCandidates, findBlas } from "../../src/backend/native/blas.js";
import { backendLoads } from "../helpers/backends.js";
import { filled } from "../helpers/filled.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const initialBackend = backend().name;
afterAll(async () => {
  setBackend(initialBackend);
  setNumThreads(1);
  await shutdownThreads();
});

function rt() {
  const r = runtime();
  if (r === null) throw new Error("WebAssembly SIMD did not load; these tests need it");
  return r;
}

/** A copy of `a` in a freshly reserved region of WebAssembly memory, `shift` elements in. */
function inWasm<T extends Float32Array | Float64Array>(a: T, shift = 0): T {
  const r = rt();
  const es = a.BYTES_PER_ELEMENT;
  const { buffer, offset } = r.reserve((a.length + shift) * es);
  const out = (
    a instanceof Float64Array
      ? new Float64Array(buffer, offset + shift * es, a.length)
      : new Float32Array(buffer, offset + shift * es, a.length)
  ) as T;
  out.set(a);
  expect(r.offsetOf(out)).toBe(offset + shift * es);
  return out;
}

describe("kernels on arrays in WebAssembly memory", () => {
  for (const threads of [1, 2]) {
    for (const T of [Float32Array, Float64Array] as Ctor[]) {
      const dtype = T === Float32Array ? "float32" : "float64";
      it(`wasmGemm in place equals the copying path (${dtype}, ${threads}T)`, () => {
        setNumThreads(threads);
        const [m, n, k] = [67, 45, 130];
        for (const accumulate of [false, true]) {
          for (const [transA, transB] of [
            [false, false],
            [true, true],
          ]) {
            const a = filled(T, m * k, 1);
            const b = filled(T, k * n, 2);
            const c = filled(T, m * n, 3);
            const [aw, bw, cw] = [inWasm(a), inWasm(b, 3), inWasm(c, 1)];
            wasmGemm({ transA, transB, m, n, k, a, b, c, accumulate });
            wasmGemm({ transA, transB, m, n, k, a: aw, b: bw, c: cw, accumulate });
            expect(Array.from(cw), `accumulate ${accumulate} trans ${transA}`).toEqual(Array.from(c));
            // the inputs were read, not written
            expect(Array.from(aw)).toEqual(Array.from(filled(T, m * k, 1)));
          }
        }
        // mixed: only c in WebAssembly memory, and only a
        const a = filled(T, m * k, 4);
        const b = filled(T, k * n, 5);
        const c = new T(m * n);
        const cw = inWasm(new T(m * n));
        wasmGemm({ transA: false, transB: false, m, n, k, a, b, c, accumulate: false });
        wasmGemm({ transA: false, transB: false, m, n, k, a: inWasm(a), b, c: cw, accumulate: false });
        expect(Array.from(cw)).toEqual(Array.from(c));
        expect(c.some((v) => v !== 0)).toBe(true);
      });

      it(`conv forward and backward in place equal the copying path (${dtype}, ${threads}T)`, () => {
        setNumThreads(threads);
        const g = convGeometry("test", [5, 3, 11, 9], [6, 3, 3, 3], {
          stride: [2, 1],
          padding: [1, 2],
          dilation: [1, 1],
          groups: 1,
        });
        const x = filled(T, 5 * 3 * 11 * 9, 6);
        const w = filled(T, 6 * 27, 7);
        const bias = filled(T, 6, 8);
        const outLen = g.n * g.cout * g.ho * g.wo;
        const out = new T(outLen);
        const outW = inWasm(new T(outLen), 2);
        wasmConvForwardKernel(x, w, bias, out, g);
        wasmConvForwardKernel(inWasm(x, 1), inWasm(w), inWasm(bias), outW, g);
        expect(Array.from(outW)).toEqual(Array.from(out));
        expect(out.some((v) => v !== 0)).toBe(true);

        const dout = filled(T, outLen, 9);
        // dx, dw and db are accumulated into: start from non-zero values
        const dx = filled(T, x.length, 10);
        const dw = filled(T, w.length, 11);
        const db = filled(T, 6, 12);
        const [dxW, dwW, dbW] = [inWasm(dx), inWasm(dw, 1), inWasm(db)];
        wasmConvBackwardKernel(x, w, dout, dx, dw, db, g);
        wasmConvBackwardKernel(inWasm(x), inWasm(w, 3), inWasm(dout), dxW, dwW, dbW, g);
        expect(Array.from(dxW)).toEqual(Array.from(dx));
        expect(Array.from(dwW)).toEqual(Array.from(dw));
        expect(Array.from(dbW)).toEqual(Array.from(db));
        expect(Array.from(dx)).not.toEqual(Array.from(filled(T, x.length, 10)));
      });
    }
  }

  const blas = backendLoads("native") ? findBlas(blasCandidates(process.env, process.platform)).blas : null;
  it.skipIf(blas === null)(
    "native conv forward and backward unfold images in place (float32, groups 1 and 2)",
    () => {
      for (const groups of [1, 2]) {
        const g = convGeometry("test", [3, 4, 9, 8], [6, 4 / groups, 3, 3], {
          stride: [1, 1],
          padding: [1, 1],
          dilation: [1, 1],
          groups,
        });
        const x = filled(Float32Array, 3 * 4 * 9 * 8, 20);
        const w = filled(Float32Array, (6 * 4 * 9) / groups, 21);
        const outLen = g.n * g.cout * g.ho * g.wo;
        const out = new Float32Array(outLen);
        const outW = inWasm(new Float32Array(outLen));
        blasConvKernels(blas!, () => rt()).forward(x, w, null, out, g);
        blasConvKernels(blas!, () => rt()).forward(inWasm(x, 1), w, null, outW, g);
        expect(Array.from(outW), `groups ${groups}`).toEqual(Array.from(out));
        const dout = filled(Float32Array, outLen, 22);
        const dx = filled(Float32Array, x.length, 23);
        const dw = new Float32Array(w.length);
        const [dxW, dwW] = [inWasm(dx), new Float32Array(w.length)];
        blasConvKernels(blas!, () => rt()).backward(x, w, dout, dx, dw, null, g);
        blasConvKernels(blas!, () => rt()).backward(inWasm(x), w, inWasm(dout), dxW, dwW, null, g);
        expect(Array.from(dxW), `groups ${groups}`).toEqual(Array.from(dx));
        expect(Array.from(dwW), `groups ${groups}`).toEqual(Array.from(dw));
        expect(dw.some((v) => v !== 0)).toBe(true);
      }
    },
  );

  it("kernels' scratch never touches a reserved region", () => {
    setNumThreads(2);
    const guard = inWasm(filled(Float32Array, 4096, 13));
    const before = Array.from(guard);
    // a large GEMM on JS-heap arrays grows the scratch and fills it
    const [m, n, k] = [300, 300, 300];
    wasmGemm({
      transA: false,
      transB: false,
      m,
      n,
      k,
      a: filled(Float32Array, m * k, 14),
      b: filled(Float32Array, k * n, 15),
      c: new Float32Array(m * n),
      accumulate: false,
    });
    expect(Array.from(guard)).toEqual(before);
    expect(rt().arenaOffset).toBeGreaterThanOrEqual(rt().offsetOf(guard) + guard.byteLength);
  });
});

describe("compile: where the arena lives", () => {
  it("past 1 GiB of arenas in WebAssembly memory, a new arena stays in the JS heap (and replays still equal eager)", () => {
    setBackend("wasm");
    const r = rt();
    const saved = r.reservedBytes;
    r.reservedBytes = 2 ** 30;
    try {
      const w = randn([5, 4], { requiresGrad: true });
      const body = (x: Tensor) => {
        const y = x.matmul(w).relu().sum();
        y.backward();
        return y;
      };
      const f = compile(body, { name: "heap" });
      const x = randn([3, 5]);
      const values = [f(x), f(x), f(x)].map((t) => t.item());
      w.grad = null;
      expect(values).toEqual([0, 1, 2].map(() => body(x).item()));
      expect(f.graph(0).arenaInWasm).toBe(false);
      expect(f.graph(0).lastReplay).toEqual({ served: f.graph(0).memory!.buffers, fresh: 0 });
    } finally {
      r.reservedBytes = saved;
    }
  });

  for (const name of ["wasm", "js"]) {
    it(`on the ${name} backend the arena is ${name === "js" ? "an ArrayBuffer" : "in WebAssembly memory"}, and replays equal eager`, () => {
      setBackend(name);
      setNumThreads(1);
      const run = (compiled: boolean) => {
        manualSeed(0);
        const model = new nn.Sequential(
          new nn.Conv2d(3, 4, 3, { padding: 1 }),
          new nn.ReLU(),
          new nn.Flatten(),
          new nn.Linear(4 * 6 * 6, 3),
        );
        const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
        const body = (x: Tensor, y: Tensor) => {
          opt.zeroGrad();
          const loss = F.crossEntropy(model.forward(x), y);
          loss.backward();
          opt.step();
          return loss;
        };
        const step = compiled ? compile(body, { name: "arena" }) : body;
        manualSeed(1);
        const losses = Array.from({ length: 5 }, () => step(randn([2, 3, 6, 6]), randint(0, 3, [2])).item());
        return { losses, params: model.parameters().map((p) => Array.from(p.data)), step };
      };
      const eager = run(false);
      const comp = run(true);
      expect(comp.losses).toEqual(eager.losses);
      expect(comp.params).toEqual(eager.params);
      const g = (comp.step as ReturnType<typeof compile>).graph(0);
      expect(g.arenaInWasm).toBe(name !== "js");
      expect(g.lastReplay).toEqual({ served: g.memory!.buffers, fresh: 0 });
    });
  }
});
