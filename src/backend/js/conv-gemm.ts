/**
 * conv2d as im2col + GEMM for any backend's GEMM (the CS231n notes' "implementation as matrix
 * multiplication"): the batch is unfolded in chunks of images into columns [c*kh*kw, m*L], one GEMM
 * per group multiplies the weights against them, and the [cout, m, L] result is shuffled to NCHW.
 * The dispatch table uses it where a backend has no whole-convolution kernel of its own.
 */
import type {
  Conv2dBackwardKernel,
  Conv2dForwardKernel,
  ConvGeometry,
  GemmArgs,
  Im2colArgs,
} from "../backend.js";
import { allocate, type FloatArray } from "../../tensor/dtype.js";
import { cnlToNcl, col2im as jsCol2im, im2col as jsIm2col, nclToCnl, sumNcl } from "./conv.js";

/** Elements of the im2col buffer a chunk of images may use (the batch is processed in chunks). */
const COLS_BUDGET = 1 << 20;

export interface GemmConvKernels {
  gemm(args: GemmArgs): void;
  im2col?(args: Im2colArgs): void;
  col2im?(args: Im2colArgs): void;
}

/** Images per chunk so that the chunk's columns stay within COLS_BUDGET elements. */
function chunkImages(g: ConvGeometry): number {
  const perImage = g.c * g.kh * g.kw * g.ho * g.wo;
  return Math.max(1, Math.min(g.n, Math.floor(COLS_BUDGET / Math.max(1, perImage))));
}

/** Columns [c*kh*kw, m*L] (images, then output positions) of images n0..n0+m-1. */
function unfoldChunk(
  k: GemmConvKernels,
  x: FloatArray,
  cols: FloatArray,
  g: ConvGeometry,
  n0: number,
  m: number,
): void {
  const plane = g.c * g.h * g.w;
  const L = g.ho * g.wo;
  (k.im2col ?? jsIm2col)({
    ...g,
    n: m,
    x: x.subarray(n0 * plane, (n0 + m) * plane),
    cols: cols.subarray(0, g.c * g.kh * g.kw * m * L),
    rowStride: m * L,
    posStride: 1,
    imgStride: L,
  });
}

/** conv2d forward as im2col + `k.gemm`. */
export function gemmConv2dForward(k: GemmConvKernels): Conv2dForwardKernel {
  return (x, wt, bias, out, g) => {
    const gemm = gemmOf(k);
    const L = g.ho * g.wo;
    const cgkk = (g.c / g.groups) * g.kh * g.kw;
    const coutG = g.cout / g.groups;
    const nb = chunkImages(g);
    const dtype = x instanceof Float64Array ? "float64" : "float32";
    const cols = allocate(dtype, g.c * g.kh * g.kw * nb * L) as FloatArray;
    const tmp = allocate(dtype, g.cout * nb * L) as FloatArray;
    for (let n0 = 0; n0 < g.n; n0 += nb) {
      const m = Math.min(nb, g.n - n0);
      const cols_ = m * L;
      unfoldChunk(k, x, cols, g, n0, m);
      for (let gi = 0; gi < g.groups; gi++) {
        gemm(
          false,
          false,
          coutG,
          cols_,
          cgkk,
          wt.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
          cols.subarray(gi * cgkk * cols_, (gi + 1) * cgkk * cols_),
          tmp.subarray(gi * coutG * cols_, (gi + 1) * coutG * cols_),
          false,
        );
      }
      cnlToNcl(tmp, out.subarray(n0 * g.cout * L, (n0 + m) * g.cout * L), g.cout, m, L, bias);
    }
  };
}

/** conv2d backward (adding into dx, dw, db) as im2col + `k.gemm` + col2im. */
export function gemmConv2dBackward(k: GemmConvKernels): Conv2dBackwardKernel {
  return (x, wt, gOut, dx, dWeight, dBias, g) => {
    const gemm = gemmOf(k);
    const L = g.ho * g.wo;
    const cgkk = (g.c / g.groups) * g.kh * g.kw;
    const coutG = g.cout / g.groups;
    const plane = g.c * g.h * g.w;
    if (dBias) sumNcl(gOut, dBias, g.n, g.cout, L);
    if (!dx && !dWeight) return;
    const nb = chunkImages(g);
    const dtype = x instanceof Float64Array ? "float64" : "float32";
    const cols = allocate(dtype, g.c * g.kh * g.kw * nb * L) as FloatArray;
    const gc = allocate(dtype, g.cout * nb * L) as FloatArray;
    for (let n0 = 0; n0 < g.n; n0 += nb) {
      const m = Math.min(nb, g.n - n0);
      const ml = m * L;
      nclToCnl(gOut.subarray(n0 * g.cout * L, (n0 + m) * g.cout * L), gc, m, g.cout, L);
      if (dWeight) {
        unfoldChunk(k, x, cols, g, n0, m);
        for (let gi = 0; gi < g.groups; gi++) {
          // dW_g += dOut_g [coutG, mL] · cols_g^T [mL, cgkk]
          gemm(
            false,
            true,
            coutG,
            cgkk,
            ml,
            gc.subarray(gi * coutG * ml, (gi + 1) * coutG * ml),
            cols.subarray(gi * cgkk * ml, (gi + 1) * cgkk * ml),
            dWeight.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
            true,
          );
        }
      }
      if (dx) {
        for (let gi = 0; gi < g.groups; gi++) {
          // dCols_g = W_g^T [cgkk, coutG] · dOut_g [coutG, mL]
          gemm(
            true,
            false,
            cgkk,
            ml,
            coutG,
            wt.subarray(gi * coutG * cgkk, (gi + 1) * coutG * cgkk),
            gc.subarray(gi * coutG * ml, (gi + 1) * coutG * ml),
            cols.subarray(gi * cgkk * ml, (gi + 1) * cgkk * ml),
            false,
          );
        }
        (k.col2im ?? jsCol2im)({
          ...g,
          n: m,
          x: dx.subarray(n0 * plane, (n0 + m) * plane),
          cols: cols.subarray(0, g.c * g.kh * g.kw * ml),
          rowStride: ml,
          posStride: 1,
          imgStride: L,
        });
      }
    }
  };
}

function gemmOf(k: GemmConvKernels) {
  return (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    kk: number,
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    accumulate: boolean,
  ): void => k.gemm({ transA, transB, m, n, k: kk, a, b, c, accumulate });
}
