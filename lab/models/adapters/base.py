"""The one model interface every tool reads: :class:`SpeechModel`.

An adapter states, once, what the lab's tools need to know about a model:

* ``input`` — ``"waveform"`` (samples at ``sample_rate``) or ``"features"`` (a time-major
  ``(T, F)`` matrix the adapter computes from a waveform);
* ``kind`` — ``"ctc"``, ``"transducer"``, ``"seq2seq"``, ``"classification"`` or
  ``"frame_scores"``;
* ``labels`` / ``blank`` — the vocabulary or class names;
* ``frame_seconds`` — seconds per output frame, so views can label time;
* the model's *own input* as a ``(T, F)`` tensor (:meth:`SpeechModel.own_input`): features
  for feature models, the waveform cut into frames of ``input_hop`` samples for waveform
  models (``(T, input_hop)``, zero-padded to whole frames), so every tool that works on
  ``(batch, T, F)`` inputs (feature visualization, dependency matrices) works on it;
* :meth:`SpeechModel.scores` — own input ``(B, T, F)`` → decision scores ``(B, frames, C)``
  (classification: one frame), and :meth:`SpeechModel.decode` — scores → one hashable
  decision per item (greedy CTC ids, argmax class, thresholded frames, greedy tokens).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.runtime import evaluating, model_device

__all__ = ["INPUTS", "KINDS", "SpeechModel", "SpectrogramView", "frame_waveform", "portable",
           "restore"]

KINDS = ("ctc", "transducer", "seq2seq", "classification", "frame_scores")
INPUTS = ("waveform", "features")


def frame_waveform(waveform: torch.Tensor, hop: int) -> torch.Tensor:
    """Cut ``(..., n)`` samples into ``(..., ceil(n / hop), hop)`` frames, zero-padding the end.

    Examples
    --------
    >>> import torch
    >>> frame_waveform(torch.arange(5.0), 2).tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 0.0]]
    """
    n = waveform.shape[-1]
    frames = max(1, math.ceil(n / hop))
    padded = nn.functional.pad(waveform, (0, frames * hop - n))
    return padded.reshape(*waveform.shape[:-1], frames, hop)


# ---- pickling: how an adapter's model travels (Dask workers, spawned processes) -------------
# pickle cannot carry TorchScript modules (Silero VAD, scripted user models) nor Hugging Face
# models with weight-norm parametrizations (wav2vec 2.0's positional convolution). An
# adapter's pickled state therefore holds a *recipe* for its module instead of the module,
# and unpickling rebuilds the module from it: the same class, weights, dtypes and train/eval
# flags, so outputs are bit-identical and lab.scan's model identity is unchanged.


def _training_flags(module: nn.Module) -> dict[str, bool]:
    return {name: bool(m.training) for name, m in module.named_modules()}


def _set_training_flags(module: nn.Module, flags: dict[str, bool]) -> None:
    # Each module's own flag (TorchScript's save keeps only the root's; a user may have set
    # one submodule apart), parents before children as named_modules yields them.
    for name, m in module.named_modules():
        if name in flags:
            m.training = flags[name]


def _device_or_cpu(device: str) -> torch.device:
    """The module's original device where this process has it, else the CPU.

    A model shipped from a GPU driver to CPU-only Dask workers runs there on the CPU rather
    than failing to load.
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return torch.device("cpu")
    return device


@dataclass
class _ScriptBytes:
    """A TorchScript module as the bytes of ``torch.jit.save``; :meth:`rebuild` loads them."""

    data: bytes
    device: str
    training: dict[str, bool]

    @classmethod
    def of(cls, module: torch.jit.ScriptModule) -> _ScriptBytes:
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # torch's deprecation notice, once per part shipped
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(module, buffer)
        return cls(buffer.getvalue(), str(model_device(module)), _training_flags(module))

    def rebuild(self) -> nn.Module:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(io.BytesIO(self.data), map_location="cpu")
        _set_training_flags(module, self.training)
        return module.to(_device_or_cpu(self.device))


