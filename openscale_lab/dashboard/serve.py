"""Serving the Insights dashboard notebook as a web page with Voilà, on 127.0.0.1."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..core.paths import notebooks_dir
from ..errors import LabError
from ..workspace import WORKSPACE_ENV, Workspace

SERVED_ENV = "OPENSCALE_LAB_DASHBOARD_SERVED"
NOTEBOOK = "05_insights_dashboard.ipynb"
LOG_FILE = "dashboard.log"  # in the workspace


def served() -> bool:
    """Whether this kernel renders the dashboard for a browser (then the notebook leaves the clicking to you)."""
    return os.environ.get(SERVED_ENV) == "1"


def start_dashboard(workspace: Workspace, port: int, notebooks: Path | None = None,
                    timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """Start Voilà serving notebook 05 for `workspace`; returns once the page answers."""
    notebook = (notebooks or notebooks_dir()) / NOTEBOOK
    env = dict(os.environ, **{WORKSPACE_ENV: str(workspace.root), SERVED_ENV: "1"})
    log_path = workspace.root / LOG_FILE
    with log_path.open("ab") as log:  # a file, not a pipe: a chatty server never blocks on a full pipe
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
             "--show_tracebacks=True", "--VoilaConfiguration.file_allowlist=[]"],
            env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log_path.read_text(errors="replace")[-2000:]
            raise LabError(f"the dashboard server stopped: {detail}")
        # a connection, not a page: every page request starts a kernel that renders the whole notebook
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    stop_dashboard(proc)
    raise LabError(f"the dashboard server did not answer on port {port} within {timeout:.0f} s")


def stop_dashboard(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Voilà and its kernels (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
