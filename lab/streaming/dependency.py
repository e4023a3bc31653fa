"""Which output frames depend on which input frames: the question behind streaming models.

Three ways to answer it, all returning a BoolTensor indexed ``[in_frame, out_frame]``:

``"loop"``
    The classic per-frame algorithm: replace one input frame with random values, run the
    model, and call an output frame dependent when ``torch.allclose`` says it changed.
    One forward pass per input frame; kept as the baseline.
``"perturb"``
    The same question, the same base sequence, the same replacement values and the same
    per-output-frame ``allclose`` test, but many perturbed copies go through the model in
    one batched forward pass.
``"jacobian"``
    Structural dependencies: an output frame depends on an input frame when the model's
    Jacobian block between them has any non-zero entry (no tolerance). Value comparison
    misses influence that is real but smaller than ``allclose``'s tolerance, such as the
    far past of an LSTM; the Jacobian does not.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError, LabError

__all__ = [
    "BatchDependentModelError",
    "DependencyInferenceInterrupted",
    "METHODS",
    "NonDeterministicModelError",
    "StreamingError",
    "infer_dependency_matrix",
]

METHODS = ("perturb", "jacobian", "loop")

# Default batch: at most this many input elements (16 MB of float32) and at most
# _MAX_COPIES perturbed copies. Bigger batches stop paying off once activations leave the
# cache (attention's T x T scores), so the cap is small.
_ELEMENT_BUDGET = 1 << 22
_MAX_COPIES = 32


class StreamingError(LabError, ValueError):
    """A model or an argument that dependency inference cannot work with."""


class NonDeterministicModelError(StreamingError):
    """Two forward passes on the same input gave different outputs."""


class BatchDependentModelError(StreamingError):
    """A sequence's output changes when other sequences share its batch."""


class DependencyInferenceInterrupted(KeyboardInterrupt):
    """Raised on Ctrl-C / kernel interrupt; keeps what was computed so far.

    Attributes
    ----------
    partial : torch.BoolTensor
        The dependency matrix as far as it was filled.
    computed : torch.BoolTensor
        Same shape; True where ``partial`` holds a final answer.
    """

    def __init__(self, partial: torch.Tensor, computed: torch.Tensor):
        super().__init__(
            f"dependency inference interrupted after {int(computed.sum())} of "
            f"{computed.numel()} entries; see .partial and .computed"
        )
        self.partial, self.computed = partial, computed


