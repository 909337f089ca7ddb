#!/usr/bin/python3
"""Writes the conv-layers assignment source and the test submissions made from it.

    /usr/bin/python3 test/grading/tools/make_assignment.py

Outputs (committed):
  notebooks/assignments/conv-layers/conv-layers.ipynb    the nbgrader source (solutions, hidden tests)
  test/fixtures/grading/submissions/*.ipynb              student submissions written for the tests

The expected score of each submission is asserted in test/grading/e2e.test.ts; why each one scores
what it scores is written next to it below.
"""
import copy
import json
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SOURCE = os.path.join(ROOT, "notebooks", "assignments", "conv-layers", "conv-layers.ipynb")
SUBMISSIONS = os.path.join(ROOT, "test", "fixtures", "grading", "submissions")


def lines(text):
    text = text.strip("\n")
    out = [l + "\n" for l in text.split("\n")]
    out[-1] = out[-1][:-1]
    return out


def md(grade_id, text, **flags):
    return cell("markdown", grade_id, text, **flags)


def code(grade_id, text, **flags):
    return cell("code", grade_id, text, **flags)


def cell(kind, grade_id, text, solution=False, grade=False, points=None, locked=None):
    if locked is None:
        locked = not solution
    meta = {"schema_version": 3, "grade": grade, "solution": solution, "locked": locked and not solution,
            "grade_id": grade_id}
    if grade:
        meta["points"] = points
    c = {"cell_type": kind, "id": grade_id.replace("_", "-"), "metadata": {"nbgrader": meta},
         "source": lines(text)}
    if kind == "code":
        c["outputs"] = []
        c["execution_count"] = None
    return c


# ---------------------------------------------------------------------------------------------
# The assignment
# ---------------------------------------------------------------------------------------------

INTRO = r"""
# Assignment: convolution and max pooling, by hand

In this assignment you write the forward and backward passes of a convolutional layer and of a max
pooling layer with plain loops over the numbers in a tensor, then check them the way CS231n does:
against known outputs and with **numerical gradients**.

Tensors are laid out as `[N, C, H, W]` (batch, depth, height, width), and `t.data` is the flat,
row-major storage of a contiguous tensor: element `[n, c, h, w]` lives at
`((n * C + c) * H + h) * W + w`. Work in `float64` throughout (gradient checks need it).

Rules:
- Write your code between the lines in the cells marked for you; do not call `F.conv2d`,
  `F.maxPool2d` or autograd in your solution (the tests use them as the reference).
- Do not edit the test cells: they are restored from the original when your work is graded, and some
  of them run extra, hidden tests.
- Run the whole notebook (Restart & Run All) before you hand it in.
"""

SETUP = r"""
// Helpers used by the tests, with the library's relError (CS231n's relative error, the largest
// |a - b| / max(1e-8, |a| + |b|)) and numericalGradientArray (CS231n's numerical gradient of
// sum(f(x) * dout) by centered differences). Run this cell first.
manualSeed(231);

/** Throw with a message when a check fails. */
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

/** relError, after checking that the shapes agree. */
function maxRelError(a: Tensor, b: Tensor): number {
  const sa = a.shape.join("x");
  const sb = b.shape.join("x");
  if (sa !== sb) throw new Error(`shapes differ: ${sa} vs ${sb}`);
  return relError(a, b);
}

/** A float64 tensor of the given shape filled with evenly spaced numbers from lo to hi. */
function linspaceTensor(lo: number, hi: number, shape: number[]): Tensor {
  const t = zeros(shape, { dtype: "float64" });
  const n = t.data.length;
  for (let i = 0; i < n; i++) t.data[i] = lo + ((hi - lo) * i) / (n - 1);
  return t;
}

/** A copy of t that autograd tracks, for the reference gradients. */
function leaf(t: Tensor): Tensor {
  const c = t.detach();
  c.requiresGrad = true;
  return c;
}

console.log("helpers ready");
"""

