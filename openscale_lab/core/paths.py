"""Where the lab's notebooks are, and checked folders for ids callers pass in."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import LabError

NOTEBOOKS_ENV = "OPENSCALE_LAB_NOTEBOOKS"
NAME_MAX = 255  # longest file name, in bytes, on the filesystems the lab runs on


def notebooks_dir() -> Path:
    """The folder of the lab's notebooks: $OPENSCALE_LAB_NOTEBOOKS, else `notebooks/` of the source tree."""
    chosen = os.environ.get(NOTEBOOKS_ENV)
    path = Path(chosen) if chosen else Path(__file__).resolve().parents[2] / "notebooks"
    if not path.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {path}; set {NOTEBOOKS_ENV}")
    return path


def child_folder(root: Path, name: Any, what: str, error: type[LabError] = LabError) -> Path:
    """The folder `root/name` for an id a caller passed in, checked before any filesystem action.

    Refused with `error`, naming `what`: anything but a plain name (empty; holding "/", "\\", "..", NUL;
    starting with "." as staging folders do; over NAME_MAX bytes), and a name whose resolved path (symbolic
    links followed) is not directly inside `root`. The caller passes its error class, so each store keeps
    its own error. Returns `root / name` as given (not resolved).
    """
    if (not isinstance(name, str) or not name or name.startswith(".") or ".." in name
            or any(c in name for c in "/\\\0")):
        raise error(f"{what} must be a plain id (no path separators, no leading dot), got {name!r}")
    try:
        size = len(os.fsencode(name))
    except UnicodeError:  # a lone surrogate: no file can have this name
        raise error(f"{what} {name!r} cannot be a file name") from None
    if size > NAME_MAX:  # a longer name makes the filesystem raise instead of answering "no such folder"
        raise error(f"{what} must be at most {NAME_MAX} bytes long, got {size}")
    base = root.resolve()
    if (base / name).resolve().parent != base:
        raise error(f"{what} {name!r} does not name a folder inside {base}")
    # the unresolved path, as listings build it: deployment processes are matched by their folder's path
    return root / name
