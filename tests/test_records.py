"""Recording results in a notebook and reading them back."""
from __future__ import annotations

import json
from pathlib import Path

from openscale_lab.notebook_runner import MIME_TYPE, read_records


def test_read_records_takes_the_last_value_of_each_name(tmp_path: Path) -> None:
    def output(name: str, value: object) -> dict[str, object]:
        return {"output_type": "display_data", "metadata": {},
                "data": {MIME_TYPE: {"name": name, "value": value}, "text/plain": "x"}}

    nb = {"cells": [
        {"cell_type": "markdown", "source": "hi"},
        {"cell_type": "code", "outputs": [output("auc", 0.8), {"output_type": "stream", "text": "no"}]},
        {"cell_type": "code", "outputs": [output("auc", 0.9), output("labels", ["Risk"])]},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert read_records(path) == {"auc": 0.9, "labels": ["Risk"]}