CONV_MD = r"""
## 1. Convolution, forward

A conv layer with `F` filters of size `HH × WW` slides each filter over the zero-padded input with
the given stride. With input width `W`, filter width `WW`, padding `P` and stride `S` the output
width is `(W − WW + 2P) / S + 1`, which must be a whole number. Each output number is the dot
product of one filter with one input window, plus that filter's bias.

Implement `convForwardNaive(x, w, b, convParam)`: `x` is `[N, C, H, W]`, `w` is `[F, C, HH, WW]`,
`b` is `[F]`, `convParam` is `{ stride, pad }`; return the `[N, F, H', W']` output as a new float64
tensor (`zeros([...], { dtype: "float64" })` and write into its `.data`).
"""

CONV_FORWARD = r"""
function convForwardNaive(
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: { stride: number; pad: number },
): Tensor {
  const [N, C, H, W] = x.shape;
  const [NF, , HH, WW] = w.shape;
  const { stride, pad } = convParam;
  // ### BEGIN SOLUTION
  const Ho = (H - HH + 2 * pad) / stride + 1;
  const Wo = (W - WW + 2 * pad) / stride + 1;
  if (!Number.isInteger(Ho) || !Number.isInteger(Wo)) {
    throw new Error(`convForwardNaive: output size ${Ho}x${Wo} is not whole; check stride and pad`);
  }
  const out = zeros([N, NF, Ho, Wo], { dtype: "float64" });
  const xd = x.data;
  const wd = w.data;
  const bd = b.data;
  const od = out.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < NF; f++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          let s = bd[f];
          for (let c = 0; c < C; c++) {
            for (let p = 0; p < HH; p++) {
              const r = i * stride + p - pad;
              if (r < 0 || r >= H) continue;
              for (let q = 0; q < WW; q++) {
                const col = j * stride + q - pad;
                if (col < 0 || col >= W) continue;
                s += xd[((n * C + c) * H + r) * W + col] * wd[((f * C + c) * HH + p) * WW + q];
              }
            }
          }
          od[((n * NF + f) * Ho + i) * Wo + j] = s;
        }
      }
    }
  }
  return out;
  // ### END SOLUTION
}
"""

TEST_CONV_FORWARD = r"""
// The example from CS231n's assignment: stride 2, padding 1.
const cfX = linspaceTensor(-0.1, 0.5, [2, 3, 4, 4]);
const cfW = linspaceTensor(-0.2, 0.3, [3, 3, 4, 4]);
const cfB = linspaceTensor(-0.1, 0.2, [3]);
const cfOut = convForwardNaive(cfX, cfW, cfB, { stride: 2, pad: 1 });
const cfExpected = tensor(
  [
    [
      [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
      [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
      [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
    ],
    [
      [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
      [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
      [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
    ],
  ],
  { dtype: "float64" },
);
const cfErr = maxRelError(cfOut, cfExpected);
check(cfErr < 1e-6, `conv forward: relative error ${cfErr} (should be below 1e-6)`);
// ### BEGIN HIDDEN TESTS
{
  const x = randn([2, 3, 7, 5], { dtype: "float64" });
  const w = randn([4, 3, 3, 3], { dtype: "float64" });
  const b = randn([4], { dtype: "float64" });
  const err = maxRelError(
    convForwardNaive(x, w, b, { stride: 2, pad: 1 }),
    F.conv2d(x, w, b, { stride: 2, padding: 1 }),
  );
  check(err < 1e-6, `conv forward (hidden, 7x5 input): relative error ${err}`);
}
// ### END HIDDEN TESTS
console.log(`conv forward: relative error ${cfErr.toExponential(2)}, passed`);
"""

