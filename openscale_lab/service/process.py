"""Starting, finding and stopping a workspace's OpenScale-compatible service (one per workspace, on 127.0.0.1)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from ..core.jsonfile import read_json, write_json_atomic
from ..errors import LabError
from ..workspace import Workspace

FOLDER = "openscale_service"  # in the workspace
INFO_FILE = "service.json"
TOKEN_FILE = "token"  # the bearer token every call must carry (readable by the workspace's owner only)
IDENTITY_FILE = "identity.json"  # the service instance id, kept across restarts
LOG_FILE = "service.log"
SERVICE_MODULE = "openscale_lab.service.serve"
HEARTBEAT = "/v2/fairness/heartbeat"  # the probe the SDK calls before anything else, without a token


# services this process started, kept so that stopping one reaps it (no zombie, no "still running" warning)
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


class ServiceError(LabError):
    """The OpenScale-compatible service cannot be started, reached or stopped."""


@dataclass(frozen=True)
class ServiceInfo:
    """Where a running service answers, and what an `APIClient` needs to talk to it."""

    url: str  # the SDK's service_url
    token: str  # for BearerTokenAuthenticator(bearer_token=...)
    instance_id: str  # the SDK's service_instance_id, also the data mart's id
    pid: int
    port: int
    answering: bool = True  # False: the process runs but its heartbeat did not answer in time

    def __repr__(self) -> str:  # the token stays out of logs and notebook outputs
        state = "" if self.answering else ", not answering"
        return f"ServiceInfo(url={self.url!r}, instance_id={self.instance_id!r}, pid={self.pid}{state}, token=…)"


def folder(workspace: Workspace) -> Path:
    return workspace.root / FOLDER


def identity(workspace: Workspace) -> tuple[str, str]:
    """The service instance id and the bearer token of the workspace, made on first use."""
    path, token_path = folder(workspace) / IDENTITY_FILE, folder(workspace) / TOKEN_FILE
    if not path.is_file():
        write_json_atomic(path, {"instance_id": str(uuid.uuid4())})
    if not token_path.is_file():
        token_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return str(read_json(path)["instance_id"]), token_path.read_text().strip()


def _answers(url: str, instance_id: str, timeout: float = 2.0) -> bool:
    """Whether this workspace's service (not another program, not another workspace's) answers at `url`."""
    try:
        reply = requests.get(url + HEARTBEAT, timeout=timeout)
        return reply.ok and reply.json().get("instance_id") == instance_id
    except (requests.RequestException, ValueError, AttributeError):
        return False


def _workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _reap() -> None:
    """Collect services this process started that have ended (no zombie is left behind)."""
    for pid, proc in list(_STARTED.items()):
        if proc.poll() is not None:
            _STARTED.pop(pid, None)


def _live(workspace: Workspace) -> tuple[str, int, int] | None:
    """The URL, port and pid of the service noted in the workspace, if that process still runs the workspace's
    service (a stale or broken note, or a pid now used by another program, is no service)."""
    _reap()
    try:
        info = read_json(folder(workspace) / INFO_FILE)
        url, port, pid = str(info["url"]), int(info["port"]), int(info["pid"])
        proc = psutil.Process(pid)
        cmdline, alive = proc.cmdline(), proc.status() != psutil.STATUS_ZOMBIE
    except (LabError, KeyError, TypeError, ValueError, psutil.Error):
        return None
    if not alive or SERVICE_MODULE not in cmdline or str(workspace.root) not in cmdline:
        return None
    return url, port, pid


def service_status(workspace: Workspace | str | os.PathLike[str] | None) -> ServiceInfo | None:
    """The workspace's running service (`answering` False if it runs but did not answer in time), or None."""
    workspace = _workspace(workspace)
    found = _live(workspace)
    if found is None:
        return None
    url, port, pid = found
    instance_id, token = identity(workspace)
    return ServiceInfo(url, token, instance_id, pid, port, _answers(url, instance_id))


def start_service(workspace: Workspace | str | os.PathLike[str] | None, port: int | None = None,
                  timeout: float = 60.0) -> ServiceInfo:
    """Start the workspace's service on 127.0.0.1 (`port`, or a free one); the running one if it is up."""
    workspace = _workspace(workspace)
    running = service_status(workspace)
    if running is not None:
        if port is not None and port != running.port:
            raise ServiceError(f"the service already runs on port {running.port}; stop it first to move it to {port}")
        deadline = time.monotonic() + timeout
        while not running.answering and time.monotonic() < deadline:  # busy: wait for it rather than start another
            time.sleep(0.5)
            running = service_status(workspace) or running
        if not running.answering:
            raise ServiceError(f"the service (pid {running.pid}) runs but does not answer on {running.url}: stop it "
                               "(openscale-lab service stop) and start it again")
        return running
    from ..core.ports import free_port, port_is_free
    from ..deployments.engine import MLEngine

    if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
        raise ServiceError(f"a port is a number from 1 to 65535, got {port!r}")
    if port is not None and not port_is_free("127.0.0.1", port):
        raise ServiceError(f"port {port} on 127.0.0.1 is in use: pick another or leave it out for a free one")
    port = port or free_port("127.0.0.1", workspace.ports, MLEngine(workspace).ports_in_use())
    instance_id, token = identity(workspace)
    url = f"http://127.0.0.1:{port}"
    log_path = folder(workspace) / LOG_FILE
    with log_path.open("ab") as log:  # a file, not a pipe: a chatty server never blocks on a full pipe
        proc = subprocess.Popen([sys.executable, "-m", SERVICE_MODULE, str(workspace.root), str(port)],
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    _STARTED[proc.pid] = proc
    write_json_atomic(folder(workspace) / INFO_FILE, {"url": url, "port": port, "pid": proc.pid})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _STARTED.pop(proc.pid, None)
            detail = log_path.read_text(errors="replace")[-1500:]
            raise ServiceError(f"the OpenScale-compatible service stopped as it started: {detail}")
        if _answers(url, instance_id, timeout=1.0):
            return ServiceInfo(url, token, instance_id, proc.pid, port)
        time.sleep(0.1)
    _stop_pid(proc.pid)
    raise ServiceError(f"the OpenScale-compatible service did not answer on {url} within {timeout:.0f} s "
                       f"(its log: {log_path})")


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
        os.killpg(pid, signal.SIGCONT)  # a stopped (Ctrl-Z'd) service takes its SIGTERM once it runs again
    proc = _STARTED.pop(pid, None)
    try:
        if proc is not None:
            proc.wait(timeout)
        else:  # another process's child: gone, or a zombie its parent has not reaped yet
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with suppress(psutil.NoSuchProcess):
                    if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                        time.sleep(0.05)
                        continue
                break
    except subprocess.TimeoutExpired:
        pass
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout)


def stop_service(workspace: Workspace | str | os.PathLike[str] | None) -> bool:
    """Stop the workspace's service; False when none was running."""
    workspace = _workspace(workspace)
    found = _live(workspace)  # answering or not: a busy service is stopped too
    if found is not None:
        _stop_pid(found[2])
    (folder(workspace) / INFO_FILE).unlink(missing_ok=True)
    return found is not None
