"""Every public call checks its arguments: ids that would leave the workspace, a drift model file that was
replaced, the data mart file's mode, and arguments a database would refuse with its own error (on SQLite and
on PostgreSQL). Each refusal is a LabError subclass whose message names the argument."""
from __future__ import annotations

import functools
import os
import pickle
import stat
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

import openscale_lab as lab
from openscale_lab.core.clock import check_window
from openscale_lab.core.paths import child_folder
from openscale_lab.datamart.analytics import AnalyticsError, payload_distribution
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.artifacts import DEPLOYMENT_FILE
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.errors import DataMartError, DeploymentError, LabError, ModelRepositoryError
from openscale_lab.models.repository import METADATA_FILE, ModelRepository
from openscale_lab.monitors.business import BusinessApplications, BusinessError
from openscale_lab.monitors.custom import CustomMonitorError, CustomMonitors
from openscale_lab.monitors.drift import MODEL_FILE
from openscale_lab.monitors.drift_model import load_drift_model, save_drift_model, train_drift_model

from .helpers import T0, make_subscription, own_subscription, payload_rows

ESCAPING_IDS = ["../../outside", "../outside", "..", "", ".staging-abc", "a/b", "a\\b", "/tmp", "x\0y", "a" * 300,
                "\ud800", None, 12]


# -- ids that name folders ----------------------------------------------------------------------------------
@pytest.fixture
def workspace_beside_a_folder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A workspace, and beside it a folder that looks like both a stored model and a deployment."""
    report = lab.provision(tmp_path / "ws")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / METADATA_FILE).write_text('{"model_id": "outside", "name": "n", "version": "1"}')
    (outside / DEPLOYMENT_FILE).write_text('{"deployment_id": "outside", "name": "n"}')
    return report.workspace, outside


@pytest.mark.parametrize("bad_id", ESCAPING_IDS)
def test_model_and_deployment_ids_that_leave_their_folder_are_refused(workspace_beside_a_folder,  # type: ignore[no-untyped-def]
                                                                      bad_id: object) -> None:
    ws, outside = workspace_beside_a_folder
    repo, engine = ModelRepository(ws), MLEngine(ws)
    for call in (repo.get, repo.delete):
        with pytest.raises(ModelRepositoryError, match="model_id"):
            call(bad_id)  # type: ignore[arg-type]
    for call in (engine.get, engine.delete, engine.start, engine.stop):
        with pytest.raises(DeploymentError, match="deployment"):
            call(bad_id)  # type: ignore[arg-type]
    assert (outside / METADATA_FILE).is_file() and (outside / DEPLOYMENT_FILE).is_file()


def test_a_symbolic_link_out_of_the_workspace_is_refused(workspace_beside_a_folder) -> None:  # type: ignore[no-untyped-def]
    ws, outside = workspace_beside_a_folder
    (ws.models_dir / "linked").symlink_to(outside, target_is_directory=True)
    (ws.deployments_dir / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelRepositoryError, match="model_id 'linked' does not name a folder inside"):
        ModelRepository(ws).delete("linked")
    with pytest.raises(DeploymentError, match="deployment_id 'linked' does not name a folder inside"):
        MLEngine(ws).delete("linked")
    assert (outside / METADATA_FILE).is_file() and (outside / DEPLOYMENT_FILE).is_file()


def test_a_plain_id_still_finds_its_folder_or_says_it_is_missing(workspace_beside_a_folder) -> None:  # type: ignore[no-untyped-def]
    ws, _ = workspace_beside_a_folder
    assert child_folder(ws.models_dir, "abc123", "model_id") == ws.models_dir / "abc123"
    with pytest.raises(ModelRepositoryError, match="no model 'abc123'"):
        ModelRepository(ws).get("abc123")
    with pytest.raises(DeploymentError, match="no deployment 'abc123'"):
        MLEngine(ws).delete("abc123")


# -- the drift model file -----------------------------------------------------------------------------------
class CreatesMarker:
    """Unpickling this creates the marker file: what a replaced pickle could do with any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.marker, "w"))