def infer_dependency_matrix(
    model: Callable[[torch.Tensor], torch.Tensor],
    seq_shape: Sequence[int],
    in_stride: int = 1,
    method: str = "perturb",
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    frames_per_pass: int | None = None,
    jacobian_dtype: torch.dtype | None = torch.float64,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """Find which output frames of ``model`` depend on which input frames.

    Parameters
    ----------
    model : callable
        Maps a ``(batch, frames, features)`` tensor to a ``(batch, out_frames, out_features)``
        tensor; ``out_frames`` may differ from ``frames`` (subsampling). Random weights
        suffice. It must be deterministic: call ``model.eval()`` to switch dropout off.
    seq_shape : sequence of 3 ints
        ``(batch, frames, features)`` of the random probe sequence; ``batch`` may be 1.
    in_stride : int
        Probe only every ``in_stride``-th input frame (row ``k`` is input frame
        ``k * in_stride``), useful for long inputs such as raw audio.
    method : {"perturb", "jacobian", "loop"}
        See the module docstring.
    rtol, atol : float
        Tolerances of the value comparison used by ``"perturb"`` and ``"loop"``: output
        frame ``j`` is unchanged when ``torch.allclose(test[:, j], base[:, j], rtol, atol)``
        holds over all batch items and features (the defaults are ``allclose``'s).
        ``rtol=atol=0`` asks for exact equality. ``"jacobian"`` ignores them.
    frames_per_pass : int, optional
        ``"perturb"``: input frames perturbed per forward pass; ``"jacobian"``: output
        frames per vectorised backward pass. Default: up to 32 copies / as many output
        frames as fit about 4 M input elements.
    jacobian_dtype : torch.dtype or None
        ``"jacobian"`` runs a float64 copy of an ``nn.Module`` by default, because the
        influence of far-away frames through an LSTM decays below float32's range (it
        underflows to an exact 0). None keeps the model as it is; plain functions are
        always called as they are.
    seed : int
        Seed of the probe sequence and replacement values (same seed, same probe for every
        method).
    progress : bool
        Show a ``tqdm`` progress bar.

    Returns
    -------
    torch.BoolTensor
        Shape ``(ceil(frames / in_stride), out_frames)``; ``[k, j]`` is True when output
        frame ``j`` depends on input frame ``k * in_stride``.

    Raises
    ------
    NonDeterministicModelError
        Two passes on the same input differ (dropout in train mode, ...).
    BatchDependentModelError
        ``"perturb"`` only: outputs change with the batch (BatchNorm in train mode, ...).
    DependencyInferenceInterrupted
        On interrupt, carrying the partial result.

    Notes
    -----
    ``"perturb"`` gives the same matrix as ``"loop"`` bit for bit when the model computes
    each batch item the same way whatever the batch size. To stay faithful when batching
    changes rounding, each perturbed copy is compared with the unperturbed sequence run at
    the same position in a batch of the same size, so only the perturbation, not the
    batching, can move an output.

    Examples
    --------
    >>> from lab.streaming import example_model, infer_dependency_matrix
    >>> conv = example_model("causal_conv", kernel_size=3)
    >>> deps = infer_dependency_matrix(conv, (1, 6, 40))
    >>> deps.int()  # rows: input frames, columns: output frames
    tensor([[1, 1, 1, 0, 0, 0],
            [0, 1, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 0],
            [0, 0, 0, 1, 1, 1],
            [0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 1]], dtype=torch.int32)
    """
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {METHODS}, got {method!r}")
    if not callable(model):
        raise ArgumentTypeError(f"model must be callable, got {type(model).__name__}")
    bs, seq_len, n_feat = _check_seq_shape(seq_shape)
    if isinstance(in_stride, bool) or not isinstance(in_stride, int) or in_stride < 1:
        raise ArgumentError(f"in_stride must be an int >= 1, got {in_stride!r}")
    if frames_per_pass is not None and (
        not isinstance(frames_per_pass, int) or frames_per_pass < 1
    ):
        raise ArgumentError(f"frames_per_pass must be an int >= 1 or None, got {frames_per_pass!r}")

    gen = torch.Generator().manual_seed(seed)
    base = torch.rand((bs, seq_len, n_feat), generator=gen)
    in_frames = list(range(0, seq_len, in_stride))
    # drawn up front so that every method perturbs frame i with the very same values
    replacements = torch.rand((len(in_frames), bs, n_feat), generator=gen)
    device = _model_device(model)
    base, replacements = base.to(device), replacements.to(device)

    with torch.no_grad():
        base_out = _check_output(model(base), bs, "model(x)")
        if not torch.equal(_check_output(model(base), bs, "model(x)"), base_out):
            raise NonDeterministicModelError(
                "model is not deterministic: two forward passes on the same input gave "
                "different outputs. Call model.eval() to switch off dropout and other "
                "randomness before inferring dependencies."
            )

    if method == "loop":
        return _loop(model, base, base_out, in_frames, replacements, rtol, atol, progress)
    if method == "perturb":
        return _perturb(
            model, base, base_out, in_frames, replacements, rtol, atol, frames_per_pass, gen,
            progress,
        )
    deps = _jacobian(model, base, base_out, jacobian_dtype, frames_per_pass, gen, progress)
    return deps[::in_stride].clone()


def _check_seq_shape(seq_shape) -> tuple[int, int, int]:
    try:
        dims = tuple(seq_shape)
    except TypeError:
        dims = None
    if (
        dims is None
        or len(dims) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims)
    ):
        raise ArgumentError(
            "seq_shape must be 3-D (batch, frames, features) with positive ints, "
            f"got {seq_shape!r}"
        )
    return dims


def _check_output(out, bs: int, what: str) -> torch.Tensor:
    if isinstance(out, tuple | list):
        raise ArgumentTypeError(
            f"{what} returned a {type(out).__name__}; pass a callable that returns only the "
            "(batch, frames, features) tensor, e.g. lambda x: model(x)[0]"
        )
    if not isinstance(out, torch.Tensor):
        raise ArgumentTypeError(f"{what} must return a torch.Tensor, got {type(out).__name__}")
    if out.dim() != 3:
        raise ArgumentError(
            f"{what} must return a 3-D (batch, frames, features) tensor, got "
            f"{out.dim()}-D output of shape {tuple(out.shape)}"
        )
    if out.shape[0] != bs:
        raise ArgumentError(
            f"{what} returned batch size {out.shape[0]} for an input batch of {bs}; the first "
            "output dimension must be the batch"
        )
    return out


