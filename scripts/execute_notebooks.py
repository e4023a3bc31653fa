"""Execute notebooks in place and save them with outputs but without widget state.

Usage: ``.venv/bin/python scripts/execute_notebooks.py notebooks/01_mfcc.ipynb [...]``

Each notebook runs top to bottom in a fresh ``python3`` kernel of this interpreter with its
own directory as the working directory. Widget *views* (the output that says "show widget
X here") stay, but the widget *state* (``metadata.widgets`` and
``application/vnd.jupyter.widget-state+json`` outputs) is removed: it is large, changes on every
run and would otherwise make diffs noisy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def strip_widget_state(nb: nbformat.NotebookNode) -> int:
    """Remove stored widget state from ``nb`` in place; return how many items were removed."""
    removed = int(nb.metadata.pop("widgets", None) is not None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if WIDGET_STATE in output.get("data", {}):
                del output["data"][WIDGET_STATE]
                removed += 1
        cell.get("metadata", {}).pop("widgets", None)
    return removed


def execute(path: Path, *, timeout: int = 120, kernel: str = "python3") -> float:
    """Run ``path`` in place; return the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    runner = ExecutePreprocessor(timeout=timeout, kernel_name=kernel, store_widget_state=False)
    start = time.perf_counter()
    runner.preprocess(nb, {"metadata": {"path": str(path.parent.resolve())}})
    seconds = time.perf_counter() - start
    strip_widget_state(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
        seconds = execute(path, timeout=args.timeout)
        print(f"{path}: executed in {seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
