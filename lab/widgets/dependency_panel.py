"""Dependency heatmap panel: which output frames of a model depend on which input frames.

``model=`` takes your own ``(B, T, F) -> (B, T', F')`` callable, or any model
:func:`lab.models.adapt` takes (Silero VAD, a Hugging Face ``*ForCTC``, an adapter): the
panel then probes ``adapter.probe_shape(seconds)`` — for a waveform model an input frame is
the model's hop of samples — and labels both axes in seconds. Models without one output per
frame (classifiers, seq2seq) are refused with the tools that do apply.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from torch import nn

from lab import streaming
from lab.errors import ArgumentError, ArgumentTypeError
from lab.widgets.base import Panel
from lab.widgets.checks import check_int, foreign_adapter
from lab.widgets.jobs import PanelJob
from lab.widgets.views import BOTTOM_PX, LEFT_PX, TOP_PX, View

__all__ = ["DependencyPanel"]

_EXAMPLES = {
    "causal conv": "causal_conv",
    "centered conv": "centered_conv",
    "subsampling conv": "subsampling_conv",
    "LSTM": "lstm",
    "BiLSTM": "bilstm",
    "chunked attention": "chunked_attention",
}
_ZOO = "transducer encoder (zoo)"
# white = independent (0), red = depends (1), as in lab.streaming.plot_dependency_matrix;
# light grey (0.5) = not computed (after a Stop). A Colormap object, not a registered name:
# the lab never touches matplotlib's global registry.
_CMAP = ListedColormap(["white", "lightgray", "red"], name="lab_dependency_white_grey_red")
_USER = "your model"


class _TransducerEncoder(nn.Module):
    """Adapter: the zoo transducer's ``encode`` returns (encoded, lengths); keep the tensor."""

    def __init__(self, transducer: nn.Module):
        super().__init__()
        self.transducer = transducer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transducer.encode(x)[0]


def _zoo_available() -> bool:
    try:
        import lab.models as models
    except Exception:  # the model zoo is optional for this panel
        return False
    return hasattr(models, "load_pretrained") and hasattr(models, "Transducer")


def _load_zoo_encoder() -> tuple[nn.Module, int, str]:
    import lab.models as models

    try:
        transducer, note = models.load_pretrained("transducer"), "trained checkpoint"
    except Exception:
        # dependency structure does not depend on training, so an untrained one still shows it
        transducer, note = models.Transducer().eval(), "untrained: no checkpoint found"
    n_features = int(transducer.config["n_features"])
    return _TransducerEncoder(transducer).eval(), n_features, note


@dataclass(frozen=True)
class _Request:
    """What one computation is for; compared to tell a current result from a stale one."""

    choice: str
    seq_len: int
    method: str
    chunk_size: int
    left_context: int


