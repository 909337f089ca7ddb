"""PyTorch peer for cnnlab's benchmarks (run by bench/run.ts as a subprocess).

Usage: /usr/bin/python3 bench/peers/torch_peer.py CONFIG_JSON
CONFIG_JSON: {"threads": n, "only": ["W1", ...], "workloads": <bench/peers/shapes.ts Workloads>}
The caller sets OPENBLAS_NUM_THREADS to the thread count (torch.set_num_threads does not limit
OpenBLAS, which torch.mm uses here) and OPENBLAS_THREAD_TIMEOUT=4 for two threads.
Prints one JSON object per line: a measurement, {"error": ...} for a case that failed, or a
single {"missing": ...} line when PyTorch cannot be imported.
"""
import json
import os
import statistics
import sys
import time

cfg = json.loads(sys.argv[1])
nt = int(cfg["threads"])
only = set(cfg.get("only") or ["W1", "W2", "W3", "W4", "W5"])
wl = cfg["workloads"]
smoke = bool(wl.get("smoke"))
SYS = "torch"


def emit(obj):
    print(json.dumps(obj), flush=True)


try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # reported, not skipped
    emit({"sys": SYS, "threads": nt, "missing": f"cannot import torch with {sys.executable}: {e}"})
    sys.exit(0)

SYS = "torch-" + ".".join(torch.__version__.split(".")[:2])
torch.set_num_threads(nt)
torch.manual_seed(0)
env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_", "MALLOC_"))}


def bench(fn, warmup=3, min_runs=7, max_runs=200, min_time=1.0, slow_ms=1000.0):
    """Median wall ms after warm-up (the same method as bench/timing.ts)."""
    if smoke:
        warmup, min_runs, min_time = 1, 2, 0.0
    t0 = time.perf_counter()
    fn()
    if (time.perf_counter() - t0) * 1e3 > slow_ms:
        warmup, min_runs, min_time = 1, 3, 0.0
    for _ in range(warmup - 1):
        fn()
    ts, cs = [], []
    start = time.perf_counter()
    while len(ts) < min_runs or (time.perf_counter() - start < min_time and len(ts) < max_runs):
        c = time.process_time()
        a = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - a) * 1e3)
        cs.append((time.process_time() - c) * 1e3)
    return statistics.median(ts), min(ts), max(ts), len(ts), statistics.median(cs)


def rec(w, case, fn, flops=None, **kw):
    try:
        med, mn, mx, n, cpu = bench(fn, **kw)
    except Exception as e:
        emit({"sys": SYS, "threads": nt, "workload": w, "case": case, "error": str(e)[:200]})
        return
    r = dict(sys=SYS, threads=nt, workload=w, case=case, ms=round(med, 3), min=round(mn, 3), max=round(mx, 3),
             runs=n, cpu_ms=round(cpu, 3), env=env)
    if flops:
        r["gflops"] = round(flops / (med * 1e-3) / 1e9, 2)
    emit(r)


def conv_out(c):
    n, _, h, w = c["x"]
    k, _, r, s = c["w"]
    return n, k, (h + 2 * c["pad"] - r) // c["stride"] + 1, (w + 2 * c["pad"] - s) // c["stride"] + 1


def conv_flops(c):
    n, k, ho, wo = conv_out(c)
    return 2 * n * k * c["x"][1] * c["w"][2] * c["w"][3] * ho * wo


if "W1" in only:
    for n in wl["gemm"]:
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        rec("W1", f"sgemm n={n}", lambda: torch.mm(a, b, out=c), 2 * n ** 3)

for c in wl["convs"]:
    x = torch.randn(*c["x"])
    w = torch.randn(*c["w"]) * 0.1
    s, p = c["stride"], c["pad"]
    fl = conv_flops(c)
    if "W2" in only:
        def fwd():
            with torch.no_grad():
                return F.conv2d(x, w, stride=s, padding=p)
        rec("W2", f"{c['name']} fwd", fwd, fl)
    if "W3" in only:
        dy = torch.randn(*conv_out(c))

        def bwd():
            return torch.ops.aten.convolution_backward(
                dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, False])
        rec("W3", f"{c['name']} bwd(dx,dw)", bwd, 2 * fl)
        xr = x.clone().requires_grad_()
        wr = w.clone().requires_grad_()

        def fwdbwd():
            F.conv2d(xr, wr, stride=s, padding=p).backward(dy)
            xr.grad = None
            wr.grad = None
        rec("W3", f"{c['name']} fwd+bwd autograd", fwdbwd, 3 * fl)

if "W4" in only:
    n, ch, h, wd = wl["pool"]
    xp = torch.randn(n, ch, h, wd, requires_grad=True)
    dyp = torch.randn(n, ch, h // 2, wd // 2)

    def pool():
        F.max_pool2d(xp, 2, 2).backward(dyp)
        xp.grad = None
    rec("W4", "maxpool2x2 fwd+bwd", pool)

    def pool_fwd():
        with torch.no_grad():
            return F.max_pool2d(xp, 2, 2)
    rec("W4", "maxpool2x2 fwd only", pool_fwd)

if "R1" in only and "reduce" in wl:
    xr1 = torch.randn(*wl["reduce"])

    def reduce_sum():
        with torch.no_grad():
            return xr1.sum(dim=(0, 2, 3))
    rec("R1", "sum dims (0,2,3) of [" + ",".join(str(v) for v in wl["reduce"]) + "]", reduce_sum)

if "W5" in only:
    t = wl["net"]
    d = t["F"] * (t["H"] // 2) * (t["W"] // 2)
    conv_fl = conv_flops({"x": [t["N"], t["C"], t["H"], t["W"]], "w": [t["F"], t["C"], t["R"], t["R"]],
                          "stride": 1, "pad": t["pad"]})
    flops = 3 * (conv_fl + 2 * t["N"] * d * t["hidden"] + 2 * t["N"] * t["hidden"] * t["classes"])
    for dtype, case in ((torch.float32, "ThreeLayerConvNet train step"),
                        (torch.float64, "ThreeLayerConvNet train step float64")):
        ws = 1e-3
        W1 = (torch.randn(t["F"], t["C"], t["R"], t["R"], dtype=dtype) * ws).requires_grad_()
        b1 = torch.zeros(t["F"], dtype=dtype, requires_grad=True)
        W2 = (torch.randn(d, t["hidden"], dtype=dtype) * ws).requires_grad_()
        b2 = torch.zeros(t["hidden"], dtype=dtype, requires_grad=True)
        W3 = (torch.randn(t["hidden"], t["classes"], dtype=dtype) * ws).requires_grad_()
        b3 = torch.zeros(t["classes"], dtype=dtype, requires_grad=True)
        params = [W1, b1, W2, b2, W3, b3]
        X = torch.randn(t["N"], t["C"], t["H"], t["W"], dtype=dtype)
        Y = torch.randint(0, t["classes"], (t["N"],))

        def step():
            h = F.relu(F.conv2d(X, W1, b1, padding=t["pad"]))
            h = F.max_pool2d(h, 2, 2).reshape(t["N"], -1)
            h = F.relu(h @ W2 + b2)
            loss = F.cross_entropy(h @ W3 + b3, Y)
            loss.backward()
            with torch.no_grad():
                for q in params:
                    q -= 1e-3 * q.grad
                    q.grad = None
        rec("W5", case, step, flops, warmup=3, min_runs=10, min_time=2.0)