def small_drift_model():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    n = 300
    data = pd.DataFrame({"Amount": rng.integers(100, 5000, n), "Purpose": rng.choice(["car", "radio", "other"], n),
                         "Risk": rng.choice(["No Risk", "Risk"], n)})
    p = rng.random(n)
    probs = np.c_[p, 1 - p]
    return train_drift_model(data, ["Amount", "Purpose"], ["Purpose"], ["No Risk", "Risk"], "Risk",
                             (p < 0.5).astype(int), probs, np.arange(n), 0), data


def test_the_drift_model_round_trips_without_pickle_and_a_replaced_file_runs_nothing(tmp_path: Path) -> None:
    model, data = small_drift_model()
    path = tmp_path / MODEL_FILE
    save_drift_model(model, path)
    assert zipfile.is_zipfile(path)
    again = load_drift_model(path)
    assert np.array_equal(again.p_correct(data), model.p_correct(data))
    assert again.bins == model.bins and again.calibration == model.calibration

    marker = tmp_path / "marker"
    path.write_bytes(pickle.dumps(CreatesMarker(marker)))
    with pytest.raises(LabError, match="drift model file .* changed.*enable the drift monitor again"):
        load_drift_model(path)
    assert not marker.exists()

    # a well-formed skops file naming a function the lab does not trust is refused before it is built
    model.classifier = functools.partial(os.system, f"touch {marker}")
    path.write_bytes(sio.dumps(model))
    with pytest.raises(LabError, match="changed: it holds types the lab does not trust .*system"):
        load_drift_model(path)
    assert not marker.exists()


@pytest.fixture
def drift_monitoring(trained, deployment):  # type: ignore[no-untyped-def]
    ws, _, _ = trained
    mon = own_subscription(ws, deployment, "guard")
    mon.drift.enable()
    yield mon
    mon.close()


@pytest.mark.spark
def test_an_enabled_drift_monitor_refuses_a_replaced_model_file(drift_monitoring) -> None:  # type: ignore[no-untyped-def]
    mon = drift_monitoring
    path = mon.drift.model_path
    assert path.name == MODEL_FILE and zipfile.is_zipfile(path)
    assert mon.drift.config().model_path == str(path)
    assert mon.drift.load_model().base_accuracy == mon.drift.config().base_accuracy

    marker = path.parent / "marker"
    path.write_bytes(pickle.dumps(CreatesMarker(marker)))
    with pytest.raises(LabError, match="drift model file .* changed.*enable the drift monitor again"):
        mon.drift.load_model()
    with pytest.raises(LabError, match="enable the drift monitor again"):
        mon.drift.estimate_accuracy(mon.ctx.training_data.head(5))
    assert not marker.exists()

    # a pickle left where earlier versions kept the model is never read
    path.unlink()
    (path.parent / "drift_model.pkl").write_bytes(pickle.dumps(CreatesMarker(marker)))
    with pytest.raises(LabError, match=r"as a pickle \(drift_model.pkl\), which is no longer read: enable the drift"):
        mon.drift.load_model()
    assert not marker.exists()


# -- the data mart file's mode ------------------------------------------------------------------------------
def test_the_sqlite_data_mart_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "dm.sqlite"
    dm = DataMart(f"sqlite:///{path}")
    try:
        sub = make_subscription(dm)
        dm.store_payload(dm.payload_table(sub), payload_rows(3, T0, timedelta(seconds=1)))
        files = [p for p in (path, tmp_path / "dm.sqlite-wal", tmp_path / "dm.sqlite-shm") if p.exists()]
        assert len(files) == 3  # WAL mode: the side files exist while a connection is open
        assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o600)}
    finally:
        dm.close()
    ws = lab.provision(tmp_path / "ws").workspace
    assert stat.S_IMODE((ws.root / "datamart.sqlite").stat().st_mode) == 0o600


def test_a_data_mart_file_that_cannot_be_created_is_a_data_mart_error(tmp_path: Path) -> None:
    with pytest.raises(DataMartError, match="data mart"):
        DataMart(f"sqlite:///{tmp_path / 'missing' / 'dm.sqlite'}")


