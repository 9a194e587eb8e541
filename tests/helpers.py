"""Building blocks for tests that fill a data mart by hand."""
from __future__ import annotations

import importlib.util
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from openscale_lab.datamart.database import DataMart, Subscription
from openscale_lab.tutorial import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, SAMPLE_APPLICANTS

if TYPE_CHECKING:
    import pandas as pd

    from openscale_lab.deployments.artifacts import Deployment
    from openscale_lab.models.repository import StoredModel
    from openscale_lab.monitors import Monitoring
    from openscale_lab.workspace import Workspace

SCHEMA = [{"name": c, "type": "string" if c in CATEGORICAL_COLUMNS else "integer"} for c in FEATURE_COLUMNS]
T0 = datetime(2026, 11, 20, 12, 0, 0)


def make_subscription(dm: DataMart, deployment_id: str = "dep1") -> Subscription:
    binding = dm.ensure_binding("Local ML engine", "openscale_lab_local", "/tmp")
    sub_id = f"sub{deployment_id}"
    return dm.add_subscription(Subscription(
        subscription_id=sub_id, binding_id=binding, deployment_id=deployment_id, deployment_name="d",
        scoring_url="http://127.0.0.1:1/x", model_id="m1", model_name="model", model_version="1",
        input_schema=SCHEMA, feature_columns=FEATURE_COLUMNS, categorical_columns=CATEGORICAL_COLUMNS,
        payload_table=f"payload_{sub_id}"))


def own_subscription(workspace: Workspace, deployment: Deployment, prefix: str) -> Monitoring:
    """Monitoring of a new, empty subscription of a running deployment: its own payload log and monitor
    configurations, and a status that keeps the scheduler away from it. Close it when done."""
    from openscale_lab.monitors import Monitoring

    dm = DataMart(workspace.datamart_url)
    model = deployment.config["model"]
    sub_id = f"{prefix}{uuid.uuid4().hex[:8]}"
    binding = dm.ensure_binding("Local ML engine", "openscale_lab_local", str(workspace.deployments_dir))
    sub = dm.add_subscription(Subscription(
        subscription_id=sub_id, binding_id=binding, deployment_id=deployment.deployment_id,
        deployment_name=deployment.name, scoring_url=deployment.scoring_url, model_id=model["model_id"],
        model_name=model["name"], model_version=model["version"], input_schema=model["input_schema"],
        feature_columns=model["feature_columns"], categorical_columns=model["categorical_columns"],
        label_column=model["label_column"], payload_table=f"payload_{sub_id}", status=f"{prefix} tests"))
    return Monitoring(workspace, dm, sub)


def copy_deployment(model: StoredModel, deployment: Deployment, workspace: Workspace,
                    name: str | None = None) -> Deployment:
    """The suite's verified deployment and its model copied into another workspace, on a free port of its own
    (not started), renamed `name` if given: no second compile or check against Spark."""
    from openscale_lab.core.jsonfile import read_json, write_json_atomic
    from openscale_lab.deployments.artifacts import DEPLOYMENT_FILE, LOG_FILE, PID_FILE, REPLAY_SECRET_FILE, on_port
    from openscale_lab.deployments.engine import MLEngine, free_port

    shutil.copytree(model.path, workspace.models_dir / model.path.name)
    target = workspace.deployments_dir / deployment.path.name
    shutil.copytree(deployment.path, target, ignore=shutil.ignore_patterns(PID_FILE, LOG_FILE, REPLAY_SECRET_FILE))
    config = on_port(read_json(target / DEPLOYMENT_FILE), free_port())
    write_json_atomic(target / DEPLOYMENT_FILE, {**config, "name": name or config["name"]})
    return MLEngine(workspace).get(deployment.deployment_id)


def payload_rows(n: int, start: datetime, step: timedelta) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        row = dict(zip(FEATURE_COLUMNS, SAMPLE_APPLICANTS[i % 8]))
        row.update(scoring_id=f"req-{i}", request_id="req", scoring_timestamp=start + i * step, prediction=0.0,
                   predictedLabel="No Risk", probability="[0.75, 0.25]", prediction_probability=0.75,
                   response_time_ms=1.5, deployment_id="dep1", model_version="1")
        rows.append(row)
    return rows


