"""A deployment's folder: its files, its settings as a record, and its verified compiled scorer.

Everything that reads or starts a deployment (the process manager, the scoring app, the monitors) agrees
on this layout; nothing here imports the web framework.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.jsonfile import read_json
from ..errors import DeploymentError
from ..models.scorer import CompiledPipeline

DEPLOYMENT_FILE = "deployment.json"
SCORER_FILE = "scorer.json"
VERIFICATION_FILE = "verification.json"
SERVED_DIR = "served"  # served/<model_id>/: each model version the deployment has served, scorer and verification
PID_FILE = "server.pid"
LOG_FILE = "server.log"
SERVE_MODULE = "openscale_lab.deployments.serve"
EARLIER_SERVE_MODULES = ("openscale_lab.serve",)  # servers started by an earlier version of the lab
REPLAY_HEADER = "X-Scoring-Timestamp"  # replaying history: the time a record is logged at
REPLAY_SECRET_HEADER = "X-Replay-Secret"  # without the deployment's secret, no client may backdate a record
MODEL_VERSION_HEADER = "X-Model-Version"  # on every scoring reply: the model version that scored it
REPLAY_SECRET_FILE = "replay.secret"  # owner-only, in the deployment's folder: the replay reads it there
SECRET_HEX_DIGITS = 64


@dataclass(frozen=True)
class Deployment:
    """An online deployment: its folder and settings."""

    path: Path
    config: dict[str, Any]

    @property
    def deployment_id(self) -> str:
        return str(self.config["deployment_id"])

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def base_url(self) -> str:
        return f"http://{self.config['host']}:{self.config['port']}"

    @property
    def scoring_url(self) -> str:
        return str(self.config["scoring_url"])

    @property
    def health_url(self) -> str:
        return f"{self.base_url}/health"

    @property
    def docs_url(self) -> str:
        return f"{self.base_url}/docs"

    @property
    def model_id(self) -> str:
        return str(self.config["model"]["model_id"])

    @property
    def model_version(self) -> str:
        return str(self.config["model"]["version"])

    @property
    def scorer_dir(self) -> Path:
        """The folder of the served model's verified scorer."""
        return scorer_dir(self.path, self.config)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every model version the deployment has served, oldest first (deploy, redeploy, rollback)."""
        return list(self.config.get("history") or [])


MODEL_KEYS = ("model_id", "name", "version", "input_schema", "feature_columns", "categorical_columns", "label_column",
              "labels")  # what a deployment keeps of the model it serves


def fields_of(model: dict[str, Any]) -> list[tuple[str, str]]:
    """A model's input fields with their types, and its labels: what a model replacing it must share, since the
    payload log's columns and the feedback's labels follow them."""
    return [(c["name"], c["type"]) for c in model["input_schema"]] + [("label", str(v)) for v in model["labels"]]


def on_port(config: dict[str, Any], port: int) -> dict[str, Any]:
    """A deployment's settings moved to another port: its scoring URL follows."""
    return dict(config, port=port,
                scoring_url=f"http://{config['host']}:{port}/v1/deployments/{config['deployment_id']}/predictions")


def scorer_dir(deployment_dir: Path, config: dict[str, Any]) -> Path:
    """Where the compiled scorer of the model `config` names lives: `served/<model_id>/`, or the deployment's
    own folder for a deployment made before models could be redeployed in place."""
    folder = Path(deployment_dir) / SERVED_DIR / str(config["model"]["model_id"])
    return folder if folder.is_dir() else Path(deployment_dir)


def load_verified_scorer(deployment_dir: Path, config: dict[str, Any] | None = None) -> CompiledPipeline:
    """The compiled scorer of the model the deployment serves (`config`: its settings, read from its folder if
    not given), only if its verification against Spark passed for these exact bytes."""
    config = config if config is not None else read_json(Path(deployment_dir) / DEPLOYMENT_FILE)
    folder = scorer_dir(deployment_dir, config)
    scorer = CompiledPipeline.load(folder / SCORER_FILE)
    path = folder / VERIFICATION_FILE
    if not path.is_file():
        raise DeploymentError(f"{deployment_dir}: no verification record; redeploy the model")
    report = read_json(path)
    if report.get("model_id", config["model"]["model_id"]) != config["model"]["model_id"]:
        raise DeploymentError(f"{folder}: the verification record is of model {report.get('model_id')}, not of "
                              f"{config['model']['model_id']}; redeploy the model")
    if not report.get("passed") or report.get("scorer_digest") != scorer.digest:
        raise DeploymentError(f"{deployment_dir}: the scorer was not verified against Spark; redeploy the model")
    return scorer


def replay_secret(deployment_dir: Path) -> str:
    """The deployment's replay secret, created (readable by its owner only) the first time it is asked for.

    Only a holder of the secret (the history replay, run by the workspace's owner) may log a scored record at
    another time than now; any other client's timestamp header is refused.
    """
    path = Path(deployment_dir) / REPLAY_SECRET_FILE
    found = path.read_text().strip() if path.is_file() else None
    if found is not None and len(found) >= SECRET_HEX_DIGITS:
        return found
    # missing, or too short to be one this function wrote: a new one, written whole beside it, then moved in
    draft = path.with_name(f".{REPLAY_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(SECRET_HEX_DIGITS // 2))
        if found is not None:  # too short to be a secret: replaced
            os.replace(draft, path)
        else:
            try:
                os.link(draft, path)
            except FileExistsError:  # another process made it first: theirs is the secret
                pass
    finally:
        draft.unlink(missing_ok=True)
    return path.read_text().strip()