# -- arguments a database would refuse, on SQLite and PostgreSQL --------------------------------------------
@pytest.mark.parametrize("kwargs, argument", [
    ({"start": "yesterday"}, "start"),
    ({"end": "2026-11-20"}, "end"),
    ({"start": pd.NaT}, "start"),
    ({"start": T0.date()}, "start"),
    ({"start": T0 + timedelta(hours=1), "end": T0}, "start"),
    ({"start": T0, "end": T0}, "start"),
])
def test_time_windows_must_be_datetimes_in_order(datamart: DataMart, kwargs: dict, argument: str) -> None:
    sub = make_subscription(datamart)
    for call in (datamart.get_payload, datamart.payload_count):
        with pytest.raises(DataMartError, match=argument):
            call(sub, **kwargs)
    with pytest.raises(AnalyticsError, match=argument):
        payload_distribution(datamart, sub, ["Sex"], **kwargs)


@pytest.mark.parametrize("limit", [-1, 1.5, "10", True, 2**63])
def test_limit_must_be_a_whole_number_a_database_accepts(datamart: DataMart, limit: object) -> None:
    sub = make_subscription(datamart)
    with pytest.raises(DataMartError, match="limit must be a whole number"):
        datamart.get_payload(sub, limit=limit)  # type: ignore[arg-type]