def _has_script_parts(module: nn.Module) -> bool:
    return any(isinstance(m, torch.jit.ScriptModule) for m in module.modules())


@dataclass
class _Grafted:
    """A Python module tree with TorchScript parts (Silero VAD's stages around the scripted
    network): a shallow copy of the tree whose scripted subtrees are :class:`_ScriptBytes`,
    grafted back by :meth:`rebuild`. The Python modules themselves pickle as usual."""

    skeleton: nn.Module

    @classmethod
    def of(cls, module: nn.Module) -> _Grafted:
        memo: dict[int, _ScriptBytes] = {}  # a scripted part used twice stays shared

        def strip(m: nn.Module) -> nn.Module:
            twin = type(m).__new__(type(m))
            object.__setattr__(twin, "__dict__", dict(m.__dict__))
            children = {}
            for name, child in m._modules.items():
                if isinstance(child, torch.jit.ScriptModule):
                    if id(child) not in memo:
                        memo[id(child)] = _ScriptBytes.of(child)
                    children[name] = memo[id(child)]
                elif child is not None and _has_script_parts(child):
                    children[name] = strip(child)
                else:
                    children[name] = child
            twin.__dict__["_modules"] = children
            return twin

        return cls(strip(module))

    def rebuild(self) -> nn.Module:
        loaded: dict[int, nn.Module] = {}

        def graft(m: nn.Module) -> None:
            for name, child in list(m._modules.items()):
                if isinstance(child, _ScriptBytes):
                    if id(child) not in loaded:
                        loaded[id(child)] = child.rebuild()
                    m._modules[name] = loaded[id(child)]
                elif isinstance(child, nn.Module) and not isinstance(
                        child, torch.jit.ScriptModule):
                    graft(child)

        graft(self.skeleton)
        return self.skeleton


_RECIPES: tuple[type, ...] = (_ScriptBytes, _Grafted)


def portable(module: nn.Module):
    """``module`` in a form pickle (and cloudpickle) can carry; :func:`restore` undoes it.

    TorchScript modules travel as ``torch.jit.save`` bytes, Hugging Face models as their
    class, config and state_dict (:class:`lab.models.adapters.hf.HFRecipe`), Python modules
    with TorchScript parts (Silero VAD) as a tree with those parts as bytes; any other module
    is returned as it is (pickled as usual).

    Examples
    --------
    >>> import pickle, torch
    >>> net = torch.jit.script(torch.nn.Linear(2, 1))
    >>> back = restore(pickle.loads(pickle.dumps(portable(net))))
    >>> x = torch.ones(1, 2)
    >>> bool(torch.equal(back(x), net(x)))
    True
    """
    from lab.models.adapters.hf import HFRecipe, is_hf_model

    if isinstance(module, torch.jit.ScriptModule):
        return _ScriptBytes.of(module)
    if is_hf_model(module):
        return HFRecipe.of(module)
    if isinstance(module, nn.Module) and _has_script_parts(module):
        return _Grafted.of(module)
    return module


def restore(value) -> nn.Module:
    """The module :func:`portable` packed (a module passes through unchanged)."""
    from lab.models.adapters.hf import HFRecipe

    if isinstance(value, _RECIPES + (HFRecipe,)):
        return value.rebuild()
    return value


class _ScoresView(nn.Module):
    """``(B, T, F)`` own input → ``(B, frames, C)`` scores, with the model's layer names.

    The wrapped model's children are registered here under their own names, so
    ``named_modules`` (and every tool that addresses layers by name) sees the user's names,
    and forward hooks on them fire when :meth:`SpeechModel.scores` runs.
    """

    def __init__(self, adapter: SpeechModel, **options):
        super().__init__()
        object.__setattr__(self, "_adapter", adapter)
        object.__setattr__(self, "_options", options)
        for name, child in adapter.module.named_children():
            self.add_module(name, child)
        # start in the model's mode, so evaluating(view) restores the model's own mode
        self.training = adapter.module.training

    def train(self, mode: bool = True):  # the wrapped model's own flag too (HF reads it)
        nn.Module.train(self, mode)
        self._adapter.module.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._adapter.scores(x, **self._options)


