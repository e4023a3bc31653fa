"""Hostile input to the transducer API: a clear error naming the argument, or a right answer.

Table-driven over ``rnnt_loss``, ``rnnt_loss_packed``, ``rnnt_alignment``, ``RNNTLoss`` and
``TransducerLoss`` (issue 11): never a crash, an out-of-bounds read, a NaN gradient under a
finite loss, or a silently wrong number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.errors import ArgumentError, ArgumentTypeError
from lab.transducer import (
    RNNTLoss,
    TransducerLoss,
    rnnt_alignment,
    rnnt_loss,
    rnnt_loss_packed,
)

NAN, INF = math.nan, math.inf


def _inputs(seed=0, B=2, T=4, U=2, V=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g)
    targets = torch.randint(1, V, (B, U), generator=g)
    tl = torch.tensor([T, T - 1], dtype=torch.int32)
    ul = torch.tensor([U, U - 1], dtype=torch.int32)
    return dict(logits=logits, targets=targets, logit_lengths=tl, target_lengths=ul, blank=0)


def _set(logits, index, value):
    x = logits.clone()
    x[index] = value
    return x


BASE = _inputs()
LOGITS = BASE["logits"]

# (case id, changes to the default arguments, exception, message pattern)
LOSS_ERRORS = [
    ("nan-logit", dict(logits=_set(LOGITS, (0, 1, 1, 2), NAN)), ArgumentError, "finite"),
    ("all-nan-logits", dict(logits=torch.full_like(LOGITS, NAN)), ArgumentError, "finite"),
    # +inf on a class no edge uses: the loss could stay finite while the gradient is NaN
    ("posinf-logit", dict(logits=_set(LOGITS, (1, 0, 0, 3), INF)), ArgumentError, "finite"),
    ("row-of-neginf", dict(logits=_set(LOGITS, (0, 2, 1), -INF)), ArgumentError, "finite"),
    ("fastemit-nan", dict(fastemit_lambda=NAN), ArgumentError, "fastemit_lambda"),
    ("fastemit-inf", dict(fastemit_lambda=INF), ArgumentError, "fastemit_lambda"),
    ("fastemit-negative", dict(fastemit_lambda=-0.5), ArgumentError, "fastemit_lambda"),
    ("fastemit-str", dict(fastemit_lambda="0.1"), ArgumentTypeError, "fastemit_lambda"),
    ("fastemit-bool", dict(fastemit_lambda=True), ArgumentTypeError, "fastemit_lambda"),
    ("clamp-nan", dict(clamp=NAN), ArgumentError, "clamp"),
    ("clamp-str", dict(clamp="1"), ArgumentTypeError, "clamp"),
    ("clamp-bool", dict(clamp=True), ArgumentTypeError, "clamp"),
    ("clamp-tensor", dict(clamp=torch.tensor(1.0)), ArgumentTypeError, "clamp"),
    ("raw-logits-as-log-probs", dict(fused_log_softmax=False, logits=LOGITS + 3.0),
     ArgumentError, "log-probabilities"),
    ("fused-str", dict(fused_log_softmax="no"), ArgumentTypeError, "fused_log_softmax"),
    ("one-sym-int", dict(one_sym_per_frame=1), ArgumentTypeError, "one_sym_per_frame"),
    ("zero-infinity-none", dict(zero_infinity=None), ArgumentTypeError, "zero_infinity"),
    ("reduction-none-object", dict(reduction=None), ArgumentError, "reduction"),
    ("reduction-unknown", dict(reduction="avg"), ArgumentError, "reduction"),
    ("backend-none", dict(backend=None), ArgumentError, "backend"),
    ("backend-unknown", dict(backend="tpu"), ArgumentError, "backend"),
    ("blank-too-large", dict(blank=5), ArgumentError, "blank"),
    ("blank-too-negative", dict(blank=-6), ArgumentError, "blank"),
    ("blank-float", dict(blank=1.0), ArgumentTypeError, "blank"),
    ("blank-bool", dict(blank=True), ArgumentTypeError, "blank"),
    ("blank-in-targets", dict(targets=torch.zeros(2, 2, dtype=torch.long)), ArgumentError,
     "blank"),
    ("target-too-large", dict(targets=torch.full((2, 2), 5)), ArgumentError, "targets"),
    ("target-negative", dict(targets=torch.full((2, 2), -1)), ArgumentError, "targets"),
    ("targets-float", dict(targets=torch.ones(2, 2)), ArgumentTypeError, "targets"),
    ("targets-too-narrow", dict(targets=torch.ones(2, 1, dtype=torch.long)), ArgumentError,
     "targets"),
    ("logit-length-negative", dict(logit_lengths=torch.tensor([4, -1])), ArgumentError,
     "logit_lengths"),
    ("logit-length-zero", dict(logit_lengths=torch.tensor([4, 0])), ArgumentError,
     "logit_lengths"),
    ("logit-length-too-long", dict(logit_lengths=torch.tensor([5, 3])), ArgumentError,
     "logit_lengths"),
    ("logit-length-float", dict(logit_lengths=torch.tensor([4.0, 3.0])), ArgumentTypeError,
     "logit_lengths"),
    ("logit-length-bool", dict(logit_lengths=torch.tensor([True, True])), ArgumentTypeError,
     "logit_lengths"),
    ("logit-lengths-list", dict(logit_lengths=[4, 3]), ArgumentTypeError, "logit_lengths"),
    ("logit-lengths-wrong-count", dict(logit_lengths=torch.tensor([4])), ArgumentError,
     "logit_lengths"),
    ("target-length-negative", dict(target_lengths=torch.tensor([2, -1])), ArgumentError,
     "target_lengths"),
    ("target-length-too-long", dict(target_lengths=torch.tensor([3, 1])), ArgumentError,
     "target_lengths"),
    ("target-length-float", dict(target_lengths=torch.tensor([2.0, 1.0])), ArgumentTypeError,
     "target_lengths"),
    ("logits-int", dict(logits=LOGITS.long()), ArgumentTypeError, "logits"),
    ("logits-3d", dict(logits=LOGITS[0]), ArgumentError, "logits"),
    ("logits-numpy", dict(logits=LOGITS.numpy()), ArgumentTypeError, "logits"),
    ("logits-no-classes", dict(logits=LOGITS[..., :0]), ArgumentError, "logits"),
    ("logits-batch-mismatch", dict(logits=LOGITS[:1]), ArgumentError, "logits"),
    ("empty-batch", dict(logits=LOGITS[:0], targets=BASE["targets"][:0],
                         logit_lengths=BASE["logit_lengths"][:0],
                         target_lengths=BASE["target_lengths"][:0]), ArgumentError, "targets"),
    ("device-mismatch", dict(targets=BASE["targets"].to("meta")), ArgumentError, "device"),
]


@pytest.mark.parametrize("case", LOSS_ERRORS, ids=[c[0] for c in LOSS_ERRORS])
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_rnnt_loss_rejects(case, backend):
    _, change, exc, match = case
    kwargs = dict(BASE, backend=backend)
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        rnnt_loss(**kwargs)


def _loss_and_grad(backend="cpu", **change):
    kwargs = dict(BASE, backend=backend)
    kwargs.update(change)
    x = kwargs.pop("logits").clone().requires_grad_(True)
    loss = rnnt_loss(x, **kwargs, reduction="sum")
    loss.backward()
    return loss.detach(), x.grad


# (case id, changes) that must give the right answer: compared with the float64 reference
LOSS_ANSWERS = [
    # -inf marks an impossible class: a legal input, not an error
    ("neginf-class", dict(logits=_set(LOGITS, (slice(None), slice(None), slice(None), 4),
                                      -INF))),
    ("nan-in-padding", dict(logits=_set(LOGITS, (1, 3), NAN))),
    ("posinf-in-padding", dict(logits=_set(LOGITS, (1, 0, 2), INF))),
    ("clamp-inf-is-no-clipping", dict(clamp=INF)),
    ("clamp-zero-is-no-clipping", dict(clamp=0)),
    ("numpy-scalars", dict(blank=np.int64(0), clamp=np.float32(0.5),
                           fastemit_lambda=np.float64(0.1))),
    ("log-probs-with-fused-false", dict(logits=LOGITS.log_softmax(-1), fused_log_softmax=False)),
    ("blank-negative-index", dict(blank=-5)),
    ("int32-targets-garbage-padding", dict(targets=torch.tensor([[1, 2], [3, 99]],
                                                                dtype=torch.int32))),
]


@pytest.mark.parametrize("case", LOSS_ANSWERS, ids=[c[0] for c in LOSS_ANSWERS])
def test_rnnt_loss_answers_right(case):
    _, change = case
    loss, grad = _loss_and_grad("cpu", **change)
    ref_change = dict(change)
    if "logits" in ref_change:
        # the reference never reads padding; give it clean padding all the same
        x = ref_change["logits"].clone()
        x[1, 3:] = torch.where(torch.isfinite(x[1, 3:]), x[1, 3:], 0.0)
        x[1, :, 2:] = torch.where(torch.isfinite(x[1, :, 2:]), x[1, :, 2:], 0.0)
        ref_change["logits"] = x
    ref_loss, ref_grad = _loss_and_grad("reference", **ref_change)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=0.0, atol=1e-5)


def test_fastemit_nan_never_gives_nan_gradients_under_a_finite_loss():
    # The old behaviour: a finite loss with all-NaN gradients. Now refused up front.
    with pytest.raises(ArgumentError, match="fastemit_lambda"):
        _loss_and_grad(fastemit_lambda=NAN)


def _packed():
    x, tl, ul = BASE["logits"], BASE["logit_lengths"], BASE["target_lengths"]
    rows = torch.cat([x[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, x.shape[-1])
                      for b in range(2)])
    return dict(BASE, logits=rows)


PACKED = _packed()
PACKED_ERRORS = [
    ("rows-missing", dict(logits=PACKED["logits"][:-1]), ArgumentError, r"logits.size\(0\)"),
    ("padded-layout", dict(logits=LOGITS), ArgumentError, "logits must be 2-D"),
    ("nan-row", dict(logits=_set(PACKED["logits"], (3, 1), NAN)), ArgumentError, "finite"),
    ("raw-logits-as-log-probs", dict(logits=PACKED["logits"] + 3.0, fused_log_softmax=False),
     ArgumentError, "log-probabilities"),
    ("clamp-nan", dict(clamp=NAN), ArgumentError, "clamp"),
    ("lengths-negative", dict(target_lengths=torch.tensor([2, -1])), ArgumentError,
     "target_lengths"),
    ("lengths-float", dict(logit_lengths=torch.tensor([4.0, 3.0])), ArgumentTypeError,
     "logit_lengths"),
]


@pytest.mark.parametrize("case", PACKED_ERRORS, ids=[c[0] for c in PACKED_ERRORS])
def test_rnnt_loss_packed_rejects(case):
    _, change, exc, match = case
    kwargs = dict(PACKED)
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        rnnt_loss_packed(**kwargs)


ALIGN_ERRORS = [
    ("all-nan", dict(logits=torch.full_like(LOGITS, NAN)), ArgumentError, "finite"),
    ("posinf", dict(logits=_set(LOGITS, (0, 0, 0, 1), INF)), ArgumentError, "finite"),
    ("raw-logits-as-log-probs", dict(logits=LOGITS + 3.0, fused_log_softmax=False),
     ArgumentError, "log-probabilities"),
    ("backend-cuda", dict(backend="cuda"), ArgumentError, "backend"),
    ("backend-int", dict(backend=3), ArgumentError, "backend"),
    ("fused-str", dict(fused_log_softmax="yes"), ArgumentTypeError, "fused_log_softmax"),
    ("one-sym-none", dict(one_sym_per_frame=None), ArgumentTypeError, "one_sym_per_frame"),
    ("blank-out-of-range", dict(blank=9), ArgumentError, "blank"),
    ("lengths-too-long", dict(logit_lengths=torch.tensor([9, 3])), ArgumentError,
     "logit_lengths"),
]


@pytest.mark.parametrize("case", ALIGN_ERRORS, ids=[c[0] for c in ALIGN_ERRORS])
def test_rnnt_alignment_rejects(case):
    _, change, exc, match = case
    kwargs = dict(BASE)
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        rnnt_alignment(**kwargs)


def test_alignment_of_all_nan_long_targets_is_refused_not_a_segfault():
    # T=1, U=200000 used to read before the array in the Viterbi backtrack and crash.
    U = 200_000
    logits = torch.full((1, 1, U + 1, 2), NAN)
    with pytest.raises(ArgumentError, match="finite"):
        rnnt_alignment(logits, torch.ones(1, U, dtype=torch.long), torch.tensor([1]),
                       torch.tensor([U]), blank=0)


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("shape", [(1, 200_001), (5, 4), (7, 1), (3, 3)])
@pytest.mark.parametrize("fill", ["nan", "random-nan", "neginf"])
def test_viterbi_stays_inside_the_lattice_whatever_the_scores(modified, shape, fill):
    from lab.transducer.cpu import viterbi

    T, U1 = shape
    rng = np.random.default_rng(T * 7 + U1)
    lpb = rng.normal(size=(T, U1))
    lpl = rng.normal(size=(T, U1 - 1))
    if fill == "nan":
        lpb[:], lpl[:] = NAN, NAN
    elif fill == "random-nan":
        lpb[rng.random(lpb.shape) < 0.5] = NAN
        lpl[rng.random(lpl.shape) < 0.5] = NAN
    else:
        lpb[:], lpl[:] = -INF, -INF
    _, nodes, kinds = viterbi(lpb, lpl, modified)
    if len(nodes):
        assert nodes[:, 0].min() >= 0 and nodes[:, 0].max() < T
        assert nodes[:, 1].min() >= 0 and nodes[:, 1].max() < U1
        assert set(np.unique(kinds).tolist()) <= {0, 1}


MODULE_ERRORS = [
    ("rnnt-clamp-nan", lambda: RNNTLoss(clamp=NAN), ArgumentError, "clamp"),
    ("rnnt-fastemit-nan", lambda: RNNTLoss(fastemit_lambda=NAN), ArgumentError,
     "fastemit_lambda"),
    ("rnnt-reduction", lambda: RNNTLoss(reduction="avg"), ArgumentError, "reduction"),
    ("rnnt-backend", lambda: RNNTLoss(backend="gpu"), ArgumentError, "backend"),
    ("rnnt-blank-float", lambda: RNNTLoss(blank=0.5), ArgumentTypeError, "blank"),
    ("rnnt-fused-str", lambda: RNNTLoss(fused_log_softmax="True"), ArgumentTypeError,
     "fused_log_softmax"),
    ("rnnt-zero-infinity-int", lambda: RNNTLoss(zero_infinity=0), ArgumentTypeError,
     "zero_infinity"),
    ("rnnt-nan-logits", lambda: RNNTLoss(blank=0)(
        torch.full_like(LOGITS, NAN), BASE["targets"], BASE["logit_lengths"],
        BASE["target_lengths"]), ArgumentError, "finite"),
    ("transducer-reduction", lambda: TransducerLoss(reduction=None), ArgumentError,
     "reduction"),
    ("transducer-blank-str", lambda: TransducerLoss(blank="0"), ArgumentTypeError, "blank"),
    ("transducer-backend", lambda: TransducerLoss(backend="cuda:0"), ArgumentError, "backend"),
    ("transducer-bad-lengths", lambda: TransducerLoss()(
        LOGITS, BASE["targets"], torch.tensor([4, -2]), BASE["target_lengths"]),
     ArgumentError, "logit_lengths"),
    ("transducer-nan-logits", lambda: TransducerLoss()(
        _set(LOGITS, (0, 0, 0, 0), NAN), BASE["targets"], BASE["logit_lengths"],
        BASE["target_lengths"]), ArgumentError, "finite"),
]


@pytest.mark.parametrize("case", MODULE_ERRORS, ids=[c[0] for c in MODULE_ERRORS])
def test_modules_reject(case):
    _, call, exc, match = case
    with pytest.raises(exc, match=match):
        call()
