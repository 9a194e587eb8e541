"""The classroom's JupyterHub (classroom/jupyterhub_config.py) on 127.0.0.1 with two students: each logs in with
the class's password, gets a server of their own started in their folder, with their own lab in its environment;
someone not on the roster is refused; stopping the hub leaves no server behind."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from openscale_lab.classroom import Classroom
from openscale_lab.classroom.settings import classroom_dir
from openscale_lab.core.ports import port_is_free

HUB = Path(sys.executable).parent / "jupyterhub"
PROXY = Path(sys.prefix) / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"  # make classroom's
pytestmark = pytest.mark.skipif(not (HUB.exists() and PROXY.exists()) and os.environ.get("CI") != "true",
                                reason="JupyterHub or its proxy is not installed: make classroom")


def three_free_ports() -> int:
    """A port whose next two are free as well (the hub's address, its API and the proxy's API)."""
    for base in range(41000, 42000, 3):
        if all(port_is_free("127.0.0.1", base + i) for i in range(3)):
            return base
    raise RuntimeError("no three free ports in a row")


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def answers(url: str) -> bool:
    """Whether the hub's API answers through its proxy (the proxy alone says 404 or 503 until the hub's route is
    in)."""
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def log_in(base: str, user: str, password: str) -> requests.Response:
    """The hub's login form, as a browser fills it in (with its XSRF token)."""
    session = requests.Session()
    page = session.get(f"{base}/hub/login", timeout=10)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    data = {"username": user, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
    return session.post(f"{base}/hub/login", data=data, allow_redirects=False, timeout=10)


def test_jupyterhub_starts_each_student_in_their_own_lab(class_root: Path, postgres_server: str,
                                                         tmp_path: Path) -> None:
    room = Classroom.create(class_root, ["alice", "bob"], postgres_server)
    port, token = three_free_ports(), secrets.token_hex(16)
    base, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/hub/api"
    headers = {"Authorization": f"token {token}"}
    env = dict(os.environ, OPENSCALE_LAB_CLASSROOM=str(class_root), OPENSCALE_LAB_HUB_PORT=str(port),
               OPENSCALE_LAB_HUB_PASSWORD="class-password", OPENSCALE_LAB_HUB_ADMIN_PASSWORD=secrets.token_hex(16),
               OPENSCALE_LAB_HUB_API_TOKEN=token)
    log = (tmp_path / "hub.log").open("wb")
    hub = subprocess.Popen([str(HUB), "-f", str(classroom_dir() / "jupyterhub_config.py")], cwd=tmp_path,
                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    servers: dict[str, int] = {}
    try:
        wait_for(lambda: hub.poll() is not None or answers(f"{api}/"), 90, "the hub")
        assert hub.poll() is None, (tmp_path / "hub.log").read_text()[-3000:]
        # the roster's students log in with the class's password; nobody else does, nor with another password
        assert log_in(base, "alice", "class-password").status_code == 302
        assert log_in(base, "alice", "not-the-password").status_code == 403
        assert log_in(base, "mallory", "class-password").status_code == 403
        for name in room.names:
            started = requests.post(f"{api}/users/{name}/server", headers=headers, timeout=30)
            assert started.status_code in (201, 202), started.text
        for name in room.names:
            def ready(name: str = name) -> bool:
                server = requests.get(f"{api}/users/{name}", headers=headers, timeout=10).json()["servers"].get("")
                return bool(server and server["ready"])
            wait_for(ready, 120, f"{name}'s server")
            user = requests.get(f"{api}/users/{name}", headers=headers, timeout=10).json()
            servers[name] = int(user["servers"][""]["state"]["pid"])
        for name, pid in servers.items():
            student = room.student(name)
            proc = psutil.Process(pid)
            assert Path(proc.cwd()) == student.home  # their folder of the class
            lab_env = proc.environ()
            assert lab_env["OPENSCALE_LAB_WORKSPACE"] == str(student.workspace)
            assert lab_env["OPENSCALE_LAB_DATAMART_URL"] == student.datamart_url
            assert lab_env["OPENSCALE_LAB_SPARK_MASTER"] == "local[1]"
            listing = requests.get(f"{base}/user/{name}/api/contents/notebooks", headers=headers, timeout=30)
            assert listing.status_code == 200, listing.text
            names = {item["name"] for item in listing.json()["content"]}
            assert "00_provision_services.ipynb" in names and "02_configure_monitors.ipynb" in names
            top = requests.get(f"{base}/user/{name}/api/contents", headers=headers, timeout=30).json()
            assert {"notebooks", "workspace"} <= {item["name"] for item in top["content"]}
        assert servers["alice"] != servers["bob"]
        # the roster as it is now: a student added while the hub runs logs in at once, a removed one no more
        Classroom.create(class_root, ["carol"], postgres_server)
        assert log_in(base, "carol", "class-password").status_code == 302
        requests.delete(f"{api}/users/bob/server", headers=headers, timeout=60)
        wait_for(lambda: not psutil.pid_exists(servers["bob"]) or psutil.Process(servers["bob"]).status()
                 == psutil.STATUS_ZOMBIE, 60, "bob's server to stop")
        Classroom.open(class_root).remove(["bob"])
        assert log_in(base, "bob", "class-password").status_code == 403
    finally:
        with_children = [hub, *[psutil.Process(p) for p in servers.values() if psutil.pid_exists(p)]]
        os.killpg(hub.pid, signal.SIGTERM)  # the hub stops the students' servers and its proxy
        try:
            hub.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait(10)
        finally:
            log.close()
            proxy = class_root / "hub" / "proxy.pid"  # a hub stopped before it could stop its proxy
            pid = int(proxy.read_text().strip() or 0) if proxy.is_file() else 0
            with contextlib.suppress(psutil.Error):
                if pid and "configurable-http-proxy" in " ".join(psutil.Process(pid).cmdline()):
                    with_children.append(psutil.Process(pid))
            left = [p for p in with_children[1:] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            for p in left:
                p.kill()
    assert hub.returncode == 0 and not left, f"left running: {left}"
    assert not [p for p in psutil.process_iter() if _in_class(p, tmp_path)]  # the hub's folder and the class's


def _in_class(proc: psutil.Process, root: Path) -> bool:
    """Whether a process runs in the class's folder (a student's server, a kernel, the hub's proxy)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()).is_relative_to(root)
    except psutil.Error:
        return False
