"""The lab's steps as idempotent calls: provision, train and publish, deploy, and bring up what is missing."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .core.clock import utcnow
from .core.jsonfile import write_json_atomic
from .datamart.database import DataMart, redact
from .deployments.artifacts import Deployment
from .deployments.engine import MLEngine
from .errors import LabError
from .models.repository import ModelRepository, StoredModel
from .models.spark import get_spark
from .models.training import TrainingResult, train_model
from .tutorial import DEPLOYMENT_NAME, MODEL_NAME, SPLIT_SEED
from .workspace import CONFIG_FILE, DATAMART_ENV, Workspace, resolve_workspace_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class ProvisionReport:
    """What provisioning found and did."""

    workspace: Workspace
    datamart_url: str
    created: bool = False
    reset: bool = False
    previous_datamart_url: str | None = None
    messages: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.messages)


def provision(workspace: str | os.PathLike[str] | None = None, datamart_url: str | None = None,
              reset_data_mart: bool = False) -> ProvisionReport:
    """Create or reopen the lab workspace and its data mart; safe to run again.

    An existing data mart is kept unless `reset_data_mart` is true (the tutorial's
    KEEP_MY_INTERNAL_POSTGRES = False). Switching to another data mart URL leaves the old one
    untouched and says where it is. Running deployments are stopped before a reset or a switch.
    """
    root = resolve_workspace_path(workspace)
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root)
    wanted = datamart_url or os.environ.get(DATAMART_ENV) or None
    report = ProvisionReport(ws, "")
    if not (root / CONFIG_FILE).is_file():
        url = wanted or ws.default_datamart_url
        DataMart(url).close()  # reachable before anything is written
        write_json_atomic(ws.config_path, {"datamart_url": url, "created_at": utcnow().isoformat(),
                                           "previous_datamart_urls": []})
        report.created = True
        report.messages.append(f"Created the lab workspace at {root}")
    else:
        report.messages.append(f"Reusing the lab workspace at {root}")
        current = ws.datamart_url
        if wanted and wanted != current:
            stopped = MLEngine(ws).stop_all()
            DataMart(wanted).close()  # reachable before we switch
            ws.update_config(datamart_url=wanted,
                             previous_datamart_urls=[*ws.config.get("previous_datamart_urls", []), current])
            report.previous_datamart_url = current
            report.messages.append(f"Switched the data mart to {redact(wanted)}; the previous one at "
                                   f"{redact(current)} is kept untouched")
            if stopped:
                report.messages.append(f"Stopped deployments to reconnect them: {', '.join(stopped)}")
    ws.models_dir.mkdir(exist_ok=True)
    ws.deployments_dir.mkdir(exist_ok=True)
    report.datamart_url = ws.datamart_url
    datamart = DataMart(ws.datamart_url)
    try:
        if reset_data_mart:
            stopped = MLEngine(ws).stop_all()
            dropped = datamart.reset()
            report.reset = True
            note = f"; stopped {', '.join(stopped)}" if stopped else ""
            report.messages.append(f"Reset the data mart at {redact(ws.datamart_url)}: dropped "
                                   f"{len(dropped)} lab table(s){note}")
        elif datamart.has_data():
            report.messages.append(f"Kept the existing data mart at {redact(ws.datamart_url)}")
        else:
            report.messages.append(f"Data mart ready at {redact(ws.datamart_url)}")
    finally:
        datamart.close()
    report.messages.append(f"Model repository: {ws.models_dir}")
    report.messages.append(f"ML engine deployments: {ws.deployments_dir}")
    return report


def open_workspace(workspace: str | os.PathLike[str] | None = None, datamart_url: str | None = None) -> Workspace:
    """The workspace, provisioned first if it does not exist yet (or switched to `datamart_url` if given)."""
    root = resolve_workspace_path(workspace)
    if not (root / CONFIG_FILE).is_file() or (datamart_url and Workspace(root).datamart_url != datamart_url):
        provision(root, datamart_url)
    return Workspace(root)


def remove_earlier(ws: Workspace, model_name: str = MODEL_NAME, deployment_name: str = DEPLOYMENT_NAME) -> list[str]:
    """Delete deployments and models of these names, as the tutorial does before retraining."""
    engine, repo = MLEngine(ws), ModelRepository(ws)
    removed = []
    model_ids = {m.model_id for m in repo.find(model_name)}
    datamart = DataMart(ws.datamart_url)
    try:
        for dep in engine.list():
            if dep.name == deployment_name or dep.model_id in model_ids:
                engine.delete(dep, datamart)
                removed.append(f"deployment {dep.name} ({dep.deployment_id})")
    finally:
        datamart.close()
    for model in repo.find(model_name):
        repo.delete(model.model_id)
        removed.append(f"model {model.name} v{model.version} ({model.model_id})")
    return removed


def publish_model(ws: Workspace, result: TrainingResult, name: str = MODEL_NAME) -> StoredModel:
    """Store a trained model in the repository, refusing one below its areaUnderROC threshold."""
    if not result.passed:
        raise LabError(f"areaUnderROC {result.area_under_roc:.3f} is below the threshold 0.7: the model is not "
                       "stored. Check the training data and parameters.")
    return ModelRepository(ws).store(result.model, result.metadata(name), result.test_data)


def deploy_model(ws: Workspace, model: StoredModel, spark: SparkSession, name: str = DEPLOYMENT_NAME,
                 port: int = 0) -> Deployment:
    """Deploy a stored model online (compiled, checked against Spark, started)."""
    return MLEngine(ws).deploy(model, name, spark, port=port)


def ensure_model(ws: Workspace, spark: SparkSession | None = None, name: str = MODEL_NAME,
                 seed: int = SPLIT_SEED) -> StoredModel:
    """The latest model of this name trained from the training data (not a challenger of the learning system),
    trained and published first if there is none."""
    trained = [m for m in ModelRepository(ws).find(name) if not m.metadata.get("learning")]
    if trained:
        return trained[-1]
    return publish_model(ws, train_model(spark or get_spark(), seed=seed), name)


def ensure_deployment(workspace: str | os.PathLike[str] | Workspace | None = None,
                      spark_master: str | None = None, name: str = DEPLOYMENT_NAME,
                      original_model: bool = False) -> Deployment:
    """A running deployment called `name`: started, or deployed (and trained) first when missing.

    `original_model`: if continuous learning replaced the model it was deployed with, that one serves again
    (rolled back in place): the week's story begins with it."""
    ws = workspace if isinstance(workspace, Workspace) else open_workspace(workspace)
    engine = MLEngine(ws)
    found = engine.find(name)
    if found:
        dep = engine.start(found[-1])
        first = dep.history[0]["model_id"] if dep.history else dep.model_id
        if original_model and dep.model_id != first:
            dep = engine.rollback(dep, to_model_id=first, note={"reason": "the week's story begins with it"})
        return dep
    spark = get_spark(spark_master)  # deploying checks the compiled scorer against Spark
    model = ensure_model(ws, spark)
    return engine.deploy(model, name, spark)


def stop_lab(workspace: str | os.PathLike[str] | Workspace | None = None) -> list[str]:
    """Stop every running deployment of the workspace (the deployments themselves are kept) and its
    OpenScale-compatible service."""
    from .service.process import stop_service

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    stopped = MLEngine(ws).stop_all()
    if stop_service(ws):
        stopped.append("OpenScale-compatible service")
    return stopped
