"""Running the lab's notebooks in order, headless (papermill), and the results they record for the tests.

`record()` in a notebook, `read_records()` on the executed file: written here rather than taken from
scrapbook, which is unmaintained and breaks on pandas 2.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .core.paths import notebooks_dir
from .core.progress import HEADLESS_ENV
from .errors import LabError
from .provisioning import stop_lab
from .workspace import CONFIG_FILE, resolve_workspace_path

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


CELL_TIMEOUT_ENV = "OPENSCALE_LAB_CELL_TIMEOUT"


def lab_notebooks() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(p for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


# Jupyter picks a kernel's five ports before the kernel binds them, so another kernel starting at the same moment
# (a class starting together) can take one first: that kernel dies before it replies, and a new one is started
KERNEL_DIED = "Kernel died before replying to kernel_info"
KERNEL_STARTS = 3


def run_notebook(notebook: Path, output_dir: Path, parameters: dict[str, Any] | None = None,
                 timeout: int | None = None) -> Path:
    """Execute one notebook into `output_dir`; returns the executed copy's path.

    A cell running longer than `timeout` seconds (default $OPENSCALE_LAB_CELL_TIMEOUT, else 1800) fails.
    """
    import papermill as pm

    timeout = timeout or int(os.environ.get(CELL_TIMEOUT_ENV, "1800"))
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / notebook.name
    before = os.environ.get(HEADLESS_ENV)
    os.environ[HEADLESS_ENV] = "1"  # the kernel inherits it: progress bars as text, not widgets saved at 0 %
    try:
        for attempt in range(1, KERNEL_STARTS + 1):
            try:
                pm.execute_notebook(str(notebook), str(target), parameters=parameters or {},
                                    cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
                                    execution_timeout=timeout)
                break
            except RuntimeError as exc:  # a kernel that died starting ran nothing of the notebook: start another
                if KERNEL_DIED not in str(exc) or attempt == KERNEL_STARTS:
                    raise
    finally:
        if before is None:
            del os.environ[HEADLESS_ENV]
        else:
            os.environ[HEADLESS_ENV] = before
    return target


def run_lab(output_dir: str | os.PathLike[str], workspace: str | os.PathLike[str] | None = None,
            only: list[str] | None = None, parameters: dict[str, Any] | None = None) -> list[Path]:
    """Run every lab notebook in order into `output_dir`, then stop the deployments it started.

    `parameters` (e.g. {"DAYS": 2}) go to each notebook whose parameters cell declares them. The
    workspace keeps the deployments; `openscale-lab deployment start` brings them back.
    """
    import papermill as pm

    out = Path(output_dir).resolve()
    ws = resolve_workspace_path(workspace)
    chosen = [nb for nb in lab_notebooks() if not only or any(nb.name.startswith(o) for o in only)]
    declared = {nb: set(pm.inspect_notebook(str(nb))) for nb in chosen}
    unknown = set(parameters or {}) - set().union(*declared.values())
    if unknown:
        raise LabError(f"no notebook has a parameter {', '.join(sorted(unknown))}; the notebooks' parameters are "
                       f"{', '.join(sorted(set().union(*declared.values())))}")
    done = []
    try:
        for nb in chosen:
            print(f"running {nb.name} ...", flush=True)
            given = {k: v for k, v in (parameters or {}).items() if k in declared[nb]}
            done.append(run_notebook(nb, out, {**given, "WORKSPACE": str(ws)}))
    finally:
        if (ws / CONFIG_FILE).is_file():
            stopped = stop_lab(ws)
            if stopped:
                print(f"stopped deployment(s): {', '.join(stopped)}")
    return done
