"""Dependency matrices: the per-frame loop vs batched perturbation vs the Jacobian.

Run from the repository root: ``python -m bench.dependency [--lengths 50 100 200 400]``.
All three methods run side by side in one process with ``torch.set_num_threads(1)``, so the
ratios compare algorithms, not thread counts; they are ratios of CPU seconds, which a busy
shared machine disturbs far less than wall seconds (both are saved in the JSON). "loop" is
the seed's per-frame algorithm: one forward pass per input frame and one ``allclose`` call
per output frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import time
from pathlib import Path

import torch

from lab.streaming import example_model, infer_dependency_matrix

MODELS = {
    "causal_conv": {},
    "centered_conv": {},
    "lstm": {},
    "chunked_attention": dict(chunk_size=8, left_context=16),
}
METHODS = ("loop", "perturb", "jacobian")
N_FEATURES = 40


def _time(fn, min_total: float = 1.0, max_repeats: int = 5):
    """Best wall and best CPU seconds of a few runs (one run when a run is already slow).

    CPU time of this single-threaded process hardly moves when other processes load the
    machine, so the ratios quoted are taken from it; wall time is recorded as well.
    """
    best_wall = best_cpu = float("inf")
    result, total, runs = None, 0.0, 0
    while runs < max_repeats and (runs == 0 or total < min_total):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        total, runs = total + wall, runs + 1
    return best_wall, best_cpu, result


def run(lengths: list[int]) -> dict:
    torch.set_num_threads(1)
    rows = []
    for name, kwargs in MODELS.items():
        model = example_model(name, n_features=N_FEATURES, **kwargs)
        for method in METHODS:  # warm-up (torch.func tracing, allocator) outside the timings
            infer_dependency_matrix(model, (1, 8, N_FEATURES), method=method)
        for seq_len in lengths:
            row = {"model": name, "T": seq_len}
            mats = {}
            for method in METHODS:
                wall, cpu, deps = _time(
                    lambda mod=model, m=method, t=seq_len: infer_dependency_matrix(
                        mod, (1, t, N_FEATURES), method=m
                    )
                )
                mats[method] = deps
                row[f"{method}_s"] = round(wall, 4)
                row[f"{method}_cpu_s"] = round(cpu, 4)
                row[f"{method}_deps"] = int(deps.sum())
            for method in ("perturb", "jacobian"):
                row[f"{method}_speedup"] = round(row["loop_cpu_s"] / row[f"{method}_cpu_s"], 1)
                row[f"{method}_speedup_wall"] = round(row["loop_s"] / row[f"{method}_s"], 1)
            row["perturb_identical_to_loop"] = bool(torch.equal(mats["perturb"], mats["loop"]))
            row["structural_deps_expected"] = (
                seq_len * (seq_len + 1) // 2 if name == "lstm" else None
            )
            rows.append(row)
            print(_table_row(row), flush=True)
    return {
        "benchmark": "dependency",
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_features": N_FEATURES,
        "note": (
            "best of up to 5 runs (1 when a run takes over 1 s); speedups = loop CPU s / "
            "method CPU s (wall-time ratios in *_speedup_wall); loop = the seed's per-frame "
            "algorithm; one thread"
        ),
        "rows": rows,
    }


HEADER = (
    "| model | T | loop CPU s | perturb CPU s | jacobian CPU s | perturb × | jacobian × "
    "| deps loop | deps perturb | deps jacobian | perturb == loop |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"
)


def _table_row(r: dict) -> str:
    return (
        f"| {r['model']} | {r['T']} | {r['loop_cpu_s']:.3f} | {r['perturb_cpu_s']:.3f} | "
        f"{r['jacobian_cpu_s']:.3f} | {r['perturb_speedup']} | {r['jacobian_speedup']} | "
        f"{r['loop_deps']} | {r['perturb_deps']} | {r['jacobian_deps']} | "
        f"{'yes' if r['perturb_identical_to_loop'] else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 400])
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    result = run(args.lengths)
    out = Path(__file__).parent / "results" / f"dependency-{result['host']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
