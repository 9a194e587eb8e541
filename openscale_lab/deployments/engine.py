"""The lab's ML engine: online deployments as real HTTP server processes on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import requests

from ..core.clock import utcnow
from ..core.jsonfile import read_json, write_json_atomic
from ..core.paths import child_folder
from ..core.ports import free_port, port_is_free
from ..datamart.database import DataMart
from ..errors import DeploymentError
from ..models.repository import StoredModel
from ..models.scorer import CompiledPipeline
from ..workspace import Workspace
from .artifacts import (
    DEPLOYMENT_FILE,
    EARLIER_SERVE_MODULES,
    LOG_FILE,
    MODEL_KEYS,
    PID_FILE,
    REPLAY_SECRET_HEADER,
    SCORER_FILE,
    SERVE_MODULE,
    SERVED_DIR,
    VERIFICATION_FILE,
    Deployment,
    fields_of,
    load_verified_scorer,
    on_port,
    replay_secret,
)
from .verification import verify_against_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession



# Server processes this process started, kept until stopped: a server outlives the call that started it,
# and dropping its Popen handle while it runs would leave it unreaped.
STARTED: dict[int, subprocess.Popen[bytes]] = {}


def _entry(served: dict[str, Any], action: str, at: str, note: dict[str, Any] | None) -> dict[str, Any]:
    """One line of a deployment's history: which model version began serving, how and when."""
    return {"action": action, "at": at, "model_id": served["model_id"], "model_version": served["version"],
            "model": served, **({"note": note} if note else {})}


