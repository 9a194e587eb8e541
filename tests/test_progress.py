"""Progress bars: text when a notebook runs headless (its saved output ends at the final state), tqdm.auto live."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import tqdm.auto
import tqdm.std

from openscale_lab.core.progress import HEADLESS_ENV, progress


def test_headless_runs_draw_text_and_end_at_the_final_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HEADLESS_ENV, "1")
    out = io.StringIO()
    bar = progress(range(3), desc="replaying hours", file=out)
    assert type(bar) is tqdm.std.tqdm
    assert list(bar) == [0, 1, 2]
    assert out.getvalue().rsplit("\r", 1)[-1].startswith("replaying hours: 100%")


def test_live_sessions_get_tqdm_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HEADLESS_ENV, raising=False)
    with progress(total=1, disable=True) as bar:
        assert isinstance(bar, tqdm.auto.tqdm)


def test_run_notebook_marks_its_kernel_headless_and_restores_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    from openscale_lab.notebook_runner import read_records, run_notebook

    monkeypatch.delenv(HEADLESS_ENV, raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nimport openscale_lab as lab\n"
                                          f"lab.record('headless', os.environ.get({HEADLESS_ENV!r}))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    assert read_records(run_notebook(path, tmp_path / "out"))["headless"] == "1"
    assert HEADLESS_ENV not in os.environ
