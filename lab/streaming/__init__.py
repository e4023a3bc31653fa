"""Streaming analysis: chunking, input/output dependency matrices, streamability checks.

``lab.streaming`` never imports ipywidgets; :class:`lab.widgets.DependencyPanel` is the panel.
"""

from lab.streaming.chunks import split_fixed_chunks, split_wav_lens
from lab.streaming.dependency import (
    METHODS,
    BatchDependentModelError,
    DependencyInferenceInterrupted,
    NonDeterministicModelError,
    NonFiniteOutputError,
    OutputLengthError,
    StreamingError,
    infer_dependency_matrix,
)
from lab.streaming.examples import (
    EXAMPLE_MODELS,
    BiLSTMModel,
    CausalConv,
    CenteredConv,
    ChunkedAttention,
    LSTMModel,
    SubsamplingConv,
    chunked_attention_mask,
    example_model,
)
from lab.streaming.plot import plot_dependency_matrix
from lab.streaming.summary import (
    DependencySummary,
    NotStreamableError,
    assert_streamable,
    dependency_summary,
    lookahead_violations,
)

__all__ = [
    "EXAMPLE_MODELS",
    "METHODS",
    "BatchDependentModelError",
    "BiLSTMModel",
    "CausalConv",
    "CenteredConv",
    "ChunkedAttention",
    "DependencyInferenceInterrupted",
    "DependencySummary",
    "LSTMModel",
    "NonDeterministicModelError",
    "NonFiniteOutputError",
    "NotStreamableError",
    "OutputLengthError",
    "StreamingError",
    "SubsamplingConv",
    "assert_streamable",
    "chunked_attention_mask",
    "dependency_summary",
    "example_model",
    "infer_dependency_matrix",
    "lookahead_violations",
    "plot_dependency_matrix",
    "split_fixed_chunks",
    "split_wav_lens",
]
