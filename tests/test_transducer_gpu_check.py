"""``bench/gpu_check.py`` runs end to end in Numba's simulator at tiny sizes.

On a GPU the same script is the real check (issue 16); here it proves the script itself works
and every check passes on the simulated kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_in_the_simulator(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--tiny", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    names = [c["check"] for c in result["checks"]]
    assert names == ["options", "float64", "long-U", "medium", "side-stream", "stress", "timing"]
    assert all(c["ok"] for c in result["checks"])
    assert result["environment"]["device"] == "numba simulator"
    assert "stress" in proc.stdout and "wrote" in proc.stdout
