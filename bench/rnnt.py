"""RNN-T loss: forward+backward time and peak extra memory, all contenders side by side.

Run from the repository root: ``python -m bench.rnnt [--sizes small medium large]``.

Method
------
Every (contender, size) runs in a fresh worker process so that peaks do not mix:

- memory: the worker builds the float32 logits, reads its resident set size (VmRSS), resets
  the kernel's peak counter (``echo 5 > /proc/self/clear_refs``), runs one forward+backward
  and reads the peak (VmHWM). Peak extra = VmHWM - VmRSS before the call: everything the
  loss allocates, including the gradient buffer it returns (tracemalloc would not see
  torch's allocations). The memory is taken on the worker's first call; the Numba cache is
  warm from earlier runs, so loading compiled code adds only a few MiB.
- time: one warm-up call, then the median of ``--repeats`` (>= 5) forward+backward calls,
  wall clock and process CPU time (all threads). The machine is shared: when its load
  average exceeds its cores, wall times stretch, CPU time much less, so both are reported.

Contenders: ``lab-cpu`` (Numba kernels), ``lab-cuda`` (only with a GPU), ``reference``
(float64 PyTorch autograd; skipped on the large size where it takes minutes and several
GB), and the peers ``optimized_transducer`` and ``torchaudio`` when they import. When
optimized_transducer does not import, the table quotes its time measured earlier on this
machine (``performance-facts.md``), labelled "quoted, not measured".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {
    "small": (4, 100, 20, 64),
    "medium": (8, 200, 50, 128),
    "large": (16, 300, 80, 512),
}
QUOTED = {"optimized_transducer": {"large": 1.33}, "torchaudio": {"large": 8.45}}
SKIP = {("reference", "large"): "skipped: minutes and several GB of float64 autograd buffers"}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _make_call(contender: str, B: int, T: int, U: int, V: int):
    """Inputs, an untimed ``prepare()`` and ``call()``: one forward+backward of ``contender``."""
    import torch

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, U + 1, V, generator=g)
    targets = torch.randint(1, V, (B, U), generator=g, dtype=torch.int32)
    tl = torch.full((B,), T, dtype=torch.int32)
    ul = torch.full((B,), U, dtype=torch.int32)
    if contender in ("lab-cpu", "lab-cuda", "reference"):
        from lab.transducer import rnnt_loss

        backend = contender.removeprefix("lab-")
        dev = "cuda" if contender == "lab-cuda" else "cpu"
        x = logits.to(dev).requires_grad_(True)
        args = (targets.to(dev), tl.to(dev), ul.to(dev))

        def call():
            x.grad = None
            rnnt_loss(x, *args, blank=0, reduction="mean", backend=backend).backward()
            if dev == "cuda":
                torch.cuda.synchronize()

        return logits, lambda: None, call
    if contender == "optimized_transducer":
        import optimized_transducer

        packed = logits.reshape(-1, V)
        store = {}

        def prepare():
            # It overwrites its input with the gradient: give it a fresh copy each time.
            store.clear()
            store["x"] = packed.clone().requires_grad_(True)

        def call():
            optimized_transducer.transducer_loss(
                logits=store["x"], targets=targets, logit_lengths=tl, target_lengths=ul,
                blank=0, reduction="mean", from_log_softmax=False,
            ).backward()

        return logits, prepare, call
    if contender == "torchaudio":
        import torchaudio.functional as F

        x = logits.requires_grad_(True)

        def call():
            x.grad = None
            F.rnnt_loss(x, targets, tl, ul, blank=0, reduction="mean").backward()

        return logits, lambda: None, call
    raise ValueError(f"unknown contender {contender!r}")


def worker(contender: str, size: str, repeats: int) -> dict:
    B, T, U, V = SIZES[size]
    # Warm-up on a tiny problem: imports and JIT code loading stay out of the memory peak.
    _, tiny_prepare, tiny_call = _make_call(contender, 2, 4, 2, V)
    tiny_prepare()
    tiny_call()
    logits, prepare, call = _make_call(contender, B, T, U, V)
    prepare()
    before = _rss_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        peak_ok = True
    except OSError:
        peak_ok = False
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    peak = _rss_kb("VmHWM")
    times, cpu = [], []
    for _ in range(repeats):
        prepare()
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    logits_mb = logits.numel() * 4 / 2**20
    extra_mb = (peak - before) / 1024 if peak_ok else None
    return {
        "contender": contender, "size": size, "shape": [B, T, U + 1, V],
        "median_s": statistics.median(times), "min_s": min(times), "runs": repeats,
        "cpu_s": statistics.median(cpu),
        "first_call_s": first, "logits_mb": logits_mb, "peak_extra_mb": extra_mb,
        "peak_extra_over_logits": extra_mb / logits_mb if extra_mb is not None else None,
    }


def _importable(module: str) -> bool:
    code = f"import {module}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def first_call_fresh_process() -> dict:
    """Seconds for a first small call in a new process (Numba cache warm), after
    ``import torch`` (which is not ours) and, separately, including it."""
    code = (
        "import time; t0=time.perf_counter(); import torch; t1=time.perf_counter();"
        "from lab.transducer import rnnt_loss;"
        "x=torch.randn(2,10,5,8,requires_grad=True);"
        "rnnt_loss(x,torch.randint(1,8,(2,4)),torch.tensor([10,8]),torch.tensor([4,3]),"
        "blank=0).backward(); t2=time.perf_counter(); print(t2-t1, t2-t0)"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True)  # fill the cache
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    after_torch, total = (float(v) for v in out.stdout.split())
    return {"after_import_torch_s": after_torch, "with_import_torch_s": total}


def run(sizes: list[str], repeats: int) -> dict:
    import torch

    contenders = ["lab-cpu"]
    if torch.cuda.is_available():
        contenders.append("lab-cuda")
    contenders.append("reference")
    peers = {p: _importable(p) for p in ("optimized_transducer", "torchaudio")}
    contenders += [p for p, ok in peers.items() if ok]
    rows = []
    for size in sizes:
        for c in contenders:
            if (c, size) in SKIP:
                rows.append({"contender": c, "size": size, "note": SKIP[(c, size)]})
                continue
            cmd = [sys.executable, "-m", "bench.rnnt", "--worker", c, size,
                   "--repeats", str(repeats)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                rows.append({"contender": c, "size": size,
                             "note": "failed: " + proc.stderr.strip().splitlines()[-1][:200]})
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  {size:6s} {c:22s} {rows[-1]['median_s']:.3f} s", file=sys.stderr)
        for p, ok in peers.items():
            if not ok and size in QUOTED[p]:
                rows.append({"contender": p, "size": size, "median_s": QUOTED[p][size],
                             "note": "quoted, not measured (does not import here)"})
    return {
        "host": socket.gethostname(), "platform": platform.platform(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "peers_importable": peers, "first_call_fresh_process": first_call_fresh_process(),
        "rows": rows,
    }


def table(result: dict) -> str:
    lines = ["| size (B,T,U+1,V) | contender | fwd+bwd median s | vs optimized_transducer "
             "| CPU s | peak extra MiB | extra / logits | note |",
             "|---|---|---|---|---|---|---|---|"]
    # Ratios against optimized_transducer measured in the same run; against its quoted time
    # only when it could not run here (marked "quoted"). Quoted rows get no ratio.
    by_size: dict[str, tuple[float, str]] = {}
    for r in result["rows"]:
        if r["contender"] == "optimized_transducer" and "median_s" in r:
            quoted = "quoted" in r.get("note", "")
            by_size[r["size"]] = (r["median_s"], " (vs quoted)" if quoted else "")
    for r in result["rows"]:
        B, T, U, V = SIZES[r["size"]]
        shape = f"{B},{T},{U + 1},{V}"
        t = r.get("median_s")
        ref, how = by_size.get(r["size"], (None, ""))
        measured = "quoted" not in r.get("note", "")
        ratio = f"{t / ref:.2f}x{how}" if t is not None and ref and measured else ""
        mem = r.get("peak_extra_mb")
        rel = r.get("peak_extra_over_logits")
        cpu = r.get("cpu_s")
        lines.append(
            f"| {r['size']} ({shape}) | {r['contender']} | "
            f"{'' if t is None else f'{t:.3f}'} | {ratio} | "
            f"{'' if cpu is None else f'{cpu:.3f}'} | "
            f"{'' if mem is None else f'{mem:.0f}'} | {'' if rel is None else f'{rel:.2f}'} | "
            f"{r.get('note', '')} |"
        )
    lines.append("")
    first = result["first_call_fresh_process"]
    lines.append(f"First call in a fresh process (Numba cache warm): "
                 f"{first['after_import_torch_s']:.2f} s after `import torch` "
                 f"({first['with_import_torch_s']:.2f} s with it); load average during the run "
                 f"{', '.join(f'{x:.1f}' for x in result['load_average'])} on "
                 f"{result['cpu_count']} cores.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=2, metavar=("CONTENDER", "SIZE"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats)))
        return
    result = run(args.sizes, args.repeats)
    out = Path(__file__).resolve().parent / "results" / f"rnnt-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
