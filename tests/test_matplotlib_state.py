"""Importing the lab (and drawing a panel) leaves the user's matplotlib alone."""

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import importlib, pkgutil
    import matplotlib
    matplotlib.use("svg")  # any backend the user chose; the lab must keep it
    names = set(matplotlib.colormaps)
    import lab
    for mod in pkgutil.walk_packages(lab.__path__, "lab."):
        if mod.name.endswith("__main__"):
            continue
        importlib.import_module(mod.name)
    import numpy as np
    from lab.widgets.render import array_to_png, figure_to_png, new_figure
    array_to_png(np.eye(3))
    fig = new_figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    figure_to_png(fig)
    import matplotlib.pyplot as plt
    print(matplotlib.get_backend(), set(matplotlib.colormaps) == names, plt.get_fignums())
    """
)


def test_importing_every_lab_module_keeps_backend_colormaps_and_figures():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.split("\n")[-2] == "svg True []", out.stdout + out.stderr
