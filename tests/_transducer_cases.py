"""Shared builders for the transducer tests (not collected: no test_ prefix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

VECTORS = Path(__file__).resolve().parents[1] / "lab" / "transducer" / "rnnt_vectors.json"


def load_vectors() -> dict:
    return json.loads(VECTORS.read_text())["vectors"]


def vector_checks():
    """(name, inputs, expected costs, grad_wrt, expected grads) for all four checks."""
    checks = []
    for name, v in load_vectors().items():
        x = torch.tensor(v["logits"], dtype=torch.float32).view(v["logits_shape"])
        args = (torch.tensor(v["targets"], dtype=torch.int32),
                torch.tensor(v["logit_lengths"], dtype=torch.int32),
                torch.tensor(v["target_lengths"], dtype=torch.int32))
        grads = torch.tensor(v["grads"], dtype=torch.float32).view_as(x)
        checks.append((name, x, args, v["blank"], v["costs"], "logits", grads))
        if "grads_wrt_log_probs" in v:
            g2 = torch.tensor(v["grads_wrt_log_probs"], dtype=torch.float32).view_as(x)
            checks.append((name + "_logprobs", x.log_softmax(-1), args, v["blank"], v["costs"],
                           "log_probs", g2))
    return checks


@st.composite
def problems(draw, max_b=4, max_t=30, max_u=10, max_v=12):
    """A random padded RNN-T problem with variable lengths and a blank first/last/middle."""
    B = draw(st.integers(1, max_b))
    V = draw(st.integers(2, max_v))
    where = draw(st.sampled_from(["first", "last", "middle"]))
    blank = {"first": 0, "last": V - 1, "middle": V // 2}[where]
    tl = draw(st.lists(st.integers(1, max_t), min_size=B, max_size=B))
    ul = draw(st.lists(st.integers(0, max_u), min_size=B, max_size=B))
    extra_t = draw(st.integers(0, 2))
    extra_u = draw(st.integers(0, 2))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    T, U = max(tl) + extra_t, max(ul) + extra_u
    logits = torch.from_numpy(rng.normal(0.0, 2.0, (B, T, U + 1, V)).astype(np.float32))
    labels = [c for c in range(V) if c != blank]
    targets = torch.from_numpy(rng.choice(labels, size=(B, U)).astype(np.int64))
    return (logits, targets, torch.tensor(tl, dtype=torch.int32),
            torch.tensor(ul, dtype=torch.int32), blank)


@st.composite
def options(draw):
    return dict(
        reduction=draw(st.sampled_from(["none", "mean", "sum"])),
        fused_log_softmax=draw(st.booleans()),
        one_sym_per_frame=draw(st.booleans()),
        fastemit_lambda=draw(st.sampled_from([0.0, 0.0, 0.01, 0.5])),
        clamp=draw(st.sampled_from([-1.0, -1.0, 0.05])),
        zero_infinity=draw(st.booleans()),
    )


def loss_and_grad(logits, targets, tl, ul, blank, backend, opts, device="cpu"):
    """Loss and gradient of a random projection of it (so 'none' is checked too)."""
    from lab.transducer import rnnt_loss

    x = logits.clone()
    if not opts.get("fused_log_softmax", True):
        x = x.log_softmax(-1)
    x = x.to(device).requires_grad_(True)
    loss = rnnt_loss(x, targets.to(device), tl.to(device), ul.to(device), blank,
                     backend=backend, **opts)
    w = torch.linspace(0.5, 1.5, loss.numel(), device=device).view_as(loss)
    torch.where(torch.isfinite(loss), loss * w, 0.0).sum().backward()
    return loss.detach().cpu().double(), x.grad.cpu().double()


def assert_matches_reference(problem, opts, backend, device="cpu", grad_atol=1e-5):
    logits, targets, tl, ul, blank = problem
    got_l, got_g = loss_and_grad(logits, targets, tl, ul, blank, backend, opts, device)
    ref_l, ref_g = loss_and_grad(logits, targets, tl, ul, blank, "reference", opts)
    torch.testing.assert_close(got_l, ref_l, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_g, ref_g, rtol=0.0, atol=grad_atol)
