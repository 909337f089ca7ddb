// The benchmark workloads (NCHW, float32 unless said) shared by cnnlab's own runners and the peer
// runners in this folder (which receive them as JSON on their command line). The full sizes are the
// speed issue's; the smoke sizes are tiny versions of the same workloads for CI.

export interface ConvShape {
  name: string;
  /** x [N, C, H, W] */
  x: [number, number, number, number];
  /** w [K, C, R, S] */
  w: [number, number, number, number];
  stride: number;
  pad: number;
}

export interface NetShape {
  N: number;
  C: number;
  H: number;
  W: number;
  /** conv filters */
  F: number;
  /** filter size */
  R: number;
  pad: number;
  hidden: number;
  classes: number;
}

export interface Workloads {
  smoke: boolean;
  gemm: number[];
  convs: ConvShape[];
  pool: [number, number, number, number];
  net: NetShape;
  /** Input of the naive-vs-fast conv comparison (the first conv shape with fewer images: the naive loops are slow). */
  naive: ConvShape;
  /** R1: sum over dims (0, 2, 3) of this [N, C, H, W] float32 tensor (the batch-norm / bias-gradient pattern). */
  reduce: [number, number, number, number];
}

export const FULL: Workloads = {
  smoke: false,
  gemm: [256, 512, 1024],
  convs: [
    { name: "conv1", x: [64, 3, 32, 32], w: [32, 3, 5, 5], stride: 1, pad: 2 },
    { name: "conv2", x: [64, 32, 16, 16], w: [64, 32, 3, 3], stride: 1, pad: 1 },
  ],
  pool: [64, 32, 32, 32],
  net: { N: 64, C: 3, H: 32, W: 32, F: 32, R: 7, pad: 3, hidden: 100, classes: 10 },
  naive: { name: "conv1", x: [8, 3, 32, 32], w: [32, 3, 5, 5], stride: 1, pad: 2 },
  reduce: [64, 32, 16, 16],
};

export const SMOKE: Workloads = {
  smoke: true,
  gemm: [16, 33],
  convs: [
    { name: "conv1", x: [2, 3, 8, 8], w: [4, 3, 5, 5], stride: 1, pad: 2 },
    { name: "conv2", x: [2, 4, 6, 6], w: [8, 4, 3, 3], stride: 1, pad: 1 },
  ],
  pool: [2, 4, 8, 8],
  net: { N: 4, C: 3, H: 8, W: 8, F: 4, R: 7, pad: 3, hidden: 10, classes: 10 },
  naive: { name: "conv1", x: [2, 3, 8, 8], w: [4, 3, 5, 5], stride: 1, pad: 2 },
  reduce: [2, 4, 8, 8],
};

export function convOut(c: ConvShape): [number, number, number, number] {
  const [n, , h, w] = c.x;
  const [k, , r, s] = c.w;
  return [
    n,
    k,
    Math.floor((h + 2 * c.pad - r) / c.stride) + 1,
    Math.floor((w + 2 * c.pad - s) / c.stride) + 1,
  ];
}

export function convFlops(c: ConvShape): number {
  const [n, k, ho, wo] = convOut(c);
  return 2 * n * k * c.x[1] * c.w[2] * c.w[3] * ho * wo;
}

/** FLOPs of one training step: 3x the forward conv + affine FLOPs (the peers' convention). */
export function netFlops(t: NetShape): number {
  const conv = convFlops({
    name: "",
    x: [t.N, t.C, t.H, t.W],
    w: [t.F, t.C, t.R, t.R],
    stride: 1,
    pad: t.pad,
  });
  const d = t.F * (t.H / 2) * (t.W / 2);
  return 3 * (conv + 2 * t.N * d * t.hidden + 2 * t.N * t.hidden * t.classes);
}

/** Case names, identical for cnnlab and every peer so that rows line up. */
export const CASES = {
  gemm: (n: number) => `sgemm n=${n}`,
  convFwd: (c: ConvShape) => `${c.name} fwd`,
  convBwd: (c: ConvShape) => `${c.name} bwd(dx,dw)`,
  poolBoth: "maxpool2x2 fwd+bwd",
  poolFwd: "maxpool2x2 fwd only",
  step32: "ThreeLayerConvNet train step",
  step64: "ThreeLayerConvNet train step float64",
} as const;
