"""Train a PSI decoder on a frozen classifier and turn its decisions into listenable masks.

The classifier must expose ``embed(x) -> (B, C, T', F')`` and ``classify(h) -> (B, n_classes)``
on time-major log-power spectrograms ``x`` of shape (B, T, 257). The decoder sees the
representation quantized with the codes of the predicted class only, and learns to output a
mask over the spectrogram's time-frequency bins.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lab.errors import ArgumentError, ArgumentTypeError
from lab.piq.networks import VectorQuantizedPSI_Audio

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

#: Shipped decoder weights (trained on lab's keyword classifier) and their recorded digest.
PRETRAINED_PATH = Path(__file__).with_name("checkpoints") / "piq.pt"
#: Shipped variants: "piq" is trained with the PIQ loss only; "piq_fidelity" adds the
#: masked-in classifier term (``fidelity_weight``), a lab extension.
VARIANTS = ("piq", "piq_fidelity")


def pretrained_path(variant: str = "piq") -> Path:
    """Path of a shipped decoder variant (see :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ArgumentError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return PRETRAINED_PATH.with_name(f"{variant}.pt")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _frame_mask(lengths: torch.Tensor | None, batch: int, frames: int) -> torch.Tensor:
    """(B, T) boolean mask of the frames that are not padding."""
    if lengths is None:
        return torch.ones(batch, frames, dtype=torch.bool)
    return torch.arange(frames)[None, :] < torch.as_tensor(lengths).reshape(-1, 1)


def oracle_mask(
    log_power: torch.Tensor, lengths: torch.Tensor | None = None, *, ratio: float = 0.35
) -> torch.Tensor:
    """Bins above ``ratio`` × each utterance's OWN maximum log-power (the decoder's target).

    Parameters
    ----------
    log_power : torch.Tensor, shape (B, T, F)
        Padded log-power spectrograms.
    lengths : torch.Tensor, shape (B,), optional
        Valid frames per utterance; padding never counts towards the maximum nor the mask.
    ratio : float
        Fraction of the per-utterance maximum.

    Examples
    --------
    >>> x = torch.tensor([[[0.0, 1.0], [4.0, 2.0]], [[9.0, 3.0], [0.0, 0.0]]])
    >>> oracle_mask(x).int().tolist()
    [[[0, 0], [1, 1]], [[1, 0], [0, 0]]]
    """
    if log_power.dim() != 3:
        raise ArgumentError(f"log_power must be (B, T, F), got shape {tuple(log_power.shape)}")
    valid = _frame_mask(lengths, log_power.shape[0], log_power.shape[1]).to(log_power.device)
    masked = log_power.masked_fill(~valid[..., None], float("-inf"))
    peak = masked.flatten(1).amax(1).clamp_min(0.0)
    return (log_power > ratio * peak[:, None, None]) & valid[..., None]


def threshold_mask(soft_mask: np.ndarray, threshold: float) -> np.ndarray:
    """Binary mask of the bins where ``soft_mask >= threshold × soft_mask.max()`` (one utterance).

    The maximum is taken over this utterance only, never over a batch.

    Examples
    --------
    >>> threshold_mask(np.array([[0.2, 0.8], [0.4, 0.1]]), 0.5).astype(int).tolist()
    [[0, 1], [1, 0]]
    """
    if not 0.0 <= threshold <= 1.0:
        raise ArgumentError(f"threshold must lie in [0, 1], got {threshold}")
    soft_mask = np.asarray(soft_mask)
    if soft_mask.ndim != 2:
        raise ArgumentError(f"soft_mask must be (T, F) for one utterance, got {soft_mask.shape}")
    peak = float(soft_mask.max()) if soft_mask.size else 0.0
    return soft_mask >= threshold * peak


@dataclass
class Interpretation:
    """What the classifier heard in one utterance.

    Attributes
    ----------
    label : int
        Predicted class (or the class asked for).
    class_name : str
    probabilities : np.ndarray, shape (n_classes,)
        Softmax of the classifier's logits.
    soft_mask : np.ndarray, shape (T, F)
        Decoder output in [0, 1].
    threshold : float
        Relative threshold giving ``mask``.
    mask : np.ndarray of bool, shape (T, F)
    log_power : np.ndarray, shape (T, F)
        The input log-power spectrogram.
    interpreted_log_power : np.ndarray, shape (T, F)
        ``mask × log_power``.
    phase : np.ndarray or None, shape (T, F)
        Phase of the input STFT (None when only features were given).
    waveform : np.ndarray
        Listenable interpretation (16 kHz), inverse STFT with the input phase
        (Griffin-Lim when the phase is unknown).
    length : int or None
        Samples of the original audio.
    """

    label: int
    class_name: str
    probabilities: np.ndarray
    soft_mask: np.ndarray
    threshold: float
    mask: np.ndarray
    log_power: np.ndarray
    interpreted_log_power: np.ndarray
    phase: np.ndarray | None
    waveform: np.ndarray = field(repr=False)
    length: int | None = None

    @property
    def mask_area(self) -> float:
        """Fraction of time-frequency bins kept by the mask."""
        return float(self.mask.mean())

    def with_threshold(self, threshold: float) -> Interpretation:
        """The same interpretation re-thresholded (no network call); waveform recomputed."""
        mask = threshold_mask(self.soft_mask, threshold)
        interpreted = (mask * self.log_power).astype(np.float32)
        return replace(
            self, threshold=float(threshold), mask=mask, interpreted_log_power=interpreted,
            waveform=_listen(interpreted, self.phase, self.length),
        )


def _listen(log_power: np.ndarray, phase: np.ndarray | None, length: int | None) -> np.ndarray:
    from lab.audio import waveform_from_log_power

    return waveform_from_log_power(log_power, phase, length=length)


def _field(batch, name: str):
    return batch[name] if isinstance(batch, dict) else getattr(batch, name)


class PIQInterpreter:
    """Post-hoc interpretation of a frozen classifier via class-partitioned quantization.

    Parameters
    ----------
    classifier : nn.Module
        Exposes ``embed(x) -> (B, C, T', F')`` and ``classify(h) -> logits`` on
        (B, T, n_bins) log-power spectrograms. It is frozen (eval mode, no gradients).
    class_names : list of str, optional
        Names of the classifier's outputs (default: ``lab.data.KEYWORDS`` when the
        counts match, else the indices).
    codes_per_class : int
        Codebook entries owned by each class.
    shared_keys : int
        Codebook entries shared by all classes.
    decoder_channels : int
        Channels of the decoder's first layer.
    ratio : float
        The training target is the bins above ``ratio`` × each utterance's max log-power.
    beta : float
        Weight of the commitment loss.
    threshold : float
        Default relative threshold of :meth:`interpret`.
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
    ) -> None:
        for name in ("embed", "classify"):
            if not callable(getattr(classifier, name, None)):
                raise ArgumentTypeError(
                    f"classifier must have an `{name}` method (see PIQInterpreter)"
                )
        if not 0.0 < ratio < 1.0:
            raise ArgumentError(f"ratio must lie in (0, 1), got {ratio}")
        self.classifier = classifier.eval()
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            h = classifier.embed(torch.zeros(1, 64, n_bins))
            n_classes = int(classifier.classify(h).shape[-1])
        if class_names is None:
            try:
                from lab.data import KEYWORDS

                names = list(KEYWORDS)
            except ImportError:
                names = []
            class_names = names if len(names) == n_classes else [str(i) for i in range(n_classes)]
        if len(class_names) != n_classes:
            raise ArgumentError(
                f"class_names has {len(class_names)} names but the classifier has "
                f"{n_classes} outputs"
            )
        self.class_names = list(class_names)
        # Stride-2 upsamplings until one axis is back at input resolution (64 frames or
        # n_bins); interpolation does the rest. A mel front end pools frequency much harder
        # than time, and upsampling for frequency alone would make the decoder build (and pay
        # for) a map eight times longer than the input.
        up_time = max(0, round(math.log2(64 / h.shape[-2])))
        up_freq = max(0, round(math.log2(n_bins / h.shape[-1])))
        n_upsample = min(up_time, up_freq)
        self.config = dict(
            dim=int(h.shape[1]), numclasses=n_classes, codes_per_class=codes_per_class,
            shared_keys=shared_keys, decoder_channels=decoder_channels, n_upsample=n_upsample,
            ratio=ratio, beta=beta, threshold=threshold, fidelity_weight=fidelity_weight,
            faithfulness_weight=faithfulness_weight, straight_through=bool(straight_through),
            n_bins=n_bins,
        )
        self.psi = VectorQuantizedPSI_Audio(
            dim=self.config["dim"], K=codes_per_class * n_classes + shared_keys,
            numclasses=n_classes, activate_class_partitioning=True, shared_keys=shared_keys,
            use_adapter=True, adapter_reduce_dim=False, n_upsample=n_upsample,
            decoder_channels=decoder_channels,
        )
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

    def _check_features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.config["n_bins"]:
            raise ArgumentError(
                f"features must be log-power spectrograms (B, T, {self.config['n_bins']}) "
                f"or (T, {self.config['n_bins']}), got shape {tuple(x.shape)}"
            )
        return x

    def _check_labels(self, labels, batch: int) -> torch.Tensor:
        labels = torch.as_tensor(labels).reshape(-1).long()
        if labels.numel() != batch:
            raise ArgumentError(f"labels has {labels.numel()} entries for a batch of {batch}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ArgumentError(
                f"labels must lie in [0, {self.num_classes}), got {labels.tolist()}"
            )
        return labels

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, n_classes) of log-power spectrograms (B, T, F); softmax once."""
        with torch.no_grad():
            return self.classifier.classify(self.classifier.embed(self._check_features(x))).softmax(
                -1
            )

    def decode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits (B, T, F), the labels used (B,) and class probabilities (B, n_classes).

        ``labels=None`` uses the classifier's prediction.
        """
        mask_logits, labels, probs, _, _ = self._forward(self._check_features(x), labels)
        return mask_logits, labels, probs

    def _forward(self, x, labels):
        with torch.no_grad():
            h = self.classifier.embed(x)
            probs = self.classifier.classify(h).softmax(-1)
        labels = probs.argmax(-1) if labels is None else self._check_labels(labels, x.shape[0])
        x_tilde, hcat, z_q_x = self.psi(h, labels)
        mask_logits = F.interpolate(x_tilde, size=tuple(x.shape[1:]), mode="bilinear",
                                    align_corners=False).squeeze(1)
        return mask_logits, labels, probs, hcat, z_q_x

    def loss(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        """Training losses on a padded batch (B, T, F): BCE to the oracle mask, VQ, commitment.

        With ``fidelity_weight > 0`` a ``fidelity`` term is added, with
        ``faithfulness_weight > 0`` a ``faithfulness`` term (see the class docstring).
        """
        x = self._check_features(x)
        mask_logits, labels, _, hcat, z_q_x = self._forward(x, None)
        target = oracle_mask(x, lengths, ratio=self.config["ratio"]).float()
        valid = _frame_mask(lengths, x.shape[0], x.shape[1])[..., None].expand_as(target)
        bce = F.binary_cross_entropy_with_logits(mask_logits[valid], target[valid])
        vq = F.mse_loss(z_q_x, hcat.detach())
        commitment = F.mse_loss(hcat, z_q_x.detach())
        total = bce + vq + self.config["beta"] * commitment
        out = dict(total=total, bce=bce, vq=vq, commitment=commitment)
        w_in = self.config.get("fidelity_weight", 0.0)
        w_out = self.config.get("faithfulness_weight", 0.0)
        if w_in > 0 or w_out > 0:
            m = self._training_mask(mask_logits, valid[..., :1])
            both = torch.cat([m * x, (1 - m) * x])  # one classifier call for both terms
            logits = self.classifier.classify(self.classifier.embed(both))
            logits_in, logits_out = logits[: x.shape[0]], logits[x.shape[0]:]
            if w_in > 0:
                out["fidelity"] = F.cross_entropy(logits_in, labels)
                out["total"] = out["total"] + w_in * out["fidelity"]
            if w_out > 0:
                p_out = logits_out.softmax(-1).gather(1, labels[:, None]).squeeze(1)
                out["faithfulness"] = -torch.log1p(-p_out.clamp(max=1 - 1e-6)).mean()
                out["total"] = out["total"] + w_out * out["faithfulness"]
        return out

    def _training_mask(self, mask_logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The mask the classifier terms see: soft, or binary with straight-through gradients."""
        soft = mask_logits.sigmoid() * valid
        if not self.config.get("straight_through", False):
            return soft
        # Same rule as threshold_mask: relative to each utterance's own maximum.
        peak = soft.detach().flatten(1).amax(1)[:, None, None]
        hard = (soft.detach() >= self.config["threshold"] * peak).to(soft.dtype) * valid
        return hard + soft - soft.detach()

    # --------------------------------------------------------------- training
    def _make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.psi.parameters(), lr=lr)
        return self._optimizer

    def train_step(self, x: torch.Tensor, lengths: torch.Tensor | None = None, *,
                   lr: float = 2e-3) -> dict:
        """One optimizer step on a batch; returns the losses as floats."""
        self.psi.train()
        optimizer = self._make_optimizer(lr)
        losses = self.loss(x, lengths)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        self.step += 1
        return {k: v.item() for k, v in losses.items()}

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
        stop: threading.Event | Callable[[], bool] | None = None,
        progress: bool = True,
        augment: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
        | None = None,
    ) -> list[dict]:
        """Train the decoder; returns the per-epoch history.

        Parameters
        ----------
        batches : iterable, optional
            Re-iterable batches with ``features`` (B, T, F) and ``feature_lengths``
            (dicts or objects). Default: the keyword utterances of
            ``lab.data.Corpus("train", features="log_power")``, shuffled, through
            ``lab.data.collate``.
        checkpoint : path, optional
            Written after every epoch and on interruption; with ``resume=True`` an
            existing file is loaded first and training continues from its epoch.
        max_steps : int, optional
            Stop after this many optimizer steps in total.
        stop : threading.Event or callable, optional
            Checked between steps; when set, training stops after saving.
        augment : callable, optional
            ``(features, lengths) -> (features, lengths)`` applied to every training batch,
            e.g. ``lab.training.augment.other_voices_log_power``: a decoder that only saw the
            training voices keeps the class on them far more often than on new ones.

        KeyboardInterrupt also stops training after saving the checkpoint.
        """
        from tqdm.auto import tqdm

        if batches is None:
            from torch.utils.data import DataLoader

            from lab.data import Corpus, collate

            generator = torch.Generator().manual_seed(self.epoch)
            corpus = Corpus("train", features="log_power", keywords_only=True)
            batches = DataLoader(corpus, batch_size=batch_size, shuffle=True,
                                 collate_fn=collate, generator=generator)
        if checkpoint is not None and resume and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint)
        should_stop = stop.is_set if isinstance(stop, threading.Event) else stop
        self._make_optimizer(lr)
        try:
            while self.epoch < epochs:
                sums: dict[str, float] = {}
                count = 0
                bar = tqdm(batches, desc=f"PIQ epoch {self.epoch + 1}/{epochs}",
                           disable=not progress, leave=False)
                for batch in bar:
                    if (max_steps is not None and self.step >= max_steps) or (
                        should_stop is not None and should_stop()
                    ):
                        raise _Stop
                    features = _field(batch, "features")
                    lengths = _field(batch, "feature_lengths")
                    if augment is not None:
                        features, lengths = augment(features, lengths)
                    losses = self.train_step(features, lengths, lr=lr)
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + v
                    count += 1
                    bar.set_postfix(loss=f"{losses['total']:.3f}", bce=f"{losses['bce']:.3f}")
                self.epoch += 1
                self.history.append(
                    {"epoch": self.epoch, "step": self.step,
                     **{k: v / max(count, 1) for k, v in sums.items()}}
                )
                if checkpoint is not None:
                    self.save_checkpoint(checkpoint)
        except (KeyboardInterrupt, _Stop):
            if checkpoint is not None:
                self.save_checkpoint(checkpoint)
        finally:
            self.psi.eval()
        return self.history

    # ------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Weights-only-loadable description of the trained decoder."""
        return {
            "format": "lab.piq/1",
            "config": dict(self.config),
            "class_names": list(self.class_names),
            "psi": {k: v.detach().clone() for k, v in self.psi.state_dict().items()},
            "history": [dict(h) for h in self.history],
            "epoch": self.epoch,
            "step": self.step,
            "provenance": dict(self.provenance),
        }

    def save(self, path: str | os.PathLike) -> str:
        """Save the decoder (weights and config, no optimizer); returns the file's SHA-256."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.state(), path)
        return sha256_of(path)

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Save decoder and optimizer so that :meth:`fit` can resume."""
        state = self.state()
        if self._optimizer is not None:
            state["optimizer"] = self._optimizer.state_dict()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind

    def load_state(self, state: dict) -> None:
        if state.get("format") != "lab.piq/1":
            raise ArgumentError("not a lab.piq checkpoint (missing format 'lab.piq/1')")
        mismatched = {k: (v, self.config.get(k)) for k, v in state["config"].items()
                      if k in ("dim", "numclasses", "codes_per_class", "shared_keys",
                               "decoder_channels", "n_upsample", "n_bins")
                      and self.config.get(k) != v}
        if mismatched:
            raise ArgumentError(f"checkpoint does not fit this classifier/config: {mismatched}")
        self.config.update(state["config"])
        self.class_names = list(state["class_names"])
        self.psi.load_state_dict(state["psi"])
        self.history = list(state.get("history", []))
        self.provenance = dict(state.get("provenance", {}))
        self.epoch = int(state.get("epoch", 0))
        self.step = int(state.get("step", 0))
        self.psi.eval()

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a file written by :meth:`save` or :meth:`save_checkpoint` (weights_only)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state(state)
        if "optimizer" in state:
            self._make_optimizer(2e-3).load_state_dict(state["optimizer"])

    @classmethod
    def from_pretrained(
        cls, classifier: nn.Module | None = None, path: str | os.PathLike | None = None,
        *, variant: str = "piq", **kwargs,
    ) -> PIQInterpreter:
        """The shipped decoder for ``lab.models.load_pretrained("classifier")``.

        ``variant`` picks a shipped file (:data:`VARIANTS`) unless ``path`` is given. The
        file's SHA-256 is checked against the digest recorded next to it (``<name>.sha256``,
        required for shipped files, optional for your own ``path``) before it is loaded
        with ``weights_only=True``.
        """
        shipped = path is None
        path = Path(path) if path is not None else pretrained_path(variant)
        digest_file = path.with_suffix(".sha256")
        if shipped and not digest_file.exists():
            raise ArgumentError(f"{digest_file} is missing: the shipped decoder cannot be verified")
        if digest_file.exists():
            expected = digest_file.read_text().split()[0]
            actual = sha256_of(path)
            if actual != expected:
                raise ArgumentError(
                    f"{path} has SHA-256 {actual}, expected {expected} (recorded in "
                    f"{digest_file.name}); the file is corrupt or was replaced"
                )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if classifier is None:
            from lab.models import load_pretrained

            classifier = load_pretrained("classifier")
        # The config holds every constructor argument (older files lack the newer ones, which
        # then take their defaults); the rest of it is derived from the classifier.
        arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "classifier"}
        settings = {k: v for k, v in state["config"].items() if k in arguments}
        interpreter = cls(classifier, **{**settings, "class_names": state["class_names"],
                                         **kwargs})
        interpreter.load_state(state)
        return interpreter

    def codes(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codebook indices (B, h, w) chosen for log-power spectrograms (B, T, F).

        ``labels=None`` uses the classifier's prediction, as in training.
        """
        x = self._check_features(x)
        self.psi.eval()
        with torch.no_grad():
            h = self.classifier.embed(x)
            if labels is None:
                labels = self.classifier.classify(h).argmax(-1)
            labels = self._check_labels(labels, x.shape[0])
            return self.psi.codebook(self.psi.adapter(h), labels)

    def class_block(self, label: int) -> range:
        """Codebook indices owned by class ``label`` (the shared entries are the last ones)."""
        per = self.config["codes_per_class"]
        if not 0 <= label < self.num_classes:
            raise ArgumentError(f"label must lie in [0, {self.num_classes}), got {label}")
        return range(label * per, (label + 1) * per)

    # ---------------------------------------------------------- interpreting
    def soft_masks(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder masks in [0, 1], (B, T, F), for the predicted (or given) classes."""
        self.psi.eval()
        with torch.no_grad():
            mask_logits, _, _ = self.decode(x, labels)
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
        audio_or_features : np.ndarray, torch.Tensor, str or path
            A 1-D 16 kHz waveform, an audio file, or a (T, n_bins) log-power spectrogram.
        label : int, optional
            Class to interpret; default the classifier's prediction.
        threshold : float, optional
            Relative threshold on this utterance's own mask maximum (default from config).
        """
        from lab.audio import load, log_power_spectrogram

        phase = None
        length = None
        data = audio_or_features
        if isinstance(data, (str, os.PathLike)):
            data = load(data, sr=sr)
        data = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        if data.ndim == 1:
            length = len(data)
            log_power, phase = log_power_spectrogram(data.astype(np.float32))
        elif data.ndim == 2:
            log_power = data.astype(np.float32)
        else:
            raise ArgumentError(
                "audio_or_features must be a 1-D waveform or a (T, n_bins) log-power "
                f"spectrogram, got shape {data.shape}"
            )
        x = self._check_features(torch.from_numpy(log_power))
        labels = None if label is None else torch.tensor([label])
        self.psi.eval()
        with torch.no_grad():
            mask_logits, used, probs = self.decode(x, labels)
        soft = mask_logits.sigmoid()[0].numpy()
        threshold = self.config["threshold"] if threshold is None else float(threshold)
        mask = threshold_mask(soft, threshold)
        interpreted = (mask * log_power).astype(np.float32)
        c = int(used[0])
        return Interpretation(
            label=c, class_name=self.class_names[c], probabilities=probs[0].numpy(),
            soft_mask=soft, threshold=threshold, mask=mask, log_power=log_power,
            interpreted_log_power=interpreted, phase=phase,
            waveform=_listen(interpreted, phase, length), length=length,
        )


class _Stop(Exception):
    """Internal: leave the training loop (max_steps reached or stop requested)."""
