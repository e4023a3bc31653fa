"""What :mod:`lab.piq` reads from an adapted audio classifier: :class:`PIQView`.

PIQ decodes a mask over the lab's log-power spectrogram from a classifier's hidden
representation. The zoo's KeywordClassifier exposes that split itself (``embed`` /
``classify``); an adapted waveform classifier (a Hugging Face ``*ForAudioClassification``,
a plain module adapted with ``kind="classification"``) does not, so this view provides it:

* the input is the log-power spectrogram ``(B, T, 257)`` of 16 kHz audio plus its STFT
  phase and sample count: the model hears the (masked) spectrogram resynthesised with the
  input phase, the convention of :class:`~lab.models.adapters.base.SpectrogramView` (a mask
  of ones gives back the input itself);
* the representation is the output of one named layer (``layer=``; default the last layer
  with a time axis to finish before the logits, e.g. the projector of a Hugging Face audio
  classifier), captured with a forward hook and arranged as a ``(B, C, T', F')`` map: a
  ``(B, T', D)`` or ``(B, D, T')`` sequence becomes ``(B, D, T', 1)`` (one code per frame),
  a 4-D map keeps its time axis third;
* the logits are the model's own, from the same forward pass.

The time axis of a layer is found by running the model on 1 s and 0.5 s of quiet noise:
the axis whose size changes with the duration.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models.adapters.base import SpeechModel
from lab.runtime import evaluating

__all__ = ["PIQView", "model_identity"]

#: The rate of every spectrogram PIQ decodes onto (lab.audio's convention).
RATE = 16000
_PROBE_SECONDS = (1.0, 0.5)


def _first_tensor(output):
    if hasattr(output, "to_tuple"):  # a Hugging Face ModelOutput: its first field
        output = output.to_tuple()
    while isinstance(output, tuple | list) and output:
        output = output[0]
    return output if isinstance(output, torch.Tensor) else None


def _probe_wave(seconds: float) -> torch.Tensor:
    # quiet, seeded noise: every model hears it, and the global RNG is left alone
    g = torch.Generator().manual_seed(0)
    return 0.01 * torch.randn(1, int(RATE * seconds), generator=g)


def model_identity(adapter: SpeechModel, layer: str) -> dict:
    """What a PIQ decoder file records about the model it was trained on.

    The adapter's identity as :mod:`lab.scan.identity` states it (class, kind, framing,
    labels, sha256 of the state_dict), the sha256 of a Hugging Face config, and the layer.
    """
    from lab.scan.identity import adapter_identity

    ident = adapter_identity(adapter)
    config = getattr(adapter.module, "config", None)
    if hasattr(config, "to_dict"):
        # what the model is, not where it was loaded from or which transformers wrote it
        entries = {k: v for k, v in config.to_dict().items()
                   if not k.startswith("_") and k != "transformers_version"}
        ident["config_sha256"] = hashlib.sha256(
            json.dumps(entries, sort_keys=True, default=str).encode()).hexdigest()
    ident["layer"] = layer
    return ident


class PIQView(nn.Module):
    """An adapted waveform classifier as PIQ reads it (see the module docstring).

    Parameters
    ----------
    adapter : SpeechModel
        A ``classification`` adapter over a 16 kHz waveform.
    layer : str, optional
        Name from ``adapter.layer_names()`` whose output PIQ decodes; it must have a time
        axis. Default: the last such layer to finish before the logits.

    Examples
    --------
    >>> import torch
    >>> from lab.models import adapt
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 400, 160), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(8, 3))
    >>> view = PIQView(adapt(net, kind="classification",
    ...                      call=lambda m, x: m(x.reshape(len(x), 1, -1))))
    >>> view.layer, view.probe_map_shape, view.n_classes
    ('1', (8, 98, 1), 3)
    """

    def __init__(self, adapter: SpeechModel, layer: str | None = None) -> None:
        super().__init__()
        if not isinstance(adapter, SpeechModel):
            raise ArgumentTypeError(
                f"adapter must be a lab.models.SpeechModel, got {type(adapter).__name__}")
        if adapter.kind != "classification" or adapter.input != "waveform":
            raise ArgumentError(
                f"adapter: PIQView reads classification models over a waveform, got a "
                f"{adapter.kind} model over {adapter.input}")
        if int(adapter.sample_rate) != RATE:
            raise ArgumentError(
                f"sample_rate: PIQ masks the lab's {RATE} Hz log-power spectrogram and "
                f"resynthesises it at that rate; {type(adapter.module).__name__} hears "
                f"{adapter.sample_rate} Hz")
        if layer is not None and not isinstance(layer, str):
            raise ArgumentTypeError(f"layer must be a layer name (str) or None, got "
                                    f"{type(layer).__name__}")
        object.__setattr__(self, "adapter", adapter)  # not a submodule: `model` is
        self.model = adapter.module
        self.training = adapter.module.training
        names = adapter.layer_names()
        if layer is not None and layer not in names:
            raise ArgumentError(
                f"layer: {layer!r} is not a layer of {type(adapter.module).__name__}; "
                f"adapter.layer_names() lists them, e.g. {names[-5:]}")
        shapes = self._probe(names if layer is None else [layer])
        timed = [(n, axis) for n, (axis, _) in shapes.items() if axis is not None]
        if layer is None:
            if not timed:
                raise ArgumentError(
                    f"layer: no layer of {type(adapter.module).__name__} has a time axis "
                    "(one that grows with the audio); PIQ decodes a time-frequency mask from "
                    "one. Use lab.interpret.importance_mask(adapter, audio) instead")
            layer = timed[-1][0]  # the last to finish: closest to the logits
        if layer not in shapes:
            raise ArgumentError(
                f"layer: {layer!r} returns no tensor PIQ can read; pick one of its sublayers "
                f"(adapter.layer_names())")
        axis, probe = shapes[layer]
        if axis is None:
            if not timed:  # name a layer that would do
                timed = [(n, a) for n, (a, _) in self._probe(names).items() if a is not None]
            suggestion = f"; e.g. {timed[-1][0]!r}" if timed else ""
            raise ArgumentError(
                f"layer: {layer!r} gives {tuple(probe.shape)} for 1 s of audio and no axis "
                f"grows with the audio; PIQ decodes a time-frequency mask from a layer with a "
                f"time axis{suggestion}")
        self.layer, self.time_axis = layer, axis
        h = self.arrange(probe)
        self.probe_map_shape = tuple(int(s) for s in h.shape[1:])
        self.n_classes = int(self._last_logits.shape[-1])
        #: log-power frames of the 1 s probe (the grid the decoder must reach)
        self.probe_frames = int(RATE * _PROBE_SECONDS[0]) // 320 + 1

    def train(self, mode: bool = True):  # the wrapped model's own flag (HF reads it)
        nn.Module.train(self, mode)
        self.adapter.module.train(mode)
        return self

    # ------------------------------------------------------------------ probing
    def _probe(self, names: list[str]) -> dict[str, tuple[int | None, torch.Tensor]]:
        """``{name: (time axis or None, output on 1 s)}`` in the order the layers finish."""
        modules = dict(self.adapter.module.named_modules())
        runs: list[dict[str, torch.Tensor]] = []
        for seconds in _PROBE_SECONDS:
            seen: dict[str, torch.Tensor] = {}
            handles = []
            for name in names:
                def hook(_m, _i, out, name=name, seen=seen):
                    t = _first_tensor(out)
                    if t is not None:
                        seen.pop(name, None)  # a module called twice: its last call counts
                        seen[name] = t.detach()
                handles.append(modules[name].register_forward_hook(hook))
            try:
                with torch.no_grad(), evaluating(self.adapter.module):
                    wave = _probe_wave(seconds).to(self.adapter.device)
                    logits = self.adapter.scores(self.adapter.frame(wave))
            finally:
                for handle in handles:
                    handle.remove()
            runs.append(seen)
            if seconds == _PROBE_SECONDS[0]:
                self._last_logits = logits[:, -1]
        out = {}
        for name, long in runs[0].items():
            short = runs[1].get(name)
            axis = None
            if short is not None and long.dim() in (3, 4) and short.dim() == long.dim():
                grown = [d for d in range(1, long.dim()) if long.shape[d] > short.shape[d]]
                same = all(long.shape[d] == short.shape[d]
                           for d in range(1, long.dim()) if d not in grown)
                axis = grown[0] if len(grown) == 1 and same else None
            out[name] = (axis, long)
        return out

    def arrange(self, h: torch.Tensor) -> torch.Tensor:
        """A layer output as a ``(B, C, T', F')`` map, time on the third axis.

        ``(B, T', D)`` and ``(B, D, T')`` become ``(B, D, T', 1)``; a 4-D map has its time
        axis moved third, the first remaining axis being the channels.
        """
        t = self.time_axis
        if h.dim() == 3:
            return (h.transpose(1, 2) if t == 1 else h)[..., None]
        rest = [d for d in (1, 2, 3) if d != t]
        return h.permute(0, rest[0], t, rest[1])

    # ------------------------------------------------------------------ hearing
    def waveform(self, log_power: torch.Tensor, phase: torch.Tensor, samples: int) -> torch.Tensor:
        """``(T, bins)`` log-power with its phase → ``samples`` samples (the input's phase)."""
        from lab.audio import conventions as c

        magnitude = torch.sqrt(torch.expm1(torch.relu(log_power)) + 1e-12) * (log_power > 0)
        spec = torch.polar(magnitude, phase.to(magnitude.dtype)).T
        window = torch.hann_window(c.WIN_LENGTH, periodic=True, device=log_power.device)
        with warnings.catch_warnings():
            # the last < 320 samples lie past the last frame's centre: zeros, as in
            # lab.audio.waveform_from_log_power (torch warns about that padding)
            warnings.filterwarnings("ignore", message="The length of signal is shorter")
            return torch.istft(spec, c.N_FFT, c.HOP_LENGTH, c.WIN_LENGTH, window, center=True,
                               length=int(samples))

    def represent(self, log_power: torch.Tensor, phase: torch.Tensor, samples: torch.Tensor,
                  *, return_lengths: bool = False):
        """``(h, logits)``: the layer's map ``(B, C, T', F')`` and the logits ``(B, classes)``.

        Each item is heard alone, at its own length (``samples``), so padding never reaches
        the model (waveform classifiers normalise the whole clip); the maps are zero-padded
        in time to the longest item's. ``return_lengths`` adds each item's own ``T'`` (B,).
        """
        module = dict(self.adapter.module.named_modules())[self.layer]
        maps, logits = [], []
        for i in range(log_power.shape[0]):
            n = int(samples[i])
            frames = n // 320 + 1  # the item's own log-power frames (center=True STFT)
            wave = self.waveform(log_power[i, :frames], phase[i, :frames], n)
            seen: list[torch.Tensor] = []
            handle = module.register_forward_hook(
                lambda _m, _i, out, seen=seen: seen.append(_first_tensor(out)))
            try:
                scores = self.adapter.scores(self.adapter.frame(wave[None]))
            finally:
                handle.remove()
            maps.append(self.arrange(seen[-1])[0])
            logits.append(scores[0, -1])
        lengths = torch.tensor([m.shape[1] for m in maps])
        longest = int(lengths.max())
        h = torch.stack([nn.functional.pad(m, (0, 0, 0, longest - m.shape[1])) for m in maps])
        if return_lengths:
            return h, torch.stack(logits), lengths
        return h, torch.stack(logits)

    def forward(self, log_power: torch.Tensor, phase: torch.Tensor,
                samples: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, classes)`` of what the model hears."""
        return self.represent(log_power, phase, samples)[1]

    def upsampling(self, n_bins: int) -> tuple[int, int]:
        """``(n_upsample, time_upsample)`` taking the probe's map towards ``(T, n_bins)``."""
        _, t_map, f_map = self.probe_map_shape
        up_freq = max(0, round(math.log2(n_bins / f_map)))
        up_time = max(0, min(up_freq, round(math.log2(self.probe_frames / t_map))))
        return up_freq, up_time

    def identity(self) -> dict:
        """See :func:`model_identity`."""
        return model_identity(self.adapter, self.layer)
