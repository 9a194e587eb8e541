"""Free TCP ports on this machine: any the system hands out, or the first free one of a range (a classroom gives
each student a range of their own, so no two students' servers ever take the same port)."""
from __future__ import annotations

import socket
from collections.abc import Collection

from ..errors import LabError


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port now. SO_REUSEADDR as uvicorn binds: connections of a killed
    server left in TIME_WAIT do not hold the port, so a restarted deployment keeps its port and scoring URL."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1", ports: tuple[int, int] | None = None,
              avoid: Collection[int] = ()) -> int:
    """A port free on `host` now: the system's choice, or the first free one from `ports` (first, last) that is
    not in `avoid` (ports the workspace's stopped servers will want back)."""
    if ports is None:
        with socket.socket() as s:
            s.bind((host, 0))
            return int(s.getsockname()[1])
    first, last = ports
    for port in range(first, last + 1):
        if port not in avoid and port_is_free(host, port):
            return port
    raise LabError(f"every port of this workspace's range {first}-{last} on {host} is in use: stop a deployment "
                   "or service of this workspace (openscale-lab deployment list) and try again")
