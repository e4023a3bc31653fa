"""The PIQ interpreter: a PSI decoder on a frozen classifier, turning decisions into masks.

The classifier exposes ``embed(x) -> (B, C, T', F')`` and ``classify(h) -> (B, n_classes)``
on time-major log-power spectrograms ``x`` of shape (B, T, 257) (the zoo's
KeywordClassifier), or is an audio classifier :func:`lab.models.adapt` wraps, read through
:class:`lab.models.adapters.piq_view.PIQView` (a named layer's map; the model hears the
log-power resynthesised with the clip's phase). The decoder sees the representation
quantized with the codes of the predicted class only, and learns to output a mask over the
spectrogram's time-frequency bins.

This module holds the class (construction and the forward passes); the jobs around it live
in their own modules: :mod:`lab.piq.losses`, :mod:`lab.piq.training` (optimizer and loop),
:mod:`lab.piq.persistence` (files, through :mod:`lab.checkpoints`), :mod:`lab.piq.targets`
(oracle and thresholded masks) and :mod:`lab.piq.interpretation` (the result and its input).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lab.checkpoints import sha256_file as sha256_of
from lab.errors import ArgumentError, ArgumentTypeError, CheckpointError
from lab.interpret._checks import finite, flag, integer, numeric_array, real
from lab.piq import persistence, training
from lab.piq.interpretation import Interpretation, listen, spectrogram_of
from lab.piq.losses import classifier_terms, decoder_losses, training_mask
from lab.piq.networks import VectorQuantizedPSI_Audio
from lab.piq.persistence import PRETRAINED_PATH, VARIANTS, pretrained_path
from lab.piq.targets import frame_mask, oracle_mask, threshold_mask
from lab.runtime import ProgressHook, StopToken, evaluating, model_device

__all__ = [
    "PIQInterpreter",
    "Interpretation",
    "oracle_mask",
    "threshold_mask",
    "PRETRAINED_PATH",
    "VARIANTS",
    "pretrained_path",
    "sha256_of",
]


def _checked_options(*, codes_per_class, shared_keys, decoder_channels, ratio, beta, threshold,
                     fidelity_weight, faithfulness_weight, straight_through, n_bins) -> dict:
    """The constructor's options, each checked (names the option on failure)."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.floating) or not (
            0.0 < ratio < 1.0):
        raise ArgumentError(f"ratio must lie in (0, 1), got {ratio!r}")
    return dict(
        codes_per_class=integer("codes_per_class", codes_per_class, minimum=1),
        shared_keys=integer("shared_keys", shared_keys, minimum=0),
        decoder_channels=integer("decoder_channels", decoder_channels, minimum=1),
        ratio=float(ratio),
        beta=real("beta", beta, minimum=0.0),
        threshold=real("threshold", threshold, minimum=0.0, maximum=1.0),
        fidelity_weight=real("fidelity_weight", fidelity_weight, minimum=0.0),
        faithfulness_weight=real("faithfulness_weight", faithfulness_weight, minimum=0.0),
        straight_through=flag("straight_through", straight_through),
        n_bins=integer("n_bins", n_bins, minimum=2),
    )


