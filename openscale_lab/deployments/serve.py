"""Process entry point of a deployment: `python -m openscale_lab.deployments.serve <deployment folder>`."""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.jsonfile import read_json
from ..errors import LabError
from .app import create_app
from .artifacts import DEPLOYMENT_FILE


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m openscale_lab.deployments.serve <deployment folder>", file=sys.stderr)
        return 2
    folder = Path(args[0])
    try:
        deployment = read_json(folder / DEPLOYMENT_FILE)
        app = create_app(folder)
    except LabError as exc:
        print(f"deployment refused to start: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    uvicorn.run(app, host=deployment["host"], port=int(deployment["port"]), log_level="warning",
                access_log=False, loop="uvloop", http="httptools", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
