"""Hugging Face ``transformers`` audio models as :class:`SpeechModel`.

* ``*ForCTC`` (wav2vec 2.0, HuBERT, WavLM, ...): waveform input, normalised as the family's
  feature extractor does (zero mean, unit variance unless the processor says otherwise; in
  torch, so gradients reach the waveform; the statistics include the zeros that pad the
  last frame, at most ``hop - 1`` samples),
  greedy CTC over the model's own vocabulary (tokenizer, or ``labels=``); blank is the pad
  token (``config.pad_token_id``); an output frame is the product of the conv strides.
* ``WhisperForConditionalGeneration``: log-mel features from ``WhisperFeatureExtractor``
  (the processor's, or the default one), padded to the encoder's fixed length inside the
  model, greedy decoding (a plain loop: start token, argmax, stop at end of text).
* ``*ForAudioClassification`` / ``*ForSequenceClassification``: waveform or feature input
  (``model.main_input_name``), class names from ``config.id2label``.

Nothing is downloaded: the models and processors are whatever the caller built or loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models.adapters.base import SpeechModel

__all__ = ["HFAudioClassifier", "HFCTCModel", "HFRecipe", "WhisperModel", "is_hf_model"]


def is_hf_model(model: object) -> bool:
    """Whether ``model`` is a ``transformers.PreTrainedModel`` (without importing it)."""
    return any(c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers")
               for c in type(model).__mro__)


# Instance attributes a rebuilt model takes over from the original: Whisper's generation
# settings (a user may have changed them) and a scan_identity a user set (lab.scan reads it).
_CARRIED = ("generation_config", "scan_identity")


@dataclass
class HFRecipe:
    """A ``transformers`` model as class, config and state_dict, rebuilt by :meth:`rebuild`.

    Hugging Face models with weight-norm parametrizations (wav2vec 2.0's positional
    convolution) cannot be pickled whole; their state_dict can, and the class built from the
    config makes the same parametrizations (and tied weights) to load it into. The dtype,
    the device (where the process has it) and every module's train/eval flag come back too.
    Tied weights stay tied: the class ties them, and loading writes the shared tensor.
    """

    cls: type
    config: Any
    state: dict
    device: str
    training: dict[str, bool]
    carried: dict = field(default_factory=dict)

    @classmethod
    def of(cls, model: nn.Module) -> HFRecipe:
        from lab.models.adapters.base import _training_flags
        from lab.runtime import model_device

        state = {name: value.detach().cpu() for name, value in model.state_dict().items()}
        carried = {name: model.__dict__[name] for name in _CARRIED if name in model.__dict__}
        return cls(type(model), model.config, state, str(model_device(model)),
                   _training_flags(model), carried)

    def rebuild(self) -> nn.Module:
        from lab.models.adapters.base import _device_or_cpu, _set_training_flags

        # Construction initialises weights at random (overwritten just below): on a forked
        # generator, so unpickling leaves the caller's random stream where it was.
        with torch.random.fork_rng(devices=[]):
            model = self.cls(self.config)
        # each tensor in its saved dtype (a half-precision model, or one with modules kept in
        # float32): load_state_dict would cast the values into the fresh model's float32
        own = dict(model.named_parameters()) | dict(model.named_buffers())
        for name, value in self.state.items():
            if name in own and own[name].dtype != value.dtype:
                own[name].data = own[name].data.to(value.dtype)
        model.load_state_dict(self.state, strict=True)
        model.__dict__.update(self.carried)
        _set_training_flags(model, self.training)
        return model.to(_device_or_cpu(self.device))


def _extractor(processor):
    return getattr(processor, "feature_extractor", processor)


def _vocabulary(processor, labels, size: int) -> tuple[str, ...] | None:
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != size:
            raise ArgumentError(f"labels: the model has {size} outputs, got {len(labels)} labels")
        return labels
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return None
    vocab = tokenizer.get_vocab()
    out = ["<unk>"] * size
    for token, i in vocab.items():
        if 0 <= i < size:
            out[i] = token
    return tuple(out)


class _WaveformInput:
    """Own input of waveform models: frames of ``input_hop`` samples, normalised in torch."""

    normalize = True

    def own_input(self, audio) -> torch.Tensor:
        if (torch.is_tensor(audio) or isinstance(audio, np.ndarray)) and audio.ndim == 2:
            return torch.as_tensor(np.asarray(audio, dtype=np.float32))  # already framed
        return self.frame(torch.from_numpy(self.waveform(audio)))

    def _samples(self, x: torch.Tensor) -> torch.Tensor:
        wave = x.reshape(x.shape[0], -1)
        if self.normalize:  # the family's extractor: zero mean, unit variance per utterance
            wave = (wave - wave.mean(-1, keepdim=True)) / torch.sqrt(
                wave.var(-1, keepdim=True, unbiased=False) + 1e-7)
        return wave


def _conv_hop(config) -> int:
    return int(math.prod(getattr(config, "conv_stride", None) or [320]))


class HFCTCModel(_WaveformInput, SpeechModel):
    """A Hugging Face ``*ForCTC`` model (see the module docstring)."""

    def __init__(self, model: nn.Module, *, processor=None, labels=None, sample_rate=None):
        super().__init__(model)
        cfg = model.config
        self.kind, self.input = "ctc", "waveform"
        ext = _extractor(processor)
        self.sample_rate = int(sample_rate or getattr(ext, "sampling_rate", 16000))
        self.normalize = bool(getattr(ext, "do_normalize", True))
        self.input_hop = _conv_hop(cfg)
        self.frame_seconds = self.input_hop / self.sample_rate
        self.blank = int(cfg.pad_token_id if cfg.pad_token_id is not None else 0)
        self.labels = _vocabulary(processor, labels, int(cfg.vocab_size))
        self.domain = "a CTC model over its own vocabulary"

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(input_values=self._samples(x)).logits


class HFAudioClassifier(_WaveformInput, SpeechModel):
    """A Hugging Face audio classifier (``*ForAudioClassification`` / sequence classifiers)."""

    def __init__(self, model: nn.Module, *, processor=None, labels=None, sample_rate=None):
        super().__init__(model)
        cfg = model.config
        self.kind = "classification"
        self.input = "waveform" if model.main_input_name == "input_values" else "features"
        ext = _extractor(processor)
        self.sample_rate = int(sample_rate or getattr(ext, "sampling_rate", 16000))
        self.normalize = bool(getattr(ext, "do_normalize", True))
        self.processor = ext
        if self.input == "features" and ext is None:
            raise ArgumentError(
                f"processor: {type(model).__name__} takes {model.main_input_name!r} features; "
                "pass processor= (its feature extractor) so the lab can compute them"
            )
        self.input_hop = _conv_hop(cfg) if self.input == "waveform" else 1
        self.frame_seconds = self.input_hop / self.sample_rate
        self.channels_first = False  # Whisper-style extractors give (mels, frames)
        if self.input == "features":
            self.feature_seconds = getattr(ext, "hop_length", 160) / self.sample_rate
            self.frame_seconds = self.feature_seconds
            self.n_features = getattr(ext, "feature_size", None)
        names = labels if labels is not None else [
            cfg.id2label[i] for i in range(cfg.num_labels)]
        self.labels = tuple(str(n) for n in names)
        if len(self.labels) != cfg.num_labels:
            raise ArgumentError(
                f"labels: the model has {cfg.num_labels} classes, got {len(self.labels)} labels")
        self.domain = f"an audio classifier over {len(self.labels)} classes"

    def own_input(self, audio) -> torch.Tensor:
        if self.input == "waveform":
            return super().own_input(audio)
        if (torch.is_tensor(audio) or isinstance(audio, np.ndarray)) and audio.ndim == 2:
            return torch.as_tensor(np.asarray(audio, dtype=np.float32))
        feats = self.processor(self.waveform(audio), sampling_rate=self.sample_rate,
                               return_tensors="pt")[self.module.main_input_name][0]
        size = getattr(self.processor, "feature_size", None)
        if feats.shape[0] == size and feats.shape[-1] != size:  # (mels, frames): time-major
            feats, self.channels_first = feats.T, True
        self.n_features = int(feats.shape[-1])
        return feats.float().contiguous()

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        if self.input == "waveform":
            return self.module(input_values=self._samples(x)).logits[:, None]
        x = x.transpose(1, 2) if self.channels_first else x
        return self.module(**{self.module.main_input_name: x}).logits[:, None]


class WhisperModel(SpeechModel):
    """``WhisperForConditionalGeneration``: log-mel in, greedy tokens out.

    Own input: the extractor's log-mel ``(T, n_mels)`` (time-major) of the clip, *without*
    the 30 s padding; :meth:`scores` pads it to the encoder's fixed length with the
    extractor's value for silence, so tools can work on the clip's own frames.
    """

    def __init__(self, model: nn.Module, *, processor=None, labels=None, sample_rate=None,
                 max_new_tokens: int = 32):
        from transformers import WhisperFeatureExtractor

        super().__init__(model)
        cfg = model.config
        self.kind, self.input = "seq2seq", "features"
        if processor is None:
            processor = WhisperFeatureExtractor(feature_size=cfg.num_mel_bins)
        self.extractor = _extractor(processor)
        self.sample_rate = int(sample_rate or self.extractor.sampling_rate)
        self.n_features = int(cfg.num_mel_bins)
        self.feature_seconds = self.extractor.hop_length / self.sample_rate
        self.frame_seconds = 2 * self.feature_seconds  # the encoder's stride-2 conv
        self.total_frames = 2 * int(cfg.max_source_positions)
        self.labels = _vocabulary(processor, labels, int(cfg.vocab_size))
        self.start = int(cfg.decoder_start_token_id)
        self.eos = int(cfg.eos_token_id)
        self.max_new_tokens = int(max_new_tokens)
        self.domain = "a sequence-to-sequence recogniser over its own vocabulary"

    def own_input(self, audio) -> torch.Tensor:
        if (torch.is_tensor(audio) or isinstance(audio, np.ndarray)) and audio.ndim == 2:
            return torch.as_tensor(np.asarray(audio, dtype=np.float32))
        wave = self.waveform(audio)
        feats = self.extractor(wave, sampling_rate=self.sample_rate, return_tensors="pt")
        mel = feats["input_features"][0].T  # (frames, mels)
        keep = min(self.total_frames, max(2, len(wave) // self.extractor.hop_length))
        return mel[:keep].float().contiguous()

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, mels)`` → ``(B, mels, total_frames)``, padded with the silence floor."""
        missing = self.total_frames - x.shape[1]
        if missing < 0:
            raise ArgumentError(
                f"features: Whisper's encoder takes at most {self.total_frames} frames, "
                f"got {x.shape[1]}")
        floor = x.detach().amin(dim=(1, 2), keepdim=True)
        x = torch.cat([x, floor.expand(x.shape[0], missing, x.shape[2])], dim=1)
        return x.transpose(1, 2)

    def generate(self, x: torch.Tensor) -> list[list[int]]:
        """Greedy tokens (without start and end tokens) for own input ``(B, T, mels)``."""
        with torch.no_grad():
            enc = self.module.model.encoder(self.encoder_input(x)).last_hidden_state
            ids = torch.full((x.shape[0], 1), self.start, dtype=torch.long, device=x.device)
            done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for _ in range(self.max_new_tokens):
                logits = self.module(encoder_outputs=(enc,), decoder_input_ids=ids).logits
                nxt = logits[:, -1].argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, self.eos), nxt)
                ids = torch.cat([ids, nxt[:, None]], dim=1)
                done |= nxt == self.eos
                if bool(done.all()):
                    break
        out = []
        for row in ids[:, 1:].tolist():
            out.append(row[:row.index(self.eos)] if self.eos in row else row)
        return out

    def scores(self, x: torch.Tensor, forced: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced decoder logits ``(B, L, V)`` along ``forced`` token ids.

        Without ``forced``: the logits of the first token after the start token, ``(B, 1,
        V)`` (differentiable through the encoder: feature visualization). Masks force the
        greedy tokens of the clean input (:meth:`mask_view`): greedy decoding gives them
        back exactly when every forced step's argmax is the next forced token, so argmax
        over these scores is the test that the greedy transcript is kept.
        """
        if forced is None:
            forced = torch.tensor([[self.start]])
        forced = torch.as_tensor(forced).to(x.device).expand(x.shape[0], -1)
        out = self.module(input_features=self.encoder_input(x), decoder_input_ids=forced)
        return out.logits

    def decode(self, scores: torch.Tensor) -> list:
        """Argmax token of every forced step (the last one is the end-of-text test)."""
        return [tuple(int(v) for v in row) for row in scores.argmax(-1)]

    def predict(self, audio) -> str:
        x = self.own_input(audio).to(self.device)
        from lab.runtime import evaluating

        with evaluating(self.module):
            return self.text(self.generate(x[None])[0])

    def mask_view(self, audio):
        """Own log-mel features and a module scoring them along the clean greedy tokens."""
        from lab.models.adapters.base import _ScoresView
        from lab.runtime import evaluating

        x = self.own_input(audio)
        with evaluating(self.module):
            tokens = self.generate(x[None].to(self.device))[0]
        forced = torch.tensor([[self.start] + tokens])
        return _ScoresView(self, forced=forced), x
