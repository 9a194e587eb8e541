"""Where the lab's notebooks are."""
from __future__ import annotations

import os
from pathlib import Path

NOTEBOOKS_ENV = "OPENSCALE_LAB_NOTEBOOKS"


def notebooks_dir() -> Path:
    """The folder of the lab's notebooks: $OPENSCALE_LAB_NOTEBOOKS, else `notebooks/` of the source tree."""
    chosen = os.environ.get(NOTEBOOKS_ENV)
    path = Path(chosen) if chosen else Path(__file__).resolve().parents[2] / "notebooks"
    if not path.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {path}; set {NOTEBOOKS_ENV}")
    return path
