"""The Numba CUDA RNN-T loss on a real GPU: right, and how fast (issue 16).

Run from the repository root on a machine with a GPU (one call, well under 10 minutes on an
H100/H200)::

    python -m bench.gpu_check                 # writes bench/results/gpu_check.json
    NUMBA_ENABLE_CUDASIM=1 python -m bench.gpu_check --tiny   # the simulator, tiny sizes

Checks, each a row of the table (``--tiny`` shrinks every size so the simulator finishes):

- ``options``: CUDA vs the CPU kernel on tiny problems with every option (fused or not,
  modified, FastEmit, clamp, zero_infinity, every reduction, padded and packed);
- ``float64``: CUDA vs the float64 reference, gradient to 1e-10;
- ``long-U``: U+1 = 1100 (more than a block's threads) with gradients, vs the CPU kernel;
- ``medium``: B=4, T=300, U=60, V=512 vs the CPU kernel;
- ``side-stream``: the loss under ``torch.cuda.stream(s)`` equals the default-stream one
  (GPU only: the simulator has no streams);
- ``stress``: B=4, T=1200, U+1=500, V=1024: the last utterance's loss and gradient are the
  same when it runs alone, and every fused gradient row sums to 0;
- ``timing``: forward+backward at B=32, T=500, U+1=100, V=1024, median of repeats, next to
  NeMo's Numba loss when ``nemo`` imports (and torchaudio's when it has CUDA).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _env(tiny: bool) -> str:
    """Pick the device; without a GPU, --tiny runs the kernels in Numba's simulator."""
    import torch

    if torch.cuda.is_available() and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1":
        return "cuda"
    if not tiny:
        sys.exit("no GPU: run with --tiny under NUMBA_ENABLE_CUDASIM=1 (the simulator)")
    if "numba" in sys.modules and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("set NUMBA_ENABLE_CUDASIM=1 before numba is imported")
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # read when numba is first imported, below
    return "cpu"


def _problem(B, T, U, V, seed=0, dtype=None, blank=0, ragged=True):
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g, dtype=dtype or torch.float32)
    targets = torch.randint(1, V, (B, U), generator=g)
    targets = torch.where(targets == blank, 0, targets)  # never the blank
    if ragged:
        tl = torch.tensor([max(1, T - 3 * b) for b in range(B)], dtype=torch.int32)
        ul = torch.tensor([max(0, U - 2 * b) for b in range(B)], dtype=torch.int32)
    else:
        tl = torch.full((B,), T, dtype=torch.int32)
        ul = torch.full((B,), U, dtype=torch.int32)
    return logits, targets, tl, ul, blank


def _run(problem, backend, device, opts, packed=False):
    """Loss and gradient of a weighted sum (so 'none' is checked too), on the CPU."""
    import torch

    from lab.transducer import rnnt_loss, rnnt_loss_packed

    logits, targets, tl, ul, blank = problem
    if not opts.get("fused_log_softmax", True):
        logits = logits.log_softmax(-1)
    if packed:
        logits = torch.cat([logits[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, logits.shape[-1])
                            for b in range(logits.shape[0])])
    x = logits.detach().clone().to(device).requires_grad_(True)
    fn = rnnt_loss_packed if packed else rnnt_loss
    loss = fn(x, targets.to(device), tl.to(device), ul.to(device), blank, backend=backend,
              **opts)
    w = torch.linspace(0.5, 1.5, loss.numel(), device=device).view_as(loss)
    torch.where(torch.isfinite(loss), loss * w, 0.0).sum().backward()
    return loss.detach().double().cpu(), x.grad.double().cpu()


def _diff(a, b, relative=False):
    """Largest difference where both are finite (inf where finiteness differs).

    Losses are compared relatively (a float32 loss of a long utterance is in the thousands,
    where one float32 step is 1e-4), gradients absolutely.
    """
    import torch

    a, b = a.double(), b.double()
    both = torch.isfinite(a) & torch.isfinite(b)
    if not bool((torch.isfinite(a) == torch.isfinite(b)).all()):
        return float("inf")
    if not both.any():
        return 0.0
    d = (a[both] - b[both]).abs()
    if relative:
        d = d / b[both].abs().clamp(min=1.0)
    return float(d.max())


def _err(got, want):
    """max(relative loss error, absolute gradient error) of two (loss, grad) pairs."""
    return max(_diff(got[0], want[0], relative=True), _diff(got[1], want[1]))


def _row(name, size, error, tol, seconds, note=""):
    ok = error <= tol
    # error: max(relative loss error, absolute gradient error)
    return {"check": name, "size": size, "max_error": error, "tolerance": tol,
            "ok": bool(ok), "seconds": round(seconds, 3), "note": note}


