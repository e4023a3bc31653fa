"""pytest plugin for the nbval run: a notebook cell that draws a figure must show one, and an
nbval marker must be one nbval honours.

Loaded with ``-p tests.nbval_figures`` (see the Makefile). nbval compares text outputs only,
so a figure that silently stops appearing (a library switching the user's backend to Agg,
say) would go unnoticed; this fails the cell instead. nbval only honours a marker comment
that stands alone on its line (``# NBVAL_IGNORE_OUTPUT``); one followed by a reason on the
same line is silently ignored, so this fails such a cell too.
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


def misplaced_marker(source: str) -> str | None:
    """The first comment line that mentions an nbval marker without being exactly one.

    Examples
    --------
    >>> misplaced_marker("# NBVAL_IGNORE_OUTPUT\\n# (timings)\\nprint(1)") is None
    True
    >>> misplaced_marker("# NBVAL_IGNORE_OUTPUT (timings)\\nprint(1)")
    '# NBVAL_IGNORE_OUTPUT (timings)'
    """
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("#") and "NBVAL_" in line:
            if not re.fullmatch(r"NBVAL_[A-Z_]+", line.lstrip("#").strip()):
                return line
    return None


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
    source = "".join(cell.get("source", ""))
    marker = misplaced_marker(source)
    if marker is not None:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: nbval ignores the marker in {marker!r}; put the "
                           "marker alone on its line and the reason on the next")
    elif missing_figure(source, outputs):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: the cell draws a figure but its output holds no image "
            "(is something switching matplotlib's backend?)"
        )