TEST_CONV_CASES = r"""
// Several shapes and settings against the library's conv2d; this cell's value is the points
// earned (2 points, shared equally between the cases).
const convCases: { x: number[]; w: number[]; stride: number; pad: number; hidden?: boolean }[] = [
  { x: [2, 3, 7, 7], w: [4, 3, 3, 3], stride: 1, pad: 0 },
  { x: [1, 2, 9, 8], w: [3, 2, 3, 2], stride: 3, pad: 0 },
];
// ### BEGIN HIDDEN TESTS
convCases.push({ x: [2, 3, 6, 6], w: [2, 3, 3, 3], stride: 1, pad: 1, hidden: true });
convCases.push({ x: [1, 1, 5, 5], w: [1, 1, 5, 5], stride: 2, pad: 2, hidden: true });
// ### END HIDDEN TESTS
// Hidden cases count towards the points but are never described, nor their number given.
let convCasesPassed = 0;
let shownPassed = 0;
let hiddenFailed = false;
for (const cc of convCases) {
  const x = randn(cc.x, { dtype: "float64" });
  const w = randn(cc.w, { dtype: "float64" });
  const b = randn([cc.w[0]], { dtype: "float64" });
  let problem = "";
  try {
    const err = maxRelError(
      convForwardNaive(x, w, b, { stride: cc.stride, pad: cc.pad }),
      F.conv2d(x, w, b, { stride: cc.stride, padding: cc.pad }),
    );
    if (!(err < 1e-6)) problem = `relative error ${err}`;
  } catch (e) {
    problem = String(e);
  }
  if (problem === "") {
    convCasesPassed++;
    if (!cc.hidden) shownPassed++;
  } else if (cc.hidden) {
    hiddenFailed = true;
  } else {
    console.log(`x ${cc.x}, w ${cc.w}, stride ${cc.stride}, pad ${cc.pad}: ${problem}`);
  }
}
const shownCases = convCases.filter((cc) => !cc.hidden).length;
const hiddenNote =
  shownCases < convCases.length ? (hiddenFailed ? "; some hidden cases fail" : "; the hidden cases pass") : "";
console.log(`${shownPassed} of ${shownCases} cases shown here pass${hiddenNote}`);
(2 * convCasesPassed) / convCases.length;
"""

CONV_BACK_MD = r"""
## 2. Convolution, backward

Given the upstream gradient `dout` (shaped like the output), return `{ dx, dw, db }`. Each output
number `out[n, f, i, j]` was a sum of `x · w` products over one window plus `b[f]`, so its gradient
flows back to exactly the `x` and `w` numbers that went into it: `db[f]` sums `dout` over `n, i, j`;
`dw` and `dx` accumulate `dout` times the other factor. Padding positions have no `dx`.
"""

CONV_BACKWARD = r"""
function convBackwardNaive(
  dout: Tensor,
  x: Tensor,
  w: Tensor,
  b: Tensor,
  convParam: { stride: number; pad: number },
): { dx: Tensor; dw: Tensor; db: Tensor } {
  const [N, C, H, W] = x.shape;
  const [NF, , HH, WW] = w.shape;
  const [, , Ho, Wo] = dout.shape;
  const { stride, pad } = convParam;
  // ### BEGIN SOLUTION
  const dx = zeros([N, C, H, W], { dtype: "float64" });
  const dw = zeros([...w.shape], { dtype: "float64" });
  const db = zeros([...b.shape], { dtype: "float64" });
  const xd = x.data;
  const wd = w.data;
  const gd = dout.data;
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < NF; f++) {
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          const g = gd[((n * NF + f) * Ho + i) * Wo + j];
          db.data[f] += g;
          for (let c = 0; c < C; c++) {
            for (let p = 0; p < HH; p++) {
              const r = i * stride + p - pad;
              if (r < 0 || r >= H) continue;
              for (let q = 0; q < WW; q++) {
                const col = j * stride + q - pad;
                if (col < 0 || col >= W) continue;
                const xi = ((n * C + c) * H + r) * W + col;
                const wi = ((f * C + c) * HH + p) * WW + q;
                dw.data[wi] += g * xd[xi];
                dx.data[xi] += g * wd[wi];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
  // ### END SOLUTION
}
"""

