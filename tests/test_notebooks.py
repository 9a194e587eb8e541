"""The lab's notebooks run end to end with papermill; the values they record are read back and checked."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.models.scorer import CompiledPipeline
from openscale_lab.notebook_runner import lab_notebooks, notebooks_dir, read_records, run_notebook
from openscale_lab.tutorial import DEPLOYMENT_NAME, FEATURE_COLUMNS, MODEL_NAME, TUTORIAL_APPLICATION, sample_payload
from openscale_lab.workspace import CONFIG_FILE, Workspace

from .helpers import assert_exercises_solved, workspace_after_notebook_01

pytestmark = [pytest.mark.notebooks, pytest.mark.spark]


def run(name: str, out: Path, **parameters: object) -> dict[str, object]:
    executed = run_notebook(notebooks_dir() / name, out, parameters)
    return read_records(executed)


@dataclass
class LabRun:
    """Notebooks 00 and 01 run once by the lab command in a fresh workspace: what it printed, the executed
    notebooks, and the values notebook 01 recorded."""

    workspace: Path
    output: Path
    done: subprocess.CompletedProcess[str]
    rec: dict[str, object]
    running_after: list[bool]  # the workspace's deployments as the command left them


@pytest.fixture(scope="module")
def notebook_01(suite_root: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`openscale-lab run-lab --only 00 01` in a fresh workspace (the README's command, as a learner starts)."""
    path, out = suite_root / "notebook-workspace", tmp_path_factory.mktemp("nb01")
    done = subprocess.run([sys.executable, "-m", "openscale_lab", "run-lab", "--workspace", str(path),
                           "--output", str(out), "--only", "00", "01", "-p", "SEED=24"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    running = [bool(row["running"]) for row in MLEngine(Workspace.open(path)).status()]
    yield LabRun(path, out, done, read_records(out / "01_train_and_deploy_model.ipynb"), running)
    if (path / CONFIG_FILE).is_file():
        lab.stop_lab(path)


@pytest.fixture
def workspace(notebook_01) -> Path:  # type: ignore[no-untyped-def]
    """The workspace notebook 01 made (tests that share it leave it with one deployment of the model)."""
    return notebook_01.workspace


def test_notebook_01_runs_alone_in_a_fresh_workspace(notebook_01, trained) -> None:  # type: ignore[no-untyped-def]
    workspace, rec = notebook_01.workspace, notebook_01.rec
    _, stored_model, reference = trained
    assert 0.7 <= rec["area_under_roc"] <= 1.0
    assert rec["area_under_roc"] == pytest.approx(reference.area_under_roc, abs=1e-9)  # seed 24, same split
    assert (rec["train_count"], rec["test_count"]) == (reference.train_count, reference.test_count)
    assert rec["train_count"] + rec["test_count"] == 5000
    assert rec["model_version"] == "1"
    assert rec["records_scored"] == 8 and rec["payload_count"] == 8
    assert rec["verified_rows"] > 500
    # the same seed trains the same model: the suite's own copy, compiled, predicts the same labels
    scorer = CompiledPipeline.from_spark_model(stored_model.spark_path, stored_model.input_schema)
    expected = [label for _, label, _ in scorer.score(sample_payload()["values"], FEATURE_COLUMNS)]
    assert rec["predicted_labels"] == expected
    ws = Workspace.open(workspace)
    dm = DataMart(ws.datamart_url)  # the deployment may since be replaced; its payload log stays
    subs = dm.list_subscriptions().set_index("deployment_id")
    logged = dm.get_payload(str(subs.loc[rec["deployment_id"], "subscription_id"]))
    dm.close()
    assert sorted(logged["scoring_id"]) == sorted(rec["transaction_ids"])
    assert rec["subscription_id"] == subs.loc[rec["deployment_id"], "subscription_id"]


def test_notebook_01_subscription_properties_are_checked_and_its_exercises_solved(notebook_01) -> None:  # type: ignore[no-untyped-def]
    workspace, rec = notebook_01.workspace, notebook_01.rec
    ws = Workspace.open(workspace)
    dm = DataMart(ws.datamart_url)
    try:
        binding_id = lab.bind_ml_engine(dm, ws)
        assert binding_id == lab.bind_ml_engine(dm, ws) and len(dm.list_bindings()) == 1  # the server's binding
        assets = lab.list_assets(ws).set_index("deployment_id")
        assert list(assets.index) == [rec["deployment_id"]]
        fit = {"binding_id": binding_id, "label_column": "Risk", "prediction_field": "predictedLabel",
               "probability_fields": ["probability"], "feature_fields": list(reversed(FEATURE_COLUMNS)),
               "categorical_fields": assets.loc[rec["deployment_id"], "categorical_fields"]}
        again = lab.subscribe(dm, ws, rec["deployment_id"], **fit)
        assert again.subscription_id == rec["subscription_id"]  # subscribing again returns the subscription
        for name, value, says in [("label_column", "Outcome", "it is 'Risk'"),
                                  ("prediction_field", "prediction", "it is 'predictedLabel'"),
                                  ("probability_fields", ["prob"], "it is ['probability']"),
                                  ("feature_fields", FEATURE_COLUMNS[:-1], "missing: ['ForeignWorker']"),
                                  ("categorical_fields", ["Sex", "Age"], "not in it: ['Age']"),
                                  ("binding_id", "nope", "no binding 'nope'")]:
            with pytest.raises(lab.LabError, match=f"{name if name != 'binding_id' else ''}.*{re.escape(says)}"):
                lab.subscribe(dm, ws, rec["deployment_id"], **{**fit, name: value})
        other = lab.bind_ml_engine(dm, ws, name="Another engine")
        with pytest.raises(lab.LabError, match=f"subscribed already, through binding '{binding_id}'"):
            lab.subscribe(dm, ws, rec["deployment_id"], **{**fit, "binding_id": other})
        assert len(dm.list_subscriptions()) == 1  # nothing was added by the refused calls
    finally:
        dm.close()
    answers = assert_exercises_solved("01", ws)
    assert answers["exercise_01_1"] == rec["predicted_labels"].count("Risk")


def test_notebook_00_reuses_the_workspace(workspace: Path, tmp_path: Path) -> None:
    rec = run("00_provision_services.ipynb", tmp_path, WORKSPACE=str(workspace))
    assert rec["created"] is False and rec["reset"] is False
    assert rec["datamart_dialect"] == "sqlite"
    assert {"bindings", "subscriptions"} < set(rec["datamart_tables"])
    assert any(t.startswith("payload_") for t in rec["datamart_tables"])
    answers = assert_exercises_solved("00", workspace)
    assert answers["exercise_00_1"] == sum(t.startswith("payload_") for t in rec["datamart_tables"]) >= 1
    shutil.rmtree(str(answers["exercise_00_2"]))  # the second workspace the solution provisioned


def test_notebook_02_runs_alone_and_its_results_are_in_the_data_mart(tmp_path: Path, trained, deployment) -> None:  # type: ignore[no-untyped-def]
    """Alone, in a workspace as notebook 01 leaves it (the suite's model and deployment, copied: notebook 03's test
    on PostgreSQL trains and deploys one alone): it starts the deployment, then configures and runs every monitor."""
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import roc_auc_score

    from openscale_lab.data import load_feedback_data
    from openscale_lab.monitors import Monitoring

    workspace = tmp_path / "ws"
    workspace_after_notebook_01(workspace, trained[1], deployment)
    rec = run("02_configure_monitors.ipynb", tmp_path / "out", WORKSPACE=str(workspace), SCORE_RECORDS=200)
    ws = Workspace.open(workspace)
    try:
        dep = MLEngine(ws).list()[0]
        mon = Monitoring.for_deployment(ws, dep)
        assert rec["quality_status_before_feedback"] == "not_evaluated" and rec["feedback_records"] == 98
        feedback = load_feedback_data()
        _, probs = mon.ctx.scorer.predict_frame(feedback)
        risk = mon.ctx.labels.index("Risk")
        assert rec["area_under_roc"] == pytest.approx(roc_auc_score(feedback["Risk"] == "Risk", probs[:, risk]))
        stored = mon.measurements()
        assert len(stored) == rec["measurements"] == 6
        assert list(stored["monitor"]) == ["quality", "quality", "fairness", "drift", "drift", "model_health"]
        fairness = stored[stored["monitor"] == "fairness"].iloc[-1]
        payload = mon.ctx.payload(fairness["window_start"].to_pydatetime(), fairness["window_end"].to_pydatetime())
        assert len(payload) == rec["fairness_records"] == 208  # the eight applicants and 200 from the feed
        fav = (payload["predictedLabel"] == "No Risk").astype(int)
        by_sex = MetricFrame(metrics=selection_rate, y_true=fav, y_pred=fav, sensitive_features=payload["Sex"]).by_group
        assert rec["fairness_sex"] == pytest.approx(by_sex["female"] / by_sex["male"])
        assert abs(rec["fairness_sex_by_hand"] - rec["fairness_sex"]) <= 1e-12  # the notebook's pandas, same records
        assert rec["biased_transactions"] == len(mon.fairness.biased_transactions(fairness["measurement_id"]))
        drift, shifted = (row for _, row in stored[stored["monitor"] == "drift"].iterrows())
        assert rec["drift_magnitude"] == pytest.approx(drift["metrics"]["drift_magnitude"])
        assert rec["drift_feed_alerts"] == []  # the tutorial's own traffic: no false alarm
        assert {"data_drift_magnitude", "feature_drift"} <= set(rec["drift_shifted_alerts"])
        window = mon.ctx.payload(shifted["window_start"].to_pydatetime(), shifted["window_end"].to_pydatetime())
        bad, _ = mon.drift.constraints().check(window)
        assert len(window) == 408 and rec["data_drift_magnitude_shifted"] == pytest.approx(bad.mean())
        assert rec["inconsistent_transactions"] == bad.sum() > 50
        assert any("above the training range" in r for r in rec["inconsistent_reasons"])
        assert rec["feedback_estimates"] == pytest.approx(mon.drift.estimate_accuracy(feedback))
        assert rec["feedback_accuracy"] == pytest.approx(
            np.mean(np.asarray(mon.ctx.labels, dtype=object)[probs.argmax(axis=1)] == feedback["Risk"]))
        explanation = mon.explanations.stored(rec["explained_transaction"])
        assert rec["explanation_top_feature"] in FEATURE_COLUMNS
        assert explanation["lime"]["features"][0]["feature"] == rec["explanation_top_feature"]
        assert rec["alerts"] == len(mon.alerts())
        assert len(rec["debiased_labels"]) == 8 and rec["health_records"] == 408
        assert rec["health_status_disabled_enabled"] == ["not enabled", "enabled"]
        assert {"Risk", "Sex", "Age"} <= set(rec["feedback_columns"])
        # the command line evaluates the same windows to the same numbers as the notebook
        windows = {m: stored[stored["monitor"] == m].iloc[-1] for m in ("quality", "fairness")}
        for name, key, metric in (("quality", "area_under_roc", "area_under_roc"), ("fairness", "fairness_sex", "Sex")):
            row = windows[name]
            start = ["--start", row["window_start"].isoformat()] if pd.notna(row["window_start"]) else []
            cli = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(workspace), "monitor",
                                  "run", "--monitor", name, *start, "--end", row["window_end"].isoformat(), "--json"],
                                 capture_output=True, text=True, timeout=300)
            assert cli.returncode == 0, cli.stderr[-2000:]
            (printed,) = json.loads(cli.stdout)
            assert printed["monitor"] == name and printed["metrics"][metric] == pytest.approx(rec[key])
        again = run("02_configure_monitors.ipynb", tmp_path / "again", WORKSPACE=str(workspace), SCORE_RECORDS=200)
        assert again["feedback_records"] == 98  # run again: the feedback file is logged once
        assert mon.feedback.count() == 98
        mon.close()
        assert_exercises_solved("02", ws)
    finally:
        lab.stop_lab(ws)


