"""Dependency heatmap panel: which output frames of a model depend on which input frames."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import ipywidgets as widgets
import torch
from matplotlib.colors import ListedColormap
from torch import nn

from lab import streaming
from lab.errors import ArgumentError
from lab.widgets.render import array_to_png

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
# white = independent, red = depends, as in lab.streaming.plot_dependency_matrix
# (a Colormap object, not a registered name: the lab never touches matplotlib's global registry)
_CMAP = ListedColormap(["white", "red"], name="lab_dependency_white_red")
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


class DependencyPanel(widgets.VBox):
    """Pick a model, see its input/output dependency matrix and whether it can stream.

    Parameters
    ----------
    model : callable, optional
        Your own ``(B, T, F) -> (B, T', F')`` model; it appears as "your model" in the picker.
    n_features : int
        Features per frame of ``model`` (and of the built-in examples).
    example : str
        Initial built-in example: ``"causal_conv"``, ``"centered_conv"``,
        ``"subsampling_conv"``, ``"lstm"``, ``"bilstm"``, ``"chunked_attention"`` (ignored
        when ``model`` is given).
    seq_len : int
        Initial probe length in frames.
    method : {"perturb", "jacobian", "loop"}
        Initial inference method (see :func:`lab.streaming.infer_dependency_matrix`).
    max_lookahead : int
        Initial allowed lookahead for the "streamable" badge.
    image_size : int
        Heatmap size in pixels.

    Attributes
    ----------
    deps : torch.BoolTensor
        The matrix currently shown.
    summary : lab.streaming.DependencySummary
        Its summary.
    """

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
    ):
        if method not in streaming.METHODS:
            raise ArgumentError(f"method must be one of {streaming.METHODS}, got {method!r}")
        keys = {v: k for k, v in _EXAMPLES.items()}
        if example not in keys:
            raise ArgumentError(f"example must be one of {sorted(keys)}, got {example!r}")
        self._user_model = model
        self._n_features = n_features
        self._models: dict[str, tuple[Callable, int]] = {}
        self._image_size = image_size
        self.deps: torch.Tensor | None = None
        self.summary: streaming.DependencySummary | None = None

        options = list(_EXAMPLES)
        if _zoo_available():
            options.append(_ZOO)
        if model is not None:
            options.append(_USER)
        self.model_picker = widgets.Dropdown(
            options=options, value=_USER if model is not None else keys[example],
            description="model",
        )
        self.seq_len = widgets.IntSlider(
            value=seq_len, min=8, max=200, step=4, description="frames", continuous_update=False
        )
        self.method = widgets.ToggleButtons(options=list(streaming.METHODS), value=method)
        self.chunk_size = widgets.IntSlider(
            value=8, min=1, max=32, description="chunk size", continuous_update=False
        )
        self.left_context = widgets.IntSlider(
            value=16, min=0, max=64, description="left context", continuous_update=False
        )
        self.max_lookahead = widgets.IntSlider(
            value=max_lookahead, min=0, max=32, description="allowed ahead",
            continuous_update=False,
        )
        self.image = widgets.Image(format="png", width=image_size, height=image_size)
        self.lookahead_label = widgets.HTML()
        self.left_context_label = widgets.HTML()
        self.badge = widgets.HTML()
        self.status = widgets.HTML()
        self._attention_box = widgets.HBox([self.chunk_size, self.left_context])

        for w, cls in [
            (self.model_picker, "lab-dep-model"),
            (self.seq_len, "lab-dep-seqlen"),
            (self.method, "lab-dep-method"),
            (self.chunk_size, "lab-dep-chunk"),
            (self.left_context, "lab-dep-left"),
            (self.max_lookahead, "lab-dep-max-lookahead"),
            (self.image, "lab-dep-heatmap"),
            (self.lookahead_label, "lab-dep-lookahead"),
            (self.left_context_label, "lab-dep-left-context"),
            (self.badge, "lab-dep-badge"),
            (self.status, "lab-dep-status"),
        ]:
            w.add_class(cls)

        axes = widgets.HTML(
            "<small>x: input frame →, y: output frame ↑ (frame 0 bottom left); "
            "red: the output frame depends on the input frame</small>"
        )
        readouts = widgets.VBox(
            [self.badge, self.lookahead_label, self.left_context_label, self.status, axes]
        )
        super().__init__(
            [
                widgets.HBox([self.model_picker, self.seq_len]),
                widgets.HBox([self.method, self.max_lookahead]),
                self._attention_box,
                widgets.HBox([self.image, readouts]),
            ]
        )
        self.add_class("lab-dependency-panel")
        for w in (self.model_picker, self.seq_len, self.method, self.chunk_size,
                  self.left_context, self.max_lookahead):
            w.observe(self._on_change, names="value")
        self.update()

    def __repr__(self) -> str:
        shown = "" if self.summary is None else f", lookahead={self.summary.lookahead}"
        return (
            f"DependencyPanel(model={self.model_picker.value!r}, frames={self.seq_len.value}, "
            f"method={self.method.value!r}{shown})"
        )

    # -- model handling ---------------------------------------------------------------------
    def _current_model(self) -> tuple[Callable, int, str]:
        choice = self.model_picker.value
        if choice == _USER:
            return self._user_model, self._n_features, ""
        if choice == _ZOO:
            if _ZOO not in self._models:
                enc, n_feat, note = _load_zoo_encoder()
                self._models[_ZOO] = (enc, n_feat, note)
            return self._models[_ZOO]
        if choice not in self._models:
            model = streaming.example_model(_EXAMPLES[choice], n_features=self._n_features)
            self._models[choice] = (model, self._n_features, "")
        model, n_feat, note = self._models[choice]
        if isinstance(model, streaming.ChunkedAttention):
            # attributes, not constructor arguments: the weights stay the same while sliding
            model.chunk_size = self.chunk_size.value
            model.left_context = self.left_context.value
        return model, n_feat, note

    def _on_change(self, change) -> None:
        self.update()

    # -- drawing ----------------------------------------------------------------------------
    def update(self) -> None:
        """Recompute the matrix for the current settings and refresh heatmap and readouts."""
        is_attention = self.model_picker.value == "chunked attention"
        self._attention_box.layout.display = None if is_attention else "none"
        try:
            model, n_feat, note = self._current_model()
            t0 = time.perf_counter()
            deps = streaming.infer_dependency_matrix(
                model, (1, self.seq_len.value, n_feat), method=self.method.value
            )
            elapsed = time.perf_counter() - t0
            summary = streaming.dependency_summary(deps)
            bad = streaming.lookahead_violations(deps, self.max_lookahead.value)
        except (ValueError, TypeError, RuntimeError) as err:
            self._set_badge("error", "lab-dep-badge-error")
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return
        self.deps, self.summary = deps, summary
        # rows = output frames with frame 0 at the bottom, as in plot_dependency_matrix
        self.image.value = array_to_png(
            deps.T.numpy().astype(float), cmap=_CMAP, vmin=0.0, vmax=1.0, origin="lower",
            width=self._image_size, height=self._image_size,
        )
        self.lookahead_label.value = f"lookahead: <b>{summary.lookahead}</b> frames"
        self.left_context_label.value = f"left context: <b>{summary.left_context}</b> frames"
        if bad:
            j, i, ahead = bad[0]
            self._set_badge(
                f"NOT streamable: output frame {j} uses input frame {i} ({ahead} ahead)",
                "lab-dep-badge-bad",
            )
        else:
            self._set_badge(
                "streamable (causal)" if summary.causal else
                f"streamable with {summary.lookahead} frames of lookahead",
                "lab-dep-badge-ok",
            )
        extra = f" · {html.escape(note)}" if note else ""
        self.status.value = (
            f"<small>{summary.n_dependencies} dependencies · {deps.shape[0]} in × "
            f"{deps.shape[1]} out frames · {self.method.value} {elapsed:.2f} s{extra}</small>"
        )

    def _set_badge(self, text: str, cls: str) -> None:
        colours = {
            "lab-dep-badge-ok": "#1a7f37",
            "lab-dep-badge-bad": "#cf222e",
            "lab-dep-badge-error": "#6e7781",
        }
        for c in colours:
            self.badge.remove_class(c)
        self.badge.add_class(cls)
        self.badge.value = (
            f"<span style='background:{colours[cls]};color:white;padding:2px 8px;"
            f"border-radius:4px;font-weight:bold'>{html.escape(text)}</span>"
        )
