"""Numba CUDA kernels against the reference.

On a GPU these run on CUDA tensors. Without one, ``test_cuda_kernels_in_simulator`` re-runs
this file in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (it must be set before numba is
imported, so it cannot be switched on inside this process) on tiny shapes; the simulator's
grids are capped at a few blocks, so every grid-stride loop really loops there. That the
kernels also compile for real GPUs is ``tests/test_transducer_ptx.py``'s job.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings

from lab.transducer import rnnt_loss, rnnt_loss_packed
from tests._transducer_cases import (
    assert_matches_reference,
    loss_and_grad,
    options,
    problems,
    vector_checks,
)

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
GPU = torch.cuda.is_available()
DEVICE = "cuda" if GPU and not SIM else "cpu"
needs_cuda = pytest.mark.skipif(not (SIM or GPU), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")
CHECKS = vector_checks()


@pytest.mark.skipif(SIM or GPU, reason="kernels are tested directly in this process")
def test_cuda_kernels_in_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         str(Path(__file__).resolve())],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 12, proc.stdout[-2000:]


@needs_cuda
@pytest.mark.parametrize("check", CHECKS, ids=[c[0] for c in CHECKS])
def test_public_vectors_cuda(check):
    _, x, (targets, tl, ul), blank, costs, wrt, grads = check
    x = x.clone().to(DEVICE).requires_grad_(True)
    loss = rnnt_loss(x, targets.to(DEVICE), tl.to(DEVICE), ul.to(DEVICE), blank,
                     reduction="none", fused_log_softmax=wrt == "logits", backend="cuda")
    loss.sum().backward()
    torch.testing.assert_close(loss.double().cpu(), torch.tensor(costs, dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad.cpu(), grads, rtol=0.0, atol=1e-6)


@needs_cuda
@settings(max_examples=40 if GPU and not SIM else 10)
@given(problem=problems(max_b=2, max_t=4, max_u=3, max_v=5), opts=options())
def test_cuda_matches_reference(problem, opts):
    assert_matches_reference(problem, opts, "cuda", device=DEVICE)


@needs_cuda
def test_cuda_packed_and_padding():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 3, 4, generator=g)
    targets = torch.tensor([[1, 2], [3, 0]])
    tl, ul = torch.tensor([3, 2]), torch.tensor([2, 1])
    clean = logits.clone()
    logits[1, 2:] = float("nan")
    logits[1, :, 2:] = float("nan")
    dev = {"device": DEVICE}
    x = logits.to(**dev).requires_grad_(True)
    loss = rnnt_loss(x, targets.to(**dev), tl.to(**dev), ul.to(**dev), 0, reduction="none",
                     backend="cuda")
    loss.sum().backward()
    ref = rnnt_loss(clean, targets, tl, ul, 0, reduction="none", backend="reference")
    torch.testing.assert_close(loss.cpu(), ref, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(x.grad).all() and x.grad[1, 2:].abs().max() == 0
    rows = torch.cat([clean[0].reshape(-1, 4), clean[1, :2, :2].reshape(-1, 4)])
    packed = rnnt_loss_packed(rows.to(**dev), targets.to(**dev), tl.to(**dev), ul.to(**dev),
                              0, reduction="none", backend="cuda")
    torch.testing.assert_close(packed.cpu(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not GPU or SIM, reason="needs a GPU")
def test_long_targets_on_gpu():
    T, U, V = 8, 1999, 5  # U + 1 = 2000 exceeds one block of threads
    logits = torch.randn(1, max(T, U + 1), U + 1, V)
    targets = torch.randint(1, V, (1, U))
    tl, ul = torch.tensor([T]), torch.tensor([U])
    got = rnnt_loss(logits.cuda(), targets.cuda(), tl.cuda(), ul.cuda(), 0, backend="cuda")
    want = rnnt_loss(logits, targets, tl, ul, 0, backend="cpu")
    torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-3)


@needs_cuda
def test_cuda_threads_loop_over_u_and_v():
    # U+1 and V larger than the (simulator's) blocks: threads must loop over u and over v.
    g = torch.Generator().manual_seed(2)
    B, T, U, V = 2, 3, 20, 37
    logits = torch.randn(B, T, U + 1, V, generator=g)
    targets = torch.randint(1, V, (B, U), generator=g)
    tl, ul = torch.tensor([3, 2]), torch.tensor([20, 13])
    assert_matches_reference((logits, targets, tl, ul, 0), {"reduction": "sum"}, "cuda",
                             device=DEVICE)


def _problem(seed, B, T, U, V, dtype=torch.float64, blank=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g, dtype=dtype)
    targets = torch.randint(1, V, (B, U), generator=g)
    if blank:
        targets = torch.where(targets == blank, 0, targets)
    tl = torch.tensor([T] + [max(1, T - 1 - i) for i in range(B - 1)], dtype=torch.int32)
    ul = torch.tensor([U] + [max(0, U - 1 - i) for i in range(B - 1)], dtype=torch.int32)
    return logits, targets, tl, ul, blank


OPTION_SETS = [
    {},
    {"fused_log_softmax": False},
    {"one_sym_per_frame": True},
    {"fastemit_lambda": 0.5, "reduction": "sum"},
    {"clamp": 0.05, "reduction": "none"},
    {"one_sym_per_frame": True, "fused_log_softmax": False, "zero_infinity": True},
]


@needs_cuda
@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: ",".join(o) or "default")
def test_float64_is_exact_to_the_reference(opts):
    # The lattice is float64 and so are the exponentials for float64 input: no float32 step.
    problem = _problem(3, B=3, T=4, U=3, V=5, blank=2)
    got_l, got_g = loss_and_grad(*problem, "cuda", opts, device=DEVICE)
    ref_l, ref_g = loss_and_grad(*problem, "reference", opts)
    finite = torch.isfinite(ref_l)
    torch.testing.assert_close(got_l[finite], ref_l[finite], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_g, ref_g, rtol=0.0, atol=1e-12)


@needs_cuda
@pytest.mark.parametrize("modified", [False, True])
def test_float64_gradient_matches_finite_differences(modified):
    # gradcheck's own loop calls backward repeatedly on one graph, which this loss (gradient
    # computed in the forward pass, buffer handed over) does not allow: same check by hand.
    logits, targets, tl, ul, blank = _problem(4, B=2, T=2, U=1, V=3)
    args = (targets.to(DEVICE), tl.to(DEVICE), ul.to(DEVICE), blank)
    opts = {"reduction": "sum", "one_sym_per_frame": modified, "backend": "cuda"}
    x = logits.to(DEVICE).requires_grad_(True)
    rnnt_loss(x, *args, **opts).backward()
    eps = 1e-6
    flat = logits.reshape(-1)
    numeric = torch.zeros_like(flat)
    for i in range(flat.numel()):
        hi, lo = flat.clone(), flat.clone()
        hi[i] += eps
        lo[i] -= eps
        f_hi = rnnt_loss(hi.view_as(logits).to(DEVICE), *args, **opts).item()
        f_lo = rnnt_loss(lo.view_as(logits).to(DEVICE), *args, **opts).item()
        numeric[i] = (f_hi - f_lo) / (2 * eps)
    torch.testing.assert_close(x.grad.cpu().reshape(-1), numeric, rtol=1e-6, atol=1e-8)


@needs_cuda
@pytest.mark.parametrize("modified", [False, True])
def test_long_lattice_matches_cpu_exactly(modified):
    # U + 1 far above the threads of a block (8 in the simulator), few frames, tiny V.
    B, T, U, V = (2, 50, 40, 3) if modified else (1, 2, 30, 3)
    problem = _problem(5, B=B, T=T, U=U, V=V)
    opts = {"one_sym_per_frame": modified, "reduction": "sum"}
    got_l, got_g = loss_and_grad(*problem, "cuda", opts, device=DEVICE)
    cpu_l, cpu_g = loss_and_grad(*problem, "cpu", opts)
    torch.testing.assert_close(got_l, cpu_l, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got_g, cpu_g, rtol=0.0, atol=1e-12)


@needs_cuda
@pytest.mark.parametrize("max_blocks", [1, 3])
def test_grids_never_truncate(monkeypatch, max_blocks):
    # However few blocks a grid may have, the grid-stride loops cover every node and row.
    import lab.transducer.cuda as kernels

    problem = _problem(6, B=3, T=4, U=3, V=6)
    want = loss_and_grad(*problem, "cpu", {"reduction": "none"})
    monkeypatch.setattr(kernels, "MAX_BLOCKS", max_blocks)
    got = loss_and_grad(*problem, "cuda", {"reduction": "none"}, device=DEVICE)
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=0.0, atol=1e-12)


@needs_cuda
def test_every_launch_goes_to_the_launch_stream(monkeypatch):
    # The call path of the GPU: each kernel is launched on launch_stream(x), which is torch's
    # current stream of x's device on a GPU (the side-stream test below checks that part).
    import lab.transducer.cuda as kernels

    marker = kernels.launch_stream(torch.zeros(1, device=DEVICE))
    seen = []
    launch = kernels._launch

    def record(kernel, blocks, threads, stream, *args):
        seen.append((kernel, stream))
        launch(kernel, blocks, threads, stream, *args)

    monkeypatch.setattr(kernels, "launch_stream", lambda x: marker)
    monkeypatch.setattr(kernels, "_launch", record)
    for packed in (False, True):
        seen.clear()
        logits, targets, tl, ul, blank = _problem(7, B=2, T=3, U=2, V=4, dtype=torch.float32)
        dev = {"device": DEVICE}
        if packed:
            logits = torch.cat([logits[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, 4)
                                for b in range(2)])
            fn = rnnt_loss_packed
        else:
            fn = rnnt_loss
        x = logits.to(**dev).requires_grad_(True)
        fn(x, targets.to(**dev), tl.to(**dev), ul.to(**dev), blank, backend="cuda").backward()
        assert [k for k, _ in seen] == [kernels._lattice_lp, kernels._alpha, kernels._beta,
                                        kernels._grad]
        assert all(s is marker for _, s in seen)


@pytest.mark.skipif(not GPU or SIM, reason="needs a GPU (side streams do not exist in the "
                    "simulator; test_every_launch_goes_to_the_launch_stream covers its path)")
def test_side_stream_on_gpu():
    import lab.transducer.cuda as kernels

    logits, targets, tl, ul, blank = _problem(8, B=3, T=30, U=10, V=64, dtype=torch.float32)
    want_l, want_g = loss_and_grad(logits, targets, tl, ul, blank, "cpu", {"reduction": "none"})
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        assert int(kernels.launch_stream(logits.cuda())) == side.cuda_stream
        x = logits.cuda().requires_grad_(True)
        loss = rnnt_loss(x, targets.cuda(), tl.cuda(), ul.cuda(), blank, reduction="none")
        w = torch.linspace(0.5, 1.5, 3, device="cuda")
        (loss * w).sum().backward()
        got_l, got_g = loss.detach().double().cpu(), x.grad.double().cpu()
    torch.testing.assert_close(got_l, want_l, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(got_g, want_g, rtol=0.0, atol=1e-5)


@pytest.mark.skipif(SIM or torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_tensors_on_the_second_gpu_run_there():
    logits, targets, tl, ul, blank = _problem(9, B=2, T=6, U=3, V=8, dtype=torch.float32)
    want = loss_and_grad(logits, targets, tl, ul, blank, "cpu", {"reduction": "none"})
    got = loss_and_grad(logits, targets, tl, ul, blank, "cuda", {"reduction": "none"},
                        device="cuda:1")
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], want[1], rtol=0.0, atol=1e-5)
