"""A small streaming RNN transducer (RNN-T).

Design (streaming by construction, no look-ahead):

* **Encoder** — standardized MFCC frames → one causal 1-D convolution (kernel 3, stride 2,
  left padding only) that halves the frame rate to 40 ms → a unidirectional LSTM. Output
  frame ``j`` depends only on input frames ``≤ 2j``, so a stream can emit it as soon as that
  frame arrives.
* **Prediction network** — embedding of the previous non-blank symbol (blank starts the
  sequence) → LSTM.
* **Joiner** — ``Linear(tanh(W_e enc + W_p pred))`` → logits over the alphabet + blank.
* **Auxiliary CTC head** on the encoder, trained jointly (weight 0.5) to speed up learning.

Greedy decoding emits up to ``max_symbols_per_frame`` symbols per encoder frame. Offline
decoding runs the encoder over the whole utterance; :meth:`Transducer.stream` feeds chunks of
any size through :class:`TransducerStream`, which carries the convolution buffer and both
LSTM states, and therefore produces the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.models._checks import check_features, check_lengths
from lab.models.normalize import FeatureNormalizer

__all__ = ["CausalSubsampler", "Transducer", "TransducerStream"]


class CausalSubsampler(nn.Module):
    """Causal 1-D convolution with stride 2 over time: (B, T, F) → (B, ceil(T / 2), C)."""

    kernel_size = 3
    stride = 2

    def __init__(self, n_features: int, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(n_features, channels, self.kernel_size, stride=self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Left padding only: no output frame sees the future.
        x = nn.functional.pad(x.transpose(1, 2), (self.kernel_size - 1, 0))
        return torch.relu(self.conv(x)).transpose(1, 2)

    def initial_buffer(self, n_features: int) -> torch.Tensor:
        """The left padding a stream starts with, shape (1, kernel_size - 1, F)."""
        return torch.zeros(1, self.kernel_size - 1, n_features)

    def step(self, buffer: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Consume frames ``x`` (1, n, F); return the output frames now complete and the buffer."""
        buffer = torch.cat([buffer, x], dim=1)
        n_out = (buffer.shape[1] - self.kernel_size) // self.stride + 1
        if n_out <= 0:
            return buffer.new_zeros(1, 0, self.conv.out_channels), buffer
        used = buffer[:, : (n_out - 1) * self.stride + self.kernel_size]
        out = torch.relu(self.conv(used.transpose(1, 2))).transpose(1, 2)
        return out, buffer[:, n_out * self.stride :]


