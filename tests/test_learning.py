"""Continuous learning: redeploying in place under load, rolling back, the learning system's decisions and
refusals, an interrupted retrain, and notebook 06 on its own."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import requests

import openscale_lab as lab
from openscale_lab import cli
from openscale_lab.core.clock import utcnow
from openscale_lab.datamart.database import DataMart
from openscale_lab.datamart.feedback import FeedbackLog, feedback_table
from openscale_lab.deployments.artifacts import MODEL_VERSION_HEADER, SCORER_FILE
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.errors import DeploymentError, LearningError
from openscale_lab.learning import LearningConfig, LearningSystem
from openscale_lab.learning.system import DEPLOYED, KEPT, NOT_RETRAINED, TOO_LITTLE
from openscale_lab.models.repository import ModelRepository
from openscale_lab.models.scorer import CompiledPipeline
from openscale_lab.notebook_runner import notebooks_dir, read_records, run_notebook
from openscale_lab.tutorial import FEATURE_COLUMNS

from .helpers import assert_exercises_solved, copy_deployment, workspace_after_notebook_01

CLIENTS = 8


def test_learning_settings_are_checked_by_name() -> None:
    assert LearningConfig().retrain == "conditionally" and LearningConfig().redeploy == "conditionally"
    for bad, word in [({"retrain": "sometimes"}, "retrain"), ({"redeploy": 1}, "redeploy"),
                      ({"source": "elsewhere"}, "source"), ({"metric": "log_loss"}, "metric"),
                      ({"min_feedback": 0}, "min_feedback"), ({"margin": -0.1}, "margin"),
                      ({"holdout": 1.0}, "holdout"), ({"training_data": "all"}, "training_data"),
                      ({"num_trees": True}, "num_trees")]:
        with pytest.raises(LearningError, match=word):
            LearningConfig(**bad)
    with pytest.raises(LearningError, match="unknown learning setting"):
        LearningConfig.from_dict({"min_feedback_data_size": 5})


@pytest.fixture(scope="module")
def served(suite_root: Path, trained, deployment, spark):  # type: ignore[no-untyped-def]
    """A workspace of its own serving the suite's model (v1, copied: no second check against Spark), and a
    second model of the same name (v2: fewer, shallower trees, another seed) in its repository."""
    from openscale_lab.models.training import train_model

    _, model, _ = trained
    ws = lab.provision(suite_root / "learning-workspace").workspace
    dep = copy_deployment(model, deployment, ws)
    engine = MLEngine(ws)
    dep = engine.start(dep)
    other = lab.publish_model(ws, train_model(spark, seed=3, num_trees=8, max_depth=4))
    yield ws, engine, dep, ModelRepository(ws).get(model.model_id), other
    engine.stop_all()


def _client(url: str, feed: list[list[object]], seed: int, stop: threading.Event, out: list[dict]) -> None:
    rng = np.random.default_rng(seed)
    with requests.Session() as http:
        while not stop.is_set():
            rows = [feed[i] for i in rng.integers(0, len(feed), int(rng.integers(1, 4)))]
            t0 = time.perf_counter()
            reply = http.post(url, json={"fields": FEATURE_COLUMNS, "values": rows}, timeout=30)
            elapsed = time.perf_counter() - t0
            body = reply.json() if reply.status_code == 200 else None
            out.append({"status": reply.status_code, "version": reply.headers.get(MODEL_VERSION_HEADER),
                        "ids": [v[-1] for v in body["values"]] if body else [],
                        "probabilities": [v[-2] for v in body["values"]] if body else [],
                        "seconds": elapsed, "at": time.perf_counter()})


def test_redeploy_and_rollback_under_load_drop_nothing(served, spark) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, second = served
    feed = lab.load_scoring_feed()["values"]
    dm = DataMart(ws.datamart_url)
    sub = dm.subscription_for_deployment(dep.deployment_id)
    logged_before = dm.payload_count(sub)
    stop = threading.Event()
    replies: list[list[dict]] = [[] for _ in range(CLIENTS)]
    threads = [threading.Thread(target=_client, args=(dep.scoring_url, feed, i, stop, replies[i]))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        redeployed = engine.redeploy(dep, second, spark)
        time.sleep(1.0)
        rolled_back = engine.rollback(dep)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    # the same deployment, id and scoring URL throughout; its history says what served when
    assert redeployed.scoring_url == rolled_back.scoring_url == dep.scoring_url
    assert [h["action"] for h in rolled_back.history][-3:] == ["deploy", "redeploy", "rollback"]
    assert [h["model_version"] for h in rolled_back.history][-3:] == ["1", "2", "1"]
    assert requests.get(dep.health_url, timeout=5).json()["model_version"] == "1"
    every = [r for client in replies for r in client]
    assert len(every) > 100 and {r["status"] for r in every} == {200}  # no request refused or lost
    acknowledged = {tid: (r["version"], p) for r in every for tid, p in zip(r["ids"], r["probabilities"])}
    assert {r["version"] for r in every} == {"1", "2"}
    sub = dm.subscription_for_deployment(dep.deployment_id)
    payload = dm.get_payload(sub)
    dm.close()
    assert sub.model_version == "1" and sub.model_id == first.model_id
    assert len(payload) - logged_before == len(acknowledged)  # every acknowledged record, and nothing else
    payload = payload[payload["scoring_id"].isin(acknowledged)].reset_index(drop=True)
    assert len(payload) == len(acknowledged)
    scorers = {m.version: CompiledPipeline.load(dep.path / "served" / m.model_id / SCORER_FILE)
               for m in (first, second)}
    rescored = {v: s.score(payload[FEATURE_COLUMNS].values.tolist(), FEATURE_COLUMNS) for v, s in scorers.items()}
    for i, row in enumerate(payload.itertuples()):
        version, probability = acknowledged[row.scoring_id]
        assert row.model_version == version  # the reply's version is the logged one
        assert list(row.probability) == probability == rescored[version][i][2]  # and it scored the row
    differ = sum(rescored["1"][i][2] != rescored["2"][i][2] for i in range(len(payload)))
    assert differ > len(payload) / 2  # the two models tell their records apart


def test_a_switch_cut_short_after_the_folder_changed_is_finished_by_start(served, spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, second = served
    monkeypatch.setattr(MLEngine, "_tell_server", lambda self, d, timeout=30.0: None)  # killed right there
    engine.redeploy(dep, second, spark)
    monkeypatch.undo()
    assert engine.get(dep.deployment_id).model_version == "2"
    assert requests.get(dep.health_url, timeout=5).json()["model_version"] == "1"  # the server did not hear it
    engine.start(dep)  # what every notebook calls first: it finishes the switch
    health = requests.get(dep.health_url, timeout=5).json()
    assert (health["model_id"], health["model_version"]) == (second.model_id, "2")
    engine.rollback(dep)
    assert requests.get(dep.health_url, timeout=5).json()["model_version"] == "1"


def test_a_redeploy_while_stopped_names_the_model_and_drift_rebuilds_for_it(served, spark) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, second = served
    monitoring = lab.Monitoring.for_deployment(ws, dep)
    monitoring.drift.enable(min_records=1)
    monitoring.close()
    engine.stop(dep)
    try:
        engine.redeploy(dep, second, spark)
        dm = DataMart(ws.datamart_url)
        sub = dm.subscription_for_deployment(dep.deployment_id)
        dm.close()
        assert (sub.model_id, sub.model_version) == (second.model_id, "2")  # no server needed for that
        monitoring = lab.Monitoring.for_deployment(ws, dep)
        assert monitoring.drift.config().model_id == first.model_id
        monitoring.drift.run()  # built for v1, v2 serves: the drift model and constraints are learnt again
        assert monitoring.drift.config().model_id == second.model_id
        monitoring.drift.disable()
        monitoring.close()
    finally:
        engine.start(dep)
        engine.rollback(dep, to_model_id=first.model_id)
    assert requests.get(dep.health_url, timeout=5).json()["model_id"] == first.model_id


def test_a_model_that_cannot_replace_in_place_changes_nothing(served, spark) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, second = served
    before = engine.get(dep.deployment_id).config
    odd = ModelRepository(ws).update(second.model_id, labels=["Risk", "No Risk"])
    try:
        with pytest.raises(DeploymentError, match="input fields or labels differ"):
            engine.redeploy(dep, odd, spark)
    finally:
        ModelRepository(ws).update(second.model_id, labels=second.metadata["labels"])
    assert engine.get(dep.deployment_id).config == before
    assert requests.get(dep.health_url, timeout=5).json()["model_version"] == before["model"]["version"]


def _log_training_rows_as_feedback(ws, dep, n: int) -> None:  # type: ignore[no-untyped-def]
    """`n` rows of the training data (true labels) logged as live feedback (again: nothing new)."""
    dm = DataMart(ws.datamart_url)
    sub = dm.subscription_for_deployment(dep.deployment_id)
    rows = lab.load_training_data().sample(n, random_state=5)
    FeedbackLog(dm, sub, dep.config["model"]["labels"]).log(rows)
    dm.close()


def test_learning_system_refusals_leave_the_champion_serving(served) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, _ = served
    _log_training_rows_as_feedback(ws, dep, 1200)
    ws.update_config(learning={})  # no earlier iteration: every logged record is new to the learning system
    system = LearningSystem(ws, dep)
    with pytest.raises(LearningError, match="not configured"):
        system.run()
    with pytest.raises(LearningError, match="min_feedback_size"):
        system.configure(min_feedback_size=5)
    # too little feedback: no iteration
    system.configure(min_feedback=5000)
    run = system.run(progress=False)
    have = len(run.window.records)  # identical training rows are one feedback record
    assert run.decision == TOO_LITTLE and 1150 < have <= 1200 and f"{have} live" in run.reason and "5000" in run.reason
    # conditionally: a champion above its threshold is not retrained
    system.configure(min_feedback=100)
    run = system.run(progress=False)
    assert run.decision == NOT_RETRAINED and run.champion_metric > 0.7 and run.challenger is None
    # a worse challenger (one shallow tree) is refused under `conditionally` and kept out of service
    system.configure(min_feedback=100, retrain="always", num_trees=1, max_depth=1)
    run = system.run(progress=False)
    assert run.decision == KEPT and not run.deployed, run.reason
    assert run.comparison.gain < 0.01 and "keeps serving" in run.reason
    assert run.challenger.refused and not run.challenger.servable
    assert run.challenger.metadata["learning"]["parent_model_id"] == first.model_id
    assert ModelRepository(ws).latest(first.name).model_id != run.challenger.model_id
    # its feedback is learnt from: the next window starts where this one ended (WML's `_training` mark)
    assert system.run(progress=False).decision == TOO_LITTLE
    health = requests.get(dep.health_url, timeout=5).json()
    assert health["model_id"] == first.model_id == engine.get(dep.deployment_id).model_id
    # a label outside the model's classes is named with its record; nothing is trained
    dm = DataMart(ws.datamart_url)
    sub = dm.subscription_for_deployment(dep.deployment_id)
    table = feedback_table(sub)
    row = dict(lab.load_training_data().iloc[0], Risk="Maybe", feedback_id="bad-label-1", timestamp=utcnow())
    with dm.engine.begin() as conn:
        conn.execute(table.insert(), [row])
    before = len(ModelRepository(ws).list())
    with pytest.raises(LearningError, match="bad-label-1.*Maybe"):
        system.run(progress=False)
    with dm.engine.begin() as conn:
        conn.execute(table.delete().where(table.c.feedback_id == "bad-label-1"))
    dm.close()
    assert len(ModelRepository(ws).list()) == before


def test_a_live_quality_alert_runs_the_learning_system_when_asked(served) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.learning import LearningScheduler

    ws, engine, dep, first, _ = served
    _log_training_rows_as_feedback(ws, dep, 1200)
    ws.update_config(learning={})  # no earlier iteration: every logged record is new to the learning system
    monitoring = lab.Monitoring.for_deployment(ws, dep)
    monitoring.quality.enable(threshold=0.99, min_records=50)  # no model reaches it: an alert, surely
    sub_id = monitoring.subscription.subscription_id
    monitoring.close()
    try:
        LearningSystem(ws, dep).configure(min_feedback=100, retrain="conditionally", threshold=0.99,
                                          redeploy="always", training_data="feedback")
        plain = lab.Scheduler(ws)  # off by default: the alert is raised, nothing is retrained
        [m] = plain.run_pending()
        plain.close()
        assert m.monitor == "quality" and m.alerts
        assert engine.get(dep.deployment_id).model_id == first.model_id
        learned: list[object] = []
        scheduler = LearningScheduler(ws, on_learning=learned.append)
        [m] = scheduler.run_pending(utcnow() + timedelta(hours=2))
        assert m.alerts and len(scheduler.runs) == 1 and learned == scheduler.runs
        run = scheduler.runs[0]
        assert run.decision == DEPLOYED and run.champion_metric < 0.99 and "redeploy is always" in run.reason
        assert requests.get(dep.health_url, timeout=5).json()["model_id"] == run.challenger.model_id
        assert scheduler.monitoring(sub_id).subscription.model_id == run.challenger.model_id  # opened again
        scheduler.close()
    finally:
        monitoring = lab.Monitoring.for_deployment(ws, dep)
        monitoring.quality.disable()
        monitoring.close()
        engine.rollback(dep, to_model_id=first.model_id)


def test_an_interrupted_retrain_leaves_repository_and_deployment_consistent(served, spark, capsys) -> None:  # type: ignore[no-untyped-def]
    ws, engine, dep, first, _ = served
    _log_training_rows_as_feedback(ws, dep, 1200)  # the same records as the test before: stored once
    command = [sys.executable, "-m", "openscale_lab", "--workspace", str(ws.root), "retrain",
               "--deployment", dep.name, "--source", "live", "--min-feedback", "100", "--retrain", "always",
               "--redeploy", "always", "--num-trees", "20", "--max-depth", "5", "--spark-master", "local[1]",
               "--since", "2000-01-01T00:00"]  # the feedback learnt from already, again
    models = ws.models_dir
    known = {p.name for p in models.iterdir()}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if {p.name for p in models.iterdir()} - known:  # the challenger is being written: kill it there
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the retrain ended before it wrote its challenger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # the repository lists only whole models, the deployment serves what its folder names
    repo = ModelRepository(ws)
    for model in repo.list():
        assert model.spark_path.is_dir() and (model.path / "evaluation_data.csv").is_file()
    current = engine.start(dep)
    health = requests.get(dep.health_url, timeout=5).json()
    assert health["model_id"] == current.model_id
    assert lab.score(current, lab.feed_sample(3))["values"]
    # and the next iteration runs to the end (in this process: Spark is up already)
    system = LearningSystem(ws, dep)
    assert system.config.retrain == "always"  # the command stored its settings before it was killed
    run = system.run(since=datetime(2000, 1, 1), spark=spark, progress=False)
    assert run.decision == DEPLOYED and run.deployed and run.window.summary()["records"] >= 100
    assert run.challenger.version not in ("1", current.model_version)
    health = requests.get(dep.health_url, timeout=5).json()
    assert health["model_version"] == run.serving_version == run.challenger.version
    lineage = repo.lineage(run.challenger.model_id)
    assert lineage[-1].model_id == first.model_id and lineage[0].metadata["learning"]["decision"] == DEPLOYED
    assert [h["action"] for h in engine.get(dep.deployment_id).history][-1] == "redeploy"
    # the command's JSON summary (its entry point, in this process): an iteration that does not retrain
    assert cli.main([*command[3:command.index("--retrain")], "--retrain", "never", "--since", "2000-01-01"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["decision"] == NOT_RETRAINED and summary["serving_version"] == run.challenger.version
    assert summary["feedback"]["records"] >= 100 and 0 < summary["champion_metric_on_window"] <= 1
    # rolled back from the command line, as a redeploy in reverse
    assert cli.main(["--workspace", str(ws.root), "deployment", "rollback", "--name", dep.name]) == 0
    assert f"now serving model v{current.model_version}" in capsys.readouterr().out
    assert requests.get(dep.health_url, timeout=5).json()["model_id"] == current.model_id


@pytest.mark.notebooks
def test_notebook_06_alone_closes_the_loop(suite_root: Path, tmp_path: Path, trained, deployment) -> None:  # type: ignore[no-untyped-def]
    """Alone, in a workspace as notebook 01 leaves it (the suite's model and deployment, copied: training and
    deploying are tested elsewhere): the week and its concept drift, then the learning system."""
    from openscale_lab.dashboard.data import InsightsData
    from openscale_lab.datamart.tables import REPLAY_PREFIX

    path = suite_root / "notebook-06-workspace"
    workspace_after_notebook_01(path, trained[1], deployment)
    # six days: the concept drift of day 3, two days of its feedback, the learning system on day 5, one day after
    executed = run_notebook(notebooks_dir() / "06_continuous_learning.ipynb", tmp_path,
                            {"WORKSPACE": str(path), "WEEK_DAYS": 6})
    rec = read_records(executed)
    try:
        ws = lab.Workspace.open(path)
        # the challenger beat the champion on the held-out post-drift feedback and was deployed in place
        assert rec["decision"] == DEPLOYED and rec["champion_version"] == "1"
        assert rec["serving_version"] == rec["challenger_version"] == "2"
        auc = rec["holdout_auc"]
        assert auc["challenger"] > auc["champion"] + 0.05, auc
        window = rec["feedback_window"]
        assert window["source"] == "story" and window["records"] >= 1000
        assert window["holdout_records"] == round(window["records"] * 0.25)
        assert window["train_records"] + window["holdout_records"] == window["records"]
        assert window["last_arrival"] < rec["redeployed_at"]  # only labels that had arrived
        # the week's quality after the redeployment is back above 0.7
        assert rec["quality_before_median"] < 0.75 < rec["quality_after_median"]
        assert rec["quality_after_min"] > 0.7 and rec["quality_after_hours"] >= 24
        assert rec["quality_alerts_after"] < rec["quality_alerts_before"]
        # every story record scored after the redeployment carries the challenger's version, and before it v1;
        # the same applicants as before the story went on with the challenger: as many records
        assert set(rec["payload_versions"]) == {"before:v1", "after:v2"}
        assert sum(rec["payload_versions"].values()) == rec["story_records_before_continuing"]
        assert rec["payload_versions"]["after:v2"] == rec["replayed_records"]
        # same deployment and URL; lineage in the repository and the deployment's history
        dep = MLEngine(ws).get(rec["deployment_id"])
        assert dep.scoring_url == rec["scoring_url"] and dep.model_version == "2"
        assert [h["action"] for h in dep.history] == ["deploy", "redeploy"]
        model = ModelRepository(ws).get(rec["challenger_model_id"])
        learning = model.metadata["learning"]
        assert model.metadata["parent_model_id"] == dep.history[0]["model_id"] and learning["decision"] == DEPLOYED
        assert learning["feedback"]["records"] == window["records"] and learning["comparison"]["gain"] > 0.05
        assert [r["type"] for r in model.metadata["training_data_references"]] == ["datamart_feedback"]
        assert len(model.metadata["evaluation_rows"]) == window["holdout_records"]
        # the dashboard marks the redeployment on the story's time series
        insights = InsightsData(ws)
        try:
            marks = insights.redeployments(dep_subscription(ws, dep), REPLAY_PREFIX)
        finally:
            insights.close()
        assert marks[["from_version", "to_version"]].values.tolist() == [["1", "2"]]
        assert datetime.fromisoformat(rec["redeployed_at"]) <= marks["time"].iloc[0].to_pydatetime()
        assert_exercises_solved("06", ws)  # read the stored learning run only
    finally:
        lab.stop_lab(path)


def dep_subscription(ws: lab.Workspace, dep) -> str:  # type: ignore[no-untyped-def]
    dm = DataMart(ws.datamart_url)
    try:
        return dm.subscription_for_deployment(dep.deployment_id).subscription_id
    finally:
        dm.close()
