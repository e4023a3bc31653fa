"""One model interface for every tool: adapters for the models people actually use.

* :func:`adapt` — any model → :class:`SpeechModel`: the lab's zoo (no-op), Hugging Face
  ``*ForCTC``, ``WhisperForConditionalGeneration``, audio classifiers, Silero VAD, and plain
  ``nn.Module`` / TorchScript models described by keywords.
* :func:`predict` — decision-level output of any kind.
* :func:`module_for`, :func:`mask_inputs`, :func:`masked_audio`, :func:`dataset_for`,
  :func:`piq_classifier` — what the interpreters, dependency matrices and PIQ call at their
  entry; :func:`domain_hint` / :func:`confidence` — the out-of-domain line panels show.

Modules: :mod:`.base`, :mod:`.zoo`, :mod:`.hf`, :mod:`.module`, :mod:`.silero`, :mod:`.api`.
"""

from lab.models.adapters.api import (
    adapt,
    adapted,
    collate_own_inputs,
    confidence,
    dataset_for,
    domain_hint,
    load_silero_vad,
    mask_inputs,
    masked_audio,
    module_for,
    piq_classifier,
    predict,
)
from lab.models.adapters.base import INPUTS, KINDS, SpectrogramView, SpeechModel, frame_waveform
from lab.models.adapters.hf import HFAudioClassifier, HFCTCModel, WhisperModel
from lab.models.adapters.module import ModuleModel
from lab.models.adapters.silero import SileroVAD
from lab.models.adapters.zoo import ZooModel

__all__ = [
    "INPUTS",
    "KINDS",
    "HFAudioClassifier",
    "HFCTCModel",
    "ModuleModel",
    "SileroVAD",
    "SpectrogramView",
    "SpeechModel",
    "WhisperModel",
    "ZooModel",
    "adapt",
    "adapted",
    "collate_own_inputs",
    "confidence",
    "dataset_for",
    "domain_hint",
    "frame_waveform",
    "load_silero_vad",
    "mask_inputs",
    "masked_audio",
    "module_for",
    "piq_classifier",
    "predict",
]