def _ended(proc: psutil.Process, timeout: float) -> bool:
    """Whether `proc` ended within `timeout` seconds. A server started by another command that has since exited
    is not this process's child: once it ends it stays a zombie until init reaps it, and that counts as ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
            proc.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            if time.monotonic() >= deadline:
                return False


def _id_of(deployment: Any) -> str:
    """The id of a deployment given as itself or as its id."""
    if isinstance(deployment, Deployment):
        return deployment.deployment_id
    if isinstance(deployment, str):
        return deployment
    raise DeploymentError(f"deployment must be a Deployment or a deployment id, got {deployment!r}")


class MLEngine:
    """Creates, starts, stops and deletes the workspace's deployments under `<workspace>/deployments/`."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.deployments_dir
        self.root.mkdir(parents=True, exist_ok=True)

    # -- lookup -------------------------------------------------------------------------------
    def list(self) -> list[Deployment]:
        found = [Deployment(p.parent, read_json(p)) for p in self.root.glob(f"*/{DEPLOYMENT_FILE}")]
        return sorted(found, key=lambda d: d.config["created_at"])

    def get(self, deployment_id: str) -> Deployment:
        """The deployment `deployment_id`; every verb looks it up here first, so an id that is not a plain
        folder name of the workspace's deployments is refused before anything is stopped or removed."""
        path = child_folder(self.root, deployment_id, "deployment_id", DeploymentError)
        if not (path / DEPLOYMENT_FILE).is_file():
            raise DeploymentError(f"no deployment {deployment_id!r} in {self.root}")
        return Deployment(path, read_json(path / DEPLOYMENT_FILE))

    def find(self, name: str) -> list[Deployment]:
        return [d for d in self.list() if d.name == name]

    def ports_in_use(self) -> set[int]:
        """The ports the workspace's deployments have, running or not (a stopped one wants its port back)."""
        return {int(d.config["port"]) for d in self.list()}

    # -- creating -----------------------------------------------------------------------------
    def deploy(self, model: StoredModel, name: str, spark: SparkSession, host: str = "127.0.0.1",
               port: int = 0, verify_rows: int = 500, start: bool = True) -> Deployment:
        """Compile the model, check it against Spark, write the deployment and start it.

        UnsupportedModelError or ModelMismatchError leave nothing behind: a deployment that could
        serve scores different from Spark's is never created.
        """
        compiled, report = self._verified(model, spark, verify_rows)
        deployment_id = uuid.uuid4().hex[:12]
        port = port or free_port(host, self.workspace.ports, self.ports_in_use())
        staging = self.root / f".staging-{deployment_id}"
        staging.mkdir(parents=True)
        try:
            self._write_served(staging, model, compiled, report)
            now = utcnow().isoformat()
            served = {k: model.metadata[k] for k in MODEL_KEYS}
            config = on_port({
                "deployment_id": deployment_id, "name": name, "host": host, "created_at": now, "type": "online",
                "model": served, "history": [_entry(served, "deploy", now, None)],
            }, port)
            write_json_atomic(staging / DEPLOYMENT_FILE, config)
            staging.rename(self.root / deployment_id)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        deployment = self.get(deployment_id)
        return self.start(deployment) if start else deployment

    @staticmethod
    def _verified(model: StoredModel, spark: SparkSession, verify_rows: int) -> tuple[CompiledPipeline, dict[str, Any]]:
        """The model compiled, and the record of its check against Spark (ModelMismatchError if any row differs)."""
        compiled = CompiledPipeline.from_spark_model(model.spark_path, model.input_schema)
        return compiled, verify_against_spark(spark, model, compiled, verify_rows)

    @staticmethod
    def _write_served(deployment_dir: Path, model: StoredModel, compiled: CompiledPipeline,
                      report: dict[str, Any]) -> None:
        """The verified scorer of a model in `served/<model_id>/`, written whole or not at all."""
        target = deployment_dir / SERVED_DIR / model.model_id
        staging = target.with_name(f".staging-{model.model_id}-{uuid.uuid4().hex[:6]}")
        staging.mkdir(parents=True)
        try:
            compiled.save(staging / SCORER_FILE)
            write_json_atomic(staging / VERIFICATION_FILE, report)
            if target.exists():  # the same model verified again: the fresh record replaces the old
                shutil.rmtree(target)
            staging.rename(target)
        except Exception:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def verification(self, deployment: Deployment | str) -> dict[str, Any]:
        """The record of the served model's check against Spark."""
        dep = self.get(_id_of(deployment))
        return dict(read_json(dep.scorer_dir / VERIFICATION_FILE))

    # -- replacing the served model -------------------------------------------------------------
    def redeploy(self, deployment: Deployment | str, model: StoredModel, spark: SparkSession,
                 verify_rows: int = 500, note: dict[str, Any] | None = None) -> Deployment:
        """Serve another model version in place: same deployment id, scoring URL and subscription.

        The new scorer is compiled and checked against Spark first (a mismatch changes nothing); then the
        deployment's folder names it and the running server loads it beside the current one and swaps it in
        whole: no request is refused or lost, and each payload record carries the version that scored it.
        """
        dep = self.get(_id_of(deployment))
        if model.name != dep.config["model"]["name"]:
            raise DeploymentError(f"model {model.name!r} is not a version of {dep.config['model']['name']!r}, which "
                                  f"deployment {dep.name!r} serves: deploy it as a new deployment")
        if fields_of(model.metadata) != fields_of(dep.config["model"]):
            raise DeploymentError(f"model {model.name} v{model.version} cannot replace v{dep.model_version} in "
                                  f"place: its input fields or labels differ (deploy it as a new deployment)")
        compiled, report = self._verified(model, spark, verify_rows)
        self._write_served(dep.path, model, compiled, report)
        return self._switch(dep, {k: model.metadata[k] for k in MODEL_KEYS}, "redeploy", note)

    def rollback(self, deployment: Deployment | str, to_model_id: str | None = None,
                 note: dict[str, Any] | None = None) -> Deployment:
        """Serve again the model version that served before the current one (or the one `to_model_id` names,
        from the deployment's history), the same way as a redeploy: its scorer, verified when it first served,
        is checked again as it loads."""
        dep = self.get(_id_of(deployment))
        history = dep.history
        if to_model_id is not None:
            found = [h["model"] for h in history if h["model_id"] == to_model_id]
            if not found:
                raise DeploymentError(f"model {to_model_id!r} never served deployment {dep.name!r}; its history: "
                                      f"{', '.join('v' + h['model_version'] for h in history)}")
            return self._switch(dep, found[-1], "rollback", note)
        if len(history) < 2:
            raise DeploymentError(f"deployment {dep.name!r} has served only model v{dep.model_version}: there is "
                                  "no earlier version to roll back to")
        return self._switch(dep, history[-2]["model"], "rollback", note)

    def _switch(self, dep: Deployment, served: dict[str, Any], action: str,
                note: dict[str, Any] | None) -> Deployment:
        """Name the model in the deployment's folder and its subscription, then have a running server swap to
        it. Interrupted after the folder changed, the next `start` finishes the swap; a server that refuses it
        leaves folder and subscription as they were."""
        load_verified_scorer(dep.path, dict(dep.config, model=served))  # never name a scorer that cannot serve
        history = dep.history or [_entry(dep.config["model"], "deploy", dep.config["created_at"], None)]
        config = dict(dep.config, model=served, history=[*history, _entry(served, action, utcnow().isoformat(), note)])
        write_json_atomic(dep.path / DEPLOYMENT_FILE, config)
        self._name_in_subscription(dep.deployment_id, served)
        switched = self.get(dep.deployment_id)
        if self.pid(switched) is not None:
            try:
                self._tell_server(switched)
            except DeploymentError:
                if self.served_model(switched, timeout=5.0) == switched.model_id:
                    return switched  # the reply was lost, the switch was not
                write_json_atomic(dep.path / DEPLOYMENT_FILE, dep.config)
                self._name_in_subscription(dep.deployment_id, dep.config["model"])
                raise
        return switched

    def _name_in_subscription(self, deployment_id: str, served: dict[str, Any]) -> None:
        """The subscription names the model served (the server does it too as it swaps or starts): monitors
        opened from now on read that model's metadata, whether or not a server runs."""
        datamart = DataMart(self.workspace.datamart_url)
        try:
            sub = datamart.subscription_for_deployment(deployment_id)
            if sub is not None:
                datamart.update_subscription(sub.subscription_id, model_id=served["model_id"],
                                             model_version=served["version"])
        finally:
            datamart.close()

    def _tell_server(self, dep: Deployment, timeout: float = 30.0) -> None:
        """Have the running server serve the model its folder names."""
        try:
            reply = requests.post(f"{dep.base_url}/v1/deployments/{dep.deployment_id}/model", timeout=timeout,
                                  headers={REPLAY_SECRET_HEADER: replay_secret(dep.path)})
        except requests.RequestException as exc:
            raise DeploymentError(f"deployment {dep.name!r} did not answer the model switch: {exc}") from None
        if reply.status_code != 200:
            raise DeploymentError(f"deployment {dep.name!r} kept its model: {reply.text[:300]}")

    # -- processes ----------------------------------------------------------------------------
    def pid(self, deployment: Deployment) -> int | None:
        """The pid of the deployment's running server process, if it is running."""
        path = deployment.path / PID_FILE
        if not path.is_file():
            return None
        try:
            pid = int(path.read_text().strip())
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except (ValueError, psutil.Error):
            return None
        if any(m in cmdline for m in (SERVE_MODULE, *EARLIER_SERVE_MODULES)) and str(deployment.path) in cmdline:
            return pid
        return None

    @staticmethod
    def _health(deployment: Deployment, timeout: float) -> dict[str, Any] | None:
        """What the deployment's server says on /health, if it is this deployment's server and answers."""
        try:
            reply = requests.get(deployment.health_url, timeout=timeout)
            found = reply.json() if reply.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        return found if isinstance(found, dict) and found.get("deployment_id") == deployment.deployment_id else None

    def is_healthy(self, deployment: Deployment, timeout: float = 2.0) -> bool:
        return self._health(deployment, timeout) is not None

    def served_model(self, deployment: Deployment, timeout: float = 2.0) -> str | None:
        """The id of the model the running server scores with (None if it does not answer)."""
        found = self._health(deployment, timeout)
        return str(found["model_id"]) if found and "model_id" in found else None

    def start(self, deployment: Deployment | str, timeout: float = 60.0) -> Deployment:
        """Start the deployment's server unless it already runs; returns once it answers /health."""
        dep = self.get(_id_of(deployment))
        if self.pid(dep) is not None and self.is_healthy(dep):
            if self.served_model(dep) != dep.model_id:  # a switch interrupted after the folder changed
                self._tell_server(dep)
            return dep
        self.stop(dep)
        host, port = dep.config["host"], int(dep.config["port"])
        if not port_is_free(host, port):
            moved = free_port(host, self.workspace.ports, self.ports_in_use())
            write_json_atomic(dep.path / DEPLOYMENT_FILE, on_port(dep.config, moved))
            dep = self.get(dep.deployment_id)
        log = (dep.path / LOG_FILE).open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", SERVE_MODULE, str(dep.path)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=dep.path, env=env,
                                start_new_session=True)
        log.close()
        STARTED[proc.pid] = proc
        (dep.path / PID_FILE).write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                STARTED.pop(proc.pid, None)
                (dep.path / PID_FILE).unlink(missing_ok=True)
                raise DeploymentError(f"deployment {dep.name!r} failed to start:\n{self.log_tail(dep)}")
            if self.is_healthy(dep, timeout=1.0):
                return dep
            time.sleep(0.05)
        self.stop(dep)
        raise DeploymentError(f"deployment {dep.name!r} did not answer within {timeout:.0f} s:\n{self.log_tail(dep)}")

    def stop(self, deployment: Deployment | str, timeout: float = 10.0) -> bool:
        """Stop the deployment's server (SIGTERM, then SIGKILL). True if one was running."""
        dep = self.get(_id_of(deployment))
        for started_pid, handle in list(STARTED.items()):  # servers that ended on their own (killed, crashed)
            if handle.poll() is not None:
                del STARTED[started_pid]
        pid = self.pid(dep)
        if pid is None:
            (dep.path / PID_FILE).unlink(missing_ok=True)
            return False
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            if not _ended(proc, timeout):
                proc.kill()
                if not _ended(proc, timeout):
                    raise DeploymentError(f"deployment {dep.name!r}: its server (pid {pid}) did not end when killed")
        except psutil.NoSuchProcess:
            pass
        started = STARTED.pop(pid, None)
        if started is not None:
            started.wait(timeout)  # reaped by the process that started it: no zombie, no warning
        (dep.path / PID_FILE).unlink(missing_ok=True)
        return True

    def stop_all(self) -> list[str]:
        """Stop every running deployment of the workspace; returns the names of those stopped."""
        return [d.name for d in self.list() if self.stop(d)]

    def delete(self, deployment: Deployment | str, datamart: DataMart | None = None) -> None:
        """Stop and remove a deployment; its subscription is marked deleted, its payload log stays."""
        dep = self.get(_id_of(deployment))
        self.stop(dep)
        # retired first: the scheduler must never find a subscription whose deployment is gone
        if datamart is not None:
            datamart.retire_deployment(dep.deployment_id)
        else:
            own = DataMart(self.workspace.datamart_url)
            try:
                own.retire_deployment(dep.deployment_id)
            finally:
                own.close()
        shutil.rmtree(dep.path)

    def status(self) -> list[dict[str, Any]]:
        """One line per deployment: name, id, model version, running or not, URL."""
        rows = []
        for dep in self.list():
            pid = self.pid(dep)
            rows.append({"name": dep.name, "deployment_id": dep.deployment_id, "model_id": dep.model_id,
                         "model_version": dep.model_version, "running": pid is not None, "pid": pid,
                         "scoring_url": dep.scoring_url})
        return rows

    @staticmethod
    def log_tail(dep: Deployment, lines: int = 15) -> str:
        path = dep.path / LOG_FILE
        if not path.is_file():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
