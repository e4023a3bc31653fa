"""The options of each mask method, as small frozen settings objects.

Every field is checked when the object is made, so a NaN learning rate or a fractional step
count is an :class:`~lab.errors.ArgumentError` naming the field before any model runs.

Examples
--------
>>> OptimizeSettings(steps=8, budget=None).rounds
2
>>> OptimizeSettings(lr=float("nan"))
Traceback (most recent call last):
...
lab.errors.ArgumentError: lr must be a finite number > 0.0, got nan
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from lab.interpret._checks import flag, integer, real

__all__ = ["GreedySettings", "OptimizeSettings", "SETTINGS"]


@dataclass(frozen=True)
class GreedySettings:
    """Options of ``method="greedy"`` (visit every entry once, in a seeded order).

    Attributes
    ----------
    record_every : int, optional
        Visited entries between trajectory frames; default about 40 frames in all.
    """

    record_every: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "record_every",
                           integer("record_every", self.record_every, minimum=1,
                                   allow_none=True))


@dataclass(frozen=True)
class OptimizeSettings:
    """Options of ``method="optimize"`` (relaxation, thresholds, polish).

    Attributes
    ----------
    sparsity_weight : float
        Initial weight of the mean mask value against the path-margin hinge loss; it grows
        while every margin holds and shrinks while some do not.
    steps : int, optional
        Adam steps of the first relaxation. Default ``max(4, round(T / 4))``, so the
        relaxation stays a fixed share of greedy's ``T * F`` passes.
    lr, margin : float
        The relaxation's learning rate and the logit margin the original best path must keep.
    batch_size : int
        Masks evaluated per forward pass.
    polish : bool
        After the threshold, zero more of the kept entries with speculative batched greedy
        passes over groups of 8, pairs and single entries.
    budget : float or None
        The polish evaluates at most ``max(budget * T * F, 32)`` masks and stops there with
        the last valid mask; it also stops once the mask keeps at most ``T`` entries. ``None``
        polishes to the end (slower, sparser).
    rounds : int
        Relax-and-threshold rounds; later rounds re-relax only the kept entries (3 steps) and
        are skipped once the mask keeps at most ``2 * T`` entries.
    record_every : int, optional
        Relaxed steps between trajectory frames; default about 25 frames per round.
    """

    sparsity_weight: float = 20.0
    steps: int | None = None
    lr: float = 1.0
    margin: float = 2.0
    batch_size: int = 128
    polish: bool = True
    budget: float | None = 0.06
    rounds: int = 2
    record_every: int | None = None

    def __post_init__(self) -> None:
        checked = dict(
            sparsity_weight=real("sparsity_weight", self.sparsity_weight, minimum=0.0),
            steps=integer("steps", self.steps, minimum=0, allow_none=True),
            lr=real("lr", self.lr, minimum=0.0, strict=True),
            margin=real("margin", self.margin, minimum=0.0),
            batch_size=integer("batch_size", self.batch_size, minimum=1),
            polish=flag("polish", self.polish),
            budget=real("budget", self.budget, minimum=0.0, allow_none=True),
            rounds=integer("rounds", self.rounds, minimum=1),
            record_every=integer("record_every", self.record_every, minimum=1,
                                 allow_none=True),
        )
        for name, value in checked.items():
            object.__setattr__(self, name, value)


#: The settings class of each method.
SETTINGS: dict[str, type] = {"greedy": GreedySettings, "optimize": OptimizeSettings}


def option_names(method: str) -> tuple[str, ...]:
    """Names of the options ``method`` takes."""
    return tuple(f.name for f in fields(SETTINGS[method]))
