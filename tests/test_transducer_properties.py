"""Hypothesis: the Numba CPU kernels match the float64 reference on random problems."""

from __future__ import annotations

import torch
from hypothesis import given, settings

from lab.transducer import rnnt_loss, rnnt_loss_packed
from tests._transducer_cases import assert_matches_reference, options, problems


@given(problem=problems(), opts=options())
def test_cpu_matches_reference(problem, opts):
    assert_matches_reference(problem, opts, "cpu")


@settings(max_examples=15)
@given(problem=problems(max_b=3, max_t=12, max_u=5, max_v=8), opts=options())
def test_packed_matches_padded(problem, opts):
    logits, targets, tl, ul, blank = problem
    if not opts["fused_log_softmax"]:
        logits = logits.log_softmax(-1)
    x = logits.clone().requires_grad_(True)
    padded = rnnt_loss(x, targets, tl, ul, blank, **opts)
    torch.where(torch.isfinite(padded), padded, 0.0).sum().backward()
    rows = [logits[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, logits.shape[-1])
            for b in range(logits.shape[0])]
    xp = torch.cat(rows).requires_grad_(True)
    packed = rnnt_loss_packed(xp, targets, tl, ul, blank, **opts)
    torch.where(torch.isfinite(packed), packed, 0.0).sum().backward()
    torch.testing.assert_close(packed, padded)
    grads = torch.cat([x.grad[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, logits.shape[-1])
                       for b in range(logits.shape[0])])
    torch.testing.assert_close(xp.grad, grads)