TEST_CONV_BACKWARD = r"""
// Gradient check (CS231n's setting): analytic gradients against numerical ones.
const cbX = randn([4, 3, 5, 5], { dtype: "float64" });
const cbW = randn([2, 3, 3, 3], { dtype: "float64" });
const cbB = randn([2], { dtype: "float64" });
const cbParam = { stride: 1, pad: 1 };
const cbDout = randn([4, 2, 5, 5], { dtype: "float64" });
const cbGrads = convBackwardNaive(cbDout, cbX, cbW, cbB, cbParam);
const cbErrors = {
  dx: maxRelError(
    cbGrads.dx,
    numericalGradientArray((x) => convForwardNaive(x, cbW, cbB, cbParam), cbX, cbDout),
  ),
  dw: maxRelError(
    cbGrads.dw,
    numericalGradientArray((w) => convForwardNaive(cbX, w, cbB, cbParam), cbW, cbDout),
  ),
  db: maxRelError(
    cbGrads.db,
    numericalGradientArray((b) => convForwardNaive(cbX, cbW, b, cbParam), cbB, cbDout),
  ),
};
for (const [name, err] of Object.entries(cbErrors)) {
  check(err < 1e-6, `conv backward: ${name} relative error ${err} (should be below 1e-6)`);
}
// ### BEGIN HIDDEN TESTS
{
  // Against autograd through the library's conv2d, with a stride and padding of 2.
  const x = randn([2, 2, 7, 7], { dtype: "float64" });
  const w = randn([3, 2, 3, 3], { dtype: "float64" });
  const b = randn([3], { dtype: "float64" });
  const dout = randn([2, 3, 5, 5], { dtype: "float64" });
  const [xr, wr, br] = [leaf(x), leaf(w), leaf(b)];
  F.conv2d(xr, wr, br, { stride: 2, padding: 2 }).backward(dout);
  const g = convBackwardNaive(dout, x, w, b, { stride: 2, pad: 2 });
  check(maxRelError(g.dx, xr.grad!) < 1e-6, "conv backward (hidden): dx differs from autograd");
  check(maxRelError(g.dw, wr.grad!) < 1e-6, "conv backward (hidden): dw differs from autograd");
  check(maxRelError(g.db, br.grad!) < 1e-6, "conv backward (hidden): db differs from autograd");
}
// ### END HIDDEN TESTS
console.log("conv backward, relative errors:", cbErrors);
"""

POOL_MD = r"""
## 3. Max pooling, forward

Max pooling keeps the largest number of each `poolHeight × poolWidth` window, moving by `stride`;
the output is `(W − poolWidth) / stride + 1` wide. Implement `maxPoolForwardNaive(x, poolParam)`
with `poolParam = { poolHeight, poolWidth, stride }`.
"""

POOL_FORWARD = r"""
function maxPoolForwardNaive(
  x: Tensor,
  poolParam: { poolHeight: number; poolWidth: number; stride: number },
): Tensor {
  const [N, C, H, W] = x.shape;
  const { poolHeight, poolWidth, stride } = poolParam;
  // ### BEGIN SOLUTION
  const Ho = (H - poolHeight) / stride + 1;
  const Wo = (W - poolWidth) / stride + 1;
  if (!Number.isInteger(Ho) || !Number.isInteger(Wo)) {
    throw new Error(`maxPoolForwardNaive: output size ${Ho}x${Wo} is not whole`);
  }
  const out = zeros([N, C, Ho, Wo], { dtype: "float64" });
  const xd = x.data;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          let m = -Infinity;
          for (let p = 0; p < poolHeight; p++) {
            for (let q = 0; q < poolWidth; q++) {
              const v = xd[base + (i * stride + p) * W + j * stride + q];
              if (v > m) m = v;
            }
          }
          out.data[((n * C + c) * Ho + i) * Wo + j] = m;
        }
      }
    }
  }
  return out;
  // ### END SOLUTION
}
"""

