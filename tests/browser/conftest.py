"""Browser test rig: JupyterLab on 127.0.0.1 with a token, driven by Debian's Chromium.

Fixtures
--------
jupyter_server (session)
    JupyterLab serving a temporary *copy* of ``notebooks/`` (the committed notebooks are
    never modified), with temporary config/settings/workspace/runtime dirs, a free port and a
    random token. The copy sits next to symlinks to the rest of the repository, so relative
    paths such as ``../runs`` work as in the real tree; the kernel imports the installed ``lab``.
browser (session)
    Headless Chromium found on PATH (``make chromium`` installs it). Missing Chromium is an
    error, never a skip: CI must not pass silently without browser tests.
page (function)
    A fresh page; saves ``tests/browser/screenshots/<test>.png`` when the test fails.
run_notebook (function)
    ``run_notebook("01_mfcc.ipynb") -> Page`` opens the notebook, runs all cells and returns
    once the kernel is idle and no cell is queued.

Helpers live in ``lab_browser.py``: ``from tests.browser.lab_browser import image_digest``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# JupyterLab settings that keep pop-ups (news, update checks) from covering the notebook.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
STARTUP_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_MS = 40_000


@dataclass
class JupyterServer:
    url: str
    token: str
    root: Path
    log: Path

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_workdir(base: Path) -> Path:
    """Copy notebooks/ into ``base``; symlink every other top-level entry of the repository."""
    work = base / "repo"
    work.mkdir()
    shutil.copytree(REPO / "notebooks", work / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for entry in REPO.iterdir():
        if entry.name not in {"notebooks", ".git"}:
            (work / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return work / "notebooks"


def _wait_for_status(url: str, token: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(f"{url}/api/status",
                                     headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer /api/status in {STARTUP_TIMEOUT_S} s:\n"
                       f"{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory) -> Iterator[JupyterServer]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = _make_workdir(base)
    env = dict(os.environ)
    temp_dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTERLAB_SETTINGS_DIR": "settings",
                 "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "JUPYTER_RUNTIME_DIR": "runtime"}
    for var, sub in temp_dirs.items():
        env[var] = str(base / sub)
        (base / sub).mkdir()
    for name, value in LAB_SETTINGS.items():
        path = base / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env["PYTHONUNBUFFERED"] = "1"
    port, token = _free_port(), secrets.token_hex(24)
    env["JUPYTER_TOKEN"] = token  # never on the command line, where `ps` shows it
    log = base / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands reliably
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI queries for extensions
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    server = JupyterServer(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log)
    try:
        _wait_for_status(server.url, token, proc, log)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not on PATH; install it with `make chromium` "
                    "(apt-get install chromium). Browser tests never skip.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"{safe}.png"), full_page=True)
    context.close()


_KERNEL_IDLE = """(name) => {
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  if (!widget || !widget.context || !widget.context.path.endsWith(name)) return false;
  const kernel = widget.sessionContext && widget.sessionContext.session
      && widget.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""

_ALL_RUN = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt'));
  return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'));
}"""


@pytest.fixture
def run_notebook(jupyter_server: JupyterServer, page) -> Callable[[str], object]:
    def run(name: str):
        if not (jupyter_server.root / name).is_file():
            raise FileNotFoundError(f"notebooks/{name} does not exist")
        # ?reset: start from an empty workspace, not the tabs an earlier test left open.
        page.goto(f"{jupyter_server.url}/lab/tree/{name}?reset&token={jupyter_server.token}")
        try:
            page.wait_for_function(_KERNEL_IDLE, arg=name, timeout=30_000)
        except Exception as exc:
            raise AssertionError(f"{name} did not open with an idle kernel; server log:\n"
                                 f"{jupyter_server.log_tail()}") from exc
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(_ALL_RUN, timeout=RUN_ALL_TIMEOUT_MS)
        page.wait_for_function(_KERNEL_IDLE, arg=name, timeout=RUN_ALL_TIMEOUT_MS)
        return page

    return run
