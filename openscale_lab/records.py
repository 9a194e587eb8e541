"""Notebook results the tests read back: `record()` in a notebook, `read_records()` on the executed file.

Written here rather than taken from scrapbook, which is unmaintained and breaks on pandas 2.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MIME_TYPE = "application/vnd.openscale-lab.record+json"


def record(name: str, value: Any) -> None:
    """Record a JSON-serialisable result in the notebook's output, shown as a short text line too."""
    from IPython.display import display

    data = json.loads(json.dumps(value, default=float))
    display({MIME_TYPE: {"name": name, "value": data}, "text/plain": f"recorded {name} = {data!r}"}, raw=True)


def read_records(notebook: str | Path) -> dict[str, Any]:
    """Every value recorded in an executed notebook, by name (the last one wins)."""
    nb = json.loads(Path(notebook).read_text())
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            item = output.get("data", {}).get(MIME_TYPE)
            if item is not None:
                found[item["name"]] = item["value"]
    return found