class SpectrogramView(nn.Module):
    """Log-power spectrogram ``(B, T, 257)`` → waveform with the input's phase → scores.

    How waveform models are masked: the mask multiplies the lab's ``log1p(|STFT|**2)``
    picture of the input (0 is silence), and the model hears the masked magnitude turned
    back into a waveform with the *input's* phase (inverse STFT, the lab's 512-sample Hann
    window and 320-sample hop), so a mask of ones gives back the input itself.
    """

    def __init__(self, adapter: SpeechModel, phase: np.ndarray, length: int, **options):
        super().__init__()
        object.__setattr__(self, "_options", options)
        from lab.audio import conventions as c

        object.__setattr__(self, "_adapter", adapter)
        self.register_buffer("phase", torch.as_tensor(phase, dtype=torch.float32))
        self.register_buffer("window", torch.hann_window(c.WIN_LENGTH, periodic=True))
        self.length = int(length)
        self.n_fft, self.hop = c.N_FFT, c.HOP_LENGTH
        for name, child in adapter.module.named_children():
            self.add_module(name, child)
        self.training = adapter.module.training

    train = _ScoresView.train

    def waveform(self, log_power: torch.Tensor) -> torch.Tensor:
        """``(B, T, bins)`` log-power → ``(B, length)`` waveform with the input phase."""
        magnitude = torch.sqrt(torch.expm1(torch.relu(log_power)) + 1e-12) * (log_power > 0)
        phase = self.phase.to(log_power.device)
        spec = torch.polar(magnitude, phase.expand_as(magnitude)).transpose(1, 2)
        return torch.istft(spec, self.n_fft, self.hop, self.n_fft,
                           self.window.to(log_power.device), center=True, length=self.length)

    def forward(self, log_power: torch.Tensor) -> torch.Tensor:
        wave = self.waveform(log_power)
        return self._adapter.scores(self._adapter.frame(wave), **self._options)


