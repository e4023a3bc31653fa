"""`make lab`: JupyterLab on 127.0.0.1 with a token that no command line shows."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError:  # not listening yet
        return 0


def _command_lines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads command lines from /proc")
def test_make_lab_keeps_the_token_off_every_command_line():
    port = _free_port()
    proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        token = None
        deadline = time.monotonic() + 120
        while token is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "make lab exited before printing its URL"
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            token = found and found.group(1)
        assert token and len(token) >= 32
        base = f"http://127.0.0.1:{port}/api/status"
        while _status(f"{base}?token={token}") != 200:
            assert time.monotonic() < deadline and proc.poll() is None, "server never answered"
            time.sleep(0.5)
        assert _status(base) == 403  # no token, no entry
        assert not [c for c in _command_lines() if token in c]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