TEST_POOL_FORWARD = r"""
// The example from CS231n's assignment: 2x2 windows, stride 2.
const pfX = linspaceTensor(-0.3, 0.4, [2, 3, 4, 4]);
const pfOut = maxPoolForwardNaive(pfX, { poolHeight: 2, poolWidth: 2, stride: 2 });
const pfExpected = tensor(
  [
    [
      [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
      [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
      [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
    ],
    [
      [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
      [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
      [[0.32631579, 0.34105263], [0.38526316, 0.4]],
    ],
  ],
  { dtype: "float64" },
);
const pfErr = maxRelError(pfOut, pfExpected);
check(pfErr < 1e-6, `max pool forward: relative error ${pfErr} (should be below 1e-6)`);
// ### BEGIN HIDDEN TESTS
{
  // Overlapping pooling (3x3 windows, stride 2) against the library.
  const x = randn([2, 3, 7, 7], { dtype: "float64" });
  const err = maxRelError(
    maxPoolForwardNaive(x, { poolHeight: 3, poolWidth: 3, stride: 2 }),
    F.maxPool2d(x, { kernelSize: 3, stride: 2 }),
  );
  check(err < 1e-6, `max pool forward (hidden, overlapping windows): relative error ${err}`);
}
// ### END HIDDEN TESTS
console.log(`max pool forward: relative error ${pfErr.toExponential(2)}, passed`);
"""

POOL_BACK_MD = r"""
## 4. Max pooling, backward

Only the input that was the maximum of a window influenced the output, so the upstream gradient of
each output goes to that one input (the "switch"); every other input of the window gets nothing.
With overlapping windows an input can receive gradient from several outputs: add them up.
"""

POOL_BACKWARD = r"""
function maxPoolBackwardNaive(
  dout: Tensor,
  x: Tensor,
  poolParam: { poolHeight: number; poolWidth: number; stride: number },
): Tensor {
  const [N, C, H, W] = x.shape;
  const [, , Ho, Wo] = dout.shape;
  const { poolHeight, poolWidth, stride } = poolParam;
  // ### BEGIN SOLUTION
  const dx = zeros([N, C, H, W], { dtype: "float64" });
  const xd = x.data;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      for (let i = 0; i < Ho; i++) {
        for (let j = 0; j < Wo; j++) {
          let best = -1;
          for (let p = 0; p < poolHeight; p++) {
            for (let q = 0; q < poolWidth; q++) {
              const k = base + (i * stride + p) * W + j * stride + q;
              if (best < 0 || xd[k] > xd[best]) best = k;
            }
          }
          dx.data[best] += dout.data[((n * C + c) * Ho + i) * Wo + j];
        }
      }
    }
  }
  return dx;
  // ### END SOLUTION
}
"""

TEST_POOL_BACKWARD = r"""
// Gradient check (CS231n's setting).
const pbX = randn([3, 2, 8, 8], { dtype: "float64" });
const pbParam = { poolHeight: 2, poolWidth: 2, stride: 2 };
const pbDout = randn([3, 2, 4, 4], { dtype: "float64" });
const pbDx = maxPoolBackwardNaive(pbDout, pbX, pbParam);
const pbErr = maxRelError(
  pbDx,
  numericalGradientArray((x) => maxPoolForwardNaive(x, pbParam), pbX, pbDout),
);
check(pbErr < 1e-6, `max pool backward: dx relative error ${pbErr} (should be below 1e-6)`);
// ### BEGIN HIDDEN TESTS
{
  // Overlapping windows: gradients from neighbouring windows add up. Compared with autograd.
  const x = randn([2, 2, 7, 7], { dtype: "float64" });
  const dout = randn([2, 2, 3, 3], { dtype: "float64" });
  const xr = leaf(x);
  F.maxPool2d(xr, { kernelSize: 3, stride: 2 }).backward(dout);
  const dx = maxPoolBackwardNaive(dout, x, { poolHeight: 3, poolWidth: 3, stride: 2 });
  check(maxRelError(dx, xr.grad!) < 1e-6, "max pool backward (hidden, overlapping): dx differs from autograd");
}
// ### END HIDDEN TESTS
console.log(`max pool backward: dx relative error ${pbErr.toExponential(2)}, passed`);
"""

QUESTION = r"""
## 5. A question

Why does max pooling need to remember *where* each maximum was (its "switches") for the backward
pass, and what would go wrong if the backward pass spread each gradient evenly over the window?
Answer in a few sentences in the cell below (graded by hand).
"""