def check_notebook_03(rec: dict[str, object], ws: Workspace) -> None:
    from openscale_lab.monitors.base import MonitorStore

    dm = DataMart(ws.datamart_url)
    try:
        sub = dm.get_subscription(rec["subscription_id"])
        payload = dm.get_payload(sub)
        assert rec["custom_registered_once"] is True and rec["custom_alert_metrics"] == ["sensitivity"]
        assert rec["distribution_total"] == rec["payload_count"] == len(payload) == rec["business_records"]
        counts = payload.groupby(["predictedLabel", "Sex"]).size()
        assert rec["distribution_by_sex"] == {f"{a}/{b}": int(n) for (a, b), n in counts.items()}
        assert sum(rec["accepted_credits"]) == int((payload["predictedLabel"] == "No Risk").sum())
        kpis = MonitorStore(dm).measurements(sub.subscription_id, "business_kpis")
        limits = {m["name"]: m["lower_limit"] for m in TUTORIAL_APPLICATION["business_metrics"]}
        assert rec["kpi_alerts"] == sum(value < limits[kpi] for day in kpis["metrics"] for kpi, value in day.items())
        store = MonitorStore(dm)
        custom = store.measurements(sub.subscription_id, "my model performance")
        assert len(custom) == rec["custom_values"] == 2
        cm = store.measurements(sub.subscription_id, "quality")["details"].iloc[-1]["confusion_matrix"]
        assert rec["sensitivity"] == pytest.approx(cm["tp"] / (cm["tp"] + cm["fn"]))
        assert len(store.measurements(sub.subscription_id, "business_kpis")) == len(rec["accepted_credits"])
    finally:
        dm.close()


