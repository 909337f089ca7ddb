/** DataLoader and optimizers together: a linear model fitted by mini-batch training. */
import { describe, expect, it } from "vitest";
import { data, optim, randn, tensor, Tensor } from "../../src/index.js";

describe("mini-batch training with DataLoader + optimizers", () => {
  for (const name of ["SGD", "Adam", "RMSprop"] as const) {
    it(`${name} recovers the weights of a noiseless linear map`, () => {
      const trueW = tensor([[2], [-3], [0.5]], { dtype: "float64" });
      const x = randn([64, 3], { dtype: "float64" });
      const y = x.matmul(trueW);
      const loader = new data.DataLoader(new data.TensorDataset(x, y), {
        batchSize: 16,
        shuffle: true,
        seed: 0,
      });
      const w = tensor([[0], [0], [0]], { dtype: "float64", requiresGrad: true });
      const opt =
        name === "SGD"
          ? new optim.SGD([w], { lr: 0.05, momentum: 0.9 })
          : name === "Adam"
            ? new optim.Adam([w], { lr: 0.05 })
            : new optim.RMSprop([w], { lr: 0.05 });
      const sched = new optim.lrScheduler.StepLR(opt, { stepSize: 20, gamma: 0.5 });
      for (let epoch = 0; epoch < 60; epoch++) {
        for (const [xb, yb] of loader) {
          opt.zeroGrad();
          const loss = (xb as Tensor)
            .matmul(w)
            .sub(yb as Tensor)
            .square()
            .mean();
          loss.backward();
          opt.step();
        }
        sched.step();
      }
      const err = w.detach().sub(trueW).abs().max().item();
      expect(err).toBeLessThan(1e-2);
    });
  }
});
