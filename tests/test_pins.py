"""constraints.txt pins every dependency, and every way to install follows it."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_normal(name)] = version
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [_normal(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs]


# torch: TORCH_SPEC picks the build (CPU / CUDA). nvidia-*: a CUDA build of torch pins its own
# CUDA wheels (e.g. nvidia-cuda-nvrtc-cu12 12.6.77 for cu126), so lab bounds them in
# pyproject.toml (<13) and leaves the exact version to whichever torch is installed.
UNPINNED = ("torch", "nvidia-", "cuda-toolkit")


@pytest.mark.parametrize("name", _requirements())
def test_every_declared_dependency_but_torch_is_pinned(name):
    if name.startswith(UNPINNED):
        assert name not in _pins()
    else:
        assert name in _pins(), f"{name} is a dependency but constraints.txt does not pin it"


def test_the_test_environment_runs_the_pinned_versions():
    wrong = {}
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an extra this environment did not install
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs pinned: {wrong}; run `make install` (or `make lock`)"


@pytest.mark.parametrize("path", ["Makefile", "environment.yml", "binder/postBuild"])
def test_every_install_path_uses_the_constraints(path):
    assert "constraints.txt" in (ROOT / path).read_text() or "$(CONSTRAINTS)" in (
        ROOT / path).read_text()
