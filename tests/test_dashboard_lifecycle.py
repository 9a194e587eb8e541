"""The dashboard command's lifecycle: SIGTERM and SIGHUP stop Voilà and every kernel; idle kernels are culled."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

import openscale_lab as lab
from openscale_lab.dashboard import start_dashboard, stop_dashboard
from openscale_lab.deployments.engine import free_port, port_is_free
from openscale_lab.workspace import Workspace

PAGE_TIMEOUT = 120  # a page load renders the whole notebook in a fresh kernel


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A provisioned workspace with no history: the dashboard still renders (an empty overview)."""
    return lab.provision(tmp_path_factory.mktemp("dashboard") / "ws").workspace


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def load_page(port: int) -> None:
    """A bare GET, as curl would do it: the page is rendered, no websocket is ever opened."""
    reply = requests.get(f"http://127.0.0.1:{port}/", timeout=PAGE_TIMEOUT)
    assert reply.status_code == 200
    assert "Traceback" not in reply.text


def kernels(voila: psutil.Process) -> list[psutil.Process]:
    """Voilà's kernel processes."""
    found = []
    for child in voila.children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def in_groups(groups: set[int]) -> list[psutil.Process]:
    """Running processes in any of these process groups."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) in groups and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            pass
    return found


def command() -> list[str]:
    script = Path(sys.executable).with_name("openscale-lab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "openscale_lab"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_stops_voila_and_every_kernel(workspace: Workspace, signum: int) -> None:
    port = free_port()
    cmd = subprocess.Popen([*command(), "--workspace", str(workspace.root), "dashboard", "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    family: list[psutil.Process] = []
    try:
        assert wait_for(lambda: answers(port) or cmd.poll() is not None, 90)
        assert cmd.poll() is None, cmd.communicate()[1].decode(errors="replace")
        load_page(port)
        load_page(port)
        family = psutil.Process(cmd.pid).children(recursive=True)  # before the signal: orphans lose their parent
        voila = psutil.Process(cmd.pid).children()  # the command's only child
        assert len(voila) == 1 and voila[0].cmdline()[1:3] == ["-m", "voila"]
        assert len(kernels(voila[0])) >= 2  # one per page load, alive until culled
        groups = {cmd.pid} | {os.getpgid(p.pid) for p in family}

        cmd.send_signal(signum)
        out, err = cmd.communicate(timeout=15)
        assert cmd.returncode == 0, err.decode(errors="replace")
        assert b"Traceback" not in err
        assert wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family), 15)
        assert not in_groups(groups)
        assert wait_for(lambda: port_is_free("127.0.0.1", port), 15)
    finally:
        if cmd.poll() is None:
            cmd.kill()
        cmd.communicate()
        for proc in family:
            try:
                proc.kill()
            except psutil.Error:
                pass


def test_idle_kernel_of_a_bare_page_load_is_culled(workspace: Workspace) -> None:
    port = free_port()
    log = workspace.root / "dashboard.log"
    logged = log.stat().st_size if log.exists() else 0
    server = start_dashboard(workspace, port, cull_idle_seconds=3, cull_interval_seconds=1)
    try:
        voila = psutil.Process(server.pid)
        load_page(port)
        loaded = time.monotonic()
        started = kernels(voila)
        assert len(started) == 1
        assert wait_for(lambda: not kernels(voila), 20, step=0.5), "the idle kernel was not culled"
        culled_after = time.monotonic() - loaded
        assert culled_after < 20
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started)
        assert "Culling 'idle' kernel" in log.read_bytes()[logged:].decode(errors="replace")
    finally:
        family = psutil.Process(server.pid).children(recursive=True) if server.poll() is None else []
        stop_dashboard(server)
    assert server.poll() is not None
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)
    assert port_is_free("127.0.0.1", port)


def test_the_served_page_leaves_out_the_exercises(workspace: Workspace) -> None:
    import json

    from openscale_lab.core.paths import notebooks_dir
    from openscale_lab.dashboard.serve import EXERCISE_TAG, NOTEBOOK, served_notebook

    source = json.loads((notebooks_dir() / NOTEBOOK).read_text())["cells"]
    served = json.loads(served_notebook(workspace).read_text())["cells"]
    exercises = [c for c in source if EXERCISE_TAG in c["metadata"].get("tags", [])]
    assert len(exercises) >= 4 and not any("lab.check." in "".join(c["source"]) for c in served)
    assert [c["id"] for c in served] == [c["id"] for c in source if c not in exercises]