def test_notebook_03_on_sqlite(workspace: Path, tmp_path: Path) -> None:
    rec = run("03_custom_monitors_and_business_kpis.ipynb", tmp_path, WORKSPACE=str(workspace))
    assert rec["datamart_dialect"] == "sqlite"
    check_notebook_03(rec, Workspace.open(workspace))
    assert_exercises_solved("03", workspace)


def test_notebook_03_alone_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    rec = run("03_custom_monitors_and_business_kpis.ipynb", tmp_path / "out", WORKSPACE=str(tmp_path / "ws"),
              DATAMART_URL=postgres_url, SCORE_RECORDS=150)
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert rec["datamart_dialect"] == "postgresql" and rec["payload_count"] == 150
        check_notebook_03(rec, ws)
    finally:
        lab.stop_lab(ws)


def test_notebook_00_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    rec = run("00_provision_services.ipynb", tmp_path / "out", WORKSPACE=str(tmp_path / "ws"),
              DATAMART_URL=postgres_url)
    assert rec["created"] is True and rec["datamart_dialect"] == "postgresql"
    from openscale_lab.datamart.tables import metadata

    assert rec["datamart_tables"] == sorted(metadata.tables)


def test_lab_command_runs_the_notebooks_and_leaves_no_server(notebook_01: LabRun) -> None:
    """The lab command's own work, in its run of notebooks 00 and 01 (every notebook in order, in one workspace, is
    tests/test_nbval.py's run)."""
    workspace, done, out = notebook_01.workspace, notebook_01.done, notebook_01.output
    refused = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(workspace), "run-lab",
                              "-p", "WEEKS=2"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "no notebook has a parameter WEEKS" in refused.stderr
    names = [p.name for p in lab_notebooks()][:2]
    assert sorted(p.name for p in out.glob("*.ipynb")) == names
    assert str(out / names[0]) in done.stdout and f"--workspace {workspace} deployment start" in done.stdout
    assert "Traceback" not in done.stderr and "WARN" not in done.stderr, done.stderr[-3000:]
    assert notebook_01.rec["model_version"] == "1" and notebook_01.running_after == [False]
    status = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(workspace), "deployment",
                             "start"], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "running at http://127.0.0.1:" in status.stdout
    stopped = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(workspace), "deployment",
                              "stop"], capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0 and ": stopped" in stopped.stdout


