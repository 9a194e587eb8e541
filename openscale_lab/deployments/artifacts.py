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
PID_FILE = "server.pid"
LOG_FILE = "server.log"
SERVE_MODULE = "openscale_lab.deployments.serve"
EARLIER_SERVE_MODULES = ("openscale_lab.serve",)  # servers started by an earlier version of the lab
REPLAY_HEADER = "X-Scoring-Timestamp"  # replaying history: the time a record is logged at
REPLAY_SECRET_HEADER = "X-Replay-Secret"  # without the deployment's secret, no client may backdate a record
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


def load_verified_scorer(deployment_dir: Path) -> CompiledPipeline:
    """The deployment's compiled scorer, only if its verification against Spark passed for these exact bytes."""
    scorer = CompiledPipeline.load(deployment_dir / SCORER_FILE)
    path = deployment_dir / VERIFICATION_FILE
    if not path.is_file():
        raise DeploymentError(f"{deployment_dir}: no verification record; redeploy the model")
    report = read_json(path)
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
