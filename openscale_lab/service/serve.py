"""Process entry point: `python -m openscale_lab.service.serve <workspace folder> <port>`."""
from __future__ import annotations

import sys

from ..errors import LabError
from ..workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m openscale_lab.service.serve <workspace folder> <port>", file=sys.stderr)
        return 2
    try:
        from .app import create_app

        app = create_app(Workspace.open(args[0]))
    except LabError as exc:
        print(f"the OpenScale-compatible service refused to start: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(args[1]), log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
