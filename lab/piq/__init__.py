"""PIQ: post-hoc interpretation of a classifier via class-partitioned vector quantization.

The core modules (``quantize``, ``networks``) follow the names, arguments and
shapes of SpeechBrain's ``lobes.models.PIQ``. :class:`PIQInterpreter` trains a
PSI decoder on a frozen classifier — the zoo's keyword classifier, or an audio classifier
:func:`lab.models.adapt` wraps (a Hugging Face ``*ForAudioClassification``, a plain module
adapted with ``kind="classification"``), decoded from one of its layers — and turns its
decisions into listenable masked spectrograms.

One module per job: ``interpreter`` (the class), ``losses``, ``training`` (optimizer and
resumable loop), ``persistence`` (decoder files, through :mod:`lab.checkpoints`),
``targets`` (oracle and thresholded masks), ``interpretation`` (the result and its input),
``evaluate`` (faithfulness metrics), ``batches`` (audio batches for adapted classifiers) and
``train`` (the command line).
"""

from lab.piq.batches import AudioBatches, audio_batches
from lab.piq.interpreter import (
    Interpretation,
    PIQInterpreter,
    oracle_mask,
    threshold_mask,
)
from lab.piq.networks import (
    Conv2dEncoder_v2,
    ResBlockAudio,
    VectorQuantizedPSI_Audio,
    VectorQuantizedPSIFocalNet_Audio,
    VectorQuantizedPSIViT_Audio,
    weights_init,
)
from lab.piq.quantize import (
    VectorQuantization,
    VectorQuantizationStraightThrough,
    VQEmbedding,
    get_irrelevant_regions,
)

__all__ = [
    "get_irrelevant_regions",
    "VectorQuantization",
    "VectorQuantizationStraightThrough",
    "VQEmbedding",
    "weights_init",
    "Conv2dEncoder_v2",
    "ResBlockAudio",
    "VectorQuantizedPSI_Audio",
    "VectorQuantizedPSIFocalNet_Audio",
    "VectorQuantizedPSIViT_Audio",
    "PIQInterpreter",
    "Interpretation",
    "oracle_mask",
    "threshold_mask",
    "AudioBatches",
    "audio_batches",
]