def check_options(device, tiny):
    import itertools

    problem = _problem(3, 5, 3, 7, seed=1)
    worst, t0, n = 0.0, time.perf_counter(), 0
    for fused, modified, lam, clamp, red, zinf, packed in itertools.product(
            (True, False), (False, True), (0.0, 0.3), (-1.0, 0.05), ("none", "mean", "sum"),
            (False, True), (False, True)):
        # the simulator is slow: two option mixes, fewer reductions, packed only when fused
        if tiny and ((lam, clamp, zinf) not in ((0.0, -1.0, False), (0.3, 0.05, True))
                     or red == "sum" or (packed and not fused)):
            continue
        opts = dict(fused_log_softmax=fused, one_sym_per_frame=modified, fastemit_lambda=lam,
                    clamp=clamp, reduction=red, zero_infinity=zinf)
        got = _run(problem, "cuda", device, opts, packed)
        want = _run(problem, "cpu", "cpu", opts, packed)
        worst = max(worst, _err(got, want))
        n += 1
    return _row("options", f"{n} option sets, (3,5,4,7)", worst, 1e-5,
                time.perf_counter() - t0)


def check_float64(device, tiny):
    import torch

    problem = _problem(3, 6, 4, 9, seed=2, dtype=torch.float64, blank=4)
    t0 = time.perf_counter()
    worst = 0.0
    for opts in ({}, {"one_sym_per_frame": True}, {"fused_log_softmax": False},
                 {"fastemit_lambda": 0.5, "clamp": 0.1}):
        got = _run(problem, "cuda", device, opts)
        want = _run(problem, "reference", "cpu", opts)
        worst = max(worst, _err(got, want))
    return _row("float64", "(3,6,5,9) vs reference", worst, 1e-10, time.perf_counter() - t0)


def _against_cpu(name, problem, device, tol, opts=None):
    t0 = time.perf_counter()
    got = _run(problem, "cuda", device, opts or {})
    seconds = time.perf_counter() - t0
    want = _run(problem, "cpu", "cpu", opts or {})
    size = "x".join(str(s) for s in problem[0].shape)
    return _row(name, size, _err(got, want), tol, seconds)


def check_side_stream(device, tiny):
    import torch

    if device != "cuda":
        return {"check": "side-stream", "size": "-", "ok": True, "skipped": True,
                "note": "no streams in the simulator (the launch path is tested there)"}
    from lab.transducer import rnnt_loss

    problem = _problem(4, 200 if not tiny else 8, 40 if not tiny else 4, 256, seed=5)
    logits, targets, tl, ul, blank = problem
    want = _run(problem, "cuda", device, {"reduction": "none"})
    t0 = time.perf_counter()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        x = logits.cuda().requires_grad_(True)
        loss = rnnt_loss(x, targets.cuda(), tl.cuda(), ul.cuda(), blank, reduction="none")
        w = torch.linspace(0.5, 1.5, loss.numel(), device="cuda")
        (loss * w).sum().backward()
        # churn the allocator on this stream: freed buffers must not be reused too early
        junk = [torch.randn(1 << 20, device="cuda") for _ in range(8)]
        del junk
        got = loss.detach().double().cpu(), x.grad.double().cpu()
    side.synchronize()
    err = _err(got, want)
    return _row("side-stream", "x".join(map(str, logits.shape)), err, 1e-6,
                time.perf_counter() - t0)


def check_stress(device, tiny):
    import torch

    from lab.transducer import rnnt_loss

    B, T, U, V = (2, 8, 5, 16) if tiny else (4, 1200, 499, 1024)
    problem = _problem(B, T, U, V, seed=6)
    logits, targets, tl, ul, blank = problem
    t0 = time.perf_counter()
    x = logits.detach().clone().to(device).requires_grad_(True)
    loss = rnnt_loss(x, targets.to(device), tl.to(device), ul.to(device), blank,
                     reduction="sum")
    loss.backward()
    g = x.grad
    row_sums = float(g.double().sum(-1).abs().max())
    last = slice(B - 1, B)
    tb, ub = int(tl[-1]), int(ul[-1])
    x1 = logits[last, :tb, :ub + 1].clone().to(device).requires_grad_(True)
    alone = rnnt_loss(x1, targets[last, :ub].to(device), tl[last].to(device),
                      ul[last].to(device), blank, reduction="none")
    alone.sum().backward()
    per = rnnt_loss(logits.to(device), targets.to(device), tl.to(device), ul.to(device), blank,
                    reduction="none")
    err = _err((per[-1:].detach().cpu(), g[-1, :tb, :ub + 1].cpu()),
               (alone.detach().cpu(), x1.grad[0].cpu()))
    seconds = time.perf_counter() - t0
    del x, g, x1
    if device == "cuda":
        torch.cuda.empty_cache()
    row = _row("stress", f"{B}x{T}x{U + 1}x{V}", max(err, row_sums), 1e-4, seconds,
               note=f"last utterance alone vs in batch {err:.2e}; max |row sum| {row_sums:.2e}")
    return row


