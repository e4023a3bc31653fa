"""Bad inputs to lab.streaming and lab.widgets: every one answered clearly (issue 11, item 3).

Two tables. ``RAISES``: a call and the error it must raise — a lab error (``ArgumentError`` is a
ValueError, ``ArgumentTypeError`` a TypeError) whose message names the argument. ``ANSWERS``: a
call whose correct result (or, for a panel, the error it shows instead of raising) is checked.
Cases marked "old:" say what the code answered before.
"""

from __future__ import annotations

import datetime
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from lab.errors import ArgumentError, ArgumentTypeError, LabError, Stopped
from lab.streaming import (
    BatchDependentModelError,
    DependencyInferenceInterrupted,
    NonFiniteOutputError,
    OutputLengthError,
    assert_streamable,
    chunked_attention_mask,
    dependency_summary,
    example_model,
    infer_dependency_matrix,
    lookahead_violations,
    plot_dependency_matrix,
    split_fixed_chunks,
    split_wav_lens,
)
from lab.widgets import (
    AlignmentPanel,
    AnimationPlayer,
    DependencyPanel,
    FeatureVizPanel,
    MaskPanel,
    MFCCPanel,
    PIQPanel,
)
from lab.widgets.render import wav_bytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAN, INF = float("nan"), float("inf")


# --- shared inputs (built once, on first use) ----------------------------------------------------


@functools.cache
def tone() -> bytes:
    t = np.arange(8000) / 16000
    return wav_bytes((0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.1)).astype(np.float32), 16000)


def sources() -> dict[str, bytes]:
    return {"tone": tone()}


@functools.cache
def deepspeech():
    from lab.models import DeepSpeech

    torch.manual_seed(0)
    return DeepSpeech(n_hidden=16).eval()


@functools.cache
def interpreter():
    from lab.models.classifier import KeywordClassifier
    from lab.piq import PIQInterpreter

    torch.manual_seed(0)
    return PIQInterpreter(KeywordClassifier(n_classes=24, dim=16, widths=(8, 8)),
                          codes_per_class=2, shared_keys=2, decoder_channels=16)


