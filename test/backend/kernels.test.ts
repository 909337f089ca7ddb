// The norm, softmax, loss and indexing kernels behind the backend boundary, called directly on
// typed arrays on every backend, against the same quantities composed from other ops (elementwise,
// reductions, views) whose own results are checked against PyTorch elsewhere.
import { describe, expect, it } from "vitest";
import * as cn from "../../src/index.js";
import type { Tensor } from "../../src/index.js";
import { filled } from "../helpers/filled.js";

const t = (data: Float64Array | Float32Array, shape: number[]): Tensor => cn.Tensor.fromData(data, shape);
const f64 = (n: number, seed: number) => filled(Float64Array, n, seed) as Float64Array;

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  expect(worst, `worst relative error at ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThanOrEqual(tol);
}

const data = (x: Tensor): Float64Array => Float64Array.from(x.contiguous().data);

describe.each(cn.listBackends())("kernels on the %s backend", (name) => {
  const k = () => {
    cn.setBackend(name);
    return cn.backend();
  };

  describe("softmax", () => {
    // [outer, size, inner] = [3, 5, 4]: softmax along dim 1
    const [outer, size, inner] = [3, 5, 4];
    const xd = f64(outer * size * inner, 1).map((v) => 4 * v);
    const x = t(xd, [outer, size, inner]);
    const shifted = cn.sub(x, cn.amax(x, 1, true));
    const ref = cn.div(cn.exp(shifted), cn.sum(cn.exp(shifted), 1, true));
    const refLog = cn.sub(shifted, cn.log(cn.sum(cn.exp(shifted), 1, true)));

    it("forward: exp(x − max) / Σ and its log, along the middle axis", () => {
      const out = new Float64Array(xd.length);
      k().softmax(xd, out, { outer, size, inner, log: false });
      close(out, data(ref));
      k().softmax(xd, out, { outer, size, inner, log: true });
      close(out, data(refLog));
    });

    it("backward: y (g − Σ g y) and g − exp(y) Σ g", () => {
      const g = f64(xd.length, 2);
      const gt = t(g, [outer, size, inner]);
      const y = data(ref);
      const dx = new Float64Array(xd.length);
      k().softmaxBackward(y, g, dx, { outer, size, inner, log: false });
      close(dx, data(cn.mul(ref, cn.sub(gt, cn.sum(cn.mul(gt, ref), 1, true)))));
      const yl = data(refLog);
      k().softmaxBackward(yl, g, dx, { outer, size, inner, log: true });
      close(dx, data(cn.sub(gt, cn.mul(cn.exp(refLog), cn.sum(gt, 1, true)))));
    });
  });

  describe("normalization", () => {
    const [n, c, s] = [4, 3, 6];
    const xd = f64(n * c * s, 3).map((v) => 2 * v + 0.5);
    const x = t(xd, [n, c, s]);

    it("channelMoments: the mean and biased variance over dims (0, 2)", () => {
      const mean = new Float64Array(c);
      const variance = new Float64Array(c);
      k().channelMoments(xd, n, c, s, mean, variance);
      close(mean, data(cn.mean(x, [0, 2])));
      close(variance, data(cn.variance(x, [0, 2], false, { correction: 0 })));
    });

    it("channelAffine: x · scale[ch] + shift[ch]", () => {
      const scale = f64(c, 4);
      const shift = f64(c, 5);
      const out = new Float64Array(xd.length);
      k().channelAffine(xd, n, c, s, scale, shift, out);
      const want = cn.add(cn.mul(x, t(scale, [1, c, 1])), t(shift, [1, c, 1]));
      close(out, data(want));
    });

    it("channelAffineBackward and batchNormBackward against autograd through composed ops", () => {
      const g = f64(xd.length, 6);
      const w = f64(c, 7).map((v) => v + 1.5);
      // per-channel affine y = x·w + b
      const xa = t(xd.slice(), [n, c, s]).requiresGrad_();
      const wa = t(w.slice(), [c]).requiresGrad_();
      const ba = t(new Float64Array(c), [c]).requiresGrad_();
      const y = cn.add(cn.mul(xa, cn.reshape(wa, [1, c, 1])), cn.reshape(ba, [1, c, 1]));
      cn.sum(cn.mul(y, t(g, [n, c, s]))).backward();
      const dx = new Float64Array(xd.length);
      const dw = new Float64Array(c);
      const db = new Float64Array(c);
      k().channelAffineBackward(xd, g, n, c, s, w, dx, dw, db);
      close(dx, data(xa.grad!));
      close(dw, data(wa.grad!));
      close(db, data(ba.grad!));

      // batch norm in training: x̂ = (x − mean)·invstd with the batch statistics, y = γ·x̂
      const eps = 1e-5;
      const xb = t(xd.slice(), [n, c, s]).requiresGrad_();
      const mu = cn.mean(xb, [0, 2], true);
      const invstd = cn.reciprocal(cn.sqrt(cn.add(cn.variance(xb, [0, 2], true, { correction: 0 }), eps)));
      const xhat = cn.mul(cn.sub(xb, mu), invstd);
      cn.sum(cn.mul(cn.mul(xhat, t(w, [1, c, 1])), t(g, [n, c, s]))).backward();
      const meanK = new Float64Array(c);
      const varK = new Float64Array(c);
      k().channelMoments(xd, n, c, s, meanK, varK);
      const invK = varK.map((v) => 1 / Math.sqrt(v + eps));
      const sumDy = new Float64Array(c);
      const sumDyXhat = new Float64Array(c);
      const dxb = new Float64Array(xd.length);
      k().batchNormBackward(xd, g, n, c, s, meanK, invK, w, true, sumDy, sumDyXhat, dxb);
      close(dxb, data(xb.grad!), 1e-10);
      const gt = t(g, [n, c, s]);
      close(sumDy, data(cn.sum(gt, [0, 2])));
      close(sumDyXhat, data(cn.sum(cn.mul(gt, xhat.detach()), [0, 2])));
    });

    it("rowNormalize and its backward against composed ops", () => {
      const [rows, size] = [5, 7];
      const rd = f64(rows * size, 8).map((v) => 3 * v);
      const eps = 1e-5;
      const xr = t(rd.slice(), [rows, size]).requiresGrad_();
      const norm = cn.div(
        cn.sub(xr, cn.mean(xr, 1, true)),
        cn.sqrt(cn.add(cn.variance(xr, 1, true, { correction: 0 }), eps)),
      );
      const g = f64(rd.length, 9);
      cn.sum(cn.mul(norm, t(g, [rows, size]))).backward();
      const out = new Float64Array(rd.length);
      const xhat = new Float64Array(rd.length);
      const invstd = new Float64Array(rows);
      k().rowNormalize(rd, rows, size, eps, out, xhat, invstd);
      close(out, data(norm.detach()));
      const dx = new Float64Array(rd.length);
      k().rowNormalizeBackward(g, xhat, invstd, rows, size, dx);
      close(dx, data(xr.grad!), 1e-10);
    });

    it("lrn and its backward against composed ops (a window of 3 channels)", () => {
      const cfg = { size: 3, alpha: 0.5, beta: 0.75, k: 2 };
      const xl = t(xd.slice(), [n, c, s]).requiresGrad_();
      // Σ x² over channels [ch − 1, ch + 1], zero outside: pad the channel dim and add three slices
      const sq = cn.pad(cn.square(xl), [0, 0, 1, 1]);
      const window = cn.add(cn.add(cn.narrow(sq, 1, 0, c), cn.narrow(sq, 1, 1, c)), cn.narrow(sq, 1, 2, c));
      const scaleT = cn.add(cn.mul(window, cfg.alpha / cfg.size), cfg.k);
      const y = cn.mul(xl, cn.pow(scaleT, -cfg.beta));
      const g = f64(xd.length, 10);
      cn.sum(cn.mul(y, t(g, [n, c, s]))).backward();
      const out = new Float64Array(xd.length);
      const scale = new Float64Array(xd.length);
      const powed = new Float64Array(xd.length);
      k().lrn(xd, n, c, s, cfg, out, scale, powed);
      close(out, data(y.detach()));
      close(scale, data(scaleT.detach()));
      const dx = new Float64Array(xd.length);
      k().lrnBackward(xd, g, n, c, s, cfg, scale, powed, dx);
      close(dx, data(xl.grad!), 1e-10);
    });
  });

  describe("losses", () => {
    const [n, classes, spatial] = [4, 5, 3];
    const xd = f64(n * classes * spatial, 11);
    const targets = Int32Array.from({ length: n * spatial }, (_, i) => (i * 7 + 2) % classes);
    targets[4] = -100; // ignored
    const w = f64(classes, 12).map((v) => v + 1.5);
    const x = t(xd, [n, classes, spatial]);
    // x[i, t_i, s] picked through a one-hot mask built from comparisons
    const classIds = cn.Tensor.fromData(
      Int32Array.from({ length: classes }, (_, i) => i),
      [1, classes, 1],
    );
    const tt = cn.reshape(cn.Tensor.fromData(targets.slice(), [n, spatial]), [n, 1, spatial]);
    const onehot = cn.where(cn.eq(tt, classIds), 1, 0).to("float64");

    it("nllLoss: −w[t]·x[t] per sample, 0 and weight 0 where ignored; backward scatters −w[t]·g", () => {
      const loss = new Float64Array(n * spatial);
      const sw = new Float64Array(n * spatial);
      k().nllLoss(xd, targets, w, { classes, spatial, ignore: -100 }, loss, sw);
      const wPerSample = cn.sum(cn.mul(onehot, t(w, [1, classes, 1])), 1);
      close(loss, data(cn.neg(cn.sum(cn.mul(cn.mul(onehot, x), t(w, [1, classes, 1])), 1))));
      close(sw, data(wPerSample));
      const g = f64(n * spatial, 13);
      const dx = new Float64Array(xd.length);
      k().nllLossBackward(targets, sw, g, true, { classes, spatial, ignore: -100 }, dx);
      const gT = cn.reshape(t(g, [n, spatial]), [n, 1, spatial]);
      close(dx, data(cn.neg(cn.mul(cn.mul(onehot, t(w, [1, classes, 1])), gT))));
      const dxShared = new Float64Array(xd.length);
      k().nllLossBackward(
        targets,
        sw,
        Float64Array.of(0.25),
        false,
        { classes, spatial, ignore: -100 },
        dxShared,
      );
      close(dxShared, data(cn.mul(cn.neg(cn.mul(onehot, t(w, [1, classes, 1]))), 0.25)));
    });

    it("multiMarginLoss and its backward against autograd through composed ops (p = 1 and 2)", () => {
      const [m, cc] = [6, 4];
      const xs = f64(m * cc, 14);
      const ts = Int32Array.from({ length: m }, (_, i) => (i * 3 + 1) % cc);
      const ws = f64(cc, 15).map((v) => v + 1.5);
      const ids = cn.Tensor.fromData(
        Int32Array.from({ length: cc }, (_, i) => i),
        [1, cc],
      );
      const hot = cn
        .where(cn.eq(cn.reshape(cn.Tensor.fromData(ts.slice(), [m]), [m, 1]), ids), 1, 0)
        .to("float64");
      for (const p of [1, 2]) {
        const xa = t(xs.slice(), [m, cc]).requiresGrad_();
        const sy = cn.sum(cn.mul(xa, hot), 1, true);
        let margins = cn.mul(cn.relu(cn.add(cn.sub(xa, sy), 0.7)), cn.sub(1, hot));
        if (p === 2) margins = cn.square(margins);
        const wy = cn.sum(cn.mul(hot, t(ws, [1, cc])), 1);
        const perSample = cn.div(cn.mul(cn.sum(margins, 1), wy), cc);
        const g = f64(m, 16 + p);
        cn.sum(cn.mul(perSample, t(g, [m]))).backward();
        const loss = new Float64Array(m);
        k().multiMarginLoss(xs, ts, ws, { n: m, c: cc, margin: 0.7, p }, loss);
        close(loss, data(perSample.detach()));
        const dx = new Float64Array(xs.length);
        k().multiMarginLossBackward(xs, ts, ws, { n: m, c: cc, margin: 0.7, p }, g, true, dx);
        close(dx, data(xa.grad!));
      }
    });
  });

  describe("indexing", () => {
    const shape = [3, 4, 5];
    const xd = f64(60, 18);
    const x = t(xd, shape);

    it("cat along dim 1 gives back each part through narrow; pad puts x inside the value", () => {
      const widths = [2, 1, 3];
      const parts = widths.map((wd, i) => f64(3 * wd * 5, 30 + i));
      const out = new Float64Array(3 * 6 * 5);
      k().cat(
        parts,
        widths.map((wd) => wd * 5),
        3,
        out,
      );
      let start = 0;
      widths.forEach((wd, i) => {
        close(data(cn.narrow(t(out, [3, 6, 5]), 1, start, wd)), parts[i]);
        start += wd;
      });
      const before = [1, 0, 2];
      const outShape = [5, 4, 8];
      const padded = new Float64Array(5 * 4 * 8).fill(-7);
      k().pad(xd, shape, before, outShape, padded);
      const p = t(padded, outShape);
      close(data(cn.slice(p, [1, 4], [0, 4], [2, 7])), xd);
      // and everything else keeps the padding value (x's values lie in [-1, 1))
      expect(padded.filter((v) => v === -7).length).toBe(padded.length - xd.length);
    });

    it("indexSelect along dim 1 equals the narrowed slices concatenated; indexAdd is its adjoint", () => {
      const idx = Int32Array.of(3, 0, 3, 1);
      const out = new Float64Array(3 * idx.length * 5);
      k().indexSelect(xd, 3, 4, 5, idx, out);
      close(
        out,
        data(
          cn.cat(
            [...idx].map((i) => cn.narrow(x, 1, i, 1)),
            1,
          ),
        ),
      );
      // ⟨indexSelect(x), g⟩ = ⟨x, indexAdd(g)⟩ for every x, g
      const g = f64(out.length, 19);
      const back = new Float64Array(xd.length);
      k().indexAdd(g, 3, 4, 5, idx, back);
      let lhs = 0;
      let rhs = 0;
      for (let i = 0; i < out.length; i++) lhs += out[i] * g[i];
      for (let i = 0; i < xd.length; i++) rhs += xd[i] * back[i];
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
      expect(back.some((v) => v !== 0)).toBe(true);
    });

    it("gather along each dim matches a one-hot contraction; scatterAdd is its adjoint", () => {
      for (let dim = 0; dim < 3; dim++) {
        const ishape = [...shape];
        ishape[dim] = 2;
        const len = ishape.reduce((a, b) => a * b, 1);
        const idx = Int32Array.from({ length: len }, (_, i) => (i * 5 + dim) % shape[dim]);
        const out = new Float64Array(len);
        k().gather(xd, shape, dim, idx, ishape, out);
        // one-hot over x's dim: onehot[..., j, ...] = [idx == j], contracted against x
        const idxT = cn.unsqueeze(cn.Tensor.fromData(idx.slice(), ishape), dim + 1);
        const ids = cn.reshape(
          cn.Tensor.fromData(
            Int32Array.from({ length: shape[dim] }, (_, i) => i),
            [shape[dim]],
          ),
          Array.from({ length: 4 }, (_, d) => (d === dim + 1 ? shape[dim] : 1)),
        );
        const hot = cn.where(cn.eq(idxT, ids), 1, 0).to("float64");
        const xe = cn.unsqueeze(x, dim);
        close(out, data(cn.sum(cn.mul(hot, xe), dim + 1)));
        const g = f64(len, 20 + dim);
        const back = new Float64Array(xd.length);
        k().scatterAdd(back, shape, dim, idx, ishape, g, ishape);
        let lhs = 0;
        let rhs = 0;
        for (let i = 0; i < len; i++) lhs += out[i] * g[i];
        for (let i = 0; i < xd.length; i++) rhs += xd[i] * back[i];
        expect(Math.abs(lhs - rhs), `dim ${dim}`).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
      }
    });
  });
});
