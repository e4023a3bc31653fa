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
import math
import numbers
import operator
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError, LabError, Stopped
from lab.runtime import ProgressHook, StopToken, Task, model_device

__all__ = [
    "BatchDependentModelError",
    "DependencyInferenceInterrupted",
    "METHODS",
    "NonDeterministicModelError",
    "NonFiniteOutputError",
    "OutputLengthError",
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


class NonFiniteOutputError(StreamingError):
    """The model returned NaN or inf, so no output frame can be compared."""


class OutputLengthError(StreamingError):
    """The model's number of output frames is not a function of the input length alone."""


class DependencyInferenceInterrupted(Stopped):
    """Raised when a stop was requested (``should_stop``) or on Ctrl-C / kernel interrupt.

    A :class:`lab.errors.Stopped`, like every stopped computation of the lab; it keeps what
    was computed so far. (It used to subclass ``KeyboardInterrupt``: code that caught
    ``KeyboardInterrupt`` to keep the partial matrix now catches this class, or ``Stopped``.)

    Attributes
    ----------
    partial : torch.BoolTensor
        The dependency matrix as far as it was filled (False where not computed).
    computed : torch.BoolTensor
        Same shape; True where ``partial`` holds a final answer.

    Examples
    --------
    >>> import threading
    >>> from lab.streaming import example_model, infer_dependency_matrix
    >>> stop = threading.Event()
    >>> stop.set()  # stopped before the first unit of work
    >>> try:
    ...     infer_dependency_matrix(example_model("causal_conv"), (1, 6, 40), should_stop=stop)
    ... except DependencyInferenceInterrupted as err:
    ...     print(err.partial.shape, int(err.computed.sum()))
    torch.Size([6, 6]) 0
    """

    def __init__(self, partial: torch.Tensor, computed: torch.Tensor, *, reason: str = "stopped"):
        super().__init__(
            f"dependency inference {reason} after {int(computed.sum())} of "
            f"{computed.numel()} entries; see .partial and .computed",
            partial=partial,
        )
        self.computed = computed


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
    on_progress: ProgressHook | None = None,
    should_stop: StopToken = None,
) -> torch.Tensor:
    """Find which output frames of ``model`` depend on which input frames.

    Parameters
    ----------
    model : callable
        Maps a ``(batch, frames, features)`` tensor to a ``(batch, out_frames, out_features)``
        tensor; ``out_frames`` may differ from ``frames`` (subsampling) but must depend on
        ``frames`` only. Random weights suffice. It must be deterministic: call
        ``model.eval()`` to switch dropout off. An adapter (:func:`lab.models.adapt`;
        Hugging Face models and Silero VAD are adapted here) is probed on its own input:
        for waveform models frames of its hop of samples, ``seq_shape`` from
        ``adapter.probe_shape(seconds)``; classifiers and seq2seq models are refused.
    seq_shape : sequence of 3 ints
        ``(batch, frames, features)`` of the random probe sequence; ``batch`` may be 1.
    in_stride : int
        Probe only every ``in_stride``-th input frame (row ``k`` is input frame
        ``k * in_stride``), useful for long inputs such as raw audio.
    method : {"perturb", "jacobian", "loop"}
        See the module docstring.
    rtol, atol : float
        Finite tolerances ``>= 0`` of the value comparison used by ``"perturb"`` and
        ``"loop"``: output frame ``j`` is unchanged when
        ``torch.allclose(test[:, j], base[:, j], rtol, atol)`` holds over all batch items and
        features (the defaults are ``allclose``'s). ``rtol=atol=0`` asks for exact equality.
        ``"jacobian"`` ignores them.
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
    on_progress : callable, optional
        ``on_progress(done, total)`` as work units finish (input frames for ``"loop"`` and
        ``"perturb"``, output frames for ``"jacobian"``); see :class:`lab.runtime.Task`.
    should_stop : threading.Event or callable, optional
        Polled between work units; once set, the work ends with
        :class:`DependencyInferenceInterrupted` carrying the partial matrix.

    Returns
    -------
    torch.BoolTensor
        Shape ``(ceil(frames / in_stride), out_frames)``; ``[k, j]`` is True when output
        frame ``j`` depends on input frame ``k * in_stride``.

    Raises
    ------
    NonFiniteOutputError
        The model returned NaN or inf for the probe or a perturbed copy of it.
    OutputLengthError
        The number of output frames changed with the input values or the batch size.
    NonDeterministicModelError
        Two passes on the same input differ (dropout in train mode, ...).
    BatchDependentModelError
        ``"perturb"`` only: outputs change with the batch (BatchNorm in train mode, ...).
    DependencyInferenceInterrupted
        On a stop request or Ctrl-C, carrying the partial result; a
        :class:`lab.errors.Stopped`.

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
    from lab.models.adapters import module_for

    model = module_for(model, "dependency")  # an adapter: its own input frames and outputs
    if not isinstance(method, str) or method not in METHODS:
        raise ArgumentError(f"method must be one of {METHODS}, got {method!r}")
    if not callable(model):
        raise ArgumentTypeError(f"model must be callable, got {type(model).__name__}")
    bs, seq_len, n_feat = _check_seq_shape(seq_shape)
    if isinstance(in_stride, bool) or not isinstance(in_stride, int) or in_stride < 1:
        raise ArgumentError(f"in_stride must be an int >= 1, got {in_stride!r}")
    if frames_per_pass is not None and (
        isinstance(frames_per_pass, bool) or not isinstance(frames_per_pass, int)
        or frames_per_pass < 1
    ):
        raise ArgumentError(f"frames_per_pass must be an int >= 1 or None, got {frames_per_pass!r}")
    rtol, atol = _check_tolerance(rtol, "rtol"), _check_tolerance(atol, "atol")
    if jacobian_dtype is not None and not (
        isinstance(jacobian_dtype, torch.dtype) and jacobian_dtype.is_floating_point
    ):
        raise ArgumentError(
            f"jacobian_dtype must be a floating torch.dtype or None, got {jacobian_dtype!r}"
        )
    if isinstance(seed, bool):
        raise ArgumentTypeError(f"seed must be an int, got {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise ArgumentTypeError(f"seed must be an int, got {type(seed).__name__}") from None

    gen = torch.Generator().manual_seed(seed)
    base = torch.rand((bs, seq_len, n_feat), generator=gen)
    in_frames = list(range(0, seq_len, in_stride))
    # drawn up front so that every method perturbs frame i with the very same values
    replacements = torch.rand((len(in_frames), bs, n_feat), generator=gen)
    device = model_device(model) if isinstance(model, nn.Module) else torch.device("cpu")
    base, replacements = base.to(device), replacements.to(device)

    with torch.no_grad():
        base_out = _check_output(model(base), bs, "model(x)")
        # NaN != NaN: without this check a NaN output reads as "not deterministic"
        _check_finite(base_out, "the probe sequence")
        again = _check_output(model(base), bs, "model(x)")
        if again.shape != base_out.shape or not torch.equal(again, base_out):
            raise NonDeterministicModelError(
                "model is not deterministic: two forward passes on the same input gave "
                "different outputs. Call model.eval() to switch off dropout and other "
                "randomness before inferring dependencies."
            )

    n_units = base_out.shape[1] if method == "jacobian" else len(in_frames)
    with Task(n_units, desc=method, progress=progress, on_progress=on_progress,
              should_stop=should_stop) as task:
        if method == "loop":
            return _loop(model, base, base_out, in_frames, replacements, rtol, atol, task)
        if method == "perturb":
            return _perturb(model, base, base_out, in_frames, replacements, rtol, atol,
                            frames_per_pass, gen, task)
        return _jacobian(model, base, base_out, jacobian_dtype, frames_per_pass, gen, task,
                         in_stride)


def _check_seq_shape(seq_shape) -> tuple[int, int, int]:
    dims = None
    if not isinstance(seq_shape, str | bytes):
        try:
            dims = tuple(seq_shape)
        except TypeError:
            dims = None
    ints = None
    if dims is not None and len(dims) == 3 and not any(isinstance(d, bool) for d in dims):
        try:
            ints = tuple(operator.index(d) for d in dims)  # numpy ints are fine, 10.0 is not
        except TypeError:
            ints = None
    if ints is None or min(ints) < 1:
        raise ArgumentError(
            "seq_shape must be 3-D (batch, frames, features) with positive ints, "
            f"got {seq_shape!r}"
        )
    return ints


def _check_tolerance(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__}")
    # atol=nan would make every comparison fail: every output frame "depends" on everything
    if not math.isfinite(value) or value < 0:
        raise ArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


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
    if out.shape[1] == 0:
        raise ArgumentError(f"{what} returned no output frames (shape {tuple(out.shape)})")
    return out


def _check_finite(out: torch.Tensor, what: str) -> None:
    if out.is_floating_point() or out.is_complex():
        if not torch.isfinite(out).all():
            raise NonFiniteOutputError(
                f"the model returned NaN or inf for {what}; dependencies cannot be read from "
                "non-finite outputs (check the model's weights and numerics, e.g. a log or a "
                "division by zero)"
            )


def _check_frames(model, out: torch.Tensor, base_out: torch.Tensor, what: str,
                  other: torch.Tensor | None = None) -> None:
    """Every probe must give the probe's output shape per sequence; say why it does not."""
    if out.shape[1:] == base_out.shape[1:]:
        return
    cause = "the input values"
    if other is not None:  # a batch of two sequences: is it the batch size or the content?
        with torch.no_grad():
            alone = model(other)
        if isinstance(alone, torch.Tensor) and alone.shape[1:] == base_out.shape[1:]:
            cause = "the batch size"
    raise OutputLengthError(
        f"the model's output shape depends on {cause}: {tuple(base_out.shape[1:])} "
        f"(frames, features) per sequence for the probe but {tuple(out.shape[1:])} for "
        f"{what}. Dependency inference needs the same output length for every input of the "
        "same length (pad or crop inside the model, or pass a wrapper that does)"
    )


