"""Every CUDA kernel of the RNN-T loss compiles for real GPUs (PTX, no GPU needed).

The simulator runs kernels as Python, so a construct that only it accepts (the old
``min(max(val, -clamp), clamp)`` in ``_grad``) passed CI and broke every GPU call that needed
a gradient. This compiles each kernel for sm_80 and sm_90, float32 and float64 logits, with
NVVM, on both numba CUDA targets:

- ``numba-cuda``: NVIDIA's target with its pip NVVM/NVRTC, what ``pip install lab[cuda]``
  gives GPU users (and the ``test`` extra gives CI);
- ``built-in``: the target inside numba itself, which a user without the extra gets.

Each target runs in a subprocess, because the choice is made when ``numba.cuda`` is first
imported (numba-cuda installs an import redirector). A test skips, saying why, only where
that target or NVVM is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CCS = [(8, 0), (9, 0)]
DTYPES = ["float32", "float64"]


def _compile(target: str) -> dict:
    """Run in the child: compile every kernel, report {"ok": [...]} or why it could not."""
    import importlib.util
    import os

    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    if target == "built-in":
        # numba-cuda's redirector turns `numba.cuda` into its own package; without it numba's
        # own target loads.
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "NumbaCudaFinder"]
    elif importlib.util.find_spec("numba_cuda") is None:
        return {"skip": "numba-cuda is not installed (pip install -e '.[test]' brings it)"}
    from numba import cuda

    if target == "built-in":
        if cuda.implementation != "Built-in":
            return {"skip": f"numba.cuda is {cuda.implementation!r}, not the built-in target"}
        # The built-in target compiles a called device function (here `_lae`, and the
        # min/max builtins) for the *current device's* compute capability, which needs a
        # driver. Its cc only picks options for that function's IR, which is linked into the
        # kernel compiled for the requested cc, so a stand-in device is faithful.
        import numba.cuda.dispatcher as dispatcher

        class _Device:
            compute_capability = CCS[0]

        dispatcher.get_current_device = lambda: _Device()
    elif cuda.implementation != "NVIDIA":
        return {"skip": "numba.cuda did not resolve to numba-cuda"}
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # NvvmSupportError, or pathfinder's DynamicLibNotFoundError
        return {"skip": f"no NVVM for the {target} target: {type(exc).__name__}: {exc}"}
    from lab.transducer import cuda as kernels

    compiled = kernels.compile_all_ptx(CCS, DTYPES)
    return {"ok": sorted(f"{n}/sm_{c[0]}{c[1]}/{d}" for n, c, d in compiled)}


def _run(target: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_transducer_ptx", target],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("target", ["numba-cuda", "built-in"])
def test_every_kernel_compiles_to_ptx(target):
    result = _run(target)
    if "skip" in result:
        pytest.skip(result["skip"])
    from lab.transducer.cuda import KERNELS

    want = sorted(f"{n}/sm_{c[0]}{c[1]}/{d}" for n in KERNELS for c in CCS for d in DTYPES)
    assert result["ok"] == want


if __name__ == "__main__":
    print(json.dumps(_compile(sys.argv[1])))
