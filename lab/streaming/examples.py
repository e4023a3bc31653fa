"""Small built-in models with known dependency structure, all ``(B, T, F) -> (B, T', F')``.

They are randomly initialised (seeded) because dependency structure does not need training.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError
from lab.streaming._checks import as_int

__all__ = [
    "EXAMPLE_MODELS",
    "BiLSTMModel",
    "CausalConv",
    "CenteredConv",
    "ChunkedAttention",
    "LSTMModel",
    "SubsamplingConv",
    "chunked_attention_mask",
    "example_model",
]


class _Conv(nn.Module):
    def __init__(self, n_features, hidden, kernel_size, left_pad, right_pad, stride=1):
        super().__init__()
        n_features = as_int(n_features, "n_features", minimum=1)
        hidden = as_int(hidden, "hidden", minimum=1)
        kernel_size = as_int(kernel_size, "kernel_size", minimum=1)
        self.left_pad, self.right_pad = left_pad, right_pad
        self.conv = nn.Conv1d(n_features, hidden, kernel_size, stride=stride)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.pad(x.transpose(1, 2), (self.left_pad, self.right_pad))
        # tanh, not ReLU: a dead ReLU would hide a real dependency for some inputs
        return self.out(torch.tanh(self.conv(h).transpose(1, 2)))


class CausalConv(_Conv):
    """1-D convolution padded on the left only: output frame t sees frames t-k+1 .. t."""

    def __init__(self, n_features: int = 40, hidden: int = 32, kernel_size: int = 5):
        super().__init__(n_features, hidden, kernel_size, kernel_size - 1, 0)


class CenteredConv(_Conv):
    """1-D convolution padded on both sides: output frame t sees t-k//2 .. t+(k-1)//2."""

    def __init__(self, n_features: int = 40, hidden: int = 32, kernel_size: int = 5):
        super().__init__(n_features, hidden, kernel_size, kernel_size // 2, (kernel_size - 1) // 2)


class SubsamplingConv(_Conv):
    """Causal convolution with a stride: ``T' = ceil(T / stride)`` output frames."""

    def __init__(
        self, n_features: int = 40, hidden: int = 32, kernel_size: int = 4, stride: int = 2
    ):
        stride = as_int(stride, "stride", minimum=1)
        if stride > as_int(kernel_size, "kernel_size", minimum=1):
            # the left padding kernel_size - stride would be negative: frames would be skipped
            raise ArgumentError(
                f"stride must be <= kernel_size ({kernel_size}), got {stride}"
            )
        # padding the left by kernel-stride keeps output t aligned with the end of its
        # input window: it sees frames up to (t+1)*stride - 1 and no further.
        super().__init__(n_features, hidden, kernel_size, kernel_size - stride, 0, stride=stride)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = (-x.shape[1]) % self.stride
        return super().forward(nn.functional.pad(x, (0, 0, 0, extra)))


class LSTMModel(nn.Module):
    """Unidirectional LSTM: output t depends on every input up to t."""

    bidirectional = False

    def __init__(self, n_features: int = 40, hidden: int = 32):
        super().__init__()
        n_features = as_int(n_features, "n_features", minimum=1)
        hidden = as_int(hidden, "hidden", minimum=1)
        self.rnn = nn.LSTM(n_features, hidden, batch_first=True, bidirectional=self.bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class BiLSTMModel(LSTMModel):
    """Bidirectional LSTM: every output depends on every input."""

    bidirectional = True


def chunked_attention_mask(
    seq_len: int, chunk_size: int, left_context: int | None = None
) -> torch.Tensor:
    """Boolean ``(seq_len, seq_len)`` mask, True where query t may NOT attend to key s.

    Frame t belongs to chunk ``t // chunk_size``; it sees its whole chunk (that is the
    lookahead) plus ``left_context`` frames before the chunk start (all of them if None).

    Examples
    --------
    >>> from lab.streaming.examples import chunked_attention_mask
    >>> (~chunked_attention_mask(4, 2, left_context=0)).int()
    tensor([[1, 1, 0, 0],
            [1, 1, 0, 0],
            [0, 0, 1, 1],
            [0, 0, 1, 1]], dtype=torch.int32)
    """
    seq_len = as_int(seq_len, "seq_len", minimum=0)
    chunk_size = as_int(chunk_size, "chunk_size", minimum=1)
    if left_context is not None:
        left_context = as_int(left_context, "left_context", minimum=0)
    t = torch.arange(seq_len)
    chunk_start = (t // chunk_size) * chunk_size
    q_start, k = chunk_start[:, None], t[None, :]
    allowed = k < q_start + chunk_size
    if left_context is not None:
        allowed &= k >= q_start - left_context
    return ~allowed


class ChunkedAttention(nn.Module):
    """Single-layer self-attention restricted to chunks plus some left context.

    ``chunk_size`` and ``left_context`` are plain attributes, so they can be changed after
    construction without re-initialising the weights.
    """

    def __init__(
        self,
        n_features: int = 40,
        hidden: int = 32,
        chunk_size: int = 8,
        left_context: int | None = 16,
        n_heads: int = 2,
    ):
        super().__init__()
        n_features = as_int(n_features, "n_features", minimum=1)
        hidden = as_int(hidden, "hidden", minimum=1)
        n_heads = as_int(n_heads, "n_heads", minimum=1)
        if hidden % n_heads:
            raise ArgumentError(f"hidden ({hidden}) must be divisible by n_heads ({n_heads})")
        chunked_attention_mask(1, chunk_size, left_context)  # checks both before they are kept
        self.chunk_size, self.left_context = chunk_size, left_context
        self.proj = nn.Linear(n_features, hidden)
        self.attn = nn.MultiheadAttention(hidden, n_heads, batch_first=True)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = chunked_attention_mask(x.shape[1], self.chunk_size, self.left_context)
        h = torch.tanh(self.proj(x))
        a, _ = self.attn(h, h, h, attn_mask=mask.to(x.device), need_weights=False)
        return self.out(torch.tanh(a))


EXAMPLE_MODELS = {
    "causal_conv": CausalConv,
    "centered_conv": CenteredConv,
    "subsampling_conv": SubsamplingConv,
    "lstm": LSTMModel,
    "bilstm": BiLSTMModel,
    "chunked_attention": ChunkedAttention,
}


def example_model(name: str, *, n_features: int = 40, seed: int = 0, **kwargs) -> nn.Module:
    """Build a seeded built-in example in eval mode without touching the global RNG.

    Parameters
    ----------
    name : str
        A key of :data:`EXAMPLE_MODELS`.
    n_features : int
        Input features per frame (>= 1).
    seed : int
        Seed of the random weights.
    **kwargs
        Constructor arguments of that model (``kernel_size``, ``stride``, ``hidden``,
        ``chunk_size``, ...); an argument the model does not take is refused by name.

    Examples
    --------
    >>> import torch
    >>> from lab.streaming import example_model
    >>> example_model("centered_conv", kernel_size=5)(torch.zeros(1, 7, 40)).shape
    torch.Size([1, 7, 32])
    """
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"name must be a str, one of {sorted(EXAMPLE_MODELS)}; got {type(name).__name__}"
        )
    if name not in EXAMPLE_MODELS:
        raise ArgumentError(
            f"unknown example model {name!r}; expected one of {sorted(EXAMPLE_MODELS)}"
        )
    cls = EXAMPLE_MODELS[name]
    accepted = [p for p in inspect.signature(cls).parameters if p != "n_features"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ArgumentTypeError(
            f"example model {name!r} takes no argument {unknown[0]!r}; it takes {accepted}"
        )
    seed = as_int(seed, "seed")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(n_features=n_features, **kwargs)
    return model.eval()
