"""RNN-T loss: public vectors, reference gradcheck, packed layout, modules, bad input."""

from __future__ import annotations

import pytest
import torch

from lab.transducer import (
    RNNTLoss,
    TransducerLoss,
    rnnt_alignment,
    rnnt_loss,
    rnnt_loss_packed,
)
from lab.transducer.reference import rnnt_costs_reference
from tests._transducer_cases import assert_matches_reference, vector_checks

CHECKS = vector_checks()


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("check", CHECKS, ids=[c[0] for c in CHECKS])
def test_public_vectors(check, backend):
    _, x, (targets, tl, ul), blank, costs, wrt, grads = check
    x = x.clone().requires_grad_(True)
    loss = rnnt_loss(x, targets, tl, ul, blank, reduction="none",
                     fused_log_softmax=wrt == "logits", backend=backend)
    loss.sum().backward()
    torch.testing.assert_close(loss.double(), torch.tensor(costs, dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(x.grad, grads, rtol=0.0, atol=1e-6)


def _small(seed=0, B=3, T=5, U=3, V=6, blank=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, U + 1, V, generator=g)
    targets = torch.randint(0, V - 1, (B, U), generator=g)
    targets += (targets >= blank).long()  # never the blank
    tl = torch.tensor([T, T - 1, 2][:B], dtype=torch.int32)
    ul = torch.tensor([U, 1, 2][:B], dtype=torch.int32)
    return logits, targets, tl, ul, blank


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_reference_gradcheck(modified, fused):
    logits, targets, tl, ul, blank = _small(B=2, T=3, U=2, V=3)
    x = logits.double()
    if not fused:
        x = x.log_softmax(-1)
    x.requires_grad_(True)

    def f(inp):
        return rnnt_costs_reference(inp, targets, tl.long(), ul.long(), blank,
                                    fused_log_softmax=fused, one_sym_per_frame=modified)

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6)


def test_mean_is_batch_mean_and_gradient_matches():
    logits, targets, tl, ul, blank = _small()
    x = logits.clone().requires_grad_(True)
    per = rnnt_loss(x, targets, tl, ul, blank, reduction="none")
    mean = rnnt_loss(x, targets, tl, ul, blank, reduction="mean")
    torch.testing.assert_close(mean, per.mean())
    (g_mean,) = torch.autograd.grad(mean, x)
    (g_sum,) = torch.autograd.grad(per.sum(), x)
    torch.testing.assert_close(g_mean, g_sum / 3, rtol=1e-6, atol=1e-7)


def test_loss_is_not_divided_by_t():
    # One frame, no labels: P(y|x) is the blank probability, so the loss is its -log.
    logits = torch.tensor([[[[0.0, 1.0, 2.0]]]])
    loss = rnnt_loss(logits, torch.zeros(1, 0, dtype=torch.long), torch.tensor([1]),
                     torch.tensor([0]), blank=0)
    assert loss.item() == pytest.approx(-torch.log_softmax(logits[0, 0, 0], 0)[0].item(),
                                        rel=1e-6)


def test_modified_transducer_infeasible_is_inf_or_zero():
    logits, targets, _, _, blank = _small(B=2, T=3, U=3)
    tl = torch.tensor([2, 3], dtype=torch.int32)
    ul = torch.tensor([3, 3], dtype=torch.int32)
    for backend in ("reference", "cpu"):
        x = logits.clone().requires_grad_(True)
        loss = rnnt_loss(x, targets, tl, ul, blank, reduction="none", one_sym_per_frame=True,
                         backend=backend)
        assert torch.isinf(loss[0]) and torch.isfinite(loss[1])
        x = logits.clone().requires_grad_(True)
        loss = rnnt_loss(x, targets, tl, ul, blank, reduction="sum", one_sym_per_frame=True,
                         zero_infinity=True, backend=backend)
        loss.backward()
        assert torch.isfinite(loss)
        assert x.grad[0].abs().max() == 0
        assert x.grad[1].abs().max() > 0


def test_modified_transducer_u_equals_t_has_one_path():
    # U == T: every frame must emit its label; P is the product of those label probs.
    logits, targets, _, _, blank = _small(B=1, T=3, U=3)
    loss = rnnt_loss(logits, targets, torch.tensor([3]), torch.tensor([3]), blank,
                     one_sym_per_frame=True)
    lp = logits.log_softmax(-1)
    expected = -sum(lp[0, i, i, targets[0, i]] for i in range(3))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_fastemit_keeps_value_and_scales_label_gradient():
    logits, targets, tl, ul, blank = _small()
    lp = logits.log_softmax(-1)
    grads = {}
    for lam in (0.0, 0.5):
        x = lp.clone().requires_grad_(True)
        loss = rnnt_loss(x, targets, tl, ul, blank, reduction="sum", fused_log_softmax=False,
                         fastemit_lambda=lam)
        loss.backward()
        grads[lam] = (loss.item(), x.grad)
    assert grads[0.5][0] == pytest.approx(grads[0.0][0], rel=1e-6)
    g0, g1 = grads[0.0][1], grads[0.5][1]
    torch.testing.assert_close(g1[..., blank], g0[..., blank])
    labels = torch.ones_like(g0, dtype=torch.bool)
    labels[..., blank] = False
    torch.testing.assert_close(g1[labels], 1.5 * g0[labels])


def test_clamp_clips_both_sides():
    logits, targets, tl, ul, blank = _small()
    for backend in ("reference", "cpu"):
        x = logits.clone().requires_grad_(True)
        rnnt_loss(x, targets, tl, ul, blank, clamp=0.02, reduction="sum",
                  backend=backend).backward()
        assert x.grad.max().item() == pytest.approx(0.02, abs=1e-7)
        assert x.grad.min().item() == pytest.approx(-0.02, abs=1e-7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(dtype):
    logits, targets, tl, ul, blank = _small()
    x = logits.to(dtype).requires_grad_(True)
    loss = rnnt_loss(x, targets, tl, ul, blank)
    loss.backward()
    assert loss.dtype == torch.float32 and x.grad.dtype == dtype
    ref = rnnt_loss(logits.to(dtype).float(), targets, tl, ul, blank, backend="reference")
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def _garbage_padding(logits, tl, ul, value):
    x = logits.clone()
    for b in range(x.shape[0]):
        x[b, int(tl[b]):] = value
        x[b, :, int(ul[b]) + 1:] = value
    return x


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_padding_never_influences_results(backend):
    logits, targets, tl, ul, blank = _small()
    targets_bad = targets.clone()
    targets_bad[1, 1:] = 10_000  # beyond target_lengths: must be ignored
    results = []
    for fill, tg in ((0.0, targets), (float("nan"), targets_bad), (1e30, targets_bad)):
        x = _garbage_padding(logits, tl, ul, fill).requires_grad_(True)
        loss = rnnt_loss(x, tg, tl, ul, blank, reduction="none", backend=backend)
        loss.sum().backward()
        results.append((loss.detach(), x.grad))
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(grad, results[0][1])
        assert torch.isfinite(grad).all()
    pad = _garbage_padding(torch.zeros_like(logits), tl, ul, 1.0).bool()
    assert results[0][1][pad].abs().max() == 0


def _pack(logits, tl, ul):
    return torch.cat([logits[b, :int(tl[b]), :int(ul[b]) + 1].reshape(-1, logits.shape[-1])
                      for b in range(logits.shape[0])])


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_packed_equals_padded(backend, reduction):
    logits, targets, tl, ul, blank = _small()
    x = logits.clone().requires_grad_(True)
    padded = rnnt_loss(x, targets, tl, ul, blank, reduction=reduction, backend=backend)
    padded.sum().backward()
    xp = _pack(logits, tl, ul).requires_grad_(True)
    packed = rnnt_loss_packed(xp, targets, tl, ul, blank, reduction=reduction,
                              backend=backend)
    packed.sum().backward()
    torch.testing.assert_close(packed, padded)
    torch.testing.assert_close(xp.grad, _pack(x.grad, tl, ul))


def test_modules_agree_with_functional():
    logits, targets, tl, ul, _ = _small()
    x = logits.clone().requires_grad_(True)
    sb = TransducerLoss(blank=0)(x, targets, tl, ul)
    sb.backward()
    y = logits.clone().requires_grad_(True)
    ta = RNNTLoss(blank=0, reduction="mean")(y, targets, tl, ul)
    ta.backward()
    ref = rnnt_loss(logits, targets, tl, ul, blank=0, reduction="none", backend="reference")
    torch.testing.assert_close(sb, ref.mean().float())
    torch.testing.assert_close(ta, sb)
    torch.testing.assert_close(x.grad, y.grad)


def test_alignment_matches_reference_and_is_a_distribution():
    logits, targets, tl, ul, blank = _small()
    for modified in (False, True):
        cpu = rnnt_alignment(logits, targets, tl, ul, blank, one_sym_per_frame=modified)
        ref = rnnt_alignment(logits, targets, tl, ul, blank, one_sym_per_frame=modified,
                             backend="reference")
        torch.testing.assert_close(cpu.occupancy, ref.occupancy)
        torch.testing.assert_close(cpu.label_probs, ref.label_probs)
        loss = rnnt_loss(logits, targets, tl, ul, blank, reduction="none",
                         one_sym_per_frame=modified, backend="reference")
        torch.testing.assert_close(-cpu.log_prob, loss.double(), rtol=1e-5, atol=1e-5)
        for b in range(3):
            T, U = int(tl[b]), int(ul[b])
            if modified and U > T:
                continue
            # every label is emitted exactly once; the path visits one node per diagonal
            torch.testing.assert_close(cpu.label_probs[b, :T, :U].sum(0),
                                       torch.ones(U, dtype=torch.float64))
            path = cpu.best_path[b]
            assert len(path) == (T if modified else T + U)
            assert int(path[:, 2].sum()) == U
            assert cpu.best_log_prob[b] <= cpu.log_prob[b] + 1e-9


def test_viterbi_path_scores_its_log_prob():
    logits, targets, tl, ul, blank = _small(B=1, T=6, U=3)
    al = rnnt_alignment(logits, targets, tl, ul, blank)
    lp = logits.log_softmax(-1)[0]
    total = 0.0
    for t, u, kind in al.best_path[0].tolist():
        total += lp[t, u, targets[0, u] if kind else blank].item()
    assert total == pytest.approx(al.best_log_prob[0].item(), rel=1e-5)


# ----------------------------------------------------------------------------- bad input

def _args():
    logits, targets, tl, ul, _ = _small()
    return dict(logits=logits, targets=targets, logit_lengths=tl, target_lengths=ul, blank=0)


@pytest.mark.parametrize("change,exc,match", [
    (dict(logits=torch.zeros(3, 5, 6)), ValueError, "logits must be 4-D"),
    (dict(targets=torch.ones(3, dtype=torch.long)), ValueError, "targets must be 2-D"),
    (dict(logit_lengths=torch.ones(3, 1, dtype=torch.int32)), ValueError, "logit_lengths"),
    (dict(target_lengths=torch.ones(3, 1, dtype=torch.int32)), ValueError, "target_lengths"),
    (dict(logit_lengths=torch.tensor([6, 4, 2], dtype=torch.int32)), ValueError,
     r"logits.size\(1\)"),
    (dict(target_lengths=torch.tensor([4, 1, 2], dtype=torch.int32),
          targets=torch.ones(3, 4, dtype=torch.long)), ValueError, r"logits.size\(2\)"),
    (dict(targets=torch.zeros(3, 3, dtype=torch.long)), ValueError, "targets must not contain"),
    (dict(targets=torch.full((3, 3), 6)), ValueError, r"targets must be in \[0, 6\)"),
    (dict(targets=torch.full((3, 3), -2)), ValueError, r"targets must be in \[0, 6\)"),
    (dict(target_lengths=torch.tensor([3, -1, 2], dtype=torch.int32)), ValueError,
     "target_lengths must be non-negative"),
    (dict(logit_lengths=torch.tensor([5, -4, 2], dtype=torch.int32)), ValueError,
     "logit_lengths must be positive"),
    (dict(logit_lengths=torch.tensor([5, 0, 2], dtype=torch.int32)), ValueError,
     "logit_lengths must be positive"),
    (dict(logit_lengths=torch.tensor([5.0, 4.0, 2.0])), TypeError, "logit_lengths must be an"),
    (dict(target_lengths=torch.tensor([3.0, 1.0, 2.0])), TypeError, "target_lengths must be an"),
    (dict(targets=torch.ones(3, 3)), TypeError, "targets must be an integer"),
    (dict(logits=torch.zeros(3, 5, 4, 6, dtype=torch.long)), TypeError, "logits must be a float"),
    (dict(targets=torch.ones(3, 3, dtype=torch.long, device="meta")), ValueError,
     "same device"),
    (dict(reduction="avg"), ValueError, "reduction must be one of"),
    (dict(backend="tpu"), ValueError, "backend must be one of"),
    (dict(blank=6), ValueError, "blank must be in"),
    (dict(targets=torch.ones(3, 2, dtype=torch.long)), ValueError, r"targets.size\(1\)"),
    (dict(logit_lengths=torch.tensor([5, 4], dtype=torch.int32)), ValueError,
     "logit_lengths must have one entry per utterance"),
    (dict(fastemit_lambda=-0.1), ValueError, "fastemit_lambda"),
])
def test_bad_input_names_the_argument(change, exc, match):
    kwargs = _args()
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        rnnt_loss(**kwargs)


def test_packed_bad_row_count():
    logits, targets, tl, ul, blank = _small()
    with pytest.raises(ValueError, match=r"logits.size\(0\) must be sum"):
        rnnt_loss_packed(_pack(logits, tl, ul)[:-1], targets, tl, ul, blank)
    with pytest.raises(ValueError, match="logits must be 2-D"):
        rnnt_loss_packed(logits, targets, tl, ul, blank)


def test_cuda_backend_without_gpu_or_simulator_is_refused(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    with pytest.raises(ValueError, match="backend='cuda' needs CUDA tensors"):
        rnnt_loss(**_args(), backend="cuda")


def test_cpu_matches_reference_on_a_mid_size_batch():
    logits, targets, tl, ul, blank = _small(seed=3, B=3, T=12, U=3, V=9, blank=4)
    assert_matches_reference((logits, targets, tl, ul, blank), {}, "cpu")


@pytest.mark.parametrize("modified", [False, True])
def test_torch_exp_path_matches_numba_exp_path(monkeypatch, modified):
    # Large inputs exponentiate with torch ops, small ones in one Numba kernel: same numbers.
    import lab.transducer.cpu as cpu

    logits, targets, tl, ul, blank = _small(seed=5, T=7, U=3, V=11, blank=3)
    results = []
    for small in (cpu.SMALL, 0):
        monkeypatch.setattr(cpu, "SMALL", small)
        x = _garbage_padding(logits, tl, ul, float("nan")).requires_grad_(True)
        loss = rnnt_loss(x, targets, tl, ul, blank, reduction="none", one_sym_per_frame=modified)
        (loss * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
        results.append((loss.detach(), x.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    assert_matches_reference((logits, targets, tl, ul, blank),
                             {"one_sym_per_frame": modified}, "cpu")


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_logits_wider_than_targets(backend):
    # logits padded to U+1 = 6 while targets is only as wide as the longest target (3)
    logits, targets, tl, ul, blank = _small()
    wide = torch.cat([logits, torch.randn(3, 5, 2, 6)], dim=2)
    got = rnnt_loss(wide, targets, tl, ul, blank, reduction="none", backend=backend)
    want = rnnt_loss(logits, targets, tl, ul, blank, reduction="none", backend="reference")
    torch.testing.assert_close(got, want)