class SpeechModel:
    """A model as the lab's tools see it (base of every adapter; see the module docstring).

    Subclasses set the attributes in ``__init__`` and implement :meth:`own_input`,
    :meth:`scores` and, when the default does not fit, :meth:`decode` and :meth:`predict`.

    Attributes
    ----------
    module : nn.Module
        The wrapped model (its parameters, layers and train/eval flag).
    kind, input : str
        See :data:`KINDS` and :data:`INPUTS`.
    sample_rate : int
        Rate of the waveform the model hears.
    labels : tuple of str or None
        Vocabulary (``ctc``, ``seq2seq``) or class names (``classification``,
        ``frame_scores``).
    blank : int or None
        CTC blank index.
    input_hop : int
        Waveform models: samples per own-input frame. Feature models: 1.
    frame_seconds : float
        Seconds per output frame.
    threshold : float
        ``frame_scores``: a frame is "on" when its score reaches it.
    domain : str
        One line on what the model knows (shown by panels next to its output).
    inverse : callable or None
        Feature models: ``inverse(features (T, F)) -> waveform`` when the features can be
        turned back into audio (so masks on them can be heard); None when they cannot.
    """

    kind: str = "ctc"
    input: str = "features"
    sample_rate: int = 16000
    labels: tuple[str, ...] | None = None
    blank: int | None = None
    input_hop: int = 1
    n_features: int | None = None
    frame_seconds: float = 0.02
    feature_seconds: float = 0.02
    threshold: float = 0.5
    domain: str = ""
    inverse: Callable | None = None

    def __init__(self, module: nn.Module):
        if not isinstance(module, nn.Module):
            raise ArgumentTypeError(
                f"model must be a torch.nn.Module (or TorchScript module), got "
                f"{type(module).__name__}"
            )
        self.module = module

    # ---- what subclasses provide -------------------------------------------------------
    def own_input(self, audio) -> torch.Tensor:
        """The model's own input ``(T, F)`` for a path, waveform or (feature models) matrix."""
        raise NotImplementedError

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Own input ``(B, T, F)`` → scores ``(B, frames, C)``."""
        raise NotImplementedError

    # ---- pickling ----------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """The adapter's attributes with its module as a rebuildable recipe (:func:`portable`).

        So adapters of TorchScript and Hugging Face models pickle (``lab.scan`` ships them to
        Dask workers); unpickling rebuilds the module with the same weights, dtypes and flags.
        """
        state = dict(self.__dict__)
        state["module"] = portable(self.module)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["module"] = restore(state["module"])
        self.__dict__.update(state)

    def __copy__(self) -> SpeechModel:
        # a shallow copy shares the module (with_hop's twins); never a pickling round trip
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __deepcopy__(self, memo: dict) -> SpeechModel:
        # deepcopy copies the module directly (TorchScript and parametrized modules support
        # it), sharing it with views copied alongside, as before adapters pickled
        import copy

        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        twin.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return twin

    # ---- shared behaviour --------------------------------------------------------------
    def __repr__(self) -> str:
        size = len(self.labels) if self.labels else "?"
        return (f"{type(self).__name__}({type(self.module).__name__}, kind={self.kind!r}, "
                f"input={self.input!r}, labels={size}, frame={self.frame_seconds * 1000:g} ms)")

    @property
    def device(self) -> torch.device:
        return model_device(self.module)

    def eval(self) -> SpeechModel:
        self.module.eval()
        return self

    def to(self, device) -> SpeechModel:
        self.module.to(device)
        return self

    def waveform(self, audio) -> np.ndarray:
        """A path, array or tensor as a float32 waveform at :attr:`sample_rate`."""
        import os

        import lab.audio

        if isinstance(audio, str | os.PathLike):
            return lab.audio.load(audio, sr=self.sample_rate)
        if isinstance(audio, list | tuple):
            audio = np.asarray(audio, dtype=np.float32)
        return lab.audio.as_waveform(audio, "audio")

    def frame(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` samples → ``(B, T, input_hop)`` own input (waveform models)."""
        return frame_waveform(waveform, self.input_hop)

    def decode(self, scores: torch.Tensor) -> list:
        """One hashable decision per item of ``(B, frames, C)`` scores."""
        if self.kind == "ctc":
            from lab.models.ctc import ctc_greedy_decode

            return [tuple(ids) for ids in ctc_greedy_decode(scores, blank=self.blank or 0)]
        if self.kind == "classification":
            return [(int(i),) for i in scores[:, -1].argmax(-1)]
        if self.kind == "frame_scores":
            if scores.shape[-1] == 1:
                return [tuple(bool(v) for v in row) for row in scores[..., 0] >= self.threshold]
            return [tuple(int(v) for v in row) for row in scores.argmax(-1)]
        return [tuple(int(v) for v in row) for row in scores.argmax(-1)]

    def text(self, ids: Sequence[int]) -> str:
        """Token ids as text over :attr:`labels` (``|`` is a word break, ``<...>`` skipped)."""
        if not self.labels:
            return " ".join(str(i) for i in ids)
        pieces = [self.labels[i] for i in ids if 0 <= i < len(self.labels)]
        pieces = [p for p in pieces if not (p.startswith("<") and p.endswith(">"))]
        text = "".join(pieces).replace("|", " ").replace("\u0120", " ").replace("\u2581", " ")
        return " ".join(text.split())

    def predict(self, audio):
        """The decision-level output of one utterance (see :func:`lab.models.predict`)."""
        x = self.own_input(audio).to(self.device)
        with evaluating(self.module), torch.no_grad():
            scores = self.scores(x[None])
        if self.kind in ("ctc", "seq2seq"):
            return self.text(self.decode(scores)[0])
        if self.kind == "classification":
            probs = scores[0, -1].float().softmax(-1).cpu().numpy()
            names = self.labels or tuple(str(i) for i in range(len(probs)))
            return {name: float(p) for name, p in zip(names, probs, strict=True)}
        out = scores[0].float().cpu().numpy()
        return out[:, 0] if out.shape[-1] == 1 else out

    def probe_shape(self, seconds: float = 1.0, batch: int = 1) -> tuple[int, int, int]:
        """``(batch, frames, features)`` of ``seconds`` of own input (``infer_dependency_matrix``).

        For waveform models a frame is :attr:`input_hop` samples.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                math.isfinite(seconds) and seconds > 0):
            raise ArgumentError(f"seconds must be a positive finite number, got {seconds!r}")
        if self.input == "waveform":
            frames = max(1, math.ceil(seconds * self.sample_rate / self.input_hop))
            return (int(batch), frames, self.input_hop)
        frames = max(2, round(seconds / self.feature_seconds))
        return (int(batch), frames, int(self.n_features))

    def with_hop(self, hop: int) -> SpeechModel:
        """A copy whose own input is frames of ``hop`` samples (waveform models only).

        The model hears the same samples; only the framing that tools probe changes, e.g.
        a dependency matrix over 10 ms input frames instead of the model's own hop.

        Examples
        --------
        >>> import torch
        >>> from lab.models import adapt
        >>> vad = adapt(torch.nn.Linear(1, 1), kind="frame_scores", input_hop=512)
        >>> vad.with_hop(160).probe_shape(0.1)
        (1, 10, 160)
        """
        import copy

        if self.input != "waveform":
            raise ArgumentError(
                f"hop: {type(self.module).__name__} takes features; its input frames are its "
                "feature frames")
        if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
            raise ArgumentError(f"hop must be a positive number of samples, got {hop!r}")
        twin = copy.copy(self)
        twin.input_hop = hop
        return twin

    def module_view(self) -> nn.Module:
        """An ``nn.Module`` mapping own input ``(B, T, F)`` to scores ``(B, frames, C)``."""
        return _ScoresView(self)

    def mask_view(self, audio) -> tuple[nn.Module, torch.Tensor]:
        """``(module, x)`` that masks operate on: see :class:`SpectrogramView`.

        Waveform models: ``x`` is the log-power spectrogram ``(T, 257)`` of the waveform and
        ``module`` resynthesises a masked one with the input phase before the model hears
        it. Feature models: their own features and :meth:`module_view`.
        """
        if self.input == "features":
            return self.module_view(), self.own_input(audio)
        import lab.audio

        if torch.is_tensor(audio) and audio.ndim == 2 or (
                isinstance(audio, np.ndarray) and audio.ndim == 2):
            raise ArgumentError(
                "features: a waveform model is masked on the log-power spectrogram of its "
                "waveform; pass the waveform (n,) or a path, not a (T, F) matrix"
            )
        wave = self.waveform(audio)
        log_power, phase = lab.audio.log_power_spectrogram(wave)
        return SpectrogramView(self, phase, len(wave)), torch.from_numpy(log_power)

    def layer_names(self) -> list[str]:
        """Names :func:`lab.models.activations` accepts (TorchScript parts take no hooks)."""
        return [name for name, m in self.module.named_modules()
                if name and not isinstance(m, torch.jit.ScriptModule)]

    def activations(self, audio, layers, *, detach: bool = True) -> dict[str, torch.Tensor]:
        """The named layers' outputs on one utterance (hooks on the wrapped model)."""
        from lab.models.hooks import activations

        x = self.own_input(audio).to(self.device)
        with evaluating(self.module), torch.set_grad_enabled(not detach):
            return activations(self.module_view(), x[None], layers, detach=detach)

    def describe(self) -> str:
        """Label-set size and domain, one line (what panels print next to outputs)."""
        size = len(self.labels) if self.labels else "unknown"
        head = f"{type(self.module).__name__} ({self.kind}, {size} labels)"
        return f"{head}: {self.domain}" if self.domain else head