def test_rerunning_notebook_01_replaces_its_model_and_deployment(tmp_path: Path, trained, spark) -> None:  # type: ignore[no-untyped-def]
    """Notebook 01's steps again, as its calls make them, in a workspace it left: the earlier deployment and model
    are removed (the subscription marked deleted, its payload log kept), the new model is the next version and is
    deployed under the same name."""
    result = trained[2]
    ws = lab.provision(tmp_path / "ws").workspace
    engine = MLEngine(ws)
    try:
        model = lab.publish_model(ws, result, MODEL_NAME)
        old = lab.deploy_model(ws, model, spark, DEPLOYMENT_NAME)  # a server subscribes itself as it starts
        assert len(lab.score(old, sample_payload())["values"]) == 8
        removed = lab.remove_earlier(ws, MODEL_NAME, DEPLOYMENT_NAME)
        assert removed == [f"deployment {DEPLOYMENT_NAME} ({old.deployment_id})",
                           f"model {MODEL_NAME} v1 ({model.model_id})"]
        new_model = lab.publish_model(ws, result, MODEL_NAME)
        new = lab.deploy_model(ws, new_model, spark, DEPLOYMENT_NAME)
        assert (model.version, new_model.version) == ("1", "2")
        assert [d.deployment_id for d in engine.list()] == [new.deployment_id] != [old.deployment_id]
        dm = DataMart(ws.datamart_url)
        try:
            subs = dm.list_subscriptions().set_index("deployment_id")
            assert list(subs.loc[[old.deployment_id, new.deployment_id], "status"]) == ["deleted", "active"]
            assert dm.payload_count(subs.loc[old.deployment_id, "subscription_id"]) == 8  # it stays
        finally:
            dm.close()
    finally:
        engine.stop_all()