def _stopped(task: Task, deps: torch.Tensor, done: torch.Tensor) -> None:
    if task.interrupted:
        raise DependencyInferenceInterrupted(deps, done)


def _loop(model, base, base_out, in_frames, replacements, rtol, atol, task):
    deps = torch.zeros((len(in_frames), base_out.shape[1]), dtype=torch.bool)
    done = torch.zeros_like(deps)
    with task.run_guard():
        for k, i in enumerate(in_frames):
            if task.stopped:
                break
            test = base.clone()
            test[:, i, :] = replacements[k]
            with torch.no_grad():
                out = _check_output(model(test), base.shape[0], "model(x)")
            # the same checks as "perturb": extra or missing frames are an error, not ignored
            _check_frames(model, out, base_out, f"the probe with input frame {i} perturbed")
            _check_finite(out, f"the probe with input frame {i} perturbed")
            for j in range(base_out.shape[1]):
                if not torch.allclose(out[:, j, :], base_out[:, j, :], rtol=rtol, atol=atol):
                    deps[k, j] = True
            done[k] = True
            task.advance()
    _stopped(task, deps, done)
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


def _perturb(model, base, base_out, in_frames, replacements, rtol, atol, per_pass, gen, task):
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
    _check_frames(model, mixed, base_out, f"a batch of {2 * bs} sequences", other=other)
    _check_finite(mixed, "a random sequence batched with the probe")
    if _moved(mixed[:bs], base_out):
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
    with task.run_guard():
        for start in range(0, n_in, per_pass):
            if task.stopped:
                break
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
            what = (f"the probe with input frame {in_frames[start]} perturbed" if n == 1 else
                    f"copies of the probe with input frames {in_frames[start]}.."
                    f"{in_frames[stop - 1]} perturbed")
            _check_frames(model, out, base_out, what)
            _check_finite(out, what)
            out = out.reshape(n + 2, bs, *out.shape[1:])
            if _moved(out[0], base_out):
                raise BatchDependentModelError(_MIXING_MESSAGE)
            if torch.equal(out[0], out[-1]):
                ref = out[:1]
            else:  # rounding depends on the position in the batch: compare position-wise
                ref = positional_reference(n + 2)[1:-1]
            same = _allclose_per_frame(out[1:-1], ref, rtol, atol)
            deps[start:stop] = ~same.cpu()
            done[start:stop] = True
            task.advance(n)
    _stopped(task, deps, done)
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


def _jacobian(model, base, base_out, dtype, per_pass, gen, task, in_stride):
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
        out = _check_output(fn(inp), bs, "model(x)")
        _check_frames(model, out, base_out, f"the probe in {inp.dtype}")
        return (out * weights).sum(dim=2)  # (batch, out_frames)

    _, vjp_fn = torch.func.vjp(projected, x)
    if per_pass is None:
        per_pass = max(1, _ELEMENT_BUDGET // (bs * seq_len * n_feat))
    per_pass = min(per_pass, out_len)
    eye = torch.eye(out_len, dtype=x.dtype, device=x.device)
    deps = torch.zeros((seq_len, out_len), dtype=torch.bool)
    done = torch.zeros_like(deps)
    batched = per_pass > 1
    with task.run_guard():
        for start in range(0, out_len, per_pass):
            if task.stopped:
                break
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
            task.advance(stop - start)
    # rows are input frames: keep the probed ones, also in a partial result
    deps, done = deps[::in_stride].clone(), done[::in_stride].clone()
    _stopped(task, deps, done)
    return deps
