"""Where the benchmarks keep their figures: benchmarks/results/<name>.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent / "results"


def save_results(name: str, results: dict[str, Any]) -> Path:
    """Write one benchmark's figures as JSON and say where."""
    FOLDER.mkdir(exist_ok=True)
    path = FOLDER / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {path}")
    return path
