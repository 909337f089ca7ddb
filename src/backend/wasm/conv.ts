import type { Conv2dBackwardKernel, Conv2dForwardKernel, ConvGeometry } from "../backend.js";
import { windowOutputSize } from "../geometry.js";
import { CONV_PARAMS, CONV_PARAM_COUNT, OPS } from "./generated/layout.js";
import type { FloatArray } from "../../tensor/dtype.js";
import { align, runtime, type WasmRuntime } from "./runtime.js";
import { MAIN_SLOT, SLOT_BASE, SLOT_INTS, getNumThreads, getPool, share } from "./threads.js";
import { PARALLEL_MIN_FLOPS } from "./gemm.js";

/** NCHW convolution geometry (groups = 1). */
export interface Conv2dShape {
  batch: number;
  inC: number;
  inH: number;
  inW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
}

/** out[N, F, Ho, Wo] = conv(x[N, C, H, W], weight[F, C, kH, kW]) + bias[F]; all one dtype. */
export interface Conv2dForwardArgs extends Conv2dShape {
  x: FloatArray;
  weight: FloatArray;
  bias?: FloatArray | null;
  out: FloatArray;
}

/** Gradients of the convolution: any of dx [N,C,H,W], dw [F,C,kH,kW], db [F] (null: not wanted). */
export interface Conv2dBackwardArgs extends Conv2dShape {
  x: FloatArray;
  weight: FloatArray;
  dout: FloatArray;
  dx?: FloatArray | null;
  dw?: FloatArray | null;
  db?: FloatArray | null;
  /** Add the gradients into dx, dw, db instead of overwriting them (default false). */
  accumulate?: boolean;
}

/** PyTorch's output size: floor((in + 2 pad - dilation (k - 1) - 1) / stride) + 1. */
export function conv2dOutputSize(s: Conv2dShape): [number, number] {
  return [
    windowOutputSize(s.inH, s.kH, s.strideH, s.padH, s.dilationH),
    windowOutputSize(s.inW, s.kW, s.strideW, s.padW, s.dilationW),
  ];
}

const P = CONV_PARAMS;

