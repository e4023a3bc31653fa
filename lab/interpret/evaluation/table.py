"""Markdown tables of :func:`~.compare.compare`'s results."""

from __future__ import annotations

__all__ = ["intervals_table", "results_table"]


def results_table(results: dict, area: str) -> str:
    """One row per method at one matched area, with curve AUCs and milliseconds per clip.

    Examples
    --------
    >>> row = dict(fidelity=1, faithfulness=0.5, AI=10, AD=2, AG=3, mask_area=0.1)
    >>> r = {"areas": {"a": {"methods": {"m": row}}}, "seconds_per_clip": {"m": 0.002}}
    >>> print(results_table(r, "a").splitlines()[-1])
    | m | 1.000 | 0.500 | 10.0 | 2.0 | 3.0 | – | – | 2.0 | 0.100 |
    """
    lines = [
        "| method | fidelity ↑ | faithfulness ↑ | AI ↑ | AD ↓ | AG ↑ | deletion AUC ↓ | "
        "insertion AUC ↑ | ms/clip | mask area |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    curves = results.get("curves", {})
    for name, m in results["areas"][area]["methods"].items():
        c = curves.get(name)
        d = f"{c['deletion_auc']:.3f}" if c else "–"
        i = f"{c['insertion_auc']:.3f}" if c else "–"
        ms = 1000 * results["seconds_per_clip"][name]
        lines.append(
            f"| {name} | {m['fidelity']:.3f} | {m['faithfulness']:.3f} | {m['AI']:.1f} | "
            f"{m['AD']:.1f} | {m['AG']:.1f} | {d} | {i} | {ms:.1f} | {m['mask_area']:.3f} |")
    return "\n".join(lines)


def _interval(r: dict, digits: int) -> str:
    return f"{r['difference']:+.{digits}f} [{r['low']:+.{digits}f}, {r['high']:+.{digits}f}]"


def intervals_table(results: dict, area: str, reference: str) -> str:
    """Differences from ``reference`` with 95 % paired bootstrap intervals.

    Examples
    --------
    >>> iv = {"difference": 0.1, "low": 0.05, "high": 0.15}
    >>> r = {"areas": {"a": {"intervals": {"m": {"fidelity": iv, "faithfulness": iv}}}}}
    >>> print(intervals_table(r, "a", "ref").splitlines()[-1])
    | m | +0.100 [+0.050, +0.150] | +0.100 [+0.050, +0.150] | – | – |
    """
    lines = [
        f"| method − {reference} | fidelity | faithfulness | deletion AUC | insertion AUC |",
        "|---|---|---|---|---|",
    ]
    curve = results.get("curve_intervals", {})
    for name, iv in results["areas"][area].get("intervals", {}).items():
        c = curve.get(name)
        d = _interval(c["deletion_auc"], 3) if c else "–"
        i = _interval(c["insertion_auc"], 3) if c else "–"
        lines.append(f"| {name} | {_interval(iv['fidelity'], 3)} | "
                     f"{_interval(iv['faithfulness'], 3)} | {d} | {i} |")
    return "\n".join(lines)