ANSWER = r"""
### BEGIN SOLUTION
The output of a max pool depends on one input per window, the largest; the others could change a
little without changing the output, so their gradient is zero. The backward pass therefore sends
each upstream gradient to that one input, and needs to know which it was: the switch. Spreading the
gradient evenly would compute the gradient of average pooling instead, which is wrong for max
pooling: the gradient check would fail and training would push on inputs that had no effect.
### END SOLUTION
"""

KERNELSPEC = {"name": "cnnlab", "display_name": "cnnlab (TypeScript)", "language": "typescript"}


def source_notebook():
    cells = [
        md("intro", INTRO),
        code("setup", SETUP),
        md("conv_forward_text", CONV_MD),
        code("conv_forward", CONV_FORWARD, solution=True),
        code("test_conv_forward", TEST_CONV_FORWARD, grade=True, points=3),
        code("test_conv_forward_cases", TEST_CONV_CASES, grade=True, points=2),
        md("conv_backward_text", CONV_BACK_MD),
        code("conv_backward", CONV_BACKWARD, solution=True),
        code("test_conv_backward", TEST_CONV_BACKWARD, grade=True, points=3),
        md("maxpool_forward_text", POOL_MD),
        code("maxpool_forward", POOL_FORWARD, solution=True),
        code("test_maxpool_forward", TEST_POOL_FORWARD, grade=True, points=2),
        md("maxpool_backward_text", POOL_BACK_MD),
        code("maxpool_backward", POOL_BACKWARD, solution=True),
        code("test_maxpool_backward", TEST_POOL_BACKWARD, grade=True, points=2),
        md("pooling_question", QUESTION),
        md("pooling_answer", ANSWER, solution=True, grade=True, points=2),
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": KERNELSPEC,
                     "language_info": {"name": "typescript", "file_extension": ".ts",
                                       "mimetype": "text/typescript"}},
        "cells": cells,
    }


# ---------------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------------

def src(c):
    return "".join(c["source"])


