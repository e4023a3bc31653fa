"""Bring-your-own-model costs: panel slider latency and importance masks through adapters.

Run from the repository root: ``python -m bench.adapters [--repeats 5] [--quick]``.

Three models side by side on the same 5 s of real speech (a LibriVox sentence of
pocketsphinx-testdata, cut or zero-padded to 5 s; a synthetic voiced tone when the package
is missing):

* the zoo's DeepSpeech (shipped checkpoint, MFCC input);
* Silero VAD (the real TorchScript model of the ``silero-vad`` wheel, adapted);
* a Hugging Face ``Wav2Vec2ForCTC`` of wav2vec2-base size (``Wav2Vec2Config()``, random
  weights, ~95 M parameters; nothing is downloaded).

**Slider → new image, kernel side** is what the mask panel does when its threshold slider
moves: mute the frames whose mask mean is below the threshold
(:func:`lab.interpret.mute_audio`), run the model on the muted audio
(:func:`lab.models.predict`) and render the new frame image
(:func:`lab.widgets.render.array_to_png`).
The time is split into those three parts. Target: <= 100 ms on Silero VAD.

**importance_mask** runs ``method="optimize"`` on the log-power spectrogram of the 5 s
(waveform models) or on DeepSpeech's own MFCCs, with a cap on the relaxed steps for the
base-size model (``--base-steps``) and its polish off: one of its masked forward+backward
passes over 5 s costs about a second on two cores, so the defaults would take many minutes.
Writes ``bench/results/adapters-<host>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import time
from pathlib import Path

import numpy as np
import torch

TARGET_MS = 100.0
SECONDS = 5.0


def _speech() -> tuple[np.ndarray, str]:
    n = int(16000 * SECONDS)
    try:
        from lab.data.real import load_recording, real_recordings

        rec = real_recordings("librivox")[0]
        wave, name = load_recording(rec), f"{rec.id} (real speech)"
    except Exception:  # noqa: BLE001 - no Debian package: a synthetic voiced tone instead
        t = np.arange(n) / 16000
        wave = (0.2 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(6 * np.pi * t)))
        name = "synthetic voiced tone (pocketsphinx-testdata missing)"
    wave = np.pad(wave[:n], (0, max(0, n - len(wave)))).astype(np.float32)
    return wave, name


def _models(include_base: bool) -> dict:
    from lab.models import adapt, load_pretrained

    models = {"DeepSpeech (zoo)": adapt(load_pretrained("deepspeech"))}
    models["Silero VAD"] = load_pretrained("silero_vad")
    if include_base:
        from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

        torch.manual_seed(0)
        base = Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=32)).eval()
        models["wav2vec2-base CTC (random)"] = adapt(base)
    return models


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def slider_latency(adapter, wave: np.ndarray, mask: np.ndarray, thresholds, repeats: int):
    """Median/max kernel-side ms per slider move, and the split into mute/model/render."""
    from lab.interpret import mute_audio
    from lab.models import predict
    from lab.widgets.render import array_to_png

    parts = {"mute": [], "model": [], "render": [], "total": []}
    means = mask.mean(axis=1)
    for _ in range(repeats):
        for threshold in thresholds:
            t0 = time.perf_counter()
            muted = mute_audio(wave, mask, threshold)
            t1 = time.perf_counter()
            out = predict(adapter, muted)
            t2 = time.perf_counter()
            kept = (means >= threshold).astype(np.float64)
            png = array_to_png(np.stack([means, kept]), width=760, height=60)
            t3 = time.perf_counter()
            assert png[:4] == b"\x89PNG" and out is not None
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                parts[key].append(value)
    return {key: {"median_ms": _ms(statistics.median(v)), "max_ms": _ms(max(v))}
            for key, v in parts.items()}


def mask_cost(adapter, wave: np.ndarray, options: dict) -> dict:
    from lab.interpret import importance_mask

    start = time.perf_counter()
    res = importance_mask(adapter, wave, method="optimize", progress=False, **options)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "preserved": bool(res.preserved),
            "kept_fraction": round(float(res.mask.mean()), 3), "mask_shape": list(res.mask.shape),
            "forward_passes": res.forward_passes, "model_calls": res.model_calls,
            "backward_passes": res.backward_passes, "options": options}, res.mask


def one_pass(adapter, wave: np.ndarray) -> dict:
    """Where a masked pass's time goes: resynthesis, model forward, forward+backward."""
    module, x = adapter.mask_view(wave)
    x = x[None]
    with torch.no_grad():
        t0 = time.perf_counter()
        if hasattr(module, "waveform"):
            module.waveform(x)
        t1 = time.perf_counter()
        module(x)
        t2 = time.perf_counter()
    xg = x.clone().requires_grad_(True)
    t3 = time.perf_counter()
    module(xg).float().sum().backward()
    t4 = time.perf_counter()
    return {"resynthesis_ms": _ms(t1 - t0) if hasattr(module, "waveform") else None,
            "forward_ms": _ms(t2 - t1), "forward_backward_ms": _ms(t4 - t3)}


def run(repeats: int, include_base: bool, base_steps: int) -> dict:
    from lab.runtime import evaluating

    wave, clip = _speech()
    results = {}
    for name, adapter in _models(include_base).items():
        base = name.startswith("wav2vec2")
        params = sum(p.numel() for p in adapter.module.parameters())
        options = ({"steps": base_steps, "polish": False, "batch_size": 4} if base
                   else {})
        with evaluating(adapter.module):
            passes = one_pass(adapter, wave)
            cost, mask = mask_cost(adapter, wave, options)
            slider = slider_latency(adapter, wave, mask, [0.1, 0.3, 0.5, 0.2, 0.4],
                                    1 if base else repeats)
        results[name] = {"parameters": params, "kind": adapter.kind, "input": adapter.input,
                         "one_pass": passes, "importance_mask": cost, "slider": slider}
        print(f"{name}: slider {slider['total']['median_ms']} ms median "
              f"(model {slider['model']['median_ms']} ms), mask {cost['seconds']} s", flush=True)
    return {"host": socket.gethostname(), "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(), "clip": clip, "seconds": SECONDS,
            "target_ms": TARGET_MS, "results": results}


def table(result: dict) -> str:
    rows = ["| model | parameters | slider → image, median (model part) | one forward | "
            "forward+backward | importance_mask (optimize) |", "|---|---|---|---|---|---|"]
    for name, r in result["results"].items():
        s, p, m = r["slider"], r["one_pass"], r["importance_mask"]
        rows.append(
            f"| {name} | {r['parameters'] / 1e6:.1f} M | {s['total']['median_ms']} ms "
            f"({s['model']['median_ms']} ms) | {p['forward_ms']} ms | "
            f"{p['forward_backward_ms']} ms | {m['seconds']} s, kept {m['kept_fraction']:.2f}, "
            f"{'valid' if m['preserved'] else 'NOT valid'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="skip the wav2vec2-base model")
    parser.add_argument("--base-steps", type=int, default=8,
                        help="relaxed steps of the base-size model's mask (polish off)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run(args.repeats, not args.quick, args.base_steps)
    print(table(result))
    out = Path(__file__).resolve().parent / "results" / f"adapters-{result['host']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
