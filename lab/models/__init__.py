"""Speech models the lab trains and ships, and the tools to look inside them.

* :class:`DeepSpeech` — MFCC → clipped-ReLU layers → LSTM → CTC (layers ``layer_1`` …
  ``layer_6``, ``rnn_output``).
* :class:`Transducer` — streaming RNN-T (causal conv + LSTM encoder) with offline and
  streaming greedy decoding.
* :class:`KeywordClassifier` — conv encoder on log-power spectrograms;
  ``classify(embed(x))``.
* :func:`activations` — any layer's output by name (forward hooks), for any module.
* :func:`load_pretrained` — the shipped, trained checkpoints.
* :func:`transcribe`, :func:`ctc_posteriors`, :func:`predict_keyword` — one-call inference.
* :func:`adapt` / :class:`SpeechModel` — any model (Hugging Face CTC, Whisper, audio
  classifiers, Silero VAD, plain or TorchScript modules) described once for every tool;
  :func:`predict` — the decision-level output of any of them (:mod:`lab.models.adapters`).
"""

from lab.models.adapters import SpeechModel, adapt, predict
from lab.models.classifier import KeywordClassifier
from lab.models.ctc import ctc_greedy_collapse, ctc_greedy_decode, ctc_greedy_runs
from lab.models.deepspeech import DeepSpeech
from lab.models.hooks import activations, layer_names
from lab.models.inference import (
    as_features,
    ctc_posteriors,
    predict_keyword,
    transcribe,
    transcribe_batch,
)
from lab.models.metrics import accuracy, cer, edit_distance, wer
from lab.models.pretrained import (
    CheckpointError,
    available,
    checkpoint_info,
    export_checkpoint,
    load_pretrained,
)
from lab.models.transducer import Transducer, TransducerStream

__all__ = [
    "CheckpointError",
    "DeepSpeech",
    "KeywordClassifier",
    "SpeechModel",
    "Transducer",
    "TransducerStream",
    "accuracy",
    "activations",
    "adapt",
    "as_features",
    "available",
    "cer",
    "checkpoint_info",
    "ctc_greedy_collapse",
    "ctc_greedy_decode",
    "ctc_greedy_runs",
    "ctc_posteriors",
    "edit_distance",
    "export_checkpoint",
    "layer_names",
    "load_pretrained",
    "predict",
    "predict_keyword",
    "transcribe",
    "transcribe_batch",
    "wer",
]
