"""Helpers for browser tests: image bytes behind widgets, error checks, slider keys, screenshots."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_MEDIA_BASE64 = """async ([selector, tag]) => {
  let el = document.querySelector(selector);
  if (!el) throw new Error('no element matches ' + selector);
  if (el.tagName !== tag) el = el.querySelector(tag.toLowerCase());
  if (!el || !el.src) throw new Error('no ' + tag + ' with a src under ' + selector);
  const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}"""


def media_bytes(page, selector: str, tag: str = "IMG") -> bytes:
    """The bytes behind an ipywidgets Image or Audio (the src of its <img> or <audio>)."""
    return base64.b64decode(page.evaluate(_MEDIA_BASE64, [selector, tag]))


def image_bytes(page, selector: str) -> bytes:
    """The bytes behind an ipywidgets Image."""
    return media_bytes(page, selector, "IMG")


def audio_digest(page, selector: str) -> str:
    """SHA-256 of the audio bytes played by the first element matching ``selector``."""
    return hashlib.sha256(media_bytes(page, selector, "AUDIO")).hexdigest()


def image_digest(page, selector: str) -> str:
    """SHA-256 of the image bytes shown by the first element matching ``selector``."""
    return hashlib.sha256(image_bytes(page, selector)).hexdigest()


def poll(page, read, done, timeout_s: float = 15):
    """Call ``read()`` every 200 ms until ``done(value)`` or ``timeout_s``; the last value.

    Panels redraw part by part while messages from the kernel arrive, so every check of
    something that follows a key press waits for it this way.
    """
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        value = read()
    return value


def wait_for_change(page, read, before, timeout_s: float = 15):
    """Poll ``read()`` until it differs from ``before``; the new value (or ``before``)."""
    return poll(page, read, lambda value: value != before, timeout_s)


def wait_for_image_change(page, selector: str, old_digest: str, timeout_s: float = 15) -> str:
    """Poll until the image behind ``selector`` differs from ``old_digest``; return the new one."""
    return wait_for_change(page, lambda: image_digest(page, selector), old_digest, timeout_s)


def assert_no_error_output(page) -> None:
    """Fail if any cell wrote to stderr (tracebacks included) or a widget failed to render."""
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = stderr.all_inner_texts()
    assert not texts, "error output in the notebook:\n" + "\n---\n".join(texts)
    broken = page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
    assert broken.count() == 0, broken.all_inner_texts()


def press_slider(page, css_class: str, key: str = "ArrowRight", times: int = 1) -> None:
    """Move an ipywidgets slider (found by its ``add_class`` hook) with the keyboard."""
    handle = page.locator(f".{css_class} .noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


def docs_screenshot(page, selector: str, name: str) -> Path | None:
    """Save ``docs/<name>`` of the element when ``LAB_DOCS_SCREENSHOTS=1`` (README gallery).

    The page is made tall enough for the whole element first: JupyterLab scrolls the notebook
    inside its own panel, so a taller element would be cut at the window's bottom edge.
    """
    if os.environ.get("LAB_DOCS_SCREENSHOTS") != "1":
        return None
    path = REPO / "docs" / name
    path.parent.mkdir(exist_ok=True)
    element = page.locator(selector).first
    before = page.viewport_size
    height = element.evaluate("el => el.getBoundingClientRect().height")
    page.set_viewport_size({"width": 1400, "height": int(min(6000, height + 400))})
    page.wait_for_timeout(500)
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(path))
    if before:
        page.set_viewport_size(before)
    return path


# --- labelled, time-aligned views (issue 13) -----------------------------------------------

_AXES = """(scope) => Array.from(document.querySelectorAll(scope + ' .lab-view-axes'))
  .filter(el => el.offsetParent !== null)
  .map(el => ({x: el.dataset.x, y: el.dataset.y, colorbar: el.dataset.colorbar,
               rows: el.dataset.rows ? el.dataset.rows.split('|') : [],
               plotLeft: Number(el.dataset.plotLeft), plotWidth: Number(el.dataset.plotWidth),
               classes: el.closest('.lab-view') ? el.closest('.lab-view').className : ''}))"""

_GEOMETRY = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter(el => el.offsetParent !== null)
  .map(el => { const r = el.getBoundingClientRect();
               return {left: r.left, width: r.width, natural: el.naturalWidth || 0}; })"""

_TRUNCATED = """(scope) => Array.from(document.querySelectorAll(
    scope + ' .widget-label, ' + scope + ' .widget-readout, ' + scope + ' button'))
  .filter(el => el.offsetParent !== null && el.textContent.trim()
          && el.scrollWidth > el.clientWidth + 1)
  .map(el => el.textContent.trim())"""