def probe(shape=(1, 4, 3)) -> torch.Tensor:
    """The probe infer_dependency_matrix draws with seed 0 (so a model can recognise it)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(0))


def nan_when_perturbed(x):
    return x if torch.equal(x[:, 0], probe()[:, 0]) else x * NAN


def longer_when_perturbed(x):  # one extra output frame once input frame 0 changed
    if x.shape[0] == 1 and torch.equal(x[:, 0], probe()[:, 0]):
        return x
    return torch.cat([x, x[:, -1:]], dim=1)


def shorter_in_batches(x):  # output length depends on the batch size
    return x[:, : x.shape[1] - (x.shape[0] > 1)]


def stop_now():
    stop = threading.Event()
    stop.set()
    return stop


# --- table 1: calls that must raise ---------------------------------------------------------------


@dataclass(frozen=True)
class Raises:
    id: str
    call: Callable[[], object]
    error: type[BaseException]
    match: str


conv = functools.cache(lambda: example_model("causal_conv"))
eye = torch.eye(4, dtype=torch.bool)

RAISES = [
    # infer_dependency_matrix
    Raises("idm-nan-model", lambda: infer_dependency_matrix(lambda x: x * NAN, (1, 4, 3)),
           NonFiniteOutputError, "NaN or inf"),  # old: "not deterministic"
    Raises("idm-inf-model", lambda: infer_dependency_matrix(lambda x: x / 0, (1, 4, 3)),
           NonFiniteOutputError, "NaN or inf"),  # old: "not deterministic"
    Raises("idm-nan-when-perturbed", lambda: infer_dependency_matrix(
        nan_when_perturbed, (1, 4, 3), method="loop"), NonFiniteOutputError, "perturbed"),
    Raises("idm-length-loop", lambda: infer_dependency_matrix(
        longer_when_perturbed, (1, 4, 3), method="loop"),
        OutputLengthError, "depends on the input values"),  # old: extra frames ignored
    Raises("idm-length-perturb", lambda: infer_dependency_matrix(
        longer_when_perturbed, (1, 4, 3), method="perturb"),
        OutputLengthError, "depends on the input values"),  # old: "batch-dependent"
    Raises("idm-length-batch", lambda: infer_dependency_matrix(shorter_in_batches, (1, 4, 3)),
           OutputLengthError, "depends on the batch size"),  # old: "batch-dependent"
    Raises("idm-atol-nan", lambda: infer_dependency_matrix(conv(), (1, 8, 40), atol=NAN),
           ArgumentError, "atol must be a finite number"),  # old: everything dependent
    Raises("idm-atol-negative", lambda: infer_dependency_matrix(conv(), (1, 8, 40), atol=-1e-3),
           ArgumentError, "atol"),
    Raises("idm-rtol-inf", lambda: infer_dependency_matrix(conv(), (1, 8, 40), rtol=INF),
           ArgumentError, "rtol"),
    Raises("idm-atol-str", lambda: infer_dependency_matrix(conv(), (1, 8, 40), atol="0"),
           ArgumentTypeError, "atol"),
    Raises("idm-frames-per-pass-bool", lambda: infer_dependency_matrix(
        conv(), (1, 8, 40), frames_per_pass=True), ArgumentError, "frames_per_pass"),
    Raises("idm-jacobian-dtype-int", lambda: infer_dependency_matrix(
        conv(), (1, 8, 40), method="jacobian", jacobian_dtype=torch.int64),
        ArgumentError, "jacobian_dtype"),
    Raises("idm-seed-str", lambda: infer_dependency_matrix(conv(), (1, 8, 40), seed="a"),
           ArgumentTypeError, "seed"),
    Raises("idm-method-none", lambda: infer_dependency_matrix(conv(), (1, 8, 40), method=None),
           ArgumentError, "method must be one of"),
    Raises("idm-seq-shape-float", lambda: infer_dependency_matrix(conv(), (1, 8.0, 40)),
           ArgumentError, "seq_shape"),
    Raises("idm-seq-shape-empty", lambda: infer_dependency_matrix(conv(), (1, 0, 40)),
           ArgumentError, "seq_shape"),
    Raises("idm-no-output-frames", lambda: infer_dependency_matrix(
        lambda x: x[:, :0], (1, 4, 3)), ArgumentError, "no output frames"),
    Raises("idm-should-stop-str", lambda: infer_dependency_matrix(
        conv(), (1, 8, 40), should_stop="yes"), ArgumentTypeError, "should_stop"),
    Raises("idm-on-progress-int", lambda: infer_dependency_matrix(
        conv(), (1, 8, 40), on_progress=5), ArgumentTypeError, "on_progress"),
    Raises("idm-batchnorm-train", lambda: infer_dependency_matrix(
        nn.Sequential(nn.Linear(3, 3), _BatchNorm()).train(), (1, 4, 3)),
        BatchDependentModelError, "batch"),
    # split_fixed_chunks
    Raises("chunks-list", lambda: split_fixed_chunks([1, 2, 3], 2), ArgumentTypeError, "x must"),
    Raises("chunks-size-zero", lambda: split_fixed_chunks(torch.zeros(4), 0),
           ArgumentError, "chunk_size"),
    Raises("chunks-size-float", lambda: split_fixed_chunks(torch.zeros(4), 2.5),
           ArgumentError, "chunk_size"),
    Raises("chunks-size-bool", lambda: split_fixed_chunks(torch.zeros(4), True),
           ArgumentError, "chunk_size"),
    Raises("chunks-dim-float", lambda: split_fixed_chunks(torch.zeros(3, 4), 2, dim=1.0),
           ArgumentError, "dim"),  # old: torch's own TypeError
    Raises("chunks-dim-range", lambda: split_fixed_chunks(torch.zeros(3, 4), 2, dim=2),
           ArgumentError, "dim=2"),
    Raises("chunks-0d", lambda: split_fixed_chunks(torch.tensor(1.0), 2),
           ArgumentError, "0-d"),
    # split_wav_lens
    Raises("wav-lens-chunk-float", lambda: split_wav_lens([2.7, 3], torch.tensor([1.0])),
           ArgumentError, r"chunk_lens\[0\]"),  # old: silently 2
    Raises("wav-lens-chunk-str", lambda: split_wav_lens("83", torch.tensor([1.0])),
           ArgumentTypeError, "chunk_lens"),  # old: read as [8, 3]
    Raises("wav-lens-chunk-int", lambda: split_wav_lens(5, torch.tensor([1.0])),
           ArgumentTypeError, "chunk_lens"),
    Raises("wav-lens-chunk-empty", lambda: split_wav_lens([], torch.tensor([1.0])),
           ArgumentError, "chunk_lens"),
    Raises("wav-lens-chunk-bool", lambda: split_wav_lens([True, 4], torch.tensor([1.0])),
           ArgumentError, "chunk_lens"),
    Raises("wav-lens-nan", lambda: split_wav_lens([4, 4], torch.tensor([NAN])),
           ArgumentError, r"wav_lens must be relative lengths in \[0, 1\]"),  # old: NaN out
    Raises("wav-lens-above-one", lambda: split_wav_lens([4, 4], torch.tensor([1.5])),
           ArgumentError, "wav_lens"),  # old: clamped silently
    Raises("wav-lens-negative", lambda: split_wav_lens([4, 4], torch.tensor([-0.1])),
           ArgumentError, "wav_lens"),
    Raises("wav-lens-2d", lambda: split_wav_lens([4, 4], torch.ones(2, 2)),
           ArgumentError, "1-D"),
    Raises("wav-lens-int", lambda: split_wav_lens([4, 4], torch.tensor([1])),
           ArgumentTypeError, "wav_lens"),
    Raises("wav-lens-str", lambda: split_wav_lens([4, 4], "a"),
           ArgumentTypeError, "wav_lens"),
    # dependency_summary / lookahead_violations / assert_streamable
    Raises("summary-1d", lambda: dependency_summary(torch.ones(3, dtype=torch.bool)),
           ArgumentError, "2-D"),
    Raises("summary-half", lambda: dependency_summary(torch.tensor([[0.5, 0.0], [0.0, 1.0]])),
           ArgumentError, "0/1"),  # old: 0.5 read as True
    Raises("summary-nan", lambda: dependency_summary(torch.tensor([[NAN, 0.0], [0.0, 1.0]])),
           ArgumentError, "0/1"),
    Raises("summary-no-rows", lambda: dependency_summary(torch.zeros(0, 3, dtype=torch.bool)),
           ArgumentError, "at least one input frame"),  # old: IndexError
    Raises("summary-str", lambda: dependency_summary("ab"), ArgumentTypeError, "deps"),
    Raises("summary-stride-zero", lambda: dependency_summary(eye, in_stride=0),
           ArgumentError, "in_stride"),
    Raises("summary-seq-len-zero", lambda: dependency_summary(eye, seq_len=0),
           ArgumentError, "seq_len"),
    Raises("summary-seq-len-mismatch", lambda: dependency_summary(eye, seq_len=9),
           ArgumentError, "rows"),
    Raises("violations-negative", lambda: lookahead_violations(eye, -1),
           ArgumentError, "max_lookahead"),  # old: every frame reported
    Raises("violations-half", lambda: lookahead_violations(eye, 0.5),
           ArgumentError, "max_lookahead"),  # old: compared with half a frame
    Raises("streamable-lookahead-negative", lambda: assert_streamable(
        conv(), (1, 8, 40), max_lookahead=-1), ArgumentError, "max_lookahead"),
    Raises("streamable-left-negative", lambda: assert_streamable(
        conv(), (1, 8, 40), max_left_context=-1),
        ArgumentError, "max_left_context"),  # old: NotStreamableError
    Raises("streamable-left-float", lambda: assert_streamable(
        conv(), (1, 8, 40), max_left_context=2.5), ArgumentError, "max_left_context"),
    Raises("streamable-nan-model", lambda: assert_streamable(lambda x: x * NAN, (1, 4, 3)),
           NonFiniteOutputError, "NaN"),
    Raises("streamable-unknown-keyword", lambda: assert_streamable(conv(), (1, 8, 40), foo=1),
           TypeError, "foo"),
    # plot_dependency_matrix
    Raises("plot-1d", lambda: plot_dependency_matrix(torch.ones(3)), ArgumentError, "2-D"),
    Raises("plot-nan", lambda: plot_dependency_matrix(torch.tensor([[NAN, 1.0]])),
           ArgumentError, "0/1"),  # old: NaN drawn as "depends"
    Raises("plot-empty", lambda: plot_dependency_matrix(torch.zeros(0, 0, dtype=torch.bool)),
           ArgumentError, "empty"),  # old: an empty figure
    Raises("plot-ax-int", lambda: plot_dependency_matrix(eye, ax=3),
           ArgumentTypeError, "ax"),  # old: AttributeError
    Raises("plot-str", lambda: plot_dependency_matrix("ab"), ArgumentTypeError, "deps"),
    # example_model / chunked_attention_mask
    Raises("example-unknown", lambda: example_model("gru"), ArgumentError, "unknown example"),
    Raises("example-list", lambda: example_model(["lstm"]),
           ArgumentTypeError, "name must be a str"),  # old: "unhashable type"
    Raises("example-n-features-zero", lambda: example_model("causal_conv", n_features=0),
           ArgumentError, "n_features"),  # old: a model with 0 input channels
    Raises("example-n-features-float", lambda: example_model("lstm", n_features=2.5),
           ArgumentError, "n_features"),
    Raises("example-kernel-float", lambda: example_model("causal_conv", kernel_size=2.5),
           ArgumentError, "kernel_size"),
    Raises("example-stride-above-kernel", lambda: example_model(
        "subsampling_conv", kernel_size=4, stride=5),
        ArgumentError, "stride must be <= kernel_size"),  # old: skipped input frames
    Raises("example-unknown-keyword", lambda: example_model("lstm", kernel_size=3),
           ArgumentTypeError, "takes no argument 'kernel_size'"),
    Raises("example-seed-str", lambda: example_model("lstm", seed="a"),
           ArgumentTypeError, "seed"),
    Raises("example-heads", lambda: example_model("chunked_attention", n_heads=3),
           ArgumentError, "n_heads"),  # old: AssertionError from torch
    Raises("example-chunk-zero", lambda: example_model("chunked_attention", chunk_size=0),
           ArgumentError, "chunk_size"),  # old: built, failed on first call
    Raises("example-hidden-zero", lambda: example_model("lstm", hidden=0),
           ArgumentError, "hidden"),
    Raises("mask-seq-len-negative", lambda: chunked_attention_mask(-1, 2),
           ArgumentError, "seq_len"),  # old: RuntimeError from torch.arange
    # DependencyPanel
    Raises("dep-panel-method", lambda: DependencyPanel(method="fast"), ArgumentError, "method"),
    Raises("dep-panel-example", lambda: DependencyPanel(example="gru"),
           ArgumentError, "example"),
    Raises("dep-panel-model", lambda: DependencyPanel(5), ArgumentTypeError, "model"),
    Raises("dep-panel-seq-len-range", lambda: DependencyPanel(seq_len=300),
           ArgumentError, "seq_len"),  # old: clamped to 200 by the slider
    Raises("dep-panel-seq-len-float", lambda: DependencyPanel(seq_len=12.0),
           ArgumentTypeError, "seq_len"),
    Raises("dep-panel-lookahead", lambda: DependencyPanel(max_lookahead=-1),
           ArgumentError, "max_lookahead"),
    Raises("dep-panel-n-features", lambda: DependencyPanel(n_features=0),
           ArgumentError, "n_features"),
    # MFCCPanel
    Raises("mfcc-feature", lambda: MFCCPanel(sources(), feature="chroma"),
           ArgumentError, "feature"),
    Raises("mfcc-sources-empty", lambda: MFCCPanel({}), ArgumentError, "sources is empty"),
    Raises("mfcc-sources-list", lambda: MFCCPanel(["a.wav"]),
           ArgumentTypeError, "sources must be a mapping"),
    Raises("mfcc-sources-value", lambda: MFCCPanel({"a": 5}), ArgumentTypeError, r"sources\["),
    Raises("mfcc-width", lambda: MFCCPanel(sources(), image_width=0),
           ArgumentError, "image_width"),
    Raises("mfcc-transcribers", lambda: MFCCPanel(sources(), transcribers=[print]),
           ArgumentTypeError, "transcribers"),
    # MaskPanel
    Raises("mask-method", lambda: MaskPanel(deepspeech(), sources(), method="fast"),
           ArgumentError, "method"),
    Raises("mask-threshold-nan", lambda: MaskPanel(deepspeech(), sources(), threshold=NAN),
           ArgumentError, "threshold"),
    Raises("mask-threshold-range", lambda: MaskPanel(deepspeech(), sources(), threshold=2.0),
           ArgumentError, "threshold"),  # old: clamped by the slider
    Raises("mask-sparsity", lambda: MaskPanel(deepspeech(), sources(), sparsity_weight=0.0),
           ArgumentError, "sparsity_weight"),
    Raises("mask-model", lambda: MaskPanel("deepspeech", sources()), ArgumentTypeError, "model"),
    Raises("mask-sources", lambda: MaskPanel(deepspeech(), {}), ArgumentError, "sources"),
    # FeatureVizPanel
    Raises("fv-neurons-text", lambda: FeatureVizPanel(deepspeech(), [], neurons="a"),
           ArgumentError, "neurons"),
    Raises("fv-neurons-int", lambda: FeatureVizPanel(deepspeech(), [], neurons=5),
           ArgumentTypeError, "neurons"),
    Raises("fv-shape", lambda: FeatureVizPanel(deepspeech(), [], shape=(0, 26)),
           ArgumentError, "shape"),
    Raises("fv-steps", lambda: FeatureVizPanel(deepspeech(), [], steps=5000),
           ArgumentError, "steps"),  # old: clamped by the slider
    Raises("fv-layers-unknown", lambda: FeatureVizPanel(deepspeech(), [], layers=["nope"]),
           ArgumentError, "unknown layer"),
    Raises("fv-layers-empty", lambda: FeatureVizPanel(deepspeech(), [], layers=[]),
           ArgumentError, "layers is empty"),  # old: IndexError
    Raises("fv-init-shape", lambda: FeatureVizPanel(deepspeech(), [], init=np.zeros((3, 3))),
           ArgumentError, "init must have shape"),
    Raises("fv-init-nan", lambda: FeatureVizPanel(deepspeech(), [], init=np.full(26, NAN)),
           ArgumentError, "init must be finite"),
    Raises("fv-tv-inf", lambda: FeatureVizPanel(deepspeech(), [], tv_weight=INF),
           ArgumentError, "tv_weight"),
    Raises("fv-lr-zero", lambda: FeatureVizPanel(deepspeech(), [], lr=0.0), ArgumentError, "lr"),
    # PIQPanel
    Raises("piq-threshold", lambda: PIQPanel(interpreter(), sources(), threshold=1.5),
           ArgumentError, "threshold"),
    Raises("piq-top-k", lambda: PIQPanel(interpreter(), sources(), top_k=0),
           ArgumentError, "top_k"),
    Raises("piq-interpreter", lambda: PIQPanel(object(), sources()),
           ArgumentTypeError, "interpreter"),
    Raises("piq-sources", lambda: PIQPanel(interpreter(), {}), ArgumentError, "sources"),
    # AlignmentPanel
    Raises("align-no-targets", lambda: AlignmentPanel(torch.zeros(4, 3, 5)),
           ArgumentError, "targets is required"),
    Raises("align-nan-logits", lambda: AlignmentPanel(torch.full((4, 3, 5), NAN), [1, 2]),
           ArgumentError, "logits must be finite"),
    Raises("align-target-range", lambda: AlignmentPanel(torch.zeros(4, 3, 5), [1, 9]),
           ArgumentError, r"targets must be label ids in \[0, 5\)"),
    Raises("align-target-float", lambda: AlignmentPanel(torch.zeros(4, 3, 5), [1.0, 2.0]),
           ArgumentTypeError, "targets"),
    Raises("align-logits-2d", lambda: AlignmentPanel(torch.zeros(4, 5), [1]),
           ArgumentError, "logits must be"),
    Raises("align-target-count", lambda: AlignmentPanel(torch.zeros(4, 3, 5), [1, 2, 3]),
           ArgumentError, "targets have 3 labels"),  # old: silently cut to 2
    Raises("align-blank-range", lambda: AlignmentPanel(n_frames=12, blank=100),
           ArgumentError, "blank"),  # old: clamped by the slider
    Raises("align-n-frames-float", lambda: AlignmentPanel(n_frames=5.5),
           ArgumentTypeError, "n_frames"),
    Raises("align-lengths", lambda: AlignmentPanel(
        torch.zeros(1, 4, 3, 5), [[1, 2]], torch.tensor([4]), torch.tensor([3])),
        ArgumentError, "target_lengths"),
    Raises("align-labels-str", lambda: AlignmentPanel(n_frames=12, labels="abc"),
           ArgumentTypeError, "labels"),
    # AnimationPlayer
    Raises("player-empty", lambda: AnimationPlayer([]), ArgumentError, "at least one frame"),
    Raises("player-cmap", lambda: AnimationPlayer([np.eye(3)], cmap="nope"),
           ArgumentError, "cmap"),  # old: KeyError at render time
    Raises("player-frames-int", lambda: AnimationPlayer(5), ArgumentTypeError, "frames"),
    Raises("player-empty-row", lambda: AnimationPlayer([np.zeros((0, 3))]),
           ArgumentError, "non-empty"),  # old: numpy reduction error
    Raises("player-width", lambda: AnimationPlayer([np.eye(3)], width=0),
           ArgumentError, "width"),  # old: PIL "cannot write empty image"
]


class _BatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


@pytest.mark.parametrize("case", RAISES, ids=[c.id for c in RAISES])
def test_bad_input_raises_a_named_error(case):
    with pytest.raises(case.error, match=case.match) as info:
        case.call()
    if case.error is not TypeError:  # Python's own "unexpected keyword" error is clear as is
        assert isinstance(info.value, LabError), type(info.value).__mro__


# --- table 2: calls with a correct answer -------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    id: str
    call: Callable[[], object]
    check: Callable[[object], bool]


def _stopped_partial():
    try:
        infer_dependency_matrix(conv(), (1, 8, 40), method="loop", should_stop=stop_now())
    except DependencyInferenceInterrupted as err:
        return err
    return None


def _mfcc_upload(content: bytes, name: str = "junk.wav"):
    panel = MFCCPanel(sources())
    panel.upload.value = ({"name": name, "type": "audio/wav", "size": len(content),
                           "content": memoryview(content),
                           "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},)
    return panel


def _no_content(panel):
    panel._on_upload({"new": [{"name": "x.wav", "size": 0}]})
    return panel


def _readable(text: str, name: str = "junk.wav") -> bool:
    return (f"Cannot use {name}:" in text and "object at 0x" not in text
            and "bytes of audio>" not in text and "Traceback" not in text)


def _nan_wav() -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.array([0.0, NAN] * 800, dtype=np.float32), 16000, format="WAV",
             subtype="FLOAT")
    return buf.getvalue()


ANSWERS = [
    Answers("idm-numpy-int-shape", lambda: infer_dependency_matrix(
        conv(), (1, np.int64(8), 40)), lambda d: d.shape == (8, 8)),  # old: ArgumentError
    Answers("idm-stop-is-stopped", _stopped_partial,
            lambda e: isinstance(e, Stopped) and e.partial.shape == (8, 8)
            and not e.computed.any()),  # old: no should_stop at all
    Answers("idm-on-progress", lambda: _progress_calls(),
            lambda calls: calls[-1] == (8, 8) and len(calls) >= 2),
    Answers("chunks-empty-dim", lambda: split_fixed_chunks(torch.zeros(3, 0), 2),
            lambda chunks: chunks == []),  # old: one empty chunk
    Answers("chunks-nan-values", lambda: split_fixed_chunks(torch.tensor([1.0, NAN, 3.0]), 2),
            lambda c: len(c) == 2 and torch.isnan(c[0][1])),
    Answers("wav-lens-tensor-chunks", lambda: split_wav_lens(torch.tensor([4, 4]),
                                                             torch.tensor([0.5])),
            lambda out: [float(o) for o in out] == [1.0, 0.0]),
    Answers("summary-01-ints", lambda: dependency_summary(np.eye(3, dtype=int)),
            lambda s: s.causal and s.n_dependencies == 3),
    Answers("dep-panel-nan-model-shown", lambda: DependencyPanel(
        lambda x: x * NAN, n_features=4, seq_len=8),
        lambda p: "NaN" in p.status.value and "lab-dep-badge-error" in p.badge._dom_classes),
    Answers("player-inf-keeps-scale", lambda: AnimationPlayer(
        [np.array([[0.0, 1.0], [INF, 0.5]])], width=8, row_height=8),
        lambda p: _colours(p.pngs[0]) >= 3),  # old: inf made the whole frame one colour
    Answers("mfcc-upload-junk", lambda: _mfcc_upload(b"not audio at all"),
            lambda p: _readable(p.error.value)),  # old: "<_io.BytesIO object at 0x…>"
    Answers("mfcc-upload-empty", lambda: _mfcc_upload(b""),
            lambda p: _readable(p.error.value) and "empty" in p.error.value),
    Answers("mfcc-upload-nan", lambda: _mfcc_upload(_nan_wav(), "nan.wav"),
            lambda p: _readable(p.error.value, "nan.wav") and "NaN" in p.error.value),
    Answers("mfcc-upload-no-content", lambda: _no_content(MFCCPanel(sources())),
            lambda p: "Cannot use the upload" in p.error.value
            and p.source.value == "tone"),  # old: KeyError raised into the notebook
    Answers("mask-upload-junk", lambda: _upload(MaskPanel(deepspeech(), sources())),
            lambda p: _readable(p.status.value) and p.source.value == "tone"),
    Answers("piq-upload-junk", lambda: _upload(PIQPanel(interpreter(), sources())),
            lambda p: _readable(p.error.value) and p.source.value == "tone"),
]


def _progress_calls():
    calls = []
    infer_dependency_matrix(conv(), (1, 8, 40), method="loop",
                            on_progress=lambda done, total: calls.append((done, total)))
    return calls


def _colours(png: bytes) -> int:
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return len({tuple(px) for px in pixels.tolist()})


def _upload(panel, content: bytes = b"not audio", name: str = "junk.wav"):
    panel._on_upload({"new": [{"name": name, "content": content}]})
    return panel


@pytest.mark.parametrize("case", ANSWERS, ids=[c.id for c in ANSWERS])
def test_bad_input_gets_a_correct_answer(case):
    assert case.check(case.call())
