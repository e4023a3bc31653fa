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


def wait_for_image_change(page, selector: str, old_digest: str, timeout_s: float = 15) -> str:
    """Poll until the image behind ``selector`` differs from ``old_digest``; return the new one."""
    deadline = time.monotonic() + timeout_s
    digest = image_digest(page, selector)
    while digest == old_digest and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        digest = image_digest(page, selector)
    return digest


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
    """Save ``docs/<name>`` of the element when ``LAB_DOCS_SCREENSHOTS=1`` (README images)."""
    if os.environ.get("LAB_DOCS_SCREENSHOTS") != "1":
        return None
    path = REPO / "docs" / name
    path.parent.mkdir(exist_ok=True)
    page.locator(selector).first.screenshot(path=str(path))
    return path
