"""The notebooks as a learner opens them: `pytest --nbval-lax notebooks/`, default parameters, the workspace
from the environment (as `make jupyter` sets it). Every cell must run; cells marked `# NBVAL_CHECK_OUTPUT`
must print what their committed output says."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openscale_lab.core.progress import HEADLESS_ENV
from openscale_lab.notebook_runner import lab_notebooks, notebooks_dir
from openscale_lab.provisioning import stop_lab
from openscale_lab.workspace import CONFIG_FILE

pytestmark = [pytest.mark.notebooks, pytest.mark.spark, pytest.mark.slow]

CHECKED = "# NBVAL_CHECK_OUTPUT"


def code_cells(path: Path) -> list[dict[str, object]]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_checked_cells_keep_their_outputs_and_no_other_cell_does() -> None:
    checked = 0
    for path in lab_notebooks():
        for cell in code_cells(path):
            marked = "".join(cell["source"]).startswith(CHECKED)  # type: ignore[arg-type]
            assert bool(cell["outputs"]) == marked, f"{path.name}: {''.join(cell['source'])[:60]!r}"  # type: ignore
            checked += marked
    assert checked >= 3


def test_the_notebooks_run_under_nbval_as_a_learner_opens_them(suite_root: Path) -> None:
    workspace = suite_root / "learner-workspace"
    env = {**os.environ, "OPENSCALE_LAB_WORKSPACE": str(workspace), HEADLESS_ENV: "1"}
    env.pop("OPENSCALE_LAB_DATAMART_URL", None)
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                               "-p", "no:cacheprovider", "-q", str(notebooks_dir())],
                              capture_output=True, text=True, env=env, timeout=1200)
    finally:
        if (workspace / CONFIG_FILE).is_file():
            stop_lab(workspace)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    cells = sum(len(code_cells(p)) for p in lab_notebooks())
    assert re.search(rf"\b{cells} passed\b", done.stdout), done.stdout[-2000:]
    assert (workspace / CONFIG_FILE).is_file()  # the notebooks used the workspace the environment named