def test_good_windows_and_limits_still_work_and_aware_times_are_converted_to_utc(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    datamart.store_payload(datamart.payload_table(sub), payload_rows(10, T0, timedelta(minutes=10)))
    assert len(datamart.get_payload(sub, limit=0)) == 0
    assert list(datamart.get_payload(sub, limit=np.int64(2))["scoring_id"]) == ["req-0", "req-1"]
    plus_two = timezone(timedelta(hours=2))
    aware = (T0 + timedelta(minutes=30, hours=2)).replace(tzinfo=plus_two), (T0 + timedelta(hours=3)).replace(
        tzinfo=plus_two)
    assert datamart.payload_count(sub, *aware) == datamart.payload_count(
        sub, T0 + timedelta(minutes=30), T0 + timedelta(hours=1)) == 3
    assert check_window(*aware) == (T0 + timedelta(minutes=30), T0 + timedelta(hours=1))


@pytest.mark.parametrize("kwargs, argument", [
    ({"name": ""}, "custom monitor name"),
    ({"name": "   "}, "custom monitor name"),
    ({"name": None}, "custom monitor name"),
    ({"name": "m" * 201}, "custom monitor name must be at most 200 characters"),
    ({"metrics": [{"name": "x" * 201}]}, "metric name must be at most 200"),
    ({"metrics": [{"name": "x"}, {"name": "x"}]}, "metric 'x' is listed twice"),
    ({"metrics": "accuracy"}, "metrics must be a list"),
    ({"metrics": [{"name": "x", "lower_limit": float("nan")}]}, "lower_limit must be a number"),
    ({"metrics": [{"name": "x", "upper_limit": float("inf")}]}, "upper_limit must be a number"),
    ({"metrics": [{"name": "x", "lower_limit": 0.9, "upper_limit": 0.1}]}, "lower_limit 0.9 is above upper_limit"),
    ({"tags": [{"name": ""}]}, "tag name"),
    ({"tags": [{"name": "t" * 201}]}, "tag name must be at most 200"),
    ({"tags": "region"}, "tags must be a list"),
])
def test_custom_monitor_definitions_are_checked_before_the_database(datamart: DataMart, kwargs: dict,
                                                                    argument: str) -> None:
    args = {"name": "team metrics", "metrics": [{"name": "sensitivity", "lower_limit": 0.8}], **kwargs}
    custom = CustomMonitors(datamart)
    with pytest.raises(CustomMonitorError, match=argument):
        custom.register(**args)
    assert custom.list().empty


def test_the_longest_custom_monitor_name_is_stored_and_timestamps_are_checked(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    custom = CustomMonitors(datamart)
    name = "m" * 200
    custom.register(name, metrics=[{"name": "s" * 200, "lower_limit": 1}], tags=[{"name": "t" * 200}])
    mon = custom.monitor(sub, name)
    mon.enable()
    with pytest.raises(CustomMonitorError, match="timestamp must be a datetime"):
        mon.run({"s" * 200: 0.5}, timestamp="now")  # type: ignore[arg-type]
    with pytest.raises(CustomMonitorError, match="tags must be a dict"):
        mon.run({"s" * 200: 0.5}, tags={"t" * 200: 3})  # type: ignore[dict-item]
    stored = mon.run({"s" * 200: 0.5}, tags={"t" * 200: "x"}, timestamp=T0.replace(tzinfo=timezone.utc))
    assert stored.window_end == T0 and [a["metric"] for a in stored.alerts] == ["s" * 200]


FIELDS = [{"name": "Accepted", "type": "integer"}]
KPI = [{"name": "Accepted Credits", "field": "Accepted", "aggregation": "sum", "time_unit": "day", "lower_limit": 1}]


@pytest.mark.parametrize("kwargs, argument", [
    ({"payload_fields": [{"name": "f" * 64, "type": "integer"}]}, "payload_fields: field name"),
    ({"payload_fields": [{"name": "bad name", "type": "integer"}]}, "payload_fields: field name"),
    ({"payload_fields": [{"name": '1"; DROP TABLE x; --', "type": "integer"}]}, "payload_fields: field name"),
    ({"payload_fields": [{"name": "Accepted", "type": "integer"}, {"name": "accepted", "type": "integer"}]},
     "payload_fields: field name 'accepted' is used twice"),
    ({"payload_fields": [{"name": "timestamp", "type": "integer"}]}, "payload_fields: field name 'timestamp'"),
    ({"payload_fields": []}, "payload_fields must be a non-empty list"),
    ({"name": "a" * 201}, "business application name"),
    ({"name": ""}, "business application name"),
    ({"business_metrics": [{**KPI[0], "lower_limit": float("nan")}]}, "lower_limit must be a finite number"),
    ({"business_metrics": [{**KPI[0], "name": "k" * 201}]}, "business_metrics: a metric name"),
    ({"subscription_ids": "sub1"}, "subscription_ids must be a list"),
])
def test_business_applications_are_checked_before_the_database(datamart: DataMart, kwargs: dict,
                                                               argument: str) -> None:
    args = {"name": "app", "payload_fields": FIELDS, "business_metrics": KPI, "subscription_ids": [], **kwargs}
    apps = BusinessApplications(datamart)
    with pytest.raises(BusinessError, match=argument):
        apps.create(**args)
    assert apps.get(args["name"] if isinstance(args["name"], str) else "app", missing_ok=True) is None


def test_business_names_at_their_limits_work_and_windows_are_checked(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    field = "f" * 63  # PostgreSQL's longest identifier
    apps = BusinessApplications(datamart)
    app = apps.create("a" * 200, [{"name": field, "type": "integer"}],
                      [{"name": "total", "field": field, "aggregation": "sum", "time_unit": "day"}],
                      [sub.subscription_id])
    assert apps.business_payload(app).columns[-1] == field
    for call in (apps.business_payload, apps.daily_kpis):
        with pytest.raises(BusinessError, match="start must be a datetime"):
            call(app, start="yesterday")
    with pytest.raises(BusinessError, match="end must be a datetime"):
        apps.window_kpis(app, None, "today")  # type: ignore[arg-type]
    monitor = apps.monitor(sub)
    with pytest.raises(LabError, match="start must be a datetime"):
        monitor.run(start="yesterday")  # type: ignore[arg-type]
    monitor.enable(application=app.name)
    with pytest.raises(LabError, match="start .* must be before end"):
        monitor.run(start=T0, end=T0 - timedelta(days=1))
    with pytest.raises(LabError, match="start .* must be before end .*now when not given"):
        monitor.run(start=datetime.now(timezone.utc) + timedelta(days=1))
    with pytest.raises(BusinessError, match="start .* must be before end"):
        monitor.run_days(T0, T0)
    assert monitor.measurements().empty