def _model_device(model) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


def _loop(model, base, base_out, in_frames, replacements, rtol, atol, progress):
    deps = torch.zeros((len(in_frames), base_out.shape[1]), dtype=torch.bool)
    done = torch.zeros_like(deps)
    bar = _progress(len(in_frames), progress, "loop")
    try:
        for k, i in enumerate(in_frames):
            test = base.clone()
            test[:, i, :] = replacements[k]
            with torch.no_grad():
                out = _check_output(model(test), base.shape[0], "model(x)")
            for j in range(base_out.shape[1]):
                if not torch.allclose(out[:, j, :], base_out[:, j, :], rtol=rtol, atol=atol):
                    deps[k, j] = True
            done[k] = True
            bar.update()
    except KeyboardInterrupt as exc:
        raise DependencyInferenceInterrupted(deps, done) from exc
    finally:
        bar.close()
    return deps


_MIXING_MESSAGE = (
    "the model's output for a sequence changes with the other items in its batch (e.g. "
    "BatchNorm in train mode, or batch-level normalisation), so batched perturbation cannot "
    "be used: call model.eval() or use method='loop' or method='jacobian'"
)


def _moved(out: torch.Tensor, ref: torch.Tensor) -> bool:
    # Batching may change rounding (~1e-7 relative), so only a change by a sizeable
    # fraction of the output's scale counts as items influencing each other.
    scale = float(ref.abs().max()) + 1e-12
    return float((out - ref).abs().max()) > 1e-3 * scale


