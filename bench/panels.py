"""Panel responsiveness: kernel-side time from a slider change to new image bytes.

Run from the repository root: ``python -m bench.panels [--repeats 5]``.
For every panel that ``lab.widgets`` exports at run time (each import-guarded), a slider is
moved between values the way the frontend does it (assigning ``slider.value``; observers run
synchronously), and the time until the watched ``Image.value`` holds new bytes is measured.
Median and max over the moves. Target: <= 100 ms. Panels that need a model use a small,
seeded, untrained one unless a shipped checkpoint exists, so the timing is of the panel, not
of training.

The browser round trip (key press on the slider → new image decoded and painted in JupyterLab)
is measured by the browser tests (``tests/browser``, ``measure_round_trips``), which write
``bench/results/panels-browser-<host>.json``; this script prints that table next to its own.
Goal: <= 150 ms median for the MFCC, PIQ, dependency and mask-threshold sliders.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TARGET_MS = 100.0
BROWSER_TARGET_MS = 150.0
#: Panels whose browser round trip has the 150 ms goal (issue 13).
BROWSER_GOAL = ("MFCCPanel", "PIQPanel", "DependencyPanel", "MaskPanel")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Case:
    panel: str
    slider: str
    image: str
    values: list
    build: Callable[[], object]


def _tone_sources() -> dict[str, bytes]:
    from lab.widgets.render import wav_bytes

    t = np.arange(16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * (220 + 400 * t) * t) * (np.sin(2 * np.pi * 2 * t) > -0.3)
    return {"chirp (1 s)": wav_bytes(y.astype(np.float32), 16000)}


def _deepspeech():
    from lab import models

    try:
        return models.load_pretrained("deepspeech")
    except Exception:  # noqa: BLE001 - no shipped checkpoint yet: time the panel anyway
        torch.manual_seed(0)
        return models.DeepSpeech().eval()


def _mask_panel():
    from lab.widgets import MaskPanel

    panel = MaskPanel(_deepspeech(), _tone_sources())
    panel.run()
    return panel


def cases() -> list[Case]:
    import lab.widgets as w

    out = []
    if hasattr(w, "MFCCPanel"):
        out.append(Case("MFCCPanel", "hop_ms", "heatmap", [10, 20, 15, 25, 20],
                        lambda: w.MFCCPanel(_tone_sources())))
    if hasattr(w, "DependencyPanel"):
        out.append(Case("DependencyPanel", "seq_len", "image", [40, 48, 56, 48, 40],
                        lambda: w.DependencyPanel(background=False)))
    if hasattr(w, "AlignmentPanel"):
        out.append(Case("AlignmentPanel", "temperature", "heatmap", [0.5, 1.0, 2.0, 1.0, 0.5],
                        lambda: w.AlignmentPanel(corpus=1)))
    if hasattr(w, "MaskPanel"):
        out.append(Case("MaskPanel", "threshold", "frames_image", [0.1, 0.3, 0.5, 0.2, 0.4],
                        _mask_panel))
    if hasattr(w, "PIQPanel"):
        out.append(Case("PIQPanel", "threshold", "mask", [0.2, 0.4, 0.6, 0.3, 0.5],
                        lambda: w.PIQPanel()))
    return out


def measure(case: Case, repeats: int) -> dict:
    try:
        panel = case.build()
    except Exception as exc:  # noqa: BLE001 - report, keep benchmarking the other panels
        return {"panel": case.panel, "error": f"{type(exc).__name__}: {exc}"}
    slider = getattr(panel, case.slider)
    image = getattr(panel, case.image)
    times, changed = [], 0
    for _ in range(repeats):
        for value in case.values:
            if slider.value == value:
                continue
            before = bytes(image.value)
            t0 = time.perf_counter()
            slider.value = value
            after = bytes(image.value)
            times.append(1000 * (time.perf_counter() - t0))
            changed += after != before
    return {
        "panel": case.panel, "slider": case.slider, "image": case.image,
        "moves": len(times), "image_changed": changed,
        "median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2),
        "within_target": statistics.median(times) <= TARGET_MS,
    }


def run(repeats: int) -> dict:
    torch.set_num_threads(1)
    rows = [measure(c, repeats) for c in cases()]
    return {"host": socket.gethostname(), "platform": platform.platform(),
            "torch": torch.__version__, "threads": 1, "target_ms": TARGET_MS, "rows": rows}


def table(result: dict) -> str:
    lines = ["| panel | slider → image | moves (image changed) | median ms | max ms | "
             f"≤ {TARGET_MS:.0f} ms |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['panel']} | not measured: {r['error'][:80]} | | | | |")
            continue
        lines.append(f"| {r['panel']} | {r['slider']} → {r['image']} | {r['moves']} "
                     f"({r['image_changed']}) | {r['median_ms']:.1f} | {r['max_ms']:.1f} | "
                     f"{r['within_target']} |")
    return "\n".join(lines)


def browser_table(host: str | None = None) -> str:
    """The browser round trips the browser tests recorded for ``host`` (this machine)."""
    path = RESULTS / f"panels-browser-{host or socket.gethostname()}.json"
    if not path.exists():
        return f"(no browser round trips yet: run the browser tests to write {path.name})"
    rows = json.loads(path.read_text())["rows"]
    lines = ["| panel | slider → image (browser) | moves | median ms | max ms | goal |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        goal = (f"≤ {BROWSER_TARGET_MS:.0f} ms: {r['median_ms'] <= BROWSER_TARGET_MS}"
                if r["panel"] in BROWSER_GOAL else "–")
        lines.append(f"| {r['panel']} | {r['slider']} → {r['image']} | {r['moves']} | "
                     f"{r['median_ms']:.0f} | {r['max_ms']:.0f} | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser-only", action="store_true",
                        help="only print the browser round trips the browser tests recorded")
    args = parser.parse_args(argv)
    if not args.browser_only:
        result = run(args.repeats)
        print(table(result))
        out = RESULTS / f"panels-{result['host']}.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {out}\n")
    print(browser_table())


if __name__ == "__main__":
    main()