class Transducer(nn.Module):
    """Streaming RNN transducer over MFCC frames.

    Parameters
    ----------
    n_features : int
        Features per input frame.
    n_classes : int
        Output symbols including blank (index 0).
    conv_channels, encoder_hidden, encoder_layers : int
        Sizes of the causal convolution and the encoder LSTM.
    embed_dim, predictor_hidden : int
        Sizes of the prediction network.
    joint_dim : int
        Width of the joiner's hidden layer.
    max_symbols_per_frame : int
        Cap on symbols emitted per encoder frame during greedy decoding.
    predictor_dropout : float
        Dropout on the prediction network's input during training.
    predictor_context : int
        0: an LSTM prediction network; k > 0: a "stateless" one that sees only the last k
        symbols (embedding → linear → ReLU).

    Examples
    --------
    >>> import torch
    >>> model = Transducer(encoder_hidden=32, predictor_hidden=16, joint_dim=16).eval()
    >>> tokens = torch.tensor([[3, 4, 5]])
    >>> logits, lengths = model(torch.zeros(1, 9, 26), torch.tensor([9]), tokens)
    >>> logits.shape, lengths.tolist()
    (torch.Size([1, 5, 4, 29]), [5])
    """

    feature_kind = "mfcc"
    blank = 0

    def __init__(
        self,
        n_features: int = 26,
        n_classes: int = 29,
        conv_channels: int = 128,
        encoder_hidden: int = 256,
        encoder_layers: int = 1,
        embed_dim: int = 64,
        predictor_hidden: int = 128,
        joint_dim: int = 192,
        max_symbols_per_frame: int = 4,
        predictor_dropout: float = 0.0,
        predictor_context: int = 0,
    ):
        super().__init__()
        self.config = dict(
            n_features=n_features, n_classes=n_classes, conv_channels=conv_channels,
            encoder_hidden=encoder_hidden, encoder_layers=encoder_layers, embed_dim=embed_dim,
            predictor_hidden=predictor_hidden, joint_dim=joint_dim,
            max_symbols_per_frame=max_symbols_per_frame, predictor_dropout=predictor_dropout,
            predictor_context=predictor_context,
        )
        self.normalize = FeatureNormalizer(n_features)
        self.subsample = CausalSubsampler(n_features, conv_channels)
        self.encoder = nn.LSTM(conv_channels, encoder_hidden, num_layers=encoder_layers,
                               batch_first=True)
        self.embedding = nn.Embedding(n_classes, embed_dim)
        if predictor_context:
            # "Stateless" prediction network: only the last few symbols, so it cannot become
            # a language model strong enough to ignore the encoder.
            self.predictor = nn.Linear(predictor_context * embed_dim, predictor_hidden)
        else:
            self.predictor = nn.LSTM(embed_dim, predictor_hidden, batch_first=True)
        # On a small closed vocabulary the prediction network alone guesses well; dropout on
        # its input makes the joiner rely on the encoder (what it hears) sooner.
        self.predictor_dropout = nn.Dropout(predictor_dropout)
        self.joint_encoder = nn.Linear(encoder_hidden, joint_dim)
        self.joint_predictor = nn.Linear(predictor_hidden, joint_dim)
        self.joint_output = nn.Linear(joint_dim, n_classes)
        # Auxiliary CTC head on the encoder: a training aid (the transducer otherwise spends
        # many epochs as a pure language model before it starts listening), and a source of
        # per-frame posteriors for panels.
        self.ctc_output = nn.Linear(encoder_hidden, n_classes)

    # -- building blocks -------------------------------------------------------------------
    def encode(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output (B, T', encoder_hidden) and its valid lengths ``ceil(lengths / 2)``."""
        features = check_features(features, self.config["n_features"])
        if lengths is None:
            lengths = torch.full((features.shape[0],), features.shape[1], dtype=torch.long)
        else:
            lengths = check_lengths(lengths, features.shape[0], features.shape[1])
        out, _ = self.encoder(self.subsample(self.normalize(features)))
        return out, (torch.as_tensor(lengths) + 1) // 2

    def ctc_logits(
        self, features: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-encoder-frame CTC logits (B, T', n_classes) of the auxiliary head, and lengths."""
        encoded, lengths = self.encode(features, lengths)
        return self.ctc_output(encoded), lengths

    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prediction network over ``[blank] + tokens``: (B, U) → (B, U + 1, predictor_hidden)."""
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
            raise ArgumentError(
                f"tokens must be a (B, U) tensor of symbol ids, got "
                f"{tuple(tokens.shape) if torch.is_tensor(tokens) else type(tokens).__name__}"
            )
        if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
            raise ArgumentTypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
        n_classes = self.config["n_classes"]
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= n_classes):
            raise ArgumentError(
                f"tokens must lie in [0, {n_classes - 1}], got values in "
                f"[{int(tokens.min())}, {int(tokens.max())}]"
            )
        context = self.config["predictor_context"]
        start = torch.full((tokens.shape[0], max(1, context)), self.blank, dtype=torch.long)
        embedded = self.predictor_dropout(self.embedding(torch.cat([start, tokens.long()], 1)))
        if context:
            # Position u sees symbols u - context + 1 … u (blanks before the start).
            windows = embedded.unfold(1, context, 1)  # (B, U + 1, E, context)
            flat = windows.transpose(2, 3).reshape(windows.shape[0], windows.shape[1], -1)
            return torch.relu(self.predictor(flat))
        out, _ = self.predictor(embedded)
        return out

    def join(self, encoded: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """Joint logits (B, T', U + 1, n_classes) for every encoder/predictor pair."""
        hidden = self.joint_encoder(encoded).unsqueeze(2) + self.joint_predictor(
            predicted
        ).unsqueeze(1)
        return self.joint_output(torch.tanh(hidden))

    def forward(
        self,
        features: torch.Tensor,
        feature_lengths: torch.Tensor,
        tokens: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T', U + 1, n_classes) for the transducer loss, and encoder lengths."""
        encoded, lengths = self.encode(features, feature_lengths)
        return self.join(encoded, self.predict(tokens)), lengths

    # -- greedy decoding -------------------------------------------------------------------
    def _predictor_step(self, symbol: int, state):
        context = self.config["predictor_context"]
        if context:
            history = (state or (self.blank,) * context)[1:] + (symbol,)
            flat = self.embedding(torch.tensor(history)).reshape(-1)
            return self.joint_predictor(torch.relu(self.predictor(flat))), history
        x = self.embedding(torch.tensor([[symbol]]))
        out, state = self.predictor(x, state)
        return self.joint_predictor(out[0, 0]), state

    def _greedy(self, encoded: torch.Tensor, search: dict) -> None:
        """Extend ``search`` (hypothesis, predictor output and state) over encoder frames."""
        projected = self.joint_encoder(encoded)
        for frame in projected:
            for _ in range(self.config["max_symbols_per_frame"]):
                symbol = int(self.joint_output(torch.tanh(frame + search["pred"])).argmax())
                if symbol == self.blank:
                    break
                search["hyp"].append(symbol)
                search["pred"], search["state"] = self._predictor_step(symbol, search["state"])

    def _new_search(self) -> dict:
        pred, state = self._predictor_step(self.blank, None)
        return {"hyp": [], "pred": pred, "state": state}

    @torch.no_grad()
    def decode_ids(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> list:
        """Greedy offline decoding to symbol indices, one list per utterance."""
        encoded, enc_lengths = self.encode(features, lengths)
        results = []
        for enc, n in zip(encoded, enc_lengths):
            search = self._new_search()
            self._greedy(enc[: int(n)], search)
            results.append(search["hyp"])
        return results

    def stream(self, chunks: Iterable) -> Iterator[list[int]]:
        """Decode feature chunks (n_i, n_features) as they arrive.

        Yields the symbol indices decoded so far after each chunk; the last value equals
        :meth:`decode_ids` on the concatenated chunks.
        """
        if isinstance(chunks, str | bytes) or not isinstance(chunks, Iterable):
            raise ArgumentTypeError(
                f"chunks must be an iterable of (n, n_features) arrays, got {type(chunks).__name__}"
            )
        return self._stream(iter(chunks))

    def _stream(self, chunks: Iterator) -> Iterator[list[int]]:
        streamer = TransducerStream(self)
        for chunk in chunks:
            yield list(streamer.accept(chunk))


class TransducerStream:
    """Incremental greedy decoding state for one utterance.

    Examples
    --------
    >>> import torch
    >>> model = Transducer(encoder_hidden=32, predictor_hidden=16, joint_dim=16).eval()
    >>> x = torch.randn(30, 26)
    >>> stream = TransducerStream(model)
    >>> for chunk in x.split(7):
    ...     _ = stream.accept(chunk)
    >>> stream.hypothesis == model.decode_ids(x[None])[0]
    True
    """

    def __init__(self, model: Transducer):
        self.model = model
        self.buffer = model.subsample.initial_buffer(model.config["n_features"])
        self.encoder_state = None
        with torch.no_grad():
            self.search = model._new_search()

    @property
    def hypothesis(self) -> list[int]:
        return self.search["hyp"]

    @torch.no_grad()
    def accept(self, chunk: np.ndarray | torch.Tensor) -> list[int]:
        """Consume feature frames (n, n_features); return the hypothesis so far."""
        if torch.is_tensor(chunk):
            chunk = chunk.detach().cpu().numpy()
        if not isinstance(chunk, np.ndarray) or not (
            np.issubdtype(chunk.dtype, np.floating) or np.issubdtype(chunk.dtype, np.integer)
        ):
            raise ArgumentTypeError(
                f"chunk must be a real-valued array or tensor, got "
                f"{getattr(chunk, 'dtype', type(chunk).__name__)}"
            )
        x = torch.as_tensor(np.asarray(chunk, dtype=np.float32))
        if x.ndim != 2 or x.shape[1] != self.model.config["n_features"]:
            raise ArgumentError(
                f"chunk must have shape (n, {self.model.config['n_features']}), "
                f"got {tuple(x.shape)}"
            )
        if not torch.isfinite(x).all():
            raise ArgumentError("chunk contains NaN or infinite values")
        frames, self.buffer = self.model.subsample.step(
            self.buffer, self.model.normalize(x).unsqueeze(0)
        )
        if frames.shape[1]:
            encoded, self.encoder_state = self.model.encoder(frames, self.encoder_state)
            self.model._greedy(encoded[0], self.search)
        return self.hypothesis