function check(
  op: string,
  s: Conv2dShape,
  arrays: [string, FloatArray | null | undefined, number][],
): boolean {
  for (const [k, v] of Object.entries({
    batch: s.batch,
    inC: s.inC,
    inH: s.inH,
    inW: s.inW,
    outC: s.outC,
    padH: s.padH,
    padW: s.padW,
  })) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${op}: ${k} must be a non-negative integer, got ${v}`);
  }
  for (const [k, v] of Object.entries({
    kH: s.kH,
    kW: s.kW,
    strideH: s.strideH,
    strideW: s.strideW,
    dilationH: s.dilationH,
    dilationW: s.dilationW,
  })) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`${op}: ${k} must be a positive integer, got ${v}`);
  }
  const [ho, wo] = conv2dOutputSize(s);
  if (ho < 1 || wo < 1) {
    throw new RangeError(
      `${op}: kernel ${s.kH}x${s.kW} (dilation ${s.dilationH}x${s.dilationW}) does not fit input ${s.inH}x${s.inW} with padding ${s.padH}x${s.padW}`,
    );
  }
  const ctor = arrays[0][1]!.constructor;
  if (ctor !== Float32Array && ctor !== Float64Array)
    throw new TypeError(`${op}: x must be a Float32Array or Float64Array`);
  for (const [name, arr, len] of arrays) {
    if (arr == null) continue;
    if (arr.constructor !== ctor)
      throw new TypeError(`${op}: ${name} is a ${arr.constructor.name}, x is a ${ctor.name}`);
    if (arr.length !== len)
      throw new RangeError(`${op}: ${name} has ${arr.length} elements, expected ${len}`);
  }
  return ctor === Float64Array;
}

/** Writes the geometry and the given fields into parameter block `base` (Int32 index of slot field 0). */
function writeParams(
  I: Int32Array,
  base: number,
  s: Conv2dShape,
  ho: number,
  wo: number,
  fields: Partial<Record<keyof typeof P, number>>,
): void {
  const q = base + 1;
  I.fill(0, q, q + CONV_PARAM_COUNT);
  I[q + P.C] = s.inC;
  I[q + P.H] = s.inH;
  I[q + P.W] = s.inW;
  I[q + P.F] = s.outC;
  I[q + P.KH] = s.kH;
  I[q + P.KW] = s.kW;
  I[q + P.SH] = s.strideH;
  I[q + P.SW] = s.strideW;
  I[q + P.PH] = s.padH;
  I[q + P.PW] = s.padW;
  I[q + P.DH] = s.dilationH;
  I[q + P.DW] = s.dilationW;
  I[q + P.HO] = ho;
  I[q + P.WO] = wo;
  for (const [k, v] of Object.entries(fields)) I[q + P[k as keyof typeof P]] = v as number;
}

/**
 * Runs `op` (a PARAM_OPS code) over `parts` work shares: worker t gets params(t), the caller params(0).
 * Uses up to getNumThreads() threads when `flops` is large enough.
 */
function dispatch(
  rt: WasmRuntime,
  op: number,
  parts: number,
  flops: number,
  params: (base: number, t: number, nt: number) => void,
  kernel: (ptr: number) => void,
  ntFixed?: number,
): number {
  let nt = ntFixed ?? 1;
  const wanted = getNumThreads();
  const pool = wanted > 1 && parts >= 2 && flops >= PARALLEL_MIN_FLOPS ? getPool(rt) : null;
  if (ntFixed === undefined && pool) nt = 1 + pool.ready(Math.min(wanted, parts) - 1);
  const mainBase = SLOT_BASE + MAIN_SLOT * SLOT_INTS;
  const mainPtr = rt.ctrlOffset + (mainBase + 1) * 4;
  if (nt === 1 || !pool) {
    params(mainBase, 0, 1);
    kernel(mainPtr);
    return 1;
  }
  const I = rt.ctrl;
  pool.run(
    nt,
    (base, t) => {
      params(base, t, nt);
      I[base] = op;
    },
    () => {
      params(mainBase, 0, nt);
      kernel(mainPtr);
    },
  );
  return nt;
}

/** Threads for a job: decided once so both backward phases use the same per-thread scratch. */
function threadsFor(rt: WasmRuntime, parts: number, flops: number): number {
  const wanted = getNumThreads();
  if (wanted <= 1 || parts < 2 || flops < PARALLEL_MIN_FLOPS) return 1;
  return 1 + getPool(rt).ready(Math.min(wanted, parts) - 1);
}

/**
 * 2-D convolution forward (NCHW, groups 1) on the WebAssembly kernels: per image, im2col into
 * WebAssembly memory, then the packed GEMM out[n] = W (F x C*kH*kW) * cols (C*kH*kW x Ho*Wo),
 * plus bias. Images are split across threads; results do not depend on the thread count.
 */
export function wasmConv2dForward(args: Conv2dForwardArgs): void {
  const op = "wasmConv2dForward";
  const s = args;
  const [ho, wo] = conv2dOutputSize(s);
  const K = s.inC * s.kH * s.kW;
  const L = ho * wo;
  const f64 = check(op, s, [
    ["x", args.x, s.batch * s.inC * s.inH * s.inW],
    ["weight", args.weight, s.outC * K],
    ["bias", args.bias, s.outC],
    ["out", args.out, s.batch * s.outC * L],
  ]);
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  if (s.batch === 0 || s.outC === 0) return;
  if (K === 0) {
    for (let n = 0; n < s.batch; n++)
      for (let f = 0; f < s.outC; f++)
        args.out.fill(args.bias ? args.bias[f] : 0, (n * s.outC + f) * L, (n * s.outC + f + 1) * L);
    return;
  }
  const es = f64 ? 8 : 4;
  const nr = f64 ? 4 : 8;
  const F = s.outC;
  const Fs = Math.ceil(F / 4);
  const Ls = Math.ceil(L / nr);
  const xOff = rt.arenaOffset;
  const wOff = align(xOff + args.x.length * es, 64);
  const bOff = align(wOff + args.weight.length * es, 64);
  const outOff = align(bOff + F * es, 64);
  const wpOff = align(outOff + args.out.length * es, 64);
  const scrOff = align(wpOff + Fs * 4 * K * es, 64);
  // packed columns | zero-padded image | tap offsets (assembly/conv.as, convForward)
  const padded = s.inC * (s.inH + 2 * s.padH) * (s.inW + 2 * s.padW) * es;
  const scrSize = align(Ls * nr * K * es, 64) + align(padded, 64) + align(K * 4, 64);
  const flops = 2 * s.batch * F * K * L;
  const nt = threadsFor(rt, s.batch, flops);
  rt.ensureArena(scrOff + nt * scrSize - rt.arenaOffset);
  rt.write(xOff, args.x);
  rt.write(wOff, args.weight);
  if (args.bias) rt.write(bOff, args.bias);
  const x = rt.x;
  (f64 ? x.packA64 : x.packA32)(wOff, wpOff, F, K, 0, 0, Fs);
  dispatch(
    rt,
    f64 ? OPS.convForward64 : OPS.convForward32,
    s.batch,
    flops,
    (base, t, n) => {
      const [n0, n1] = share(s.batch, n, t);
      writeParams(rt.ctrl, base, s, ho, wo, {
        x: xOff,
        wp: wpOff,
        out: outOff,
        bias: args.bias ? bOff : 0,
        n0,
        n1,
        scr: scrOff + t * scrSize,
        tile: rt.tile(t),
      });
    },
    f64 ? x.convForward64 : x.convForward32,
    nt,
  );
  rt.read(outOff, args.out);
}

/**
 * 2-D convolution backward on the WebAssembly kernels: dx = col2im(W^T * dout[n]) per image,
 * dw = sum over images (in order) of dout[n] * cols[n]^T, db = sum of dout over n and pixels.
 * Results do not depend on the thread count.
 */
export function wasmConv2dBackward(args: Conv2dBackwardArgs): void {
  const op = "wasmConv2dBackward";
  const s = args;
  const [ho, wo] = conv2dOutputSize(s);
  const K = s.inC * s.kH * s.kW;
  const L = ho * wo;
  const F = s.outC;
  const N = s.batch;
  const f64 = check(op, s, [
    ["x", args.x, N * s.inC * s.inH * s.inW],
    ["weight", args.weight, F * K],
    ["dout", args.dout, N * F * L],
    ["dx", args.dx, N * s.inC * s.inH * s.inW],
    ["dw", args.dw, F * K],
    ["db", args.db, F],
  ]);
  const rt = runtime();
  if (!rt) throw new Error(`${op}: WebAssembly SIMD is not available on this engine`);
  const es = f64 ? 8 : 4;
  const nr = f64 ? 4 : 8;
  const x = rt.x;
  const wantDx = args.dx != null;
  const wantDw = args.dw != null;
  const acc = args.accumulate === true;
  if (N === 0 || F === 0 || K === 0) {
    if (!acc) {
      args.dx?.fill(0);
      args.dw?.fill(0);
    }
    if (args.db) {
      for (let f = 0; f < F; f++) {
        let t = 0;
        for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) t += args.dout[(n * F + f) * L + l];
        args.db[f] = acc ? args.db[f] + t : t;
      }
    }
    return;
  }
  const Ks = Math.ceil(K / 4);
  const Ls = Math.ceil(L / nr);
  const Fn = Math.ceil(F / nr);
  const xOff = rt.arenaOffset;
  const wOff = align(xOff + args.x.length * es, 64);
  const doutOff = align(wOff + args.weight.length * es, 64);
  const dxOff = align(doutOff + args.dout.length * es, 64);
  const dwOff = align(dxOff + (wantDx ? args.x.length * es : 0), 64);
  const dbOff = align(dwOff + F * K * es, 64);
  const wtpOff = align(dbOff + F * es, 64);
  const dwtOff = align(wtpOff + (wantDx ? Ks * 4 * F * es : 0), 64);
  const scrOff = align(dwtOff + (wantDw ? K * F * es : 0), 64);
  const flopsDx = wantDx ? 2 * N * F * K * L : 0;
  const flopsDw = wantDw ? 2 * N * F * K * L : 0;
  const ntDx = wantDx ? threadsFor(rt, N, flopsDx) : 1;
  const ntDw = wantDw ? threadsFor(rt, Ks, flopsDw) : 1;
  // input gradient: dcols | packed dout; weight gradient: padded image | tap offsets | im2col rows |
  // packed rows | packed dout^T (assembly/conv.as)
  const scrDx = wantDx ? align(K * L * es, 64) + Ls * nr * F * es : 0;
  const rowsDw = Math.min(K, 4 * Math.ceil(Ks / ntDw));
  const padded = s.inC * (s.inH + 2 * s.padH) * (s.inW + 2 * s.padW) * es;
  const scrDw = wantDw
    ? align(padded, 64) +
      align(K * 4, 64) +
      align(rowsDw * L * es, 64) +
      align(Math.ceil(rowsDw / 4) * 4 * L * es, 64) +
      Fn * nr * L * es
    : 0;
  const scrSize = align(Math.max(scrDx, scrDw), 64);
  rt.ensureArena(scrOff + Math.max(ntDx, ntDw) * scrSize - rt.arenaOffset);
  if (wantDw) rt.write(xOff, args.x);
  if (wantDx) rt.write(wOff, args.weight);
  rt.write(doutOff, args.dout);
  if (acc && args.dx) rt.write(dxOff, args.dx);
  if (acc && args.dw) rt.write(dwOff, args.dw);
  if (wantDx) (f64 ? x.packA64 : x.packA32)(wOff, wtpOff, K, F, 1, 0, Ks);
  const common = {
    x: xOff,
    wp: wtpOff,
    out: doutOff,
    dx: wantDx ? dxOff : 0,
    dw: wantDw ? dwOff : 0,
    cols: dwtOff,
    acc: acc ? 1 : 0,
  };
  if (wantDx) {
    dispatch(
      rt,
      f64 ? OPS.convBackwardInput64 : OPS.convBackwardInput32,
      N,
      flopsDx,
      (base, t, n) => {
        const [n0, n1] = share(N, n, t);
        writeParams(rt.ctrl, base, s, ho, wo, {
          ...common,
          n0,
          n1,
          scr: scrOff + t * scrSize,
          tile: rt.tile(t),
        });
      },
      f64 ? x.convBackwardInput64 : x.convBackwardInput32,
      ntDx,
    );
  }
  if (wantDw) {
    dispatch(
      rt,
      f64 ? OPS.convBackwardWeight64 : OPS.convBackwardWeight32,
      Ks,
      flopsDw,
      (base, t, n) => {
        const [s0, s1] = share(Ks, n, t);
        writeParams(rt.ctrl, base, s, ho, wo, {
          ...common,
          n0: 0,
          n1: N,
          s0,
          s1,
          scr: scrOff + t * scrSize,
          tile: rt.tile(t),
        });
      },
      f64 ? x.convBackwardWeight64 : x.convBackwardWeight32,
      ntDw,
    );
    (f64 ? x.transposeInto64 : x.transposeInto32)(dwtOff, dwOff, K, F, acc ? 1 : 0);
  }
  if (args.db) (f64 ? x.biasGrad64 : x.biasGrad32)(doutOff, dbOff, N, F, L);
  if (args.dx) rt.read(dxOff, args.dx);
  if (args.dw) rt.read(dwOff, args.dw);
  if (args.db) {
    if (acc) {
      const view = f64
        ? rt.f64.subarray(dbOff / 8, dbOff / 8 + F)
        : rt.f32.subarray(dbOff / 4, dbOff / 4 + F);
      for (let f = 0; f < F; f++) args.db[f] += view[f];
    } else rt.read(dbOff, args.db);
  }
}

/** Bytes of per-thread scratch that wasmImageColumns needs: the zero-padded image and the tap offsets. */
export function imageColumnsScratch(g: ConvGeometry, es: number): number {
  return align(g.c * (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * es, 64) + align(g.c * g.kh * g.kw * 4, 64);
}

/**
 * Plain im2col ("im2col") or its adjoint ("col2im") over images [0, g.n) that sit in WebAssembly
 * memory at byte offset imgOff, split across up to getNumThreads() threads: image i's columns
 * (K x L, row-major, K = c*kh*kw over every channel) sit at colsOff + i*K*L elements. col2im adds
 * into the images when `acc`, else overwrites them. Per-thread scratch starts at scrOff (the arena
 * is grown to hold it, which may replace the memory's views).
 */
export function wasmImageColumns(
  rt: WasmRuntime,
  kind: "im2col" | "col2im",
  f64: boolean,
  g: ConvGeometry,
  imgOff: number,
  colsOff: number,
  scrOff: number,
  acc = false,
): void {
  const s = shapeOf("wasmImageColumns", { ...g, groups: 1 });
  const es = f64 ? 8 : 4;
  const bytes = g.n * g.c * g.kh * g.kw * g.ho * g.wo * es;
  const scr = imageColumnsScratch(g, es);
  // a memory-bound pass: worth a second thread only when it moves a few megabytes
  const nt = threadsFor(rt, g.n, bytes * 2);
  rt.ensureArena(scrOff + nt * scr - rt.arenaOffset);
  const x = rt.x;
  const op =
    kind === "im2col"
      ? f64
        ? OPS.im2colImages64
        : OPS.im2colImages32
      : f64
        ? OPS.col2imImages64
        : OPS.col2imImages32;
  const kernel =
    kind === "im2col"
      ? f64
        ? x.im2colImages64
        : x.im2colImages32
      : f64
        ? x.col2imImages64
        : x.col2imImages32;
  dispatch(
    rt,
    op,
    g.n,
    bytes * 2,
    (base, t, n) => {
      const [n0, n1] = share(g.n, n, t);
      writeParams(rt.ctrl, base, s, g.ho, g.wo, {
        x: imgOff,
        dx: imgOff,
        cols: colsOff,
        n0,
        n1,
        scr: scrOff + t * scr,
        acc: acc ? 1 : 0,
      });
    },
    kernel,
    nt,
  );
}

function shapeOf(op: string, g: ConvGeometry): Conv2dShape {
  if (g.groups !== 1)
    throw new RangeError(`${op}: only groups = 1 runs on the WebAssembly kernels, got ${g.groups}`);
  const s: Conv2dShape = {
    batch: g.n,
    inC: g.c,
    inH: g.h,
    inW: g.w,
    outC: g.cout,
    kH: g.kh,
    kW: g.kw,
    strideH: g.sh,
    strideW: g.sw,
    padH: g.ph,
    padW: g.pw,
    dilationH: g.dh,
    dilationW: g.dw,
  };
  const [ho, wo] = conv2dOutputSize(s);
  if (ho !== g.ho || wo !== g.wo) {
    throw new RangeError(`${op}: output size ${g.ho}x${g.wo} differs from the convolution's ${ho}x${wo}`);
  }
  return s;
}

/** The forward convolution with the ops' kernel signature (groups must be 1): out = conv(x, w) + b. */
export const wasmConvForwardKernel: Conv2dForwardKernel = (x, weight, bias, out, g) => {
  wasmConv2dForward({ ...shapeOf("wasmConvForwardKernel", g), x, weight, bias, out });
};

/**
 * The backward convolution with the ops' kernel signature (groups must be 1): adds the gradients
 * into dx, dw, db (each may be null), as the JS kernels do.
 */
export const wasmConvBackwardKernel: Conv2dBackwardKernel = (x, weight, dout, dx, dw, db, g) => {
  wasmConv2dBackward({
    ...shapeOf("wasmConvBackwardKernel", g),
    x,
    weight,
    dout,
    dx,
    dw,
    db,
    accumulate: true,
  });
};
