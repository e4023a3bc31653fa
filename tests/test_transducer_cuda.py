"""Numba CUDA kernels against the reference.

On a GPU these run on CUDA tensors. Without one, ``test_cuda_kernels_in_simulator`` re-runs
this file in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (it must be set before numba is
imported, so it cannot be switched on inside this process) on tiny shapes.
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
from tests._transducer_cases import assert_matches_reference, options, problems, vector_checks

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
    assert passed and int(passed.group(1)) >= 6, proc.stdout[-2000:]


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
