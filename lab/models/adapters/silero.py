"""Silero VAD (the TorchScript model the ``silero-vad`` wheel ships) as a lab model.

:class:`SileroVAD` re-runs the scripted 16 kHz network frame by frame in Python, exactly as
the package's ``audio_forward`` does (512-sample chunks, each with the previous 64 samples
as context, an LSTM state carried from chunk to chunk), but

* batched over frames where the network allows it (STFT, encoder and head see all chunks
  at once; only the LSTM cell steps through time), and
* differentiable (``audio_forward`` runs under ``no_grad``), and
* with plain ``nn.Module`` stages (``stft``, ``encoder.0`` … ``encoder.3``, ``rnn``,
  ``head``) that take forward hooks — TorchScript modules do not — so activations and
  feature visualization address them by name. Stage outputs are channel-last
  ``(B, T, L, C)``: the last axis indexes neurons.

Input ``(B, T, 512)`` frames of 16 kHz samples; output ``(B, T, 1)``, the speech probability
of each 32 ms frame.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.errors import ArgumentError, LabError

__all__ = ["SileroVAD", "load_silero_vad"]

CHUNK = 512
CONTEXT = 64

INSTALL = ("the silero-vad package is not installed; install it with "
           "`pip install silero-vad` (it needs only torch)")


class _Stage(nn.Module):
    """A scripted stage on ``(B, T, L, C)`` channel-last tensors (hooks work here)."""

    def __init__(self, inner: nn.Module, channel_first_input: bool = True):
        super().__init__()
        self.inner = inner
        self.channel_first_input = channel_first_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        flat = x.reshape(b * t, *x.shape[2:])
        if self.channel_first_input:
            flat = flat.transpose(1, 2)
        out = self.inner(flat)  # (B*T, C, L)
        return out.transpose(1, 2).reshape(b, t, out.shape[2], out.shape[1])


class _Cell(nn.Module):
    """The decoder's LSTM cell stepped over time: ``(B, T, 1, C)`` → ``(B, T, 1, H)``."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        seq = x.reshape(b, t, -1)
        hidden = seq.new_zeros(b, int(self.cell.hidden_size))
        state = (hidden, hidden)
        outs = []
        for step in range(t):
            state = self.cell(seq[:, step], state)
            outs.append(state[0])
        return torch.stack(outs, dim=1)[:, :, None, :]


class SileroVAD(nn.Module):
    """Silero VAD, frame-batched and differentiable (see the module docstring).

    Parameters
    ----------
    jit : torch.jit.ScriptModule
        What ``silero_vad.load_silero_vad()`` returns (its ``_model``, the 16 kHz network,
        is used).
    """

    def __init__(self, jit: nn.Module):
        super().__init__()
        net = jit._model
        if int(net.context_size_samples) != CONTEXT:
            raise ArgumentError(
                f"jit: expected a Silero VAD v5+ model with {CONTEXT} samples of context, got "
                f"{int(net.context_size_samples)}"
            )
        self.stft = _Stage(net.stft, channel_first_input=False)
        self.encoder = nn.Sequential(*[_Stage(getattr(net.encoder, str(i))) for i in range(4)])
        self.rnn = _Cell(net.decoder.rnn)
        self.head = _Stage(net.decoder.decoder)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 3 or frames.shape[-1] != CHUNK:
            raise ArgumentError(
                f"frames must have shape (batch, T, {CHUNK}) (16 kHz samples), got "
                f"{tuple(frames.shape)}")
        b, t = frames.shape[:2]
        flat = frames.reshape(b, t * CHUNK)
        previous = torch.cat([flat.new_zeros(b, CONTEXT), flat], dim=1)
        # window t = the 64 samples before frame t, then frame t (the package's context)
        starts = torch.arange(t, device=frames.device) * CHUNK
        index = starts[:, None] + torch.arange(CHUNK + CONTEXT, device=frames.device)
        windows = previous[:, index]  # (B, T, 576)
        probs = self.head(self.rnn(self.encoder(self.stft(windows))))
        return probs.mean(dim=2)


def load_silero_vad() -> SileroVAD:
    """The ``silero-vad`` wheel's TorchScript model as a :class:`SileroVAD` (no download)."""
    try:
        from silero_vad import load_silero_vad as _load
    except ImportError as exc:
        raise LabError(INSTALL) from exc
    return SileroVAD(_load(onnx=False)).eval()
