"""pytest plugin for the nbval run: a notebook cell that draws a figure must show one.

Loaded with ``-p tests.nbval_figures`` (see the Makefile). nbval compares text outputs only,
so a figure that silently stops appearing (a library switching the user's backend to Agg,
say) would go unnoticed; this fails the cell instead.
"""

from __future__ import annotations

import re

import pytest

# Calls that draw a matplotlib figure in a notebook cell.
DRAWS = re.compile(r"plt\.(show|subplots|figure|imshow|plot)\(|plot_dependency_matrix\(")
IMAGES = ("image/png", "image/svg+xml", "image/jpeg")


def missing_figure(source: str, outputs: list) -> bool:
    """True when ``source`` draws a figure and none of ``outputs`` holds an image.

    Examples
    --------
    >>> missing_figure("plt.plot([1]); plt.show()", [])
    True
    >>> missing_figure("plt.plot([1]); plt.show()", [{"data": {"image/png": "..."}}])
    False
    >>> missing_figure("print(1)", [])
    False
    """
    if not DRAWS.search(source):
        return False
    return not any(k in (o.get("data") or {}) for o in outputs for k in IMAGES)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed:
        return
    cell = getattr(item, "cell", None)
    outputs = getattr(item, "test_outputs", None)
    if cell is None or outputs is None:
        return
    if missing_figure("".join(cell.get("source", "")), outputs):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: the cell draws a figure but its output holds no image "
            "(is something switching matplotlib's backend?)"
        )
