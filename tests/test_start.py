"""A learner's first hour: the command line takes --workspace anywhere, `deployment list`, the next steps `run-lab`
prints, Spark starting quietly, the Makefile's clean and reset, one Python range everywhere."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import openscale_lab as lab
from openscale_lab.cli import _parser, main, next_steps
from openscale_lab.models.spark import _pass_on_stderr

from .helpers import copy_deployment

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["run-lab"], ["deployment", "status"], ["deployment", "list"], ["scheduler", "--once"],
            ["monitor", "run"], ["monitor", "list"], ["retrain"], ["dashboard"], ["provision"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_workspace_before_or_after_the_command(command: list[str]) -> None:
    parser = _parser()
    assert parser.parse_args(["--workspace", "before", *command]).workspace == "before"
    assert parser.parse_args([*command, "--workspace", "after"]).workspace == "after"
    assert parser.parse_args(["--workspace", "before", *command, "--workspace", "after"]).workspace == "after"
    assert parser.parse_args(command).workspace is None


def test_workspace_between_monitor_and_its_action() -> None:
    assert _parser().parse_args(["monitor", "--workspace", "w", "list"]).workspace == "w"


def test_help_lists_what_exists(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["deployment", "--help"])
    out = capsys.readouterr().out
    assert "{start,stop,status,list,rollback}" in out and "--workspace" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "list" in capsys.readouterr().out


def test_deployment_list_and_status_of_an_empty_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = lab.provision(tmp_path / "ws").workspace
    for action in ("list", "status"):
        assert main(["deployment", action, "--workspace", str(ws.root)]) == 0
        assert "no deployments in this workspace" in capsys.readouterr().out
    assert main(["deployment", "start", "--workspace", str(ws.root)]) == 1


@pytest.mark.spark
def test_deployment_list_is_a_table(trained, deployment, tmp_path: Path,  # type: ignore[no-untyped-def]
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, model, _ = trained
    ws = lab.provision(tmp_path / "ws").workspace
    copy = copy_deployment(model, deployment, ws)
    assert main(["deployment", "list", "--workspace", str(ws.root)]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["deployment", "id", "model", "state", "scoring", "URL"]
    assert row.startswith(copy.name) and copy.deployment_id in row and "stopped" in row and copy.scoring_url in row
    assert main(["--workspace", str(ws.root), "deployment", "status"]) == 0
    assert f"{copy.name} [{copy.deployment_id}] model v{copy.model_version}: stopped" in capsys.readouterr().out
    assert main(["deployment", "list", "--name", "another", "--workspace", str(ws.root)]) == 0
    assert "no deployment 'another'" in capsys.readouterr().out


def project(folder: Path) -> None:
    (folder / "Makefile").write_text("lab:\n")
    (folder / "openscale_lab").mkdir()


def test_next_steps_in_the_project_are_make_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "insights_report.html").write_text("<html></html>")
    steps = next_steps("workspace")
    assert "\n    workspace/insights_report.html\n" in steps
    assert "\n    make dashboard\n" in steps and "\n    make jupyter\n" in steps
    assert f"--workspace {ws} deployment start" in steps and f"--workspace {ws} service start" in steps
    command = steps.splitlines()[-1].strip()
    assert command.endswith(f"openscale-lab --workspace {ws} deployment start")
    assert Path(command.split()[0]).name == "openscale-lab"


def test_next_steps_name_another_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path)
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "my lab"
    steps = next_steps(other)
    assert "make dashboard WORKSPACE='" in steps and f"--workspace '{other}' deployment start" in steps
    assert "insights_report.html" not in steps  # no report yet


def test_next_steps_outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    steps = next_steps(tmp_path / "ws")
    assert "make " not in steps
    assert f"--workspace {tmp_path / 'ws'} dashboard" in steps
    assert f"OPENSCALE_LAB_WORKSPACE={tmp_path / 'ws'} jupyter lab" in steps


def test_the_jvm_start_up_notice_is_left_out(capfd: pytest.CaptureFixture[str]) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"WARNING: Using incubator modules: jdk.incubator.vector\n"
                       b"26/01/01 10:00:00 ERROR Executor: a real error\n")
    os.close(write_fd)
    _pass_on_stderr(read_fd)
    assert capfd.readouterr().err == "26/01/01 10:00:00 ERROR Executor: a real error\n"


@pytest.mark.spark
def test_spark_starts_quietly() -> None:
    code = "import openscale_lab as lab; print(lab.get_spark('local[1]').range(3).count())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "3", done.stderr
    for noise in ("log4j", "Setting default log level", "NativeCodeLoader", "incubator modules", "WARN"):
        assert noise not in done.stderr, done.stderr


@pytest.mark.spark
def test_a_jvm_that_cannot_start_says_why() -> None:
    code = "import openscale_lab as lab; lab.get_spark('local[1]')"
    env = {**os.environ, "OPENSCALE_LAB_SPARK_MEMORY": "lots"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0 and "lots" in done.stderr.replace("Traceback", ""), done.stderr[-2000:]


def make_dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("no make")
    done = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_clean_keeps_the_workspace_and_reset_empties_it(tmp_path: Path) -> None:
    clean = make_dry_run("clean", f"WORKSPACE={tmp_path}")
    assert "rm -rf .venv output test-artifacts .pytest_cache" in clean and "keeping" in clean
    assert f'rm -rf "{tmp_path}' not in clean
    reset = make_dry_run("reset", f"WORKSPACE={tmp_path}")
    assert f'--workspace "{tmp_path}" deployment stop' in reset and "lab.json" in reset


def test_make_jupyter_uses_the_lab_workspace(tmp_path: Path) -> None:
    out = make_dry_run("jupyter", f"WORKSPACE={tmp_path}", "NO_BROWSER=1")
    assert f'OPENSCALE_LAB_WORKSPACE="{tmp_path}"' in out and "--notebook-dir=notebooks" in out
    assert "--no-browser" in out and "jupyterlab>=4.1" in out


def test_python_range_is_the_same_everywhere() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.11,<3.13"
    assert "jupyterlab>=4.1" in pyproject["project"]["optional-dependencies"]["dev"]
    assert "- python>=3.11,<3.13" in (ROOT / "environment.yml").read_text()
    assert "(3, 11) <= sys.version_info[:2] < (3, 13)" in (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11 or 3.12" in readme and not re.search(r"Python 3\.1\d\+", readme)


def test_packaging_metadata_is_spdx() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert all((ROOT / f).is_file() for f in pyproject["project"]["license-files"])
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]
    assert "models/log4j2.properties" in pyproject["tool"]["setuptools"]["package-data"]["openscale_lab"]


def test_imports_point_one_way_down_the_layers_the_readme_lists() -> None:
    """'Arrows point one way': every import inside the package goes to its own layer or one listed above it in
    the README's 'How the code is laid out' (lazy imports in functions included)."""
    import ast

    text = (ROOT / "README.md").read_text().split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    ranks: dict[str, int] = {}
    for rank, line in enumerate(x for x in text.splitlines() if x.startswith("- `")):
        for name in re.findall(r"`([a-z_]+)(?:\.py|/)`", line.split(" — ", 1)[0]):
            ranks[name] = rank
    package = ROOT / "openscale_lab"
    wrong = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts in (("__init__",), ("__main__",)):
            continue  # the front door and `python -m openscale_lab` reach everything
        layer = parts[0]
        assert layer in ranks, f"{path.relative_to(ROOT)} is in no layer the README lists"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(parts[:-1])[: len(parts) - node.level]
                target = [*base, *(node.module or "").split(".")] if node.module else base
                names = [a.name for a in node.names] if not target else []
                for top in ([target[0]] if target else names):
                    if top in ranks and ranks[top] > ranks[layer]:
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {top} (listed below {layer})")
    assert not wrong, "\n".join(wrong)