class DependencyPanel(Panel):
    """Pick a model, see its input/output dependency matrix and whether it can stream.

    Every change of model, length or method recomputes the matrix in a background thread
    (:class:`lab.widgets.jobs.PanelJob`): the progress bar follows it, Stop ends it (the part
    computed so far is drawn, the rest grey), and a change made meanwhile replaces it. The
    allowed-lookahead slider only re-reads the matrix on display.

    Parameters
    ----------
    model : callable or lab.models.SpeechModel, optional
        Your own ``(B, T, F) -> (B, T', F')`` model, or any model :func:`lab.models.adapt`
        takes (its input shape then comes from ``probe_shape`` and the axes are in
        seconds); it appears as "your model" in the picker.
    n_features : int
        Features per frame of ``model`` (and of the built-in examples); an adapted model's
        own (``probe_shape(1.0)[2]``) replaces it.
    example : str
        Initial built-in example: ``"causal_conv"``, ``"centered_conv"``,
        ``"subsampling_conv"``, ``"lstm"``, ``"bilstm"``, ``"chunked_attention"`` (ignored
        when ``model`` is given).
    seq_len : int
        Initial probe length in frames (8 to 200).
    method : {"perturb", "jacobian", "loop"}
        Initial inference method (see :func:`lab.streaming.infer_dependency_matrix`).
    max_lookahead : int
        Initial allowed lookahead for the "streamable" badge (0 to 32).
    image_size : int
        Heatmap size in pixels.
    background : bool
        Recompute in a background thread when a control changes (True, for notebooks);
        False recomputes before the control's change returns (scripts, tests, benchmarks).
        The first matrix is always computed in the constructor.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The panel; parts carry CSS classes ``lab-dep-<part>`` (``model``, ``seqlen``,
        ``method``, ``chunk``, ``left``, ``max-lookahead``, ``heatmap``, ``lookahead``,
        ``left-context``, ``badge``, ``status``, ``run``, ``stop``, ``progress``), the root
        ``lab-dependency-panel``.
    deps : torch.BoolTensor or None
        The matrix on display; None while it is being computed, after a stop or an error.
    summary : lab.streaming.DependencySummary or None
        Its summary.
    partial : lab.streaming.DependencyInferenceInterrupted or None
        After a Stop: the partial matrix (``.partial``) and which entries are final
        (``.computed``).
    job : lab.widgets.jobs.PanelJob
        The Recompute/Stop buttons, the progress bar and the worker thread.
    """

    css = "lab-dep"
    root_css = "lab-dependency-panel"

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        n_features: int = 40,
        example: str = "causal_conv",
        seq_len: int = 48,
        method: str = "perturb",
        max_lookahead: int = 0,
        image_size: int = 320,
        background: bool = True,
    ):
        super().__init__()
        if not isinstance(method, str) or method not in streaming.METHODS:
            raise ArgumentError(f"method must be one of {streaming.METHODS}, got {method!r}")
        keys = {v: k for k, v in _EXAMPLES.items()}
        if not isinstance(example, str) or example not in keys:
            raise ArgumentError(f"example must be one of {sorted(keys)}, got {example!r}")
        n_features = check_int(n_features, "n_features", 1, None)
        seq_len = check_int(seq_len, "seq_len", 8, 200)
        max_lookahead = check_int(max_lookahead, "max_lookahead", 0, 32)
        image_size = check_int(image_size, "image_size", 16, 4096)
        #: the adapter of a model from outside the zoo (None for callables and examples)
        self.adapter = None
        if model is not None:
            from lab.models.adapters import SpeechModel, module_for

            self.adapter = foreign_adapter(model) if isinstance(model, nn.Module | SpeechModel) \
                else None
            if self.adapter is not None:
                # refuses classifiers and seq2seq models, naming what applies to them
                model = module_for(self.adapter, "dependency")
                n_features = int(self.adapter.probe_shape(1.0)[2])
            elif isinstance(model, SpeechModel):  # a zoo adapter: its own module, unchanged
                n_features = int(model.probe_shape(1.0)[2])
                model = module_for(model, "dependency")
        if model is not None and not callable(model):
            raise ArgumentTypeError(
                f"model must be a callable (B, T, F) -> (B, T', F'), a lab.models.SpeechModel "
                f"or None, got {type(model).__name__}"
            )
        self._user_model = model
        self._n_features = n_features
        self._models: dict[str, tuple[Callable, int, str]] = {}
        self._image_size = image_size
        self.background = bool(background)
        self.deps: torch.Tensor | None = None
        self.summary: streaming.DependencySummary | None = None
        self.partial: streaming.DependencyInferenceInterrupted | None = None
        self._wanted: _Request | None = None
        self._model_lock = threading.Lock()
        # held while the wanted request changes and while a result is painted, so a result
        # that lost the race never lands on top of the readouts of newer settings
        self._paint_lock = threading.RLock()

        options = list(_EXAMPLES)
        if _zoo_available():
            options.append(_ZOO)
        if model is not None:
            options.append(_USER)
        tag = self.tagged
        # labels fit ("allowed ahead" was cut off) and sliders keep their width in narrow rows
        roomy = dict(style={"description_width": "100px"},
                     layout=widgets.Layout(width="340px", min_width="300px"))
        self.model_picker = tag(widgets.Dropdown(
            options=options, value=_USER if model is not None else keys[example],
            description="model", layout=widgets.Layout(width="340px", min_width="300px"),
        ), "model")
        self.seq_len = tag(widgets.IntSlider(
            value=seq_len, min=8, max=200, step=4, description="frames",
            continuous_update=False, **roomy,
        ), "seqlen")
        self.method = tag(widgets.ToggleButtons(options=list(streaming.METHODS), value=method),
                          "method")
        self.chunk_size = tag(widgets.IntSlider(
            value=8, min=1, max=32, description="chunk size",
            continuous_update=False, **roomy,
        ), "chunk")
        self.left_context = tag(widgets.IntSlider(
            value=16, min=0, max=64, description="left context",
            continuous_update=False, **roomy,
        ), "left")
        self.max_lookahead = tag(widgets.IntSlider(
            value=max_lookahead, min=0, max=32, description="allowed ahead",
            continuous_update=False, **roomy,
        ), "max-lookahead")
        self.view = View(title="dependency matrix", xlabel="input frame",
                         ylabel="output frame", width=image_size + 2 * LEFT_PX,
                         height=image_size + TOP_PX + BOTTOM_PX, cmap=_CMAP, square=True,
                         css="lab-dep-heatmap")
        self.view.set_note("red: the output frame depends on the input frame · white: it "
                           "does not · grey: not computed")
        self.image = self.view.image
        self.lookahead_label = tag(widgets.HTML(), "lookahead")
        self.left_context_label = tag(widgets.HTML(), "left-context")
        self.badge = tag(widgets.HTML(), "badge")
        self.status = tag(widgets.HTML(), "status")
        self._use_error_display(self.status)
        self._attention_box = widgets.HBox([self.chunk_size, self.left_context])
        self.job = PanelJob(tag, run_label="Recompute", on_error=self._failed)
        self.run_button, self.stop_button = self.job.run_button, self.job.stop_button
        self.progress = self.job.progress

        readouts = widgets.VBox(
            [self.badge, self.lookahead_label, self.left_context_label, self.status],
            layout=widgets.Layout(min_width="280px", flex="1 1 280px"),
        )
        self._set_root(widgets.VBox(
            [
                widgets.HBox([self.model_picker, self.seq_len]),
                widgets.HBox([self.method, self.max_lookahead]),
                self._attention_box,
                self.job.controls,
                widgets.HBox([self.view.widget, readouts],
                             layout=widgets.Layout(flex_flow="row wrap")),
            ]
        ))
        for w in (self.model_picker, self.seq_len, self.method, self.chunk_size,
                  self.left_context):
            w.observe(self._on_change, names="value")
        # the allowed lookahead does not change the matrix: re-read it, never recompute
        self.max_lookahead.observe(lambda _c: self._show_verdict(), names="value")
        self.run_button.on_click(lambda _b: self.update(wait=False))
        self.update(wait=True)

    def __repr__(self) -> str:
        shown = "" if self.summary is None else f", lookahead={self.summary.lookahead}"
        return (
            f"DependencyPanel(model={self.model_picker.value!r}, frames={self.seq_len.value}, "
            f"method={self.method.value!r}{shown})"
        )

    # -- model handling ---------------------------------------------------------------------
    def _model_for(self, request: _Request) -> tuple[Callable, int, str]:
        choice = request.choice
        with self._model_lock:  # a worker and the main thread may both ask for a new model
            if choice == _USER:
                return self._user_model, self._n_features, ""
            if choice not in self._models:
                if choice == _ZOO:
                    self._models[_ZOO] = _load_zoo_encoder()
                else:
                    model = streaming.example_model(_EXAMPLES[choice],
                                                    n_features=self._n_features)
                    self._models[choice] = (model, self._n_features, "")
            model, n_feat, note = self._models[choice]
        if isinstance(model, streaming.ChunkedAttention):
            # attributes, not constructor arguments: the weights stay the same while sliding;
            # one computation at a time, so no other thread reads them meanwhile
            model.chunk_size = request.chunk_size
            model.left_context = request.left_context
        return model, n_feat, note

    def _current_model(self) -> tuple[Callable, int, str]:
        """The model the controls select now, with the attention sliders applied."""
        return self._model_for(self._request())

    def _request(self) -> _Request:
        return _Request(self.model_picker.value, self.seq_len.value, self.method.value,
                        self.chunk_size.value, self.left_context.value)

    def _on_change(self, change) -> None:
        self.update(wait=not self.background)

    # -- computing --------------------------------------------------------------------------
    def update(self, wait: bool = True) -> torch.Tensor | None:
        """Recompute the matrix for the current settings and refresh heatmap and readouts.

        ``wait=False`` computes in the background (a computation still running is stopped
        and replaced) and returns None; ``wait=True`` returns the matrix (None after an error
        or a stop, which the panel shows).
        """
        is_attention = self.model_picker.value == "chunked attention"
        self._attention_box.layout.display = None if is_attention else "none"
        request = self._request()
        with self._paint_lock:
            self._wanted = request
            # what is on display no longer matches the controls: say so until the new one lands
            self.deps, self.summary, self.partial = None, None, None
            self.clear_error()
            self._set_badge("computing…", "lab-dep-badge-busy")
            self.lookahead_label.value = self.left_context_label.value = ""
            self.status.value = f"<small>computing ({request.method})…</small>"
        return self.job.replace(lambda: self._work(request), wait=wait)

    def _work(self, request: _Request) -> torch.Tensor | None:
        t0 = time.perf_counter()
        try:
            model, n_feat, note = self._model_for(request)
            shape = (1, request.seq_len, n_feat)
            if request.choice == _USER and self.adapter is not None:
                # the adapter's own input for that many of its frames (waveform models: the
                # model's hop of samples per frame)
                shape = self.adapter.probe_shape(request.seq_len * self._steps()[0])
                shape = (1, request.seq_len, shape[2])  # float rounding never adds a frame
            deps = streaming.infer_dependency_matrix(
                model, shape, method=request.method,
                on_progress=self.job.report, should_stop=self.job.should_stop,
            )
            summary = streaming.dependency_summary(deps)
        except streaming.DependencyInferenceInterrupted as stopped:
            with self._paint_lock:
                if request == self._wanted:
                    self._show_partial(stopped)
            return None
        except Exception:
            if request != self._wanted:  # an error of settings nobody looks at any more
                return None
            raise  # PanelJob hands it to _failed, which shows it
        elapsed = time.perf_counter() - t0
        with self._paint_lock:
            if request != self._wanted:  # the controls moved on while this ran
                return None
            self.deps, self.summary = deps, summary
            self._png(deps.T.numpy().astype(float))  # draws into the view (a few ms)
            self.lookahead_label.value = (
                f"lookahead (measured): <b>{summary.lookahead}</b> frames"
                + self._ms(summary.lookahead))
            self.left_context_label.value = self._left_context_text(request, summary)
            self._show_verdict()
            extra = f" · {html.escape(note)}" if note else ""
            self.status.value = (
                f"<small>{summary.n_dependencies} dependencies · {deps.shape[0]} in × "
                f"{deps.shape[1]} out frames · {request.method} {elapsed:.2f} s{extra}</small>"
            )
        return deps

    def stop(self) -> None:
        """Stop a running computation; the part computed so far is shown."""
        self.job.stop()

    def _seconds_axes(self) -> bool:
        return self.adapter is not None and self.model_picker.value == _USER

    def _steps(self) -> tuple[float, float]:
        """Seconds per input frame and per output frame of the adapted model."""
        a = self.adapter
        step_in = a.input_hop / a.sample_rate if a.input == "waveform" else a.feature_seconds
        return step_in, a.frame_seconds

    def _ms(self, frames: int) -> str:
        if not self._seconds_axes():
            return ""
        return f" ({1000 * frames * self._steps()[0]:.0f} ms of input)"

    def _left_context_text(self, request: _Request, summary) -> str:
        """The measured reach backwards, explained against the slider when they differ."""
        text = (f"left context (measured): <b>{summary.left_context}</b> frames"
                + self._ms(summary.left_context))
        if request.choice == "chunked attention" and summary.left_context != request.left_context:
            # the slider counts frames before a chunk's start; a chunk's last frame also sees
            # the frames of its own chunk before it
            text += (f"<br><small>= the slider's {request.left_context} frames before the "
                     f"chunk start + up to {request.chunk_size - 1} earlier frames of the "
                     f"same chunk</small>")
        return text

    # -- drawing ----------------------------------------------------------------------------
    def _png(self, image) -> bytes:
        # image rows = input frames, columns = output frames; the view is time-major
        # (x = input frame, y = output frame, frame 0 bottom left, as plot_dependency_matrix)
        a = np.asarray(image, dtype=np.float64)
        n_out, n_in = a.shape
        if self._seconds_axes() and a.size > 1:
            # an adapted model: its frames in seconds (input hop, output frame length)
            step_in, step_out = self._steps()
            self.view.set_xlabel("input time (s)")
            return self.view.show_image(a.T, vmin=0.0, vmax=1.0, ylabel="output time (s)",
                                        x_extent=(0.0, n_in * step_in),
                                        y_extent=(0.0, n_out * step_out))
        self.view.set_xlabel("input frame")
        return self.view.show_image(a.T, vmin=0.0, vmax=1.0, ylabel="output frame",
                                    x_extent=(-0.5, n_in - 0.5),
                                    y_extent=(-0.5, n_out - 0.5))

    def _show_partial(self, stopped: streaming.DependencyInferenceInterrupted) -> None:
        self.partial = stopped
        shown = stopped.partial.float()
        shown[~stopped.computed] = 0.5  # grey: not computed
        self._png(shown.T.numpy())
        done, total = int(stopped.computed.sum()), stopped.computed.numel()
        self._set_badge("stopped", "lab-dep-badge-error")
        self.status.value = (
            f"<small>stopped: {done} of {total} entries computed (grey: not computed); "
            "press Recompute for the whole matrix</small>"
        )

    def _show_verdict(self) -> None:
        """Badge for the matrix on display and the allowed lookahead."""
        if self.deps is None or self.summary is None:
            return
        bad = streaming.lookahead_violations(self.deps, self.max_lookahead.value)
        if bad:
            j, i, ahead = bad[0]
            self._set_badge(
                f"NOT streamable: output frame {j} uses input frame {i} ({ahead} ahead)",
                "lab-dep-badge-bad",
            )
        else:
            self._set_badge(
                "streamable (causal)" if self.summary.causal else
                f"streamable with {self.summary.lookahead} frames of lookahead",
                "lab-dep-badge-ok",
            )

    def _failed(self, error: Exception) -> None:
        self.show_error(error)

    def _on_error(self, text: str) -> None:
        # nothing on display belongs to the current settings any more
        self.deps, self.summary = None, None
        self._png(np.full((1, 1), 0.5))
        self.lookahead_label.value = self.left_context_label.value = ""
        self._set_badge("error", "lab-dep-badge-error")

    def _set_badge(self, text: str, cls: str) -> None:
        colours = {
            "lab-dep-badge-ok": "#1a7f37",
            "lab-dep-badge-bad": "#cf222e",
            "lab-dep-badge-error": "#6e7781",
            "lab-dep-badge-busy": "#0969da",
        }
        for c in colours:
            self.badge.remove_class(c)
        self.badge.add_class(cls)
        self.badge.value = (
            f"<span style='background:{colours[cls]};color:white;padding:2px 8px;"
            f"border-radius:4px;font-weight:bold'>{html.escape(text)}</span>"
        )

