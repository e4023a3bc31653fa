"""The options of :func:`lab.interpret.attribute` in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass

from lab.errors import ArgumentError, ArgumentTypeError
from lab.interpret._checks import flag, integer, real

__all__ = ["METHODS", "AttributionSettings"]

#: Attribution methods, each a Captum class (``noise_tunnel`` wraps ``settings.inner``).
METHODS = (
    "integrated_gradients",
    "saliency",
    "input_x_gradient",
    "occlusion",
    "feature_ablation",
    "shapley_value_sampling",
    "noise_tunnel",
)


@dataclass(frozen=True)
class AttributionSettings:
    """Options of every attribution method; each method reads the ones it needs.

    Parameters
    ----------
    n_steps : int
        Integrated-gradients steps (Riemann trapezoid in Captum).
    baseline : float
        The "absent" input value for integrated gradients, occlusion and ablation. Zero is
        silence for log-power features and what the lab's importance masks zero to.
    window, stride : (int, int)
        Occlusion patch and stride in (frames, bins); clipped to the input's size.
    n_samples : int
        Shapley samples (permutations) or NoiseTunnel samples.
    noise : float
        NoiseTunnel's standard deviation as a fraction of the input's standard deviation
        (Captum takes an absolute one; a fraction keeps MFCC and log-power inputs alike).
    inner : str
        The method NoiseTunnel smooths (SmoothGrad over it).
    absolute : bool
        Saliency returns ``|gradient|`` (Captum's default) when True.
    segment_frames : int
        Frames per fixed segment when ablation has no word segments.
    batch_size : int
        Inputs per forward pass (Captum's ``internal_batch_size`` /
        ``perturbations_per_eval``).

    Examples
    --------
    >>> AttributionSettings(n_steps=8).n_steps
    8
    >>> AttributionSettings(window=(0, 4))
    Traceback (most recent call last):
    ...
    lab.errors.ArgumentError: window must be two integers >= 1, got (0, 4)
    """

    n_steps: int = 50
    baseline: float = 0.0
    window: tuple[int, int] = (4, 16)
    stride: tuple[int, int] = (2, 8)
    n_samples: int = 10
    noise: float = 0.1
    inner: str = "integrated_gradients"
    absolute: bool = True
    segment_frames: int = 10
    batch_size: int = 64

    def __post_init__(self) -> None:
        integer("n_steps", self.n_steps, minimum=1)
        real("baseline", self.baseline)
        for name in ("window", "stride"):
            pair = getattr(self, name)
            if not isinstance(pair, tuple | list) or len(pair) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair
            ):
                raise ArgumentError(f"{name} must be two integers >= 1, got {pair!r}")
            object.__setattr__(self, name, tuple(pair))
        integer("n_samples", self.n_samples, minimum=1)
        real("noise", self.noise, minimum=0.0)
        if not isinstance(self.inner, str):
            raise ArgumentTypeError(f"inner must be a method name, got {type(self.inner).__name__}")
        if self.inner not in METHODS or self.inner == "noise_tunnel":
            raise ArgumentError(
                f"inner must be one of {[m for m in METHODS if m != 'noise_tunnel']}, "
                f"got {self.inner!r}"
            )
        flag("absolute", self.absolute)
        integer("segment_frames", self.segment_frames, minimum=1)
        integer("batch_size", self.batch_size, minimum=1)