class PIQInterpreter:
    """Post-hoc interpretation of a frozen classifier via class-partitioned quantization.

    Parameters
    ----------
    classifier : nn.Module or SpeechModel
        The zoo's KeywordClassifier (or any module exposing ``embed(x) -> (B, C, T', F')``
        and ``classify(h) -> logits`` on (B, T, n_bins) log-power spectrograms), or an
        audio classifier :func:`lab.models.adapt` wraps over a 16 kHz waveform (a Hugging
        Face ``*ForAudioClassification``, a plain module adapted with
        ``kind="classification"``): PIQ then decodes from one of its layers and the model
        hears the masked log-power spectrogram resynthesised with the input phase (see
        :class:`lab.models.adapters.piq_view.PIQView`). Other models are refused, naming
        the tools that apply. The classifier is frozen (eval mode, no gradients).
    class_names : list of str, optional
        Names of the classifier's outputs (default: an adapter's labels; the zoo's
        ``lab.data.KEYWORDS`` when the counts match, else the indices).
    layer : str, optional
        Adapted classifiers only: the layer (``adapter.layer_names()``) whose output is
        decoded; default the last layer with a time axis before the logits (for a Hugging
        Face audio classifier its ``projector``, the per-frame layer before pooling).
    codes_per_class : int
        Codebook entries owned by each class (>= 1).
    shared_keys : int
        Codebook entries shared by all classes (>= 0).
    decoder_channels : int
        Channels of the decoder's first layer.
    ratio : float
        The training target is the bins above ``ratio`` × each utterance's max log-power.
    beta : float
        Weight of the commitment loss.
    threshold : float
        Default relative threshold of :meth:`interpret`, in [0, 1].
    fidelity_weight : float
        (lab extension, default 0: the plain PIQ loss) Weight of a cross-entropy term asking
        the frozen classifier to keep its predicted class on the masked-in input
        ``m × x``; it makes the mask depend on what the classifier uses rather than on
        loudness alone.
    faithfulness_weight : float
        (lab extension, default 0) Weight of ``-log(1 - p(c | (1 - m) × x))``: the masked-out
        input should lose the class, so the mask must cover all of the evidence.
    straight_through : bool
        (lab extension) In the two classifier terms, ``m`` is the binary mask
        :meth:`interpret` would return at ``threshold`` (gradients pass straight through to
        the soft mask), so training sees the masks that are evaluated; otherwise the soft
        mask ``sigmoid(logits)``.
    n_bins : int
        Frequency bins of the spectrograms (257 for n_fft=512).

    Examples
    --------
    >>> from lab.models.classifier import KeywordClassifier
    >>> _ = torch.manual_seed(0)
    >>> piq = PIQInterpreter(KeywordClassifier(n_classes=3), codes_per_class=4)
    >>> x = torch.rand(2, 40, 257) * 5
    >>> mask_logits, labels, probs = piq.decode(x)
    >>> mask_logits.shape, labels.shape, probs.shape
    (torch.Size([2, 40, 257]), torch.Size([2]), torch.Size([2, 3]))
    >>> sorted(piq.loss(x))
    ['bce', 'commitment', 'total', 'vq']

    An adapted waveform classifier (here a plain module; a Hugging Face audio classifier
    works the same way):

    >>> from lab.models import adapt
    >>> net = nn.Sequential(nn.Conv1d(1, 8, 400, 320), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
    ...                     nn.Flatten(), nn.Linear(8, 2))
    >>> model = adapt(net, kind="classification", labels=["no", "yes"],
    ...               call=lambda m, x: m(x.reshape(len(x), 1, -1)))
    >>> piq = PIQInterpreter(model, codes_per_class=2, shared_keys=1)
    >>> piq.config["layer"], piq.class_names
    ('1', ['no', 'yes'])
    >>> out = piq.interpret(np.sin(np.arange(8000) / 9).astype(np.float32))
    >>> out.mask.shape, out.waveform.shape
    ((26, 257), (8000,))
    """

    def __init__(
        self,
        classifier: nn.Module,
        *,
        class_names: list[str] | None = None,
        codes_per_class: int = 8,
        shared_keys: int = 8,
        decoder_channels: int = 32,
        ratio: float = 0.35,
        beta: float = 0.25,
        threshold: float = 0.5,
        fidelity_weight: float = 0.0,
        faithfulness_weight: float = 0.0,
        straight_through: bool = False,
        n_bins: int = 257,
        layer: str | None = None,
    ) -> None:
        from lab.models.adapters import piq_classifier
        from lab.models.adapters.piq_view import PIQView

        # the zoo's classifier, a view of an adapted classifier, or a refusal naming the tools
        classifier = piq_classifier(classifier, layer)
        self._view = isinstance(classifier, PIQView)
        if not self._view:
            for name in ("embed", "classify"):
                if not callable(getattr(classifier, name, None)):
                    raise ArgumentTypeError(
                        f"classifier must have an `{name}` method (see PIQInterpreter)"
                    )
        options = _checked_options(
            codes_per_class=codes_per_class, shared_keys=shared_keys,
            decoder_channels=decoder_channels, ratio=ratio, beta=beta, threshold=threshold,
            fidelity_weight=fidelity_weight, faithfulness_weight=faithfulness_weight,
            straight_through=straight_through, n_bins=n_bins,
        )
        n_bins = options["n_bins"]
        if self._view and n_bins != 257:
            raise ArgumentError(
                f"n_bins: an adapted classifier is masked on the lab's 257-bin log-power "
                f"spectrogram (n_fft=512), got n_bins={n_bins}")
        self.classifier = classifier.eval()
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        if self._view:
            n_classes = classifier.n_classes
            if class_names is None and classifier.adapter.labels:
                class_names = list(classifier.adapter.labels)
        else:
            with torch.no_grad():
                h = classifier.embed(torch.zeros(1, 64, n_bins,
                                                 device=model_device(classifier)))
                n_classes = int(classifier.classify(h).shape[-1])
        if class_names is None:
            try:
                from lab.data import KEYWORDS

                names = list(KEYWORDS)
            except ImportError:
                names = []
            class_names = names if len(names) == n_classes else [str(i) for i in range(n_classes)]
        if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
            raise ArgumentTypeError(f"class_names must be a list of str, got {class_names!r}")
        if len(class_names) != n_classes:
            raise ArgumentError(
                f"class_names has {len(class_names)} names but the classifier has "
                f"{n_classes} outputs"
            )
        self.class_names = list(class_names)
        time_upsample = None
        if self._view:
            # A sequence layer is a (D, T', 1) map at about the spectrogram's frame rate:
            # upsample frequency up to the bins, time only as far as the frames need.
            dim = classifier.probe_map_shape[0]
            n_upsample, time_upsample = classifier.upsampling(n_bins)
        else:
            # Stride-2 upsamplings until one axis is back at input resolution (64 frames or
            # n_bins); interpolation does the rest. A mel front end pools frequency much
            # harder than time, and upsampling for frequency alone would make the decoder
            # build (and pay for) a map eight times longer than the input.
            dim = int(h.shape[1])
            up_time = max(0, round(math.log2(64 / h.shape[-2])))
            up_freq = max(0, round(math.log2(n_bins / h.shape[-1])))
            n_upsample = min(up_time, up_freq)
        self.config = dict(dim=dim, numclasses=n_classes, n_upsample=n_upsample, **options)
        # the historical key order (saved files list it so)
        order = ("dim", "numclasses", "codes_per_class", "shared_keys", "decoder_channels",
                 "n_upsample", "ratio", "beta", "threshold", "fidelity_weight",
                 "faithfulness_weight", "straight_through", "n_bins")
        self.config = {k: self.config[k] for k in order}
        #: what a decoder file records about the adapted model it fits (None: the zoo's)
        self.model_identity: dict | None = None
        if self._view:
            # only adapted models carry these, so the zoo's config (and files) stay as they were
            self.config.update(time_upsample=time_upsample, layer=classifier.layer)
            self.model_identity = classifier.identity()
        per_class, shared = options["codes_per_class"], options["shared_keys"]
        self.psi = VectorQuantizedPSI_Audio(
            dim=self.config["dim"], K=per_class * n_classes + shared,
            numclasses=n_classes, activate_class_partitioning=True, shared_keys=shared,
            use_adapter=True, adapter_reduce_dim=False, n_upsample=n_upsample,
            decoder_channels=options["decoder_channels"], time_upsample=time_upsample,
        ).to(model_device(classifier))
        self.history: list[dict] = []
        #: free-form strings saved with the weights (e.g. the classifier checkpoint's sha256)
        self.provenance: dict[str, str] = {}
        self.step = 0
        self.epoch = 0
        self._optimizer: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ model
    @property
    def num_classes(self) -> int:
        return self.config["numclasses"]

    @property
    def model(self):
        """The model interpreted: the adapter of an adapted classifier, else the classifier."""
        return self.classifier.adapter if self._view else self.classifier

    @property
    def hears_audio(self) -> bool:
        """Whether the classifier hears audio (an adapted waveform classifier): its batches
        carry the STFT ``phase`` and the ``samples`` of each clip with the log-power."""
        return self._view

    def _heard(self, x: torch.Tensor, phase, samples):
        """``(phase, samples)`` checked against ``x`` for an adapted classifier, else None."""
        if not self._view:
            if phase is not None or samples is not None:
                raise ArgumentError(
                    "phase, samples: only adapted waveform classifiers hear audio; this "
                    "classifier reads the log-power spectrogram itself")
            return None
        if phase is None or samples is None:
            raise ArgumentError(
                f"phase, samples: {type(self.model.module).__name__} hears audio, so give "
                "the STFT phase (B, T, 257) and the samples (B,) of each clip with the "
                "log-power (lab.piq.audio_batches makes such batches), or interpret() a "
                "waveform")
        phase = torch.as_tensor(phase, dtype=torch.float32).to(x.device)
        if phase.dim() == 2:
            phase = phase.unsqueeze(0)
        if phase.shape != x.shape:
            raise ArgumentError(f"phase must have the log-power's shape {tuple(x.shape)}, got "
                                f"{tuple(phase.shape)}")
        finite("phase", phase)
        samples = torch.as_tensor(samples)
        if samples.is_floating_point() or samples.is_complex() or samples.dtype == torch.bool:
            raise ArgumentTypeError(f"samples must be ints (samples per clip), got {samples!r}")
        samples = samples.reshape(-1).long().cpu()
        if samples.numel() != x.shape[0]:
            raise ArgumentError(f"samples has {samples.numel()} entries for a batch of "
                                f"{x.shape[0]}")
        frames = samples // 320 + 1  # frames of a centred STFT with the lab's 320-sample hop
        if bool((samples < 1).any()) or bool((frames > x.shape[1]).any()):
            raise ArgumentError(
                f"samples must be >= 1 and fit the {x.shape[1]} log-power frames "
                f"(samples // 320 + 1 frames each), got {samples.tolist()}")
        return phase, samples

    def _represent(self, x: torch.Tensor, heard, *, return_lengths: bool = False):
        """The decoded representation (B, C, T', F') and the logits, without gradients
        (and, with ``return_lengths``, each item's own T' for an adapted classifier, else
        None)."""
        with torch.no_grad(), evaluating(self.classifier):
            if heard is not None:
                return self.classifier.represent(x, *heard, return_lengths=return_lengths)
            h = self.classifier.embed(x)
            logits = self.classifier.classify(h)
            return (h, logits, None) if return_lengths else (h, logits)

    def _resized(self, x_tilde: torch.Tensor, x: torch.Tensor, map_lengths, heard):
        """The decoded map resized onto the log-power grid (B, T, F) of ``x``.

        An adapted classifier's items are heard alone and their maps padded in time, so each
        item's own part of the map (its T' frames, upsampled) is resized onto its own
        frames; the padding frames after them get logit 0. Otherwise the whole map is
        resized, as it always was for the zoo.
        """
        if map_lengths is None:
            return F.interpolate(x_tilde, size=tuple(x.shape[1:]), mode="bilinear",
                                 align_corners=False).squeeze(1)
        frames = (heard[1] // 320 + 1).tolist()  # each clip's own log-power frames
        scale = 2 ** self.config["time_upsample"]
        extra = x_tilde.shape[2] - int(map_lengths.max()) * scale  # the decoder's odd row
        out = x_tilde.new_zeros(x.shape)
        for i, (t_map, t) in enumerate(zip(map_lengths.tolist(), frames, strict=True)):
            own = x_tilde[i:i + 1, :, : t_map * scale + extra]
            out[i, :t] = F.interpolate(own, size=(t, x.shape[2]), mode="bilinear",
                                       align_corners=False)[0, 0]
        return out

    def _logits_of(self, heard) -> Callable[[torch.Tensor], torch.Tensor]:
        """``z -> logits`` for inputs stacked like ``torch.cat([x] * k)`` (classifier terms)."""
        if heard is None:
            return lambda z: self.classifier.classify(self.classifier.embed(z))
        phase, samples = heard

        def logits(z: torch.Tensor) -> torch.Tensor:
            k = z.shape[0] // phase.shape[0]
            return self.classifier(z, torch.cat([phase] * k), torch.cat([samples] * k))

        return logits

    def _check_features(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.from_numpy(np.array(numeric_array("features", x)))
        elif x.dtype == torch.bool or x.is_complex():
            raise ArgumentTypeError(f"features must be a real tensor, got dtype {x.dtype}")
        x = x.to(device=model_device(self.psi), dtype=torch.float32)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.config["n_bins"] or x.shape[1] < 1:
            raise ArgumentError(
                f"features must be log-power spectrograms (B, T, {self.config['n_bins']}) "
                f"or (T, {self.config['n_bins']}), got shape {tuple(x.shape)}"
            )
        finite("features", x)
        return x

    def _check_labels(self, labels, batch: int) -> torch.Tensor:
        labels = torch.as_tensor(labels)
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ArgumentTypeError(f"labels must be ints, got {labels!r}")
        labels = labels.reshape(-1).long().to(model_device(self.psi))
        if labels.numel() != batch:
            raise ArgumentError(f"labels has {labels.numel()} entries for a batch of {batch}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ArgumentError(
                f"labels must lie in [0, {self.num_classes}), got {labels.tolist()}"
            )
        return labels

    def predict(self, x: torch.Tensor, *, phase=None, samples=None) -> torch.Tensor:
        """Class probabilities (B, n_classes) of log-power spectrograms (B, T, F); softmax once.

        An adapted waveform classifier also needs each clip's STFT ``phase`` (B, T, F) and
        ``samples`` (B,): it hears the spectrogram resynthesised with that phase.
        """
        x = self._check_features(x)
        return self._represent(x, self._heard(x, phase, samples))[1].softmax(-1)

    def decode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, *, phase=None, samples=None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits (B, T, F), the labels used (B,) and class probabilities (B, n_classes).

        ``labels=None`` uses the classifier's prediction. ``phase`` and ``samples``: see
        :meth:`predict`.
        """
        x = self._check_features(x)
        mask_logits, labels, probs, _, _ = self._forward(x, labels,
                                                         self._heard(x, phase, samples))
        return mask_logits, labels, probs

    def _forward(self, x, labels, heard=None):
        h, logits, map_lengths = self._represent(x, heard, return_lengths=True)
        probs = logits.softmax(-1)
        labels = probs.argmax(-1) if labels is None else self._check_labels(labels, x.shape[0])
        x_tilde, hcat, z_q_x = self.psi(h, labels)
        mask_logits = self._resized(x_tilde, x, map_lengths, heard)
        return mask_logits, labels, probs, hcat, z_q_x

    def loss(self, x: torch.Tensor, lengths: torch.Tensor | None = None, *, phase=None,
             samples=None) -> dict:
        """Training losses on a padded batch (B, T, F): BCE to the oracle mask, VQ, commitment.

        With ``fidelity_weight > 0`` a ``fidelity`` term is added, with
        ``faithfulness_weight > 0`` a ``faithfulness`` term (see the class docstring).
        ``phase`` and ``samples``: see :meth:`predict`.
        """
        x = self._check_features(x)
        heard = self._heard(x, phase, samples)
        valid_frames = frame_mask(lengths, x.shape[0], x.shape[1]).to(x.device)
        mask_logits, labels, _, hcat, z_q_x = self._forward(x, None, heard)
        target = oracle_mask(x, lengths, ratio=self.config["ratio"]).float()
        valid = valid_frames[..., None].expand_as(target)
        out = decoder_losses(mask_logits, target, valid, hcat, z_q_x, self.config["beta"])
        w_in = self.config.get("fidelity_weight", 0.0)
        w_out = self.config.get("faithfulness_weight", 0.0)
        if w_in > 0 or w_out > 0:
            m = self._training_mask(mask_logits, valid[..., :1])
            with evaluating(self.classifier):
                terms = classifier_terms(self._logits_of(heard), x, m, labels,
                                         fidelity_weight=w_in, faithfulness_weight=w_out)
            if w_in > 0:
                out["fidelity"] = terms["fidelity"]
                out["total"] = out["total"] + w_in * out["fidelity"]
            if w_out > 0:
                out["faithfulness"] = terms["faithfulness"]
                out["total"] = out["total"] + w_out * out["faithfulness"]
        return out

    def _training_mask(self, mask_logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The mask the classifier terms see (see :func:`lab.piq.losses.training_mask`)."""
        return training_mask(mask_logits, valid, threshold=self.config["threshold"],
                             straight_through=self.config.get("straight_through", False))

    # --------------------------------------------------------------- training
    def _make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return training.make_optimizer(self, lr)

    def train_step(self, x: torch.Tensor, lengths: torch.Tensor | None = None, *,
                   lr: float = 2e-3, phase=None, samples=None) -> dict:
        """One optimizer step on a batch at learning rate ``lr``; returns the losses.

        ``phase`` and ``samples``: see :meth:`predict`.
        """
        return training.train_step(self, x, lengths, lr=lr, phase=phase, samples=samples)

    def fit(
        self,
        batches: Iterable | None = None,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 2e-3,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = True,
        max_steps: int | None = None,
        stop: StopToken = None,
        progress: bool = True,
        augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
        | None = None,
        should_stop: StopToken = None,
        on_progress: ProgressHook | None = None,
    ) -> list[dict]:
        """Train the decoder; returns the per-epoch history.

        Parameters
        ----------
        batches : iterable, optional
            Re-iterable batches with ``features`` (B, T, F) and ``feature_lengths``
            (dicts or objects); for an adapted classifier also ``phase`` and ``samples``
            (:func:`lab.piq.audio_batches` makes them from any list of audio). Default: the
            keyword utterances of the corpus's train split, shuffled (zoo:
            ``lab.data.Corpus("train", features="log_power")`` through
            ``lab.data.collate``; adapted classifiers: their audio through
            :func:`lab.piq.audio_batches`). Training targets the classifier's own
            predictions.
        epochs, batch_size : int
        lr : float
            Adam's learning rate for every step of this call (also after resuming).
        checkpoint : path, optional
            Written after every epoch and on interruption; with ``resume=True`` an
            existing file is loaded first and training continues from its epoch.
        max_steps : int, optional
            Stop after this many optimizer steps in total.
        should_stop : threading.Event or callable, optional
            Checked between steps; when set, training stops after saving. ``stop`` is its
            older name.
        progress : bool
            Show a tqdm progress bar.
        on_progress : callable, optional
            ``on_progress(done, total)`` after every step (sized ``batches`` only count).
        augment : callable, optional
            ``(features, lengths) -> (features, lengths)`` applied to every training batch,
            e.g. ``lab.training.augment.other_voices_log_power``: a decoder that only saw the
            training voices keeps the class on them far more often than on new ones. Zoo
            classifiers only (an adapted classifier hears audio: augment the audio list).

        KeyboardInterrupt also stops training after saving the checkpoint.
        """
        if stop is not None and should_stop is not None:
            raise ArgumentError("pass the stop token as should_stop= or stop=, not both")
        return training.fit(
            self, batches, epochs=epochs, batch_size=batch_size, lr=lr, checkpoint=checkpoint,
            resume=resume, max_steps=max_steps, should_stop=should_stop or stop,
            progress=progress, on_progress=on_progress, augment=augment,
        )

    # ------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Weights-only-loadable description of the trained decoder."""
        return persistence.state_of(self)

    def save(self, path: str | os.PathLike) -> str:
        """Save the decoder (weights and config, no optimizer); returns the file's SHA-256."""
        return persistence.write_decoder(self, path)

    def save_checkpoint(self, path: str | os.PathLike) -> str:
        """Save decoder and optimizer so that :meth:`fit` can resume; returns the SHA-256."""
        return persistence.write_decoder(self, path, optimizer=True)

    def load_state(self, state: dict) -> None:
        """Load a :meth:`state` dict; a mismatch is a :class:`~lab.errors.CheckpointError`."""
        persistence.apply_state(self, state)

    def load_checkpoint(self, path: str | os.PathLike, *, lr: float | None = None) -> None:
        """Load a file written by :meth:`save` or :meth:`save_checkpoint` (weights_only).

        The optimizer (when the file has one) resumes at the learning rate it was saved
        with, or at ``lr`` when given. Every problem is a CheckpointError naming the file.
        """
        lr = real("lr", lr, minimum=0.0, strict=True, allow_none=True)
        state = persistence.read_decoder(path)
        source = f"checkpoint {Path(path)}"
        persistence.apply_state(self, state, source)
        if "optimizer" in state:
            persistence.load_optimizer(self, state, source)
            if lr is not None:
                training.make_optimizer(self, lr)

    @classmethod
    def from_pretrained(
        cls, classifier: nn.Module | None = None, path: str | os.PathLike | None = None,
        *, variant: str = "piq", **kwargs,
    ) -> PIQInterpreter:
        """The shipped decoder for ``lab.models.load_pretrained("classifier")``.

        ``variant`` picks a shipped file (:data:`VARIANTS`) unless ``path`` is given. The
        file's SHA-256 is checked against the digest recorded next to it (``<name>.sha256``,
        required for shipped files, optional for your own ``path``) before it is loaded
        with ``weights_only=True``. Every problem with the file is a CheckpointError naming it.
        """
        shipped = path is None
        path = Path(path) if path is not None else pretrained_path(variant)
        state = persistence.read_decoder(path, verify=True if shipped else None)
        source = f"checkpoint {path}"
        if not isinstance(state["config"], dict) or not isinstance(state["class_names"], list):
            raise CheckpointError(f"{source}: 'config' must be a dict and 'class_names' a list")
        trained_on = state.get("model")
        if trained_on is not None and classifier is None:
            raise CheckpointError(
                f"{source} is a PIQ decoder for {persistence.describe_model(trained_on)}; "
                "pass that model: PIQInterpreter.from_pretrained(model, path)")
        # The config holds every constructor argument (older files lack the newer ones, which
        # then take their defaults); the rest of it is derived from the classifier.
        arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "classifier",
                                                                         "class_names"}
        settings = {k: v for k, v in state["config"].items() if k in arguments}
        defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                    if k in arguments}
        try:
            _checked_options(**{k: v for k, v in {**defaults, **settings}.items()
                                if k != "layer"})
        except (ArgumentError, ArgumentTypeError) as exc:
            raise CheckpointError(f"{source}: bad config: {exc}") from None
        if classifier is None:
            from lab.models import load_pretrained

            classifier = load_pretrained("classifier")
        try:
            interpreter = cls(classifier, **{**settings, "class_names": state["class_names"],
                                             **kwargs})
        except (ArgumentError, ArgumentTypeError) as exc:
            if "class_names" in str(exc) and "class_names" not in kwargs:
                raise CheckpointError(f"{source} does not fit the classifier: {exc}") from None
            if trained_on is not None and "layer" not in kwargs:
                # the file's layer or classes do not exist in this model: it is another one
                raise CheckpointError(
                    f"{source} is a PIQ decoder for {persistence.describe_model(trained_on)} "
                    f"and does not fit {type(classifier).__name__}: {exc}") from None
            raise
        persistence.apply_state(interpreter, state, source)
        return interpreter

    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, phase=None,
              samples=None) -> torch.Tensor:
        """Codebook indices (B, h, w) chosen for log-power spectrograms (B, T, F).

        ``labels=None`` uses the classifier's prediction, as in training. ``phase`` and
        ``samples``: see :meth:`predict`.
        """
        x = self._check_features(x)
        h, logits = self._represent(x, self._heard(x, phase, samples))
        with torch.no_grad(), evaluating(self.psi):
            if labels is None:
                labels = logits.argmax(-1)
            labels = self._check_labels(labels, x.shape[0])
            return self.psi.codebook(self.psi.adapter(h), labels)

    def class_block(self, label: int) -> range:
        """Codebook indices owned by class ``label`` (the shared entries are the last ones)."""
        label = integer("label", label)
        per = self.config["codes_per_class"]
        if not 0 <= label < self.num_classes:
            raise ArgumentError(f"label must lie in [0, {self.num_classes}), got {label}")
        return range(label * per, (label + 1) * per)

    # ---------------------------------------------------------- interpreting
    def soft_masks(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, phase=None,
                   samples=None) -> torch.Tensor:
        """Decoder masks in [0, 1], (B, T, F), for the predicted (or given) classes.

        ``phase`` and ``samples``: see :meth:`predict`.
        """
        with torch.no_grad(), evaluating(self.psi):
            mask_logits, _, _ = self.decode(x, labels, phase=phase, samples=samples)
        return mask_logits.sigmoid()

    def interpret(
        self,
        audio_or_features,
        *,
        label: int | None = None,
        threshold: float | None = None,
        sr: int = 16000,
    ) -> Interpretation:
        """Interpret one utterance.

        Parameters
        ----------
        audio_or_features : np.ndarray, torch.Tensor, str, path or bytes
            A 1-D waveform sampled at ``sr`` (integer PCM such as int16 is scaled to
            [-1, 1]; another rate is resampled to 16 kHz), an audio file (resampled to
            16 kHz), or (zoo classifiers) a (T, n_bins) log-power spectrogram. An adapted
            classifier needs audio: it hears the masked spectrogram resynthesised with the
            input phase, and ``waveform`` is exactly that.
        label : int, optional
            Class to interpret; default the classifier's prediction.
        threshold : float, optional
            Relative threshold on this utterance's own mask maximum (default from config).
        sr : int
            Sample rate of a waveform array.
        """
        label = integer("label", label, allow_none=True)
        threshold = real("threshold", threshold, minimum=0.0, maximum=1.0, allow_none=True)
        log_power, phase, length = spectrogram_of(audio_or_features, sr)
        x = self._check_features(torch.from_numpy(log_power))
        heard = {}
        if self._view:
            if phase is None:
                raise ArgumentError(
                    f"audio_or_features: {type(self.model.module).__name__} hears audio; pass "
                    "a waveform or an audio file, not a log-power spectrogram (its phase is "
                    "what the masked audio is resynthesised with)")
            heard = dict(phase=torch.from_numpy(phase)[None], samples=torch.tensor([length]))
        labels = None if label is None else torch.tensor([label])
        with torch.no_grad(), evaluating(self.psi):
            mask_logits, used, probs = self.decode(x, labels, **heard)
        soft = mask_logits.sigmoid()[0].cpu().numpy()
        threshold = self.config["threshold"] if threshold is None else threshold
        mask = threshold_mask(soft, threshold)
        interpreted = (mask * log_power).astype(np.float32)
        c = int(used[0])
        return Interpretation(
            label=c, class_name=self.class_names[c], probabilities=probs[0].cpu().numpy(),
            soft_mask=soft, threshold=threshold, mask=mask, log_power=log_power,
            interpreted_log_power=interpreted, phase=phase,
            waveform=listen(interpreted, phase, length), length=length,
        )