_ARM_ROUND_TRIP = """(selector) => {
  const img = document.querySelector(selector);
  if (!img) throw new Error('no image matches ' + selector);
  const state = {t0: null, t1: null, src: img.src};
  window.__labRoundTrip = state;
  document.addEventListener('keydown', () => {
    if (state.t0 === null) state.t0 = performance.now();
  }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    // a change that lands before the key press belongs to an earlier move: not this one
    if (state.t0 === null) { state.src = img.src; return; }
    if (img.src === state.src) return;
    observer.disconnect();
    // visible: the new bytes are decoded and the next frame is painted
    img.decode().catch(() => null).then(() => requestAnimationFrame(() => {
      state.t1 = performance.now();
    }));
  });
  observer.observe(img, {attributes: true, attributeFilter: ['src']});
}"""


def view_axes(page, scope: str) -> list[dict]:
    """The axis labels of every visible view under ``scope`` (from their caption data)."""
    return page.evaluate(_AXES, scope)


def assert_views_labelled(page, scope: str, *, minimum: int = 1) -> list[dict]:
    """Every view under ``scope`` names its x axis with a unit, and a colour bar its unit."""
    axes = view_axes(page, scope)
    assert len(axes) >= minimum, f"expected >= {minimum} labelled views under {scope}: {axes}"
    for a in axes:
        assert a["x"] in ("time (s)", "frame t", "frame", "input frame"), a
        assert a["y"] or a["rows"], f"a view without a y label or row names: {a}"
        if a["colorbar"] and a["colorbar"].strip():
            assert any(u in a["colorbar"] for u in ("dB", "z-score", "probability",
                                                    "fraction", "value")), a
    return axes


def image_geometry(page, selector: str) -> list[dict]:
    """Left edge and width (CSS px) of every visible element matching ``selector``."""
    return page.evaluate(_GEOMETRY, selector)


def assert_time_aligned(page, selectors: list[str]) -> None:
    """The first visible image of each selector has the same left edge and width."""
    boxes = []
    for selector in selectors:
        found = image_geometry(page, selector)
        assert found, f"no visible image for {selector}"
        boxes.append(found[0])
    lefts = {round(b["left"]) for b in boxes}
    widths = {round(b["width"]) for b in boxes}
    assert len(widths) == 1 and max(lefts) - min(lefts) <= 1, \
        f"time-aligned views differ in geometry: {dict(zip(selectors, boxes))}"


def truncated_labels(page, scope: str) -> list[str]:
    """Texts of visible labels, readouts and buttons under ``scope`` that are cut off."""
    return page.evaluate(_TRUNCATED, scope)


def round_trip_ms(page, slider_class: str, image_selector: str, key: str,
                  timeout_ms: int = 15_000) -> float:
    """Milliseconds from a key press on a slider to its new image being painted."""
    page.evaluate(_ARM_ROUND_TRIP, image_selector)
    press_slider(page, slider_class, key)
    page.wait_for_function("() => window.__labRoundTrip.t1 !== null", timeout=timeout_ms)
    return page.evaluate("() => window.__labRoundTrip.t1 - window.__labRoundTrip.t0")


def measure_round_trips(page, panel: str, slider_class: str, image_selector: str,
                        moves: int = 6, first_key: str = "ArrowLeft") -> dict:
    """Median and max round trip over ``moves`` alternating key presses; recorded for
    ``bench.panels`` (``bench/results/panels-browser-<host>.json``)."""
    import json
    import socket
    import statistics

    other = "ArrowRight" if first_key == "ArrowLeft" else "ArrowLeft"
    times = []
    for i in range(moves):
        page.wait_for_timeout(400)  # let the previous move's messages land first
        times.append(round_trip_ms(page, slider_class, image_selector,
                                   first_key if i % 2 == 0 else other))
    row = {"panel": panel, "slider": slider_class, "image": image_selector, "moves": moves,
           "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
           "all_ms": [round(t, 1) for t in times]}
    out = REPO / "bench" / "results" / f"panels-browser-{socket.gethostname()}.json"
    data = json.loads(out.read_text()) if out.exists() else {"rows": []}
    data["rows"] = [r for r in data.get("rows", []) if r.get("panel") != panel] + [row]
    data["rows"].sort(key=lambda r: r["panel"])
    data["host"] = socket.gethostname()
    data["what"] = ("browser round trip: key press on the slider -> new image decoded and "
                    "painted (Chromium headless, JupyterLab, this machine)")
    out.write_text(json.dumps(data, indent=1) + "\n")
    return row


def open_file_browser(page, width: int = 1400, height: int = 1000) -> None:
    """Resize the page and open JupyterLab's file browser (the narrow layout of issue 13)."""
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_timeout(400)
