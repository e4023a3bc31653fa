"""What each trainable model needs: architecture, features, data, loss and default schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from lab.errors import ArgumentError
from lab.models import DeepSpeech, KeywordClassifier, Transducer
from lab.training.augment import mask_bands, other_voices_log_power, warp_cepstra

__all__ = ["RNNT_CTC_WEIGHT", "TASKS", "Task", "get_task"]

#: Weight of the transducer's auxiliary CTC loss.
RNNT_CTC_WEIGHT = 0.5


def _ctc_loss(model: DeepSpeech, batch: dict) -> torch.Tensor:
    log_probs = model.log_probs(batch.features).transpose(0, 1)  # (T, B, V) for ctc_loss
    return nn.functional.ctc_loss(
        log_probs, batch.tokens, batch.feature_lengths, batch.token_lengths,
        blank=0, reduction="mean", zero_infinity=True,
    )


def _rnnt_loss(model: Transducer, batch: dict) -> torch.Tensor:
    from lab.transducer import rnnt_loss

    encoded, logit_lengths = model.encode(batch.features, batch.feature_lengths)
    logits = model.join(encoded, model.predict(batch.tokens))
    loss = rnnt_loss(
        logits, batch.tokens.int(), logit_lengths.int(), batch.token_lengths.int(),
        blank=0, reduction="sum",
    )
    # Per target symbol, like the CTC loss, so the learning rate does not depend on text length.
    loss = loss / batch.token_lengths.sum()
    ctc_log_probs = model.ctc_output(encoded).log_softmax(dim=-1).transpose(0, 1)
    ctc = nn.functional.ctc_loss(
        ctc_log_probs, batch.tokens, logit_lengths, batch.token_lengths,
        blank=0, reduction="mean", zero_infinity=True,
    )
    return loss + RNNT_CTC_WEIGHT * ctc


def _classifier_loss(model: KeywordClassifier, batch: dict) -> torch.Tensor:
    return nn.functional.cross_entropy(model(batch.features), batch.labels)


def _mask_cepstra(model: nn.Module, batch):
    batch.features = mask_bands(batch.features, model.normalize.mean, max_time=4, max_features=3)
    return batch



def _warp_and_mask_cepstra(model: nn.Module, batch):
    batch.features = warp_cepstra(batch.features)
    return _mask_cepstra(model, batch)


def _augment_log_power(model: nn.Module, batch):
    """Other voices, on the log-power spectrogram: loudness, vocal tract length, speaking rate,
    then SpecAugment-style silenced spans and bands (log1p power 0 is digital silence)."""
    x, batch.feature_lengths = other_voices_log_power(batch.features, batch.feature_lengths)
    batch.features = mask_bands(x, torch.zeros(x.shape[-1]), max_time=5, max_features=6)
    return batch


@dataclass(frozen=True)
class Task:
    """A trainable model and how to train it."""

    name: str
    build: Callable[[], nn.Module]
    features: str
    loss: Callable[[nn.Module, dict], torch.Tensor]
    keywords_only: bool = False
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    metric: str = "cer"  # validation metric that picks the exported epoch
    grad_clip: float = 5.0
    augment: Callable | None = None  # (model, batch) -> batch, applied to training batches
    extra: dict = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"


TASKS: dict[str, Task] = {
    "deepspeech": Task(
        name="deepspeech", build=lambda: DeepSpeech(n_hidden=256), features="mfcc",
        loss=_ctc_loss, epochs=60, batch_size=16, learning_rate=3e-3,
        augment=_warp_and_mask_cepstra,
    ),
    "transducer": Task(
        name="transducer",
        build=lambda: Transducer(encoder_hidden=192, predictor_hidden=128, joint_dim=128,
                                 predictor_context=2),
        features="mfcc", loss=_rnnt_loss, epochs=60, batch_size=16, learning_rate=3e-3,
        augment=_warp_and_mask_cepstra,
    ),
    "classifier": Task(
        name="classifier", build=lambda: KeywordClassifier(per_clip_mean=True, n_mels=40),
        features="log_power",
        loss=_classifier_loss, keywords_only=True, epochs=250, batch_size=32,
        learning_rate=3e-3, metric="accuracy", augment=_augment_log_power,
    ),
}


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name is an error listing the known ones.

    Examples
    --------
    >>> get_task("classifier").metric
    'accuracy'
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ArgumentError(f"task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]