def _time(call, device, repeats):
    import torch

    call()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check_timing(device, tiny):
    from lab.transducer import rnnt_loss

    B, T, U, V = (2, 6, 4, 16) if tiny else (32, 500, 99, 1024)
    logits, targets, tl, ul, blank = _problem(B, T, U, V, seed=7, ragged=False)
    x = logits.detach().clone().to(device).requires_grad_(True)
    args = (targets.to(device), tl.to(device), ul.to(device))
    repeats = 2 if tiny else 10

    def lab_call():
        x.grad = None
        rnnt_loss(x, *args, blank=blank, reduction="mean", backend="cuda").backward()

    rows = {"lab-cuda": _time(lab_call, device, repeats)}
    notes = []
    if device == "cuda":
        try:  # NeMo's Numba RNN-T loss, when the environment has it
            from nemo.collections.asr.losses.rnnt_pytorch import RNNTLossNumba

            nemo = RNNTLossNumba(blank=blank, reduction="mean")

            def nemo_call():
                x.grad = None
                nemo(x, args[0].long(), args[1].long(), args[2].long()).backward()

            rows["nemo-numba"] = _time(nemo_call, device, repeats)
        except Exception as exc:  # not installed, or an API change
            notes.append(f"nemo: {type(exc).__name__}: {str(exc)[:80]}")
        try:
            import torchaudio.functional as taf

            def ta_call():
                x.grad = None
                taf.rnnt_loss(x, args[0].int(), args[1].int(), args[2].int(), blank=blank,
                              reduction="mean").backward()

            rows["torchaudio"] = _time(ta_call, device, repeats)
        except Exception as exc:
            notes.append(f"torchaudio: {type(exc).__name__}: {str(exc)[:80]}")
    return {"check": "timing", "size": f"{B}x{T}x{U + 1}x{V}", "ok": True,
            "median_seconds": {k: round(v, 4) for k, v in rows.items()},
            "note": "; ".join(notes)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (the simulator)")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/...)")
    args = parser.parse_args(argv)
    device = _env(args.tiny)
    import numba
    import torch
    from numba import cuda

    tiny = args.tiny
    info = {"device": torch.cuda.get_device_name() if device == "cuda" else "numba simulator",
            "torch": torch.__version__, "numba": numba.__version__,
            "numba_cuda_target": getattr(cuda, "implementation", "?"),
            "python": platform.python_version(), "tiny": tiny}
    try:
        from importlib.metadata import version

        info["numba_cuda"] = version("numba-cuda")
    except Exception:
        info["numba_cuda"] = None
    checks = [check_options(device, tiny), check_float64(device, tiny)]
    long_u = (4, 1099, 8) if not tiny else (2, 39, 3)
    # float32 lattices of hundreds of nodes: the per-row log-sum-exp rounding (torch's on the
    # GPU, the CPU kernel's own) adds up along a path to ~1e-5 in log space
    checks.append(_against_cpu("long-U", _problem(2, long_u[0], long_u[1], long_u[2], seed=3),
                               device, 1e-4))
    med = (4, 300, 60, 512) if not tiny else (2, 6, 4, 16)
    checks.append(_against_cpu("medium", _problem(*med, seed=4), device, 1e-4))
    checks += [check_side_stream(device, tiny), check_stress(device, tiny),
               check_timing(device, tiny)]
    print("max err: the larger of the loss's relative and the gradient's absolute error")
    print(f"{'check':<12} {'size':<26} {'ok':<5} {'max err':>10} {'seconds':>8}  note")
    for c in checks:
        err = c.get("max_error")
        secs = c.get("seconds", "")
        if c["check"] == "timing":
            c["note"] = (", ".join(f"{k} {v:.4f} s" for k, v in c["median_seconds"].items())
                         + ("; " + c["note"] if c["note"] else ""))
        print(f"{c['check']:<12} {c['size']:<26} {str(c['ok']):<5} "
              f"{'' if err is None else f'{err:.2e}':>10} {secs!s:>8}  {c.get('note', '')}")
    out = args.out or RESULTS / ("gpu_check-sim.json" if tiny and device != "cuda"
                                 else "gpu_check.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": info, "checks": checks}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
