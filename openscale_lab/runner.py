"""Running the lab's notebooks in order, headless, with papermill."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

NOTEBOOKS_ENV = "OPENSCALE_LAB_NOTEBOOKS"
CELL_TIMEOUT_ENV = "OPENSCALE_LAB_CELL_TIMEOUT"


def notebooks_dir() -> Path:
    """The folder of the lab's notebooks: $OPENSCALE_LAB_NOTEBOOKS, else `notebooks/` of the source tree."""
    chosen = os.environ.get(NOTEBOOKS_ENV)
    path = Path(chosen) if chosen else Path(__file__).resolve().parent.parent / "notebooks"
    if not path.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {path}; set {NOTEBOOKS_ENV}")
    return path


def lab_notebooks() -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(p for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def run_notebook(notebook: Path, output_dir: Path, parameters: dict[str, Any] | None = None,
                 timeout: int | None = None) -> Path:
    """Execute one notebook into `output_dir`; returns the executed copy's path.

    A cell running longer than `timeout` seconds (default $OPENSCALE_LAB_CELL_TIMEOUT, else 1800) fails.
    """
    import papermill as pm

    timeout = timeout or int(os.environ.get(CELL_TIMEOUT_ENV, "1800"))
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / notebook.name
    pm.execute_notebook(str(notebook), str(target), parameters=parameters or {}, cwd=str(notebook.parent),
                        kernel_name="python3", progress_bar=False, execution_timeout=timeout)
    return target


def run_lab(output_dir: str | os.PathLike[str], workspace: str | os.PathLike[str] | None = None,
            only: list[str] | None = None) -> list[Path]:
    """Run every lab notebook in order into `output_dir`, then stop the deployments it started.

    The workspace keeps the deployments; `openscale-lab deployment start` brings them back.
    """
    from .lab import stop_lab
    from .workspace import resolve_workspace_path

    out = Path(output_dir).resolve()
    ws = resolve_workspace_path(workspace)
    done = []
    try:
        for nb in lab_notebooks():
            if only and not any(nb.name.startswith(o) for o in only):
                continue
            print(f"running {nb.name} ...", flush=True)
            done.append(run_notebook(nb, out, {"WORKSPACE": str(ws)}))
    finally:
        if (ws / "lab.json").is_file():
            stopped = stop_lab(ws)
            if stopped:
                print(f"stopped deployment(s): {', '.join(stopped)}")
    return done
