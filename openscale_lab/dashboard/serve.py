"""Serving the Insights dashboard notebook as a web page with Voilà, on 127.0.0.1."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import psutil

from ..core.jsonfile import write_json_atomic
from ..core.paths import notebooks_dir
from ..errors import LabError
from ..workspace import WORKSPACE_ENV, Workspace

SERVED_ENV = "OPENSCALE_LAB_DASHBOARD_SERVED"
NOTEBOOK = "05_insights_dashboard.ipynb"
LOG_FILE = "dashboard.log"  # in the workspace
SERVED_FOLDER = "dashboard"  # in the workspace: the notebook Voilà serves
EXERCISE_TAG = "exercise"  # the notebooks' "Try it" cells
# Every page load starts a kernel (~260 MB). One that has been idle this long with no page connected to it
# (the page was closed, or the request never opened a websocket, like curl) is shut down; an open page keeps its
# kernel however long it sits idle, and a kernel still rendering the notebook is never culled.
CULL_IDLE_SECONDS = 40
# How often Voilà looks for such kernels: one ends at most CULL_IDLE_SECONDS + CULL_INTERVAL_SECONDS after its
# last activity.
CULL_INTERVAL_SECONDS = 10


def served() -> bool:
    """Whether this kernel renders the dashboard for a browser (then the notebook leaves the clicking to you): the
    lab's dashboard server says so, and so does a Voilà that renders it inside a Jupyter server (a classroom
    student's, through JupyterHub), which names itself in its kernels' SERVER_SOFTWARE."""
    return os.environ.get(SERVED_ENV) == "1" or os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")


def _voila_command(notebook: Path, port: int, cull_idle_seconds: int, cull_interval_seconds: int) -> list[str]:
    """Voilà's command line: 127.0.0.1 only, no file served but the notebook, idle kernels culled. A cell that
    fails shows Voilà's short error message on the page, never a traceback: that goes to the log (LOG_FILE)."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--show_tracebacks=False", "--VoilaConfiguration.file_allowlist=[]",
            # jupyter_server's kernel culler (Voilà's kernel manager is a MappingKernelManager)
            f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
            f"--MappingKernelManager.cull_interval={cull_interval_seconds}",
            "--MappingKernelManager.cull_connected=False", "--MappingKernelManager.cull_busy=False"]


def served_notebook(workspace: Workspace, notebooks: Path | None = None) -> Path:
    """The copy of notebook 05 that Voilà serves, written into the workspace: the notebook without its exercises
    (cells tagged EXERCISE_TAG), which are for a learner working in Jupyter, not for the dashboard's page."""
    source = (notebooks or notebooks_dir()) / NOTEBOOK
    nb = json.loads(source.read_text())
    nb["cells"] = [c for c in nb["cells"] if EXERCISE_TAG not in c.get("metadata", {}).get("tags", [])]
    target = workspace.root / SERVED_FOLDER / NOTEBOOK
    target.parent.mkdir(exist_ok=True)
    write_json_atomic(target, nb)
    return target


def start_dashboard(workspace: Workspace, port: int, notebooks: Path | None = None, timeout: float = 60.0, *,
                    cull_idle_seconds: int = CULL_IDLE_SECONDS,
                    cull_interval_seconds: int = CULL_INTERVAL_SECONDS) -> subprocess.Popen[bytes]:
    """Start Voilà serving notebook 05 for `workspace`; returns once the port answers."""
    notebook = served_notebook(workspace, notebooks)
    env = {WORKSPACE_ENV: str(workspace.root), SERVED_ENV: "1"}
    return start_voila(notebook, port, env, workspace.root / LOG_FILE, timeout, cull_idle_seconds=cull_idle_seconds,
                       cull_interval_seconds=cull_interval_seconds)


def start_voila(notebook: Path, port: int, env: dict[str, str], log_path: Path, timeout: float = 60.0, *,
                cull_idle_seconds: int = CULL_IDLE_SECONDS,
                cull_interval_seconds: int = CULL_INTERVAL_SECONDS) -> subprocess.Popen[bytes]:
    """Start Voilà serving `notebook` with `env` added to its environment, logging to `log_path`; returns once
    the port answers (LabError with the log's end if it stops first)."""
    with log_path.open("ab") as log:  # a file, not a pipe: a chatty server never blocks on a full pipe
        proc = subprocess.Popen(_voila_command(notebook, port, cull_idle_seconds, cull_interval_seconds),
                                env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True)
    try:
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
        raise LabError(f"the dashboard server did not answer on port {port} within {timeout:.0f} s")
    except BaseException:  # a timeout, Ctrl-C or a signal while waiting: no server is left behind
        stop_dashboard(proc)
        raise


def _descendants(pid: int) -> list[psutil.Process]:
    """Every process below `pid`, found while they are still its descendants."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop_dashboard(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Voilà and every process it started.

    Voilà shuts its kernels down on SIGTERM; the kernels run in sessions of their own, outside Voilà's process
    group, so whatever of them is left afterwards is found among Voilà's descendants, listed before any signal.
    """
    family = _descendants(proc.pid) if proc.poll() is None else []
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
    with suppress(ProcessLookupError, PermissionError):  # anything still in Voilà's process group
        os.killpg(proc.pid, signal.SIGKILL)
    left = [p for p in family if p.is_running()]
    for p in left:
        with suppress(psutil.Error):
            p.terminate()
    _, left = psutil.wait_procs(left, timeout=3)
    for p in left:
        with suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(left, timeout=3)


def serve_until_stopped(start: Callable[[], subprocess.Popen[bytes]], what: str, port: int, log_path: Path) -> int:
    """Run a Voilà server from `start()` until Ctrl-C, SIGTERM or SIGHUP, which all stop it and its kernels
    (0); 1 if it stops by itself (its log says why)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    names = ["SIGINT", "SIGTERM", "SIGHUP"]
    # a signal ignored on purpose (nohup, a background job of a script) stays ignored
    stops = [sig for sig in (getattr(signal, n) for n in names if hasattr(signal, n))
             if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.getsignal(sig) for sig in stops}
    for sig in stops:
        signal.signal(sig, interrupt)
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start()
        print(f"{what} at http://127.0.0.1:{port}/ ; Ctrl-C stops it", flush=True)
        proc.wait()
        print(f"error: the {what} server stopped; see {log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig in stops:  # a second signal must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if proc is not None:
            stop_dashboard(proc)
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
