"""The lab's own models as :class:`SpeechModel`: a no-op wrapper (tools use the model itself)."""

from __future__ import annotations

import torch
from torch import nn

from lab.models.adapters.base import SpeechModel

__all__ = ["ZooModel", "is_zoo_model"]

ZOO_DOMAIN = (
    "trained on the lab's synthetic espeak corpus: 24 command words and digits, "
    "read by synthetic voices; real human speech is out of its domain"
)


def is_zoo_model(model: object) -> bool:
    """Whether ``model`` is one of the lab's DeepSpeech / Transducer / KeywordClassifier."""
    from lab.models.classifier import KeywordClassifier
    from lab.models.deepspeech import DeepSpeech
    from lab.models.transducer import Transducer

    return isinstance(model, DeepSpeech | Transducer | KeywordClassifier)


class ZooModel(SpeechModel):
    """A zoo model; every tool keeps calling the model itself, so behaviour is unchanged.

    Examples
    --------
    >>> from lab.models import DeepSpeech, adapt
    >>> adapt(DeepSpeech(n_hidden=8)).kind, adapt(DeepSpeech(n_hidden=8)).input
    ('ctc', 'features')
    """

    def __init__(self, module: nn.Module):
        from lab.data import KEYWORDS
        from lab.data.tokenizer import ALPHABET
        from lab.models.classifier import KeywordClassifier
        from lab.models.transducer import Transducer

        super().__init__(module)
        self.input = "features"
        self.feature_kind = getattr(module, "feature_kind", "mfcc")
        self.n_features = 257 if self.feature_kind == "log_power" else (
            40 if self.feature_kind == "log_mel" else 26)
        # the checkpoint's own metadata when loaded with load_pretrained (index "domain")
        stored = getattr(module, "domain", None)
        self.domain = stored["description"] if isinstance(stored, dict) and isinstance(
            stored.get("description"), str) else ZOO_DOMAIN
        if isinstance(module, KeywordClassifier):
            self.kind, self.labels, self.blank = "classification", tuple(KEYWORDS), None
        else:
            self.kind = "transducer" if isinstance(module, Transducer) else "ctc"
            self.labels, self.blank = ("<blank>",) + tuple(ALPHABET), 0
        # DeepSpeech keeps the 20 ms feature rate; the Transducer encoder subsamples.
        self.frame_seconds = 0.04 if self.kind == "transducer" else 0.02

    def own_input(self, audio) -> torch.Tensor:
        from lab.models.inference import as_features

        return torch.from_numpy(as_features(self.module, audio))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "transducer":
            return self.module.ctc_logits(x)[0]
        out = self.module(x)
        return out[:, None] if out.ndim == 2 else out

    def module_view(self) -> nn.Module:
        return self.module if self.kind == "ctc" else super().module_view()

    def predict(self, audio):
        from lab.models import inference

        if self.kind == "classification":
            return super().predict(audio)
        return inference.transcribe(self.module, audio)