def strip_region(text, begin, end, stub=None):
    out, inside = [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                out.extend(indent + s for s in stub.split("\n"))
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


CODE_STUB = '// YOUR CODE HERE\nthrow new Error("not implemented");'


def student_copy(nb):
    """What a student receives: solutions stubbed, hidden tests gone, outputs empty."""
    s = copy.deepcopy(nb)
    for c in s["cells"]:
        text = src(c)
        m = c["metadata"]["nbgrader"]
        if m["solution"]:
            stub = CODE_STUB if c["cell_type"] == "code" else "YOUR ANSWER HERE"
            text = strip_region(text, "BEGIN SOLUTION", "END SOLUTION", stub)
        text = strip_region(text, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        c["source"] = lines(text) if text.strip() else []
    return s


def solution_body(text):
    """The source's solution with its delimiter lines removed (what a correct student writes)."""
    return "\n".join(l for l in text.split("\n") if "BEGIN SOLUTION" not in l and "END SOLUTION" not in l)


def find(nb, grade_id):
    for c in nb["cells"]:
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def answered(nb, edits=None):
    """A student copy with every solution written as in the source, then `edits` applied."""
    s = student_copy(nb)
    for c in s["cells"]:
        m = c["metadata"]["nbgrader"]
        if m["solution"]:
            c["source"] = lines(solution_body(src(find(nb, m["grade_id"]))))
    for grade_id, fn in (edits or {}).items():
        c = find(s, grade_id)
        c["source"] = lines(fn(src(c)))
    return s


def replace(old, new):
    def fn(text):
        assert old in text, (old, text[:200])
        return text.replace(old, new)
    return fn


def write(path, nb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    nb = source_notebook()
    write(SOURCE, nb)

    subs = {}
    # Everything right: 12 of 12 automatic points (+ 2 graded by hand).
    subs["alice"] = answered(nb)
    # Padding ignored in conv forward and (consistently) in conv backward. The visible gradient
    # check still passes (forward and backward agree with each other), the hidden comparison with
    # the library does not: conv forward 0/3, cases 2 of 4 -> 1/2, conv backward 0/3, pooling 4/4.
    # Total 5.
    subs["bob"] = answered(nb, {
        "conv_forward": replace("const r = i * stride + p - pad;", "const r = i * stride + p;"),
        "conv_backward": replace("const r = i * stride + p - pad;", "const r = i * stride + p;"),
    })
    bob = find(subs["bob"], "conv_forward")
    bob["source"] = lines(src(bob).replace("const col = j * stride + q - pad;", "const col = j * stride + q;"))
    bob = find(subs["bob"], "conv_backward")
    bob["source"] = lines(src(bob).replace("const col = j * stride + q - pad;", "const col = j * stride + q;"))
    # An infinite loop in max pool backward: that test times out (0/2), the rest passes: 10.
    subs["carol"] = answered(nb, {
        "maxpool_backward": replace("const dx = zeros(", "while (dout.shape.length > 0) {\n    // waiting forever\n  }\n  const dx = zeros("),
    })
    # process.exit inside max pool forward: the kernel dies in test_maxpool_forward (0/2) and
    # test_maxpool_backward is not run (0/2): 8.
    subs["dave"] = answered(nb, {
        "maxpool_forward": replace("const out = zeros([N, C, Ho, Wo]", "// TypeScript would reject code after an unconditional exit, so it hides behind an if.\n  if (N > 0) process.exit(3);\n  const out = zeros([N, C, Ho, Wo]"),
    })
    # Runs out of memory inside max pool forward (ordinary arrays live on the V8 heap, which
    # --memory caps): the kernel dies in test_maxpool_forward, as for dave: 8.
    subs["judy"] = answered(nb, {
        "maxpool_forward": replace("const out = zeros([N, C, Ho, Wo]", "const hog: number[][] = [];\n  while (hog.length >= 0) hog.push(new Array(10_000_000).fill(Math.random()));\n  const out = zeros([N, C, Ho, Wo]"),
    })
    # A syntax error in conv backward: that cell fails, convBackwardNaive is undefined, its test
    # fails (0/3), everything else passes: 9.
    subs["erin"] = answered(nb, {
        "conv_backward": replace("const dx = zeros([N, C, H, W], { dtype: \"float64\" });",
                                 "const dx = zeros([N, C, H, W], { dtype: \"float64\" ;"),
    })
    # Tampered tests: conv forward returns zeros and the two conv forward test cells were replaced
    # by prints. The tests are restored: conv forward 0/3, cases 0/2, and the conv backward check
    # fails too (the numerical gradient of a zero function is zero): 0/3. Pooling 4/4. Total 4.
    subs["frank"] = answered(nb, {
        "conv_forward": lambda text: re.sub(r"  const Ho = [\s\S]*?return out;",
                                            "  return zeros([N, NF, (H - HH + 2 * pad) / stride + 1, (W - WW + 2 * pad) / stride + 1], { dtype: \"float64\" });",
                                            text),
        "test_conv_forward": lambda text: 'console.log("conv forward: passed");',
        "test_conv_forward_cases": lambda text: "2;",
    })
    # A deleted graded cell (test_maxpool_forward): 0/2 for it, everything else passes: 10.
    grace = answered(nb)
    grace["cells"] = [c for c in grace["cells"]
                      if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_maxpool_forward"]
    subs["grace"] = grace
    for name, sub in subs.items():
        write(os.path.join(SUBMISSIONS, name + ".ipynb"), sub)
    # Named like the assignment, inside the student's folder: the student is "heidi". Correct: 12.
    write(os.path.join(SUBMISSIONS, "heidi", "conv-layers.ipynb"), answered(nb))
    # Not a notebook: a truncated file. The submission errors, the others are graded.
    with open(os.path.join(SUBMISSIONS, "ivan.ipynb"), "w", encoding="utf-8") as f:
        f.write(json.dumps(answered(nb), indent=1)[:900])


if __name__ == "__main__":
    main()
