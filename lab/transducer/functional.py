"""RNN-T (transducer) loss, its packed variant and lattice alignments.

``rnnt_loss`` takes torchaudio's arguments in torchaudio's order, so code written for
``torchaudio.functional.rnnt_loss`` switches by changing the import.

Definitions used throughout:

- loss of utterance b is -log P(y_b | x_b) on the (t, u) lattice of Graves (2012); with
  ``one_sym_per_frame`` (the "modified" transducer) a label also advances t, every frame
  emits exactly one symbol, and an utterance with U > T has no path: its loss is +inf
  (0 with ``zero_infinity``) and its gradient is zero. As in k2's "modified" RNN-T, the
  last frame may emit the last label (so U = T is feasible); optimized_transducer instead
  requires the last frame to be blank, which removes those paths and gives a larger loss.
- ``reduction="mean"`` is the mean over the batch of the per-utterance losses and the
  gradient is that of the returned value.
- FastEmit (Yu et al. 2021, arXiv 2010.11148) as implemented in NeMo: the loss value is
  unchanged and the gradient flowing into every label-emission log-prob is multiplied by
  (1 + fastemit_lambda); blank terms are untouched.
- ``clamp > 0`` clips each utterance's gradient w.r.t. the input to [-clamp, clamp] (both
  sides) before the reduction is applied.
- float16/bfloat16 inputs are computed in float32; the loss is float32 and the gradient
  comes back in the input dtype. The lattice (alpha, beta, log P) is float64 on every backend.
- Bad input is refused with :class:`~lab.errors.ArgumentError` /
  :class:`~lab.errors.ArgumentTypeError` naming the argument: lengths, targets, blank, option
  values (NaN ``clamp`` or ``fastemit_lambda`` included), raw logits passed with
  ``fused_log_softmax=False`` (checked on each utterance's first row: its logsumexp must not
  exceed 0), and NaN/+inf logits (or a row of only -inf) inside an utterance. -inf marks an
  impossible class and is fine; padding may hold anything. On a GPU the non-finite check
  would cost a second host sync, so there such an utterance's loss is NaN instead.
- One host sync per call: validation reads lengths and targets (and the first-row check)
  in one device-to-host copy; the CUDA kernels then run on torch's current stream.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from lab.errors import ArgumentError, ArgumentTypeError

from . import reference as _ref

REDUCTIONS = ("none", "mean", "sum")
BACKENDS = ("auto", "reference", "cpu", "cuda")
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


# ----------------------------------------------------------------------------- validation

# fused_log_softmax=False promises log-probabilities: a row's logsumexp is 0 (or below, for
# a distribution over a subset). Raw logits land far above; this much is rounding of halves.
_LOG_PROB_TOL = 0.1


def _check_tensor(name: str, value, ndim: int, integer: bool) -> None:
    if not isinstance(value, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if integer and value.dtype not in _INT_DTYPES:
        raise ArgumentTypeError(
            f"{name} must be an integer tensor (int32/int64), got {value.dtype}"
        )
    if not integer and not value.dtype.is_floating_point:
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    if value.dim() != ndim:
        raise ArgumentError(f"{name} must be {ndim}-D, got a {value.dim()}-D tensor of shape "
                         f"{tuple(value.shape)}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def check_options(*, blank=-1, clamp=-1.0, reduction="mean", backend="auto",
                  fastemit_lambda=0.0, **flags) -> None:
    """Check the non-tensor arguments of the loss (also used by the modules' constructors).

    Raises :class:`~lab.errors.ArgumentTypeError` / :class:`~lab.errors.ArgumentError`
    naming the argument; ``flags`` are booleans such as ``fused_log_softmax``.

    Examples
    --------
    >>> check_options(clamp=float("nan"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: clamp must be a number that is not NaN ..., got nan
    """
    if not isinstance(blank, (int, np.integer)) or isinstance(blank, (bool, np.bool_)):
        raise ArgumentTypeError(f"blank must be an int, got {type(blank).__name__}")
    if not _is_number(clamp):
        raise ArgumentTypeError(f"clamp must be a number, got {type(clamp).__name__}")
    if math.isnan(clamp):
        raise ArgumentError("clamp must be a number that is not NaN (<= 0 disables clipping), "
                            f"got {clamp!r}")
    if not _is_number(fastemit_lambda):
        raise ArgumentTypeError(
            f"fastemit_lambda must be a number, got {type(fastemit_lambda).__name__}")
    if not (math.isfinite(fastemit_lambda) and fastemit_lambda >= 0):
        raise ArgumentError(f"fastemit_lambda must be a finite number >= 0, "
                            f"got {fastemit_lambda!r}")
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ArgumentError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentTypeError(f"{name} must be a bool, got {type(value).__name__}")


@dataclass
class _Checked:
    """What validation learnt, on the host: blank index and lengths (int64 CPU tensors)."""

    blank: int
    lt: torch.Tensor
    ut: torch.Tensor


def _host_copy(logits, targets, logit_lengths, target_lengths, packed, fused):
    """Lengths, targets and a few rows' logsumexp in one device-to-host copy (one sync).

    The rows are each utterance's first node (t=0, u=0), read only when ``fused`` is False
    to check that the input holds log-probabilities.
    """
    B, U = targets.shape
    parts = [logit_lengths.detach().to(torch.float64), target_lengths.detach().to(torch.float64),
             targets.detach().reshape(-1).to(torch.float64)]
    if not fused and logits.shape[-1] > 0 and logits.numel() > 0:
        if packed:
            sizes = logit_lengths.detach().long() * (target_lengths.detach().long() + 1)
            first = (torch.cumsum(sizes, 0) - sizes).clamp(0, logits.shape[0] - 1)
            rows = logits.detach()[first]
        else:
            rows = logits.detach()[:, 0, 0] if logits.shape[1] and logits.shape[2] else None
        if rows is not None:
            parts.append(torch.logsumexp(rows.to(torch.float64), dim=-1))
    host = torch.cat([p.reshape(-1) for p in parts]).cpu()
    lt, ut = host[:B], host[B:2 * B]
    tg = host[2 * B:2 * B + B * U].reshape(B, U)
    lse = host[2 * B + B * U:]
    return lt, ut, tg, lse


def _validate(logits, targets, logit_lengths, target_lengths, blank, clamp, reduction,
              backend, fastemit_lambda, packed: bool, fused: bool = True,
              **flags) -> _Checked:
    """Check every argument; return the non-negative blank index and host lengths."""
    _check_tensor("logits", logits, 2 if packed else 4, integer=False)
    _check_tensor("targets", targets, 2, integer=True)
    _check_tensor("logit_lengths", logit_lengths, 1, integer=True)
    _check_tensor("target_lengths", target_lengths, 1, integer=True)
    check_options(blank=blank, clamp=clamp, reduction=reduction, backend=backend,
                  fastemit_lambda=fastemit_lambda, fused_log_softmax=fused, **flags)
    devices = {t.device for t in (logits, targets, logit_lengths, target_lengths)}
    if len(devices) > 1:
        raise ArgumentError(
            "logits, targets, logit_lengths and target_lengths must be on the same device, "
            f"got {logits.device}, {targets.device}, {logit_lengths.device}, "
            f"{target_lengths.device}"
        )
    B = targets.shape[0]
    for name, t in (("logit_lengths", logit_lengths), ("target_lengths", target_lengths)):
        if t.shape[0] != B:
            raise ArgumentError(f"{name} must have one entry per utterance ({B}), got {t.shape[0]}")
    if not packed and logits.shape[0] != B:
        raise ArgumentError(f"logits.size(0) must equal the batch size {B} of targets, "
                         f"got {logits.shape[0]}")
    if B == 0:
        raise ArgumentError("targets must hold at least one utterance, got batch size 0")
    V = logits.shape[-1]
    if V < 1:
        raise ArgumentError("logits.size(-1) (the classes V) must be >= 1, got 0")
    if not -V <= blank < V:
        raise ArgumentError(f"blank must be in [-{V}, {V}) for V={V} classes, got {blank}")
    blank = int(blank) % V
    lt_f, ut_f, tg_f, lse = _host_copy(logits, targets, logit_lengths, target_lengths,
                                       packed, fused)
    lt, ut = lt_f.long(), ut_f.long()
    if (lt <= 0).any():
        raise ArgumentError(f"logit_lengths must be positive, got {lt.tolist()}")
    if (ut < 0).any():
        raise ArgumentError(f"target_lengths must be non-negative, got {ut.tolist()}")
    umax = int(ut.max())
    if targets.shape[1] < umax:
        raise ArgumentError(f"targets.size(1)={targets.shape[1]} is smaller than "
                         f"max(target_lengths)={umax}")
    if packed:
        need = int((lt * (ut + 1)).sum())
        if logits.shape[0] != need:
            raise ArgumentError(f"logits.size(0) must be sum(logit_lengths * (target_lengths + 1))"
                             f" = {need} for the packed layout, got {logits.shape[0]}")
    else:
        if logits.shape[1] < int(lt.max()):
            raise ArgumentError(f"logits.size(1)={logits.shape[1]} is smaller than "
                             f"max(logit_lengths)={int(lt.max())}")
        if logits.shape[2] < umax + 1:
            raise ArgumentError(f"logits.size(2)={logits.shape[2]} is smaller than "
                             f"max(target_lengths)+1={umax + 1}")
    tg = tg_f[:, :umax]
    inside = torch.arange(umax)[None, :] < ut[:, None]
    used = tg[inside]
    if ((used < 0) | (used >= V)).any():
        raise ArgumentError(f"targets must be in [0, {V}) within target_lengths, got values "
                         f"{sorted(set(used[(used < 0) | (used >= V)].long().tolist()))[:5]}")
    if (used == blank).any():
        raise ArgumentError(f"targets must not contain the blank index {blank} within "
                         "target_lengths")
    if lse.numel():
        if torch.isnan(lse).any():
            _raise_non_finite(lse)
        bad = torch.nonzero(~(lse <= _LOG_PROB_TOL)).flatten()
        if bad.numel():
            b = int(bad[0])
            raise ArgumentError(
                "logits must hold log-probabilities when fused_log_softmax=False (each row's "
                f"logsumexp <= 0), but utterance {b}'s first row has logsumexp {float(lse[b]):.4g}"
                "; pass raw logits with fused_log_softmax=True, or log_softmax them first")
    return _Checked(blank, lt, ut)


def _raise_non_finite(costs, what: str = "logits") -> None:
    """A NaN loss means NaN/+inf (or all -inf) inputs inside the lattice: say so."""
    costs = torch.as_tensor(costs)
    bad = torch.nonzero(torch.isnan(costs.reshape(-1))).flatten().tolist()
    if bad:
        raise ArgumentError(
            f"{what} must be finite (-inf allowed) inside logit_lengths x (target_lengths + 1)"
            f"; utterance(s) {bad[:10]} hold NaN or +inf there (or a row of only -inf)")


def _resolve_backend(backend: str, logits: torch.Tensor) -> str:
    if backend == "auto":
        return "cuda" if logits.is_cuda else "cpu"
    if backend == "cpu" and logits.is_cuda:
        raise ArgumentError("backend='cpu' needs CPU tensors, got logits on " + str(logits.device))
    if backend == "cuda" and not logits.is_cuda:
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") != "1":
            raise ArgumentError("backend='cuda' needs CUDA tensors (or NUMBA_ENABLE_CUDASIM=1 "
                             f"to run the kernels in Numba's simulator), got {logits.device}")
    return backend


# ----------------------------------------------------------------------------- autograd


def _compute_rows(backend: str, *args, **kwargs):
    if backend == "cuda":
        from . import cuda as kernels
    else:
        from . import cpu as kernels
    return kernels.rnnt_rows(*args, **kwargs)


class _RNNTRows(torch.autograd.Function):
    """Kernel loss on the row layout (N, V); the gradient is computed in the forward pass."""

    @staticmethod
    def forward(ctx, rows, targets, logit_lengths, target_lengths, offsets, strides,
                options, row_batch):
        backend, reduction, zero_infinity = options["backend"], options["reduction"], \
            options["zero_infinity"]
        in_dtype = rows.dtype
        x = rows.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        x = x.contiguous()
        B = logit_lengths.shape[0]
        scale = np.full(B, 1.0 / B if reduction == "mean" else 1.0)
        costs, grad = _compute_rows(
            backend, x, targets, logit_lengths, target_lengths, offsets, strides,
            blank=options["blank"], fused=options["fused"], modified=options["modified"],
            fastemit_lambda=options["fastemit_lambda"], clamp=options["clamp"],
            batch_scale=scale, want_grad=rows.requires_grad, **options["extra"],
        )
        costs = torch.as_tensor(costs, device=rows.device)
        if not costs.is_cuda:
            # Free on the host; on a GPU it would cost a sync, so there a NaN loss reports it.
            _raise_non_finite(costs)
        costs = costs.to(torch.float32 if in_dtype in (torch.float16, torch.bfloat16)
                         else in_dtype)
        if zero_infinity:
            costs = torch.where(torch.isinf(costs), torch.zeros_like(costs), costs)
        ctx.grad = grad
        ctx.in_dtype = in_dtype
        ctx.reduction = reduction
        ctx.row_batch = row_batch
        if reduction == "none":
            return costs
        return costs.sum() if reduction == "sum" else costs.mean()

    @staticmethod
    def backward(ctx, grad_output):
        grad = ctx.grad
        if grad is None:
            raise RuntimeError("rnnt_loss: backward called twice or without a gradient")
        ctx.grad = None  # the buffer is scaled in place and handed over to autograd
        go = grad_output.to(device=grad.device, dtype=grad.dtype)
        if ctx.reduction == "none":
            grad.mul_(go[ctx.row_batch].unsqueeze(1))
        elif grad.is_cuda or bool(go != 1):  # on a GPU, reading go would block the host
            grad.mul_(go)
        return grad.to(ctx.in_dtype), None, None, None, None, None, None, None


def _kernel_loss(rows, targets, logit_lengths, target_lengths, checked, offsets, strides,
                 row_batch, backend, reduction, padded_box, **options):
    """Run the CPU or CUDA kernels; integer inputs go where the kernels read them.

    CUDA: device tensors built on the device (a host-to-device copy would block), plus the
    host maxima validation already read. CPU: int64 numpy arrays, lengths from the host copy.
    """
    # Padding targets may hold anything; the kernels read only positions < target_lengths.
    tg = targets.detach().long().clamp(0, rows.shape[-1] - 1)
    if backend == "cuda":
        def conv(t):
            return t.detach().to(device=rows.device, dtype=torch.int64).contiguous()

        lt, ut = conv(logit_lengths), conv(target_lengths)
        options["extra"] = dict(t_max=int(checked.lt.max()), u_max=int(checked.ut.max()),
                                padded_box=padded_box)
    else:
        def conv(t):
            return t.detach().to(device="cpu", dtype=torch.int64).contiguous().numpy()

        lt, ut = conv(checked.lt), conv(checked.ut)
        options["extra"] = {}
    options.update(backend=backend, reduction=reduction)
    return _RNNTRows.apply(rows, conv(tg), lt, ut, conv(offsets), conv(strides), options,
                           row_batch)


# ----------------------------------------------------------------------------- public API


def rnnt_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = -1,
    clamp: float = -1.0,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
    *,
    one_sym_per_frame: bool = False,
    fastemit_lambda: float = 0.0,
    zero_infinity: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """RNN-T loss -log P(y|x) with torchaudio's arguments (padded layout).

    Parameters
    ----------
    logits : torch.Tensor
        (B, T, U+1, V) joint-network outputs (log-probs if ``fused_log_softmax=False``).
    targets : torch.Tensor
        (B, U) integer labels, padded beyond ``target_lengths``.
    logit_lengths, target_lengths : torch.Tensor
        (B,) integer lengths; logit lengths > 0.
    blank : int
        Blank index; negative values count from the end (default -1, the last class).
    clamp : float
        If > 0, clip each utterance's gradient w.r.t. ``logits`` to [-clamp, clamp].
    reduction : {"none", "mean", "sum"}
        "mean" is the batch mean of per-utterance losses.
    fused_log_softmax : bool
        False: ``logits`` already holds log-probs and the gradient is w.r.t. them.
    one_sym_per_frame : bool
        Modified transducer (at most one symbol per frame).
    fastemit_lambda : float
        FastEmit regularization (NeMo's definition, see module docstring).
    zero_infinity : bool
        Replace infinite losses (no path) by 0.
    backend : {"auto", "reference", "cpu", "cuda"}
        "auto" picks "cuda" for CUDA tensors, "cpu" otherwise.

    Returns
    -------
    torch.Tensor
        Scalar, or (B,) for ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> from lab.transducer import rnnt_loss
    >>> logits = torch.zeros(1, 2, 2, 3, requires_grad=True)
    >>> loss = rnnt_loss(logits, torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]),
    ...                  blank=0)
    >>> round(loss.item(), 4)  # 2 paths, each of 3 symbols with probability 1/3
    2.6027
    >>> loss.backward()
    """
    checked = _validate(logits, targets, logit_lengths, target_lengths, blank, clamp,
                        reduction, backend, fastemit_lambda, packed=False,
                        fused=fused_log_softmax, one_sym_per_frame=one_sym_per_frame,
                        zero_infinity=zero_infinity)
    blank = checked.blank
    backend = _resolve_backend(backend, logits)
    options = dict(fused_log_softmax=fused_log_softmax, one_sym_per_frame=one_sym_per_frame,
                   fastemit_lambda=float(fastemit_lambda), zero_infinity=zero_infinity)
    if backend == "reference":
        loss = _ref.rnnt_loss_reference(logits, targets, logit_lengths.long(),
                                        target_lengths.long(), blank, clamp=float(clamp),
                                        reduction=reduction, **options)
        if not loss.is_cuda:
            _raise_non_finite(loss)
        out_dtype = logits.dtype if logits.dtype in (torch.float32, torch.float64) \
            else torch.float32
        return loss.to(out_dtype)
    B, T, U1, V = logits.shape
    dev = logits.device if backend == "cuda" else torch.device("cpu")
    offsets = torch.arange(B, dtype=torch.int64, device=dev) * (T * U1)
    strides = torch.full((B,), U1, dtype=torch.int64, device=dev)
    row_batch = torch.arange(B, device=logits.device).repeat_interleave(T * U1)
    rows = logits.reshape(B * T * U1, V)
    loss = _kernel_loss(rows, targets, logit_lengths, target_lengths, checked, offsets,
                        strides, row_batch, backend, reduction, (T, U1), blank=blank,
                        fused=fused_log_softmax, modified=one_sym_per_frame,
                        fastemit_lambda=float(fastemit_lambda), clamp=float(clamp),
                        zero_infinity=zero_infinity)
    return loss


def rnnt_loss_packed(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = -1,
    clamp: float = -1.0,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
    *,
    one_sym_per_frame: bool = False,
    fastemit_lambda: float = 0.0,
    zero_infinity: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """RNN-T loss on optimized_transducer's packed layout; same numbers as :func:`rnnt_loss`.

    ``logits`` is (sum_b T_b * (U_b + 1), V): utterance b's (T_b, U_b + 1, V) block
    flattened, blocks concatenated in batch order. Other arguments as in :func:`rnnt_loss`.

    Examples
    --------
    >>> import torch
    >>> from lab.transducer import rnnt_loss_packed
    >>> logits = torch.zeros(2 * 2, 3)  # one utterance, T=2, U=1
    >>> loss = rnnt_loss_packed(logits, torch.tensor([[1]]), torch.tensor([2]),
    ...                         torch.tensor([1]), blank=0)
    >>> round(loss.item(), 4)
    2.6027
    """
    checked = _validate(logits, targets, logit_lengths, target_lengths, blank, clamp,
                        reduction, backend, fastemit_lambda, packed=True,
                        fused=fused_log_softmax, one_sym_per_frame=one_sym_per_frame,
                        zero_infinity=zero_infinity)
    blank = checked.blank
    backend = _resolve_backend(backend, logits)
    lt, ut = checked.lt, checked.ut
    sizes = lt * (ut + 1)
    if backend == "reference":
        T, U1, V = int(lt.max()), int(ut.max()) + 1, logits.shape[1]
        blocks = []
        for b, (tb, ub) in enumerate(zip(lt.tolist(), ut.tolist())):
            start = int(sizes[:b].sum())
            blk = logits[start:start + tb * (ub + 1)].reshape(tb, ub + 1, V)
            blocks.append(torch.nn.functional.pad(blk, (0, 0, 0, U1 - ub - 1, 0, T - tb)))
        return rnnt_loss(torch.stack(blocks), targets, logit_lengths, target_lengths, blank,
                         clamp, reduction, fused_log_softmax, one_sym_per_frame=one_sym_per_frame,
                         fastemit_lambda=fastemit_lambda, zero_infinity=zero_infinity,
                         backend="reference")
    if backend == "cuda":
        # Built from the device lengths: copying host-built tensors up would block.
        sizes = logit_lengths.detach().long() * (target_lengths.detach().long() + 1)
        strides = target_lengths.detach().long() + 1
    else:
        strides = ut + 1
    offsets = torch.cumsum(sizes, 0) - sizes
    row_batch = torch.arange(len(lt), device=sizes.device).repeat_interleave(
        sizes, output_size=logits.shape[0]).to(logits.device)
    return _kernel_loss(logits, targets, logit_lengths, target_lengths, checked, offsets,
                        strides, row_batch, backend, reduction, None, blank=blank,
                        fused=fused_log_softmax, modified=one_sym_per_frame,
                        fastemit_lambda=float(fastemit_lambda), clamp=float(clamp),
                        zero_infinity=zero_infinity)


# ----------------------------------------------------------------------------- alignment


@dataclass
class RNNTAlignment:
    """Lattice view of an RNN-T loss, per utterance (padded to the batch maxima).

    Attributes
    ----------
    log_prob : torch.Tensor
        (B,) log P(y|x).
    occupancy : torch.Tensor
        (B, T, U+1) probability that the path visits node (t, u): exp(alpha + beta - log P);
        zero outside each utterance.
    label_probs : torch.Tensor
        (B, T, U) probability that label u (0-based position in the target) is emitted at
        frame t; each column sums to 1 over t for a feasible utterance.
    best_log_prob : torch.Tensor
        (B,) log-probability of the single best (Viterbi) path.
    best_path : list of torch.Tensor
        Per utterance, (K, 3) int64 rows ``(t, u, kind)``: the node each emission leaves and
        its kind (0 blank, 1 label); K = T + U (T for ``one_sym_per_frame``).
    """

    log_prob: torch.Tensor
    occupancy: torch.Tensor
    label_probs: torch.Tensor
    best_log_prob: torch.Tensor
    best_path: list


def _refuse_model(logits) -> None:
    """A model where joint logits belong: say what to compute (or use) instead."""
    if not isinstance(logits, torch.nn.Module) and not hasattr(logits, "probe_shape"):
        return
    module = getattr(logits, "module", logits)  # a lab.models.SpeechModel adapter
    kind = getattr(logits, "kind", None)
    if kind is None:
        kind = "transducer" if hasattr(module, "join") else "ctc"
    if kind == "transducer":
        raise ArgumentTypeError(
            f"logits: rnnt_alignment takes joint logits (B, T, U+1, V), got the model "
            f"{type(module).__name__}; compute model.join(model.encode(x)[0], "
            "model.predict(targets)) first (AlignmentPanel(model=...) does)")
    raise ArgumentTypeError(
        f"logits: rnnt_alignment aligns a transducer's lattice; {type(module).__name__} is a "
        f"{kind} model with no lattice. For a CTC model's per-frame alignment use "
        "lab.models.ctc_posteriors(model, audio)")


def rnnt_alignment(
    logits: torch.Tensor,
    targets: torch.Tensor,
    logit_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = -1,
    *,
    fused_log_softmax: bool = True,
    one_sym_per_frame: bool = False,
    backend: str = "cpu",
) -> RNNTAlignment:
    """Occupancy, per-frame label probabilities and the best path of each utterance.

    Arguments as in :func:`rnnt_loss` (padded layout). ``backend`` is "cpu" (Numba DP) or
    "reference" (autograd of the float64 reference: the occupancy of a node is the sum of
    the posteriors of the edges leaving it). The Viterbi path always uses the Numba DP.

    Examples
    --------
    >>> import torch
    >>> from lab.transducer import rnnt_alignment
    >>> al = rnnt_alignment(torch.zeros(1, 2, 2, 3), torch.tensor([[1]]), torch.tensor([2]),
    ...                     torch.tensor([1]), blank=0)
    >>> al.occupancy[0].round(decimals=6).tolist()  # the two paths share the corners
    [[1.0, 0.5], [0.5, 1.0]]
    >>> al.label_probs[0, :, 0].round(decimals=6).tolist()
    [0.5, 0.5]
    """
    from . import cpu as _cpu

    _refuse_model(logits)
    if not isinstance(backend, str) or backend not in ("cpu", "reference"):
        raise ArgumentError(f"backend must be 'cpu' or 'reference' for rnnt_alignment, "
                         f"got {backend!r}")
    blank = _validate(logits, targets, logit_lengths, target_lengths, blank, -1.0, "none",
                      "auto", 0.0, packed=False, fused=fused_log_softmax,
                      one_sym_per_frame=one_sym_per_frame).blank
    x = logits.detach().cpu().double()
    B, T, U1, _ = x.shape
    lt = logit_lengths.cpu().long()
    ut = target_lengths.cpu().long()
    with torch.enable_grad():
        xg = x.clone().requires_grad_(backend == "reference")
        inside = (torch.arange(T)[None, :, None] < lt[:, None, None]) & (
            torch.arange(U1)[None, None, :] <= ut[:, None, None])
        xs = torch.where(inside[..., None], xg, 0.0)
        lp = xs.log_softmax(-1) if fused_log_softmax else xs
        lpb, lpl = _ref.lattice_log_probs(lp, targets.cpu(), lt, ut, blank)
        ref_post = None
        if backend == "reference":
            lpb_r = lpb.detach().requires_grad_(True)
            lpl_r = lpl.detach().requires_grad_(True)
            logp = _ref.log_likelihood(lpb_r, lpl_r, lt, ut, one_sym_per_frame)
            feasible = (ut <= lt) if one_sym_per_frame else torch.ones(B, dtype=torch.bool)
            torch.where(feasible, logp, 0.0).sum().backward()
            ref_post = (lpb_r.grad, lpl_r.grad)
    lpb, lpl = lpb.detach(), lpl.detach()
    # NaN or +inf inside the lattice (a fused row with NaN/+inf or only -inf, or such a used
    # log-prob) would make every posterior and the best path meaningless.
    bad = [b for b in range(B) if not bool(
        (lpb[b, :int(lt[b]), :int(ut[b]) + 1] < math.inf).all()
        and (lpl[b, :int(lt[b]), :int(ut[b])] < math.inf).all())]
    if bad:
        _raise_non_finite(torch.tensor([math.nan if b in bad else 0.0 for b in range(B)]))
    occupancy = torch.zeros(B, T, U1, dtype=torch.float64)
    label_probs = torch.zeros(B, T, U1 - 1, dtype=torch.float64)
    log_prob = torch.zeros(B, dtype=torch.float64)
    best = torch.zeros(B, dtype=torch.float64)
    paths = []
    for b in range(B):
        tb, ub = int(lt[b]), int(ut[b])
        pb = lpb[b, :tb, :ub + 1].numpy().copy()
        pl = lpl[b, :tb, :ub].numpy().copy()
        alpha, beta, logp = _cpu.utterance_dp(pb, pl, one_sym_per_frame)
        if ref_post is None:
            eb, el = _cpu.edge_posteriors(alpha, beta, logp, pb, pl, one_sym_per_frame)
            eb, el = torch.from_numpy(eb), torch.from_numpy(el)
        else:
            eb, el = ref_post[0][b, :tb, :ub + 1], ref_post[1][b, :tb, :ub]
        occ = eb.clone()
        occ[:, :ub] += el
        occupancy[b, :tb, :ub + 1] = occ
        label_probs[b, :tb, :ub] = el
        log_prob[b] = logp
        score, nodes, kinds = _cpu.viterbi(pb, pl, one_sym_per_frame)
        best[b] = score
        paths.append(torch.from_numpy(np.concatenate([nodes, kinds[:, None]], axis=1)))
    return RNNTAlignment(log_prob, occupancy, label_probs, best, paths)
