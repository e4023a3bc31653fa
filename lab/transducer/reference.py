"""Float64 PyTorch reference of the RNN-T loss: a log-space DP differentiated by autograd.

It is written to be obviously right rather than fast and is the oracle that the Numba CPU
and CUDA kernels are tested against. All public entry points of :mod:`lab.transducer` can
force it with ``backend="reference"``.
"""

from __future__ import annotations

import torch

# A finite stand-in for log(0): with -inf, autograd of logaddexp(-inf, -inf) gives NaN,
# which would leak into reachable nodes through zero-weighted branches.
NEG = -1.0e30


def _fastemit(label_lp: torch.Tensor, fastemit_lambda: float) -> torch.Tensor:
    """Same value, gradient scaled by (1 + lambda): NeMo's FastEmit on emission terms."""
    if fastemit_lambda == 0.0:
        return label_lp
    return label_lp * (1.0 + fastemit_lambda) - fastemit_lambda * label_lp.detach()


def lattice_log_probs(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank and label log-probs on the (t, u) lattice, NEG outside each utterance.

    Returns ``(lpb, lpl)`` of shapes (B, T, U+1) and (B, T, U).
    """
    B, T, U1, _ = log_probs.shape
    U = U1 - 1
    dev = log_probs.device
    t_idx = torch.arange(T, device=dev)
    u_idx = torch.arange(U1, device=dev)
    inside = (t_idx[None, :, None] < logit_lengths[:, None, None]) & (
        u_idx[None, None, :] <= target_lengths[:, None, None]
    )
    lpb = torch.where(inside, log_probs[..., blank], NEG)
    tgt = targets[:, :U].long()
    if tgt.shape[1] < U:  # logits may be padded further in u than targets is wide
        tgt = torch.nn.functional.pad(tgt, (0, U - tgt.shape[1]))
    valid_tgt = torch.arange(U, device=dev)[None, :] < target_lengths[:, None]
    # Padding targets may be anything (even out of range): index with a safe value instead.
    tgt = torch.where(valid_tgt, tgt, 0)
    idx = tgt[:, None, :, None].expand(B, T, U, 1)
    lpl = log_probs[:, :, :U, :].gather(3, idx).squeeze(3)
    lpl = torch.where(inside[:, :, :U] & valid_tgt[:, None, :], lpl, NEG)
    return lpb, lpl


def _shift_right(a: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.full_like(a[:, :1], NEG), a[:, :-1]], dim=1)


def _alpha_standard(lpb: torch.Tensor, lpl: torch.Tensor) -> torch.Tensor:
    """alpha over anti-diagonals d = t + u; returns (B, T, U+1)."""
    B, T, U1 = lpb.shape
    dev = lpb.device
    u = torch.arange(U1, device=dev)
    lpl_pad = torch.cat([lpl, torch.full_like(lpb[:, :, :1], NEG)], dim=2)  # (B, T, U+1)
    prev = None
    diags = []
    for d in range(T + U1 - 1):
        t = d - u
        if d == 0:
            cur = torch.where(u == 0, 0.0, NEG).to(lpb.dtype).expand(B, U1)
        else:
            tb = (t - 1).clamp(0, T - 1)
            from_blank = torch.where(((t - 1) >= 0) & ((t - 1) < T), prev + lpb[:, tb, u], NEG)
            tl = t.clamp(0, T - 1)
            from_label = torch.where(
                (u >= 1) & (t >= 0) & (t < T),
                _shift_right(prev) + lpl_pad[:, tl, (u - 1).clamp(min=0)],
                NEG,
            )
            cur = torch.logaddexp(from_blank, from_label)
            cur = torch.where((t >= 0) & (t < T), cur, NEG)
        diags.append(cur)
        prev = cur
    # Scatter diagonals back to (t, u) without in-place writes on autograd tensors.
    stacked = torch.stack(diags, dim=1)  # (B, D, U+1), entry [d, u] is node (d - u, u)
    t_grid = torch.arange(T, device=dev)[:, None]
    d_idx = (t_grid + u[None, :]).expand(T, U1)
    alpha = stacked[:, d_idx, u[None, :].expand(T, U1)]
    return alpha


def _alpha_modified(lpb: torch.Tensor, lpl: torch.Tensor) -> torch.Tensor:
    """alpha row by row in t: each frame emits exactly one symbol; returns (B, T, U+1)."""
    B, T, U1 = lpb.shape
    u = torch.arange(U1, device=lpb.device)
    rows = [torch.where(u == 0, 0.0, NEG).to(lpb.dtype).expand(B, U1)]
    for t in range(1, T):
        a = rows[-1]
        from_blank = a + lpb[:, t - 1]
        neg = torch.full_like(a[:, :1], NEG)
        from_label = torch.cat([neg, a[:, :-1] + lpl[:, t - 1]], dim=1)
        rows.append(torch.logaddexp(from_blank, from_label))
    return torch.stack(rows, dim=1)


def log_likelihood(
    lpb: torch.Tensor,
    lpl: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    one_sym_per_frame: bool = False,
) -> torch.Tensor:
    """log P(y|x) per utterance (B,), NEG-ish (about -1e30) when no path exists."""
    B = lpb.shape[0]
    b = torch.arange(B, device=lpb.device)
    tl = logit_lengths.long() - 1
    ul = target_lengths.long()
    if one_sym_per_frame:
        alpha = _alpha_modified(lpb, lpl)
        end_blank = alpha[b, tl, ul] + lpb[b, tl, ul]
        if lpl.shape[2] == 0:
            return end_blank
        um1 = (ul - 1).clamp(min=0)
        end_label = torch.where(ul >= 1, alpha[b, tl, um1] + lpl[b, tl, um1], NEG)
        return torch.logaddexp(end_blank, end_label)
    alpha = _alpha_standard(lpb, lpl)
    return alpha[b, tl, ul] + lpb[b, tl, ul]


def rnnt_costs_reference(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    fused_log_softmax: bool = True,
    one_sym_per_frame: bool = False,
    fastemit_lambda: float = 0.0,
    zero_infinity: bool = False,
) -> torch.Tensor:
    """Per-utterance costs -log P(y|x) (B,) in float64, differentiable by autograd.

    ``blank`` must already be a non-negative index. Infeasible utterances (modified
    transducer with U > T) cost +inf (0 with ``zero_infinity``) and get a zero gradient.
    """
    x = logits.to(torch.float64)
    B, T, U1, _ = x.shape
    dev = x.device
    inside_rows = (torch.arange(T, device=dev)[None, :, None] < logit_lengths[:, None, None]) & (
        torch.arange(U1, device=dev)[None, None, :] <= target_lengths[:, None, None]
    )
    # Padding may hold NaN: remove it before log_softmax so that its backward stays finite.
    x = torch.where(inside_rows[..., None], x, 0.0)
    lp = x.log_softmax(-1) if fused_log_softmax else x
    lpb, lpl = lattice_log_probs(lp, targets, logit_lengths, target_lengths, blank)
    lpl = _fastemit(lpl, fastemit_lambda)
    logp = log_likelihood(lpb, lpl, logit_lengths, target_lengths, one_sym_per_frame)
    feasible = torch.ones(B, dtype=torch.bool, device=dev)
    if one_sym_per_frame:
        feasible = target_lengths <= logit_lengths
    bad = 0.0 if zero_infinity else float("inf")
    return torch.where(feasible, -logp, bad)


class _ClampedGrad(torch.autograd.Function):
    """Per-utterance costs whose gradient w.r.t. the input is clipped to [-clamp, clamp]."""

    @staticmethod
    def forward(ctx, inputs, clamp, kwargs):  # noqa: D102
        with torch.enable_grad():
            leaf = inputs.detach().requires_grad_(True)
            costs = rnnt_costs_reference(leaf, **kwargs)
            finite = torch.where(torch.isfinite(costs), costs, 0.0)
            (grad,) = torch.autograd.grad(finite.sum(), leaf)
        ctx.save_for_backward(grad.clamp(-clamp, clamp))
        return costs.detach()

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        (grad,) = ctx.saved_tensors
        return grad * grad_output.view(-1, 1, 1, 1).to(grad.dtype), None, None


def rnnt_loss_reference(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int,
    clamp: float = -1.0,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
    one_sym_per_frame: bool = False,
    fastemit_lambda: float = 0.0,
    zero_infinity: bool = False,
) -> torch.Tensor:
    """Reduced reference loss; the result is float64 (callers cast it)."""
    kwargs = dict(
        targets=targets,
        logit_lengths=logit_lengths,
        target_lengths=target_lengths,
        blank=blank,
        fused_log_softmax=fused_log_softmax,
        one_sym_per_frame=one_sym_per_frame,
        fastemit_lambda=fastemit_lambda,
        zero_infinity=zero_infinity,
    )
    if clamp > 0:
        costs = _ClampedGrad.apply(logits.to(torch.float64), float(clamp), kwargs)
    else:
        costs = rnnt_costs_reference(logits, **kwargs)
    if reduction == "none":
        return costs
    if reduction == "sum":
        return costs.sum()
    return costs.mean()