def test_committed_notebooks_are_clean_and_parameterised() -> None:
    appendices = sorted(notebooks_dir().glob("appendix_*.ipynb"))
    assert [p.name for p in appendices] == ["appendix_ibm_sdk.ipynb"]
    for path in [*lab_notebooks(), *appendices]:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), f"{path.name} has outputs"
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{path.name}: first code cell is not parameters"
        assert "WORKSPACE" in "".join(code[0]["source"])
        assert "lab.record(" in "".join(code[-1]["source"]), f"{path.name}: last code cell records no results"


def test_every_notebook_teaches_checks_itself_and_hides_its_plumbing() -> None:
    """Each notebook: 'Try it' exercises whose checks exist and have worked solutions, a 'What you learned' with a
    link to the next notebook, and the results cell for the tests tagged and hidden."""
    solutions = Path(__file__).resolve().parent.parent / "solutions"
    paths = lab_notebooks()
    for i, path in enumerate(paths):
        cells = json.loads(path.read_text())["cells"]
        text = ["".join(c["source"]) for c in cells]
        checks = [m for t in text for m in re.findall(r"lab\.check\.(exercise_\d\d_\d)\(answer", t)]
        assert len(checks) >= 2 and len(set(checks)) == len(checks), f"{path.name}: {checks}"
        for name in checks:
            assert name.startswith(f"exercise_{path.name[:2]}_"), f"{path.name}: {name}"
            assert callable(getattr(lab.check, name)) and (solutions / f"{name}.py").is_file(), name
        assert sum(t.startswith("### Try it") for t in text) == len(checks), path.name
        tagged = [t for c, t in zip(cells, text) if "exercise" in c["metadata"].get("tags", [])]
        assert len(tagged) == 2 * len(checks) and all(t.startswith("### Try it") or "lab.check." in t
                                                      for t in tagged), f"{path.name}: untagged exercise cells"
        learned = text[-2]
        assert cells[-2]["cell_type"] == "markdown" and learned.startswith("## What you learned"), path.name
        if i + 1 < len(paths):
            assert f"({paths[i + 1].name})" in learned, f"{path.name} does not link to {paths[i + 1].name}"
        meta = cells[-1]["metadata"]
        assert "record" in meta.get("tags", []) and meta.get("jupyter", {}).get("source_hidden"), path.name