def insert_payload(mon: Monitoring, frame: pd.DataFrame, start: datetime, labels: list[str] | None = None,
                   step: timedelta = timedelta(seconds=1), request_size: int = 1,
                   response_ms: list[float] | None = None) -> list[str]:
    """Payload records as the service would log them (scored by the deployment's scorer), backdated."""
    scorer = mon.ctx.scorer
    rows = frame[FEATURE_COLUMNS].values.tolist()
    scored = scorer.score(rows, FEATURE_COLUMNS)
    ids, records = [], []
    request = ""
    for i, (row, (pred, label, prob)) in enumerate(zip(rows, scored, strict=True)):
        request = f"r{uuid.uuid4().hex[:8]}" if i % request_size == 0 else request
        sid = f"{request}-{i}"
        ids.append(sid)
        rec = dict(zip(FEATURE_COLUMNS, row, strict=True))
        rec.update(scoring_id=sid, request_id=request, scoring_timestamp=start + i * step, prediction=pred,
                   predictedLabel=labels[i] if labels else label, probability=str(list(prob)),
                   prediction_probability=max(prob), deployment_id=mon.subscription.deployment_id,
                   model_version="1", response_time_ms=response_ms[i // request_size] if response_ms else 1.0)
        records.append(rec)
    mon.ctx.datamart.store_payload(mon.ctx.datamart.payload_table(mon.subscription), records)
    return ids


def copy_workspace(workspace: Workspace, target: Path) -> Workspace:
    """A copy of a workspace with a SQLite data mart (a consistent snapshot, taken while its servers run): its
    data mart, models, deployments (each on a free port of its own, not started) and monitors' files."""
    import sqlite3

    from openscale_lab.core.jsonfile import read_json, write_json_atomic
    from openscale_lab.deployments.artifacts import DEPLOYMENT_FILE, LOG_FILE, PID_FILE, on_port
    from openscale_lab.deployments.engine import free_port
    from openscale_lab.workspace import Workspace as Opened

    database = workspace.datamart_url.removeprefix("sqlite:///")
    shutil.copytree(workspace.root, target, ignore=shutil.ignore_patterns(
        PID_FILE, LOG_FILE, "datamart.sqlite*"))
    copy = Opened(target)
    with sqlite3.connect(database) as source, sqlite3.connect(target / "datamart.sqlite") as dest:
        source.backup(dest)
    write_json_atomic(copy.config_path, dict(copy.config, datamart_url=copy.default_datamart_url))
    for path in copy.deployments_dir.glob(f"*/{DEPLOYMENT_FILE}"):
        write_json_atomic(path, on_port(read_json(path), free_port()))
    return copy


def workspace_after_notebook_01(path: Path, model: StoredModel, deployment: Deployment) -> Workspace:
    """A fresh workspace as notebook 01 leaves it: the suite's model and its verified deployment, copied (not
    running). A notebook run alone in it starts that deployment; training, compiling and checking against Spark
    are tested by notebook 01's tests and notebook 03's on PostgreSQL, which deploys in a workspace with nothing."""
    from openscale_lab.provisioning import provision
    from openscale_lab.tutorial import DEPLOYMENT_NAME

    ws = provision(path).workspace
    copy_deployment(model, deployment, ws, DEPLOYMENT_NAME)
    return ws


SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def solution(name: str) -> ModuleType:
    """The worked solution `solutions/<name>.py` as a module (it has `solve(workspace)` and `wrong(answer)`)."""
    spec = importlib.util.spec_from_file_location(f"solutions.{name}", SOLUTIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None, f"no solutions/{name}.py"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_exercises_solved(notebook: str, workspace: Workspace | Path) -> dict[str, object]:
    """Run every worked solution of notebook `notebook` ("02") in `workspace`: its self-check must accept the
    solution's answer, and refuse a wrong one with a hint that does not give the answer away. Returns the answers."""
    import openscale_lab as lab
    from openscale_lab.workspace import Workspace as _Workspace

    ws = workspace if isinstance(workspace, _Workspace) else _Workspace.open(workspace)
    names = sorted(p.stem for p in SOLUTIONS.glob(f"exercise_{notebook}_*.py"))
    assert names, f"notebook {notebook} has no worked solutions"
    answers: dict[str, object] = {}
    for name in names:
        module = solution(name)
        check = getattr(lab.check, name)
        answer = module.solve(ws)
        verdict = check(answer, workspace=ws)
        assert verdict.correct, f"{name}: the check refused the worked solution's answer {answer!r}: {verdict.message}"
        wrong = check(module.wrong(answer), workspace=ws)
        assert not wrong.correct and wrong.message.startswith("❌ Not yet."), f"{name}: {wrong.message}"
        assert repr(answer) not in wrong.message, f"{name}: the hint gives the answer away: {wrong.message}"
        unanswered = check(..., workspace=ws)
        assert not unanswered.correct and f"solutions/{name}.py" in unanswered.message
        answers[name] = answer
    return answers
