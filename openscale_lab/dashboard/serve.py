"""Serving the Insights dashboard notebook as a web page with Voilà, on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from ..core.paths import notebooks_dir
from ..errors import LabError
from ..workspace import WORKSPACE_ENV, Workspace

SERVED_ENV = "OPENSCALE_LAB_DASHBOARD_SERVED"
NOTEBOOK = "05_insights_dashboard.ipynb"


def served() -> bool:
    """Whether this kernel renders the dashboard for a browser (then the notebook leaves the clicking to you)."""
    return os.environ.get(SERVED_ENV) == "1"


def start_dashboard(workspace: Workspace, port: int, notebooks: Path | None = None,
                    timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """Start Voilà serving notebook 05 for `workspace`; returns once the page answers."""
    notebook = (notebooks or notebooks_dir()) / NOTEBOOK
    env = dict(os.environ, **{WORKSPACE_ENV: str(workspace.root), SERVED_ENV: "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
         "--show_tracebacks=True", "--VoilaConfiguration.file_allowlist=[]"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise LabError(f"the dashboard server stopped: {detail}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise LabError(f"the dashboard server did not answer on port {port} within {timeout:.0f} s")


def stop_dashboard(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Voilà and its kernels (they share its process group)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
