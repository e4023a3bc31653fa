"""The grid an attribution lives on, and the module that hears it: one dispatch point.

:func:`attribution_grid` turns a model and one utterance into :class:`Grid`: the ``(T, F)``
input an attribution map covers, the module mapping a batch of such inputs to the model's
decision scores, and what the grid is (``"log_power"``, ``"features"`` or the zoo's own
feature kind). :func:`lab.interpret.attribute` and the attribution panel both call it, so a
map, its metrics and its masked audio always describe the same input.

- zoo models: their own features (MFCC or log-power), scored by the module itself;
- waveform adapters (Hugging Face ``*ForCTC`` and audio classifiers, Silero VAD, waveform
  modules): the log-power spectrogram, heard resynthesised with the input phase
  (:class:`lab.models.SpectrogramView`);
- feature adapters (a module adapted with ``input="features"``, Whisper): their own
  features by default (:meth:`lab.models.SpeechModel.mask_view`);
- Whisper with ``grid="log_power"``: the log-power spectrogram, resynthesised with the input
  phase and turned into Whisper's log-mel features in torch (:class:`WhisperHearing`), so the
  map sits on the same grid as the waveform models' and its masks can be listened to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError

__all__ = ["GRIDS", "Grid", "WhisperHearing", "attribution_grid"]

#: Grids :func:`attribution_grid` takes: None (the model's own mask grid) or ``"log_power"``.
GRIDS = (None, "log_power")


@dataclass
class Grid:
    """One utterance on the grid an attribution covers.

    Attributes
    ----------
    view : nn.Module or None
        ``(B, T, F)`` grid → decision scores ``(B, frames, C)``; None for zoo models (the
        model itself is called, with :func:`~lab.interpret.attribution.targets.make_target`).
    features : ndarray (T, F)
        The utterance on the grid (float32).
    kind : str
        ``"log_power"`` (frequency bins of the lab's 512-point STFT), ``"features"`` (an
        adapter's own features) or a zoo model's ``feature_kind`` (``"mfcc"``, ...).
    label : str
        What the feature axis is, in words (for plots).
    adapter : lab.models.SpeechModel or None
        The adapter of a model from outside the zoo, else None.
    """

    view: nn.Module | None
    features: np.ndarray
    kind: str
    label: str
    adapter: object = None


def _feature_label(adapter) -> str:
    """The feature axis of an adapter's own features, in words."""
    fn = getattr(adapter, "features_fn", None)
    if fn is not None:
        fn = getattr(fn, "func", fn)  # functools.partial(lab.audio.mfcc, ...) names mfcc
        name = getattr(fn, "__name__", type(fn).__name__)
        return f"{name} feature" if name.isidentifier() else "feature"
    extractor = getattr(adapter, "extractor", None)
    extractor = getattr(adapter, "processor", None) if extractor is None else extractor
    if any(hasattr(extractor, a) for a in ("mel_filters", "num_mel_bins", "n_mels")):
        return "mel band"  # Whisper's and AST's extractors: log-mel filterbanks
    return "feature"


def _check_grid(grid) -> str | None:
    """``grid`` as given when it is one of :data:`GRIDS`, else an error naming it."""
    if grid is not None and not isinstance(grid, str):
        raise ArgumentTypeError(f"grid must be None or 'log_power', got {type(grid).__name__}")
    if grid not in GRIDS:
        raise ArgumentError(f"grid must be None (the model's own grid) or 'log_power', "
                            f"got {grid!r}")
    return grid


def attribution_grid(model, audio, *, grid: str | None = None, sr: int = 16000) -> Grid:
    """The grid an attribution of ``model`` on ``audio`` covers, and the module hearing it.

    Parameters
    ----------
    model : nn.Module or lab.models.SpeechModel
        A zoo model, a plain module mapping ``(B, T, F)`` features to scores, or a model the
        lab adapts (see the module docstring).
    audio : path, waveform (n,) or features (T, F)
        One utterance. Zoo models and feature adapters take a feature matrix too; waveform
        adapters and ``grid="log_power"`` need the waveform.
    grid : None or "log_power"
        None: the grid the model's importance masks use. ``"log_power"``: the log-power
        spectrogram for every model that hears a waveform (waveform adapters, where it is
        also their own grid; Whisper, whose log-mel the lab can compute in torch; zoo
        models whose features are log-power).
    sr : int
        Sample rate of a waveform ``audio``.

    Returns
    -------
    Grid

    Raises
    ------
    ArgumentError
        ``grid`` unknown, ``grid="log_power"`` for a model whose features the lab cannot
        compute from a spectrogram in torch, a sample rate the model does not hear, or a
        feature matrix where the log-power grid needs a waveform.

    Examples
    --------
    >>> from lab.models import KeywordClassifier
    >>> g = attribution_grid(KeywordClassifier(n_classes=3), np.zeros((20, 257), np.float32))
    >>> g.view is None, g.features.shape, g.kind
    (True, (20, 257), 'log_power')
    """
    from lab.models import as_features
    from lab.models.adapters import ZooModel, adapted

    grid = _check_grid(grid)
    adapter = adapted(model)
    if isinstance(adapter, ZooModel):
        model, adapter = adapter.module, None  # the zoo path, unchanged
    if adapter is None:
        kind = getattr(model, "feature_kind", "mfcc")
        if grid == "log_power" and kind != "log_power":
            raise ArgumentError(
                f"grid: {type(model).__name__} is attributed on its own {kind} features (its "
                "input); grid='log_power' applies to models that hear a waveform")
        features = as_features(model, audio, sr=sr)
        label = "frequency (Hz)" if kind == "log_power" else f"{kind} coefficient"
        return Grid(None, features, kind, label)
    name = type(adapter.module).__name__
    if sr != adapter.sample_rate:
        raise ArgumentError(f"sr: {name} hears {adapter.sample_rate} Hz audio, got {sr}")
    if adapter.input == "waveform":
        view, x = adapter.mask_view(audio)  # already the log-power spectrogram
        return Grid(view, x.numpy().astype(np.float32), "log_power", "frequency (Hz)", adapter)
    if grid is None:
        view, x = adapter.mask_view(audio)  # its own features
        return Grid(view, x.numpy().astype(np.float32), "features", _feature_label(adapter),
                    adapter)
    from lab.models.adapters import WhisperModel

    if not isinstance(adapter, WhisperModel):
        raise ArgumentError(
            f"grid: {name} takes features computed outside torch, so the lab cannot hear a "
            "masked spectrogram through them; use grid=None (its own features)")
    if (torch.is_tensor(audio) or isinstance(audio, np.ndarray)) and np.ndim(audio) == 2:
        raise ArgumentError(
            "audio: the log-power grid is the spectrogram of the waveform; pass the waveform "
            "(n,) or a path, not a (T, F) feature matrix")
    import lab.audio

    wave = adapter.waveform(audio)
    log_power, phase = lab.audio.log_power_spectrogram(wave)
    view = WhisperHearing(adapter, wave, phase)
    return Grid(view, log_power.astype(np.float32), "log_power", "frequency (Hz)", adapter)


class WhisperHearing(nn.Module):
    """Log-power ``(B, T, 257)`` → waveform with the input phase → Whisper log-mel → scores.

    The resynthesis is :class:`lab.models.SpectrogramView`'s; the log-mel is
    ``WhisperFeatureExtractor``'s (its window, hop and mel filters, the 8-decade floor below
    each item's maximum, the ``(x + 4) / 4`` scaling) written in torch, because the extractor
    returns numpy and a gradient must reach the spectrogram. The scores are the decoder's
    logits teacher-forced along the clean input's greedy tokens
    (:meth:`lab.models.adapters.WhisperModel.mask_view`), so a mask of ones gives back the
    model's own scores, up to float rounding.

    Parameters
    ----------
    adapter : lab.models.adapters.WhisperModel
    wave : ndarray (n,)
        The utterance at the adapter's sample rate.
    phase : ndarray (T, 257)
        Its STFT phase (:func:`lab.audio.log_power_spectrogram`).
    """

    def __init__(self, adapter, wave: np.ndarray, phase: np.ndarray) -> None:
        super().__init__()
        from lab.models.adapters import SpectrogramView

        object.__setattr__(self, "_adapter", adapter)
        ext = adapter.extractor
        if getattr(ext, "dither", 0.0):
            # dither adds noise on every call: the map would explain a random input
            raise ArgumentError("processor: Whisper's feature extractor dithers (dither="
                                f"{ext.dither}); attribute with dither=0.0")
        # the resynthesis (its phase, window and length); its own forward is not used
        self.resynthesis = SpectrogramView(adapter, phase, len(wave))
        # the clean input's greedy tokens, forced (what the decision is)
        self.forced, own = adapter.mask_view(wave)
        self.frames = int(own.shape[0])
        self.n_fft, self.hop = int(ext.n_fft), int(ext.hop_length)
        self.n_samples = int(getattr(ext, "n_samples", 30 * adapter.sample_rate))
        self.register_buffer("mel_filters", torch.as_tensor(
            np.asarray(ext.mel_filters, dtype=np.float32)))
        self.register_buffer("stft_window", torch.hann_window(self.n_fft))

    def train(self, mode: bool = True):  # the wrapped model's own flag too (HF reads it)
        nn.Module.train(self, mode)
        self._adapter.module.train(mode)
        return self

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` waveform → ``(B, frames, n_mels)``, as the adapter's own input."""
        wave = wave[:, :self.n_samples]
        # the extractor pads to 30 s with zeros; frames past the clip's reach are at the
        # floor either way, so padding one window past its end gives the same frames and max
        wave = nn.functional.pad(wave, (0, 2 * self.n_fft))
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.stft_window.to(wave.device),
                          return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2  # |.|**2 without abs()'s sqrt at zero
        mel = torch.clamp(self.mel_filters.T.to(wave.device) @ power, min=1e-10).log10()
        top = mel.amax(dim=(1, 2), keepdim=True)
        mel = (torch.maximum(mel, top - 8.0) + 4.0) / 4.0
        return mel[:, :, :self.frames].transpose(1, 2)

    def forward(self, log_power: torch.Tensor) -> torch.Tensor:
        return self.forced(self.log_mel(self.resynthesis.waveform(log_power)))