def _perturb(model, base, base_out, in_frames, replacements, rtol, atol, per_pass, gen, progress):
    bs, seq_len, n_feat = base.shape
    n_in, out_len = len(in_frames), base_out.shape[1]
    if per_pass is None:
        per_pass = max(1, min(_MAX_COPIES, _ELEMENT_BUDGET // (bs * seq_len * n_feat)))
    per_pass = min(per_pass, n_in)

    # Copies of one sequence cannot reveal symmetric mixing (BatchNorm statistics of
    # identical items equal one item's), so pair the base with a different sequence once.
    with torch.no_grad():
        other = torch.rand(base.shape, generator=gen).to(base.device)
        mixed = _check_output(model(torch.cat([base, other])), 2 * bs, "model(batch)")
    if mixed.shape[1:] != base_out.shape[1:] or _moved(mixed[:bs], base_out):
        raise BatchDependentModelError(_MIXING_MESSAGE)

    positional: dict[int, torch.Tensor] = {}

    def positional_reference(n_items: int) -> torch.Tensor:
        # the unperturbed sequence at every position of a batch shaped like the test batch
        if n_items not in positional:
            with torch.no_grad():
                ref = model(base.repeat(n_items, 1, 1))
            positional[n_items] = ref.reshape(n_items, bs, *ref.shape[1:])
        return positional[n_items]

    deps = torch.zeros((n_in, out_len), dtype=torch.bool)
    done = torch.zeros_like(deps)
    frames = torch.tensor(in_frames, device=base.device)
    bar = _progress(n_in, progress, "perturb")
    try:
        for start in range(0, n_in, per_pass):
            stop = min(start + per_pass, n_in)
            n = stop - start
            # The unperturbed sequence rides first and last in the batch: batching may round
            # differently from a lone sequence, so each copy is compared with the base run
            # in the same batch, not with base_out.
            test = base.repeat(n + 2, 1, 1).reshape(n + 2, bs, seq_len, n_feat)
            test[torch.arange(1, n + 1), :, frames[start:stop], :] = replacements[start:stop]
            with torch.no_grad():
                out = model(test.reshape((n + 2) * bs, seq_len, n_feat))
            out = _check_output(out, (n + 2) * bs, "model(batch of perturbed copies)")
            out = out.reshape(n + 2, bs, *out.shape[1:])
            if out.shape[2:] != base_out.shape[1:] or _moved(out[0], base_out):
                raise BatchDependentModelError(_MIXING_MESSAGE)
            if torch.equal(out[0], out[-1]):
                ref = out[:1]
            else:  # rounding depends on the position in the batch: compare position-wise
                ref = positional_reference(n + 2)[1:-1]
            same = _allclose_per_frame(out[1:-1], ref, rtol, atol)
            deps[start:stop] = ~same.cpu()
            done[start:stop] = True
            bar.update(n)
    except KeyboardInterrupt as exc:
        raise DependencyInferenceInterrupted(deps, done) from exc
    finally:
        bar.close()
    return deps


def _allclose_per_frame(out: torch.Tensor, ref: torch.Tensor, rtol: float, atol: float):
    """``torch.allclose(out[k, :, j], ref[k, :, j])`` for every copy k and frame j at once.

    ``out``: (copies, batch, frames, features); ``ref`` broadcasts against it.
    """
    if not torch.isfinite(ref).all():  # inf == inf is close; keep torch's exact rules
        close = torch.isclose(out, ref, rtol=rtol, atol=atol)
    else:
        # |out - ref| <= atol + |rtol * ref|, torch.isclose's test, with the tolerance
        # computed once for the (usually single) reference instead of per copy
        close = (out - ref).abs_() <= atol + (rtol * ref).abs()
    if close.shape[1] == 1:  # batch of one: a single reduction is markedly cheaper
        return close[:, 0].all(dim=2)
    return close.all(dim=3).all(dim=1)


def _jacobian(model, base, base_out, dtype, per_pass, gen, progress):
    bs, seq_len, n_feat = base.shape
    out_len, out_feat = base_out.shape[1:]
    fn = model
    x = base
    if dtype is not None and isinstance(model, nn.Module) and dtype != base.dtype:
        try:
            fn, x = copy.deepcopy(model).to(dtype), base.to(dtype)
            with torch.no_grad():
                fn(x)
        except (RuntimeError, TypeError) as exc:
            warnings.warn(
                f"could not run the model in {dtype} ({exc}); using it as it is, so very "
                "small far-away influence may underflow to zero",
                RuntimeWarning,
                stacklevel=3,
            )
            fn, x = model, base
    # A random positive projection over output features turns the (frames x features)
    # Jacobian rows of an output frame into one row: non-zero unless the weights cancel
    # exactly, which has probability zero. One backward pass per output frame, not per
    # output feature.
    weights = (torch.rand((bs, out_len, out_feat), generator=gen) + 0.5).to(x.device, x.dtype)

    def projected(inp: torch.Tensor) -> torch.Tensor:
        out = fn(inp)
        if out.shape != base_out.shape:
            raise ArgumentError(
                f"model output shape changed from {tuple(base_out.shape)} to {tuple(out.shape)}"
            )
        return (out * weights).sum(dim=2)  # (batch, out_frames)

    _, vjp_fn = torch.func.vjp(projected, x)
    if per_pass is None:
        per_pass = max(1, _ELEMENT_BUDGET // (bs * seq_len * n_feat))
    per_pass = min(per_pass, out_len)
    eye = torch.eye(out_len, dtype=x.dtype, device=x.device)
    deps = torch.zeros((seq_len, out_len), dtype=torch.bool)
    done = torch.zeros_like(deps)
    batched = per_pass > 1
    bar = _progress(out_len, progress, "jacobian")
    try:
        for start in range(0, out_len, per_pass):
            stop = min(start + per_pass, out_len)
            # every batch item's output frame j at once: the loop/perturb methods also ask
            # whether frame j of any item changed
            cot = eye[start:stop].unsqueeze(1).expand(stop - start, bs, out_len)
            grads = None
            if batched:
                try:
                    with warnings.catch_warnings():
                        # ops without a batching rule still work, just more slowly
                        warnings.filterwarnings("ignore", message="There is a performance drop")
                        (grads,) = torch.func.vmap(vjp_fn)(cot)
                except RuntimeError:
                    batched = False  # an op without a batching rule: fall back to a loop
            if grads is None:
                grads = torch.stack([vjp_fn(c)[0] for c in cot])
            # grads: (frames_in_chunk, batch, seq_len, n_feat)
            deps[:, start:stop] = (grads != 0).any(dim=3).any(dim=1).T.cpu()
            done[:, start:stop] = True
            bar.update(stop - start)
    except KeyboardInterrupt as exc:
        raise DependencyInferenceInterrupted(deps, done) from exc
    finally:
        bar.close()
    return deps