def test_ibm_sdk_appendix_reads_the_labs_own_measurements(workspace: Path, tmp_path: Path) -> None:
    """IBM's SDK (the pinned `ibm-watson-openscale`) runs the tutorial's monitoring flow against the lab: every
    number it reads is the lab's own measurement, exactly (fairness in percent), and so is the explanation."""
    rec = run("appendix_ibm_sdk.ipynb", tmp_path, WORKSPACE=str(workspace))
    ws = Workspace.open(workspace)
    assert rec["payload_after"] == rec["payload_before"] + 200 + 8 and rec["payload_store_state"] == "active"
    assert rec["quality_run_state"] == "finished"
    [deployment] = MLEngine(ws).list()
    monitoring = lab.Monitoring.for_deployment(ws, deployment)
    try:
        assert rec["subscription_id"] == monitoring.subscription.subscription_id
        quality, fairness, drift = (monitoring.monitor(m).latest() for m in ("quality", "fairness", "drift"))
        assert (quality.measurement_id, fairness.measurement_id, drift.measurement_id) == (
            rec["quality_run"], rec["fairness_run"], rec["drift_run"])
        assert rec["sdk_area_under_roc"] == quality.metrics["area_under_roc"]
        assert rec["sdk_fairness"] == {f: 100 * fairness.metrics[f] for f in ("Sex", "Age")}
        runs = monitoring.fairness.measurements().query("status == 'evaluated'")
        assert rec["sdk_fairness_week"] == {f: [100 * fairness.metrics[f], len(runs)] for f in ("Sex", "Age")}
        assert fairness.record_count >= 200 and quality.record_count == 98
        assert rec["sdk_drift_magnitude"] == drift.metrics["drift_magnitude"]
        assert rec["sdk_predicted_accuracy"] == drift.metrics["predicted_accuracy"]
        # the SDK's configuration reached the lab's monitors, in the lab's units
        assert monitoring.quality.config().threshold == 0.7 and monitoring.quality.config().min_records == 50
        assert monitoring.fairness.config().threshold == 0.95
        assert {s["feature"]: s.get("threshold") for s in monitoring.fairness.config().features} == {
            "Sex": None, "Age": 0.9}
        lime = monitoring.explanations.lime(rec["explained_scoring_id"])
        assert [(f["feature_name"], f["feature_value"], f["weight"]) for f in rec["sdk_lime"]] == [
            (f["feature"], f["value"], f["weight"]) for f in lime["features"]]
        contrastive = monitoring.explanations.contrastive(rec["explained_scoring_id"])
        assert rec["sdk_contrastive"]["pertinent_negative"] == contrastive["pertinent_negative"]
        custom = monitoring.custom("sdk model performance").values()
        assert list(custom[["sensitivity", "specificity", "region"]].iloc[-1]) == [0.67, 0.78, "us-south"]
        assert set(monitoring.alerts("sdk model performance")["metric"]) == {"sensitivity"}  # 0.67 < 0.9
        every_call_the_sdk_parses(ws, rec)
    finally:
        monitoring.close()
    assert lab.service_status(ws) is not None
    lab.stop_lab(ws)
    assert lab.service_status(ws) is None


def every_call_the_sdk_parses(ws: Workspace, rec: dict[str, object]) -> None:
    """Reading calls the notebook does not make, through IBM's SDK: each answer parses into the SDK's models."""
    from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator
    from ibm_watson_openscale import APIClient

    service = lab.service_status(ws)
    client = APIClient(authenticator=BearerTokenAuthenticator(bearer_token=service.token), service_url=service.url,
                       service_instance_id=service.instance_id)
    instances = client.monitor_instances.list(target_target_id=rec["subscription_id"]).result.monitor_instances
    assert {i.entity.monitor_definition_id for i in instances} >= {"quality", "fairness", "drift", "explainability",
                                                                    "performance"}
    quality_id = f"{rec['subscription_id']}-quality"
    assert client.monitor_instances.get(quality_id).result.entity.parameters["min_feedback_data_size"] == 50
    runs = client.monitor_instances.list_runs(quality_id).result.runs
    assert rec["quality_run"] in [r.metadata.id for r in runs]
    run = client.monitor_instances.get_run_details(quality_id, rec["quality_run"]).result
    assert run.entity.status.state == "finished"
    measurement = client.monitor_instances.get_measurement_details(quality_id, rec["quality_run"]).result
    assert {m.id for v in measurement.entity.values for m in v.metrics} >= {"area_under_roc", "f1_measure"}
    tasks = client.monitor_instances.get_all_explaination_tasks(subscription_id=rec["subscription_id"]).result
    assert tasks.total_count == 1 and tasks.explanation_values[0][1] == rec["explained_scoring_id"]
    sub = client.subscriptions.get(rec["subscription_id"]).result
    assert sub.entity.asset_properties.label_column == "Risk"
    assert client.service_providers.get(sub.entity.service_provider_id).result.entity.name == "OpenScale Lab ML engine"
    definitions = client.monitor_definitions.list().result.monitor_definitions
    assert {"sdk model performance", "Quality", "Fairness", "Drift"} <= {d.entity.name for d in definitions}
    payload = client.data_sets.get(f"{rec['subscription_id']}-payload_logging").result
    assert payload.entity.type == "payload_logging" and payload.entity.target.target_id == rec["subscription_id"]
    client.monitor_instances.delete(quality_id, background_mode=True)
    assert lab.Monitoring.for_deployment(ws, MLEngine(ws).list()[0]).quality.enabled is False
