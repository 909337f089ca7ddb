import type { GemmArgs } from "../backend.js";

/** Reference row-major GEMM (i-k-j loop order so the inner loop streams rows of B and C). */
export function gemm({ transA, transB, m, n, k, a, b, c, accumulate }: GemmArgs): void {
  if (!accumulate) c.fill(0);
  if (!transB) {
    for (let i = 0; i < m; i++) {
      const cRow = i * n;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i] : a[i * k + p];
        if (av === 0) continue;
        const bRow = p * n;
        for (let j = 0; j < n; j++) c[cRow + j] += av * b[bRow + j];
      }
    }
    return;
  }
  for (let i = 0; i < m; i++) {
    const cRow = i * n;
    for (let j = 0; j < n; j++) {
      let sum = 0;
      const bRow = j * k;
      if (transA) for (let p = 0; p < k; p++) sum += a[p * m + i] * b[bRow + p];
      else {
        const aRow = i * k;
        for (let p = 0; p < k; p++) sum += a[aRow + p] * b[bRow + p];
      }
      c[cRow + j] += sum;
    }
  }
}
