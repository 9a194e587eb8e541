"""The notebooks as a learner opens them: `pytest --nbval-lax` on the notebooks, default parameters, the workspace
from the environment (as `make jupyter` sets it). Every cell must run; cells marked `# NBVAL_CHECK_OUTPUT` must
print what they are expected to. Notebooks are committed without outputs, so the expected outputs live in
`tests/nbval_expected/<notebook>.json` (by cell id) and go into a copy of the notebooks that nbval runs."""
from __future__ import annotations

import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from openscale_lab.core.progress import HEADLESS_ENV
from openscale_lab.dashboard.data import InsightsData
from openscale_lab.datamart.database import DataMart
from openscale_lab.datamart.tables import REPLAY_PREFIX
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.models.repository import ModelRepository
from openscale_lab.monitors.base import MonitorStore
from openscale_lab.notebook_runner import lab_notebooks
from openscale_lab.tutorial import MODEL_NAME
from openscale_lab.workspace import CONFIG_FILE, Workspace

from .background import BackgroundRun

pytestmark = [pytest.mark.notebooks, pytest.mark.spark, pytest.mark.slow]

CHECKED = "# NBVAL_CHECK_OUTPUT"
EXPECTED = Path(__file__).parent / "nbval_expected"


def code_cells(path: Path) -> list[dict[str, object]]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def expected_outputs(path: Path) -> dict[str, list[dict[str, object]]]:
    found = EXPECTED / f"{path.stem}.json"
    return json.loads(found.read_text()) if found.is_file() else {}


def test_every_checked_cell_has_an_expected_output_and_no_other_cell_does() -> None:
    checked = 0
    for path in lab_notebooks():
        marked = {c["id"] for c in code_cells(path) if "".join(c["source"]).startswith(CHECKED)}  # type: ignore
        expected = expected_outputs(path)
        assert set(expected) == marked and all(expected.values()), path.name
        checked += len(marked)
    assert checked >= 3


def notebooks_with_expected_outputs(target: Path) -> Path:
    """A copy of the lab's notebooks with the expected outputs in their checked cells (nbval compares a cell's
    output with the one in the notebook it runs; a cell with an output needs an execution count)."""
    target.mkdir()
    for path in lab_notebooks():
        nb = json.loads(path.read_text())
        expected = expected_outputs(path)
        for number, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            if cell["id"] in expected:
                cell["outputs"], cell["execution_count"] = expected[cell["id"]], number + 1
        (target / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    return target


def start_nbval(workspace: Path, folder: Path) -> BackgroundRun:
    """`pytest --nbval-lax` over a copy of the notebooks with their expected outputs, in a learner's workspace
    named by the environment (as `make jupyter` sets it), in the background (conftest's `nbval_run`)."""
    notebooks = notebooks_with_expected_outputs(folder / "notebooks")
    env = {**os.environ, "OPENSCALE_LAB_WORKSPACE": str(workspace), HEADLESS_ENV: "1"}
    env.pop("OPENSCALE_LAB_DATAMART_URL", None)
    return BackgroundRun([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p",
                          "no:cacheprovider", "-q", str(notebooks)], folder / "nbval.log", workspace, env)


def test_the_notebooks_run_under_nbval_as_a_learner_opens_them(nbval_run: BackgroundRun) -> None:
    returncode, output = nbval_run.wait(timeout=1500)
    assert returncode == 0, output[-6000:]
    cells = sum(len(code_cells(p)) for p in lab_notebooks())
    assert re.search(rf"\b{cells} passed\b", output), output[-2000:]
    assert (nbval_run.workspace / CONFIG_FILE).is_file()  # the notebooks used the workspace the environment named
    the_story_holds_together(Workspace.open(nbval_run.workspace))


def the_story_holds_together(ws: Workspace) -> None:
    """After 00-06 in one workspace: notebook 06 learned on notebook 04's week, and although notebooks 01-03 scored
    live before the week was replayed, the overview ends on the week's last state."""
    versions = ModelRepository(ws).versions(MODEL_NAME)
    assert len(versions) == 2 and versions["decision"].iloc[-1] in ("deployed", "kept the champion")
    assert versions["feedback_records"].iloc[-1] > 1000
    [deployment] = MLEngine(ws).list()
    dm = DataMart(ws.datamart_url)
    try:
        subscription = dm.subscription_for_deployment(deployment.deployment_id)
        replayed = MonitorStore(dm).measurements(subscription.subscription_id, source=REPLAY_PREFIX)
    finally:
        dm.close()
    story = ("fairness", "quality", "model_health", "drift")
    end = replayed.loc[replayed["monitor"].isin(story), "window_end"].max().to_pydatetime()
    assert (end - replayed["window_end"].min().to_pydatetime()) > timedelta(days=6)  # the default week
    insights = InsightsData(ws)
    try:
        [tile] = insights.overview()
        assert {m: tile["latest"][m]["time"].to_pydatetime() for m in story} == dict.fromkeys(story, end)
        [kpis] = insights.applications()
        assert kpis["measurement_id"].startswith(REPLAY_PREFIX) and kpis["day"] == end - timedelta(days=1)
    finally:
        insights.close()
