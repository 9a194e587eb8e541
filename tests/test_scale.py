"""Monitors at scale: a window evaluated in chunks, or as Spark jobs (local[2] and a standalone cluster of a
master and two workers started from the pyspark installation), gives the numbers of the window read whole."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

import openscale_lab as lab
from openscale_lab.core.clock import utcnow
from openscale_lab.data import data_path, feed_sample
from openscale_lab.datamart.analytics import payload_distribution
from openscale_lab.datamart.database import DataMart
from openscale_lab.datamart.tables import drift_transactions
from openscale_lab.deployments.app import ensure_subscription
from openscale_lab.errors import LabError
from openscale_lab.models.spark_cluster import StandaloneCluster
from openscale_lab.monitors import Monitoring
from openscale_lab.monitors.engines import FIRST_PART, LocalEngine
from openscale_lab.monitors.results import Measurement
from openscale_lab.monitors.together import run_together, union
from tests.conftest import postgres_schema
from tests.helpers import T0, copy_deployment, insert_payload, own_subscription

pytestmark = pytest.mark.spark
WINDOW = (T0, T0 + timedelta(hours=3))
RECORDS = 3000
FAIRNESS = dict(features=[{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
                          {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}],
                favourable_classes=["No Risk"], unfavourable_classes=["Risk"], min_records=100, window_hours=None)


def insert_shifted_payload(mon: Monitoring) -> None:
    """3000 payload records over 100 minutes from T0, every fifth shifted (younger, larger loans), so that
    drift and bias have something to find."""
    sample = feed_sample(RECORDS, seed=11)
    frame = pd.DataFrame(sample["values"], columns=sample["fields"])
    shifted = frame.index % 5 == 0
    frame.loc[shifted, "Age"] = 19 + frame.index[shifted] % 6
    frame.loc[shifted, "LoanAmount"] = frame.loc[shifted, "LoanAmount"] * 3
    insert_payload(mon, frame, T0, step=timedelta(seconds=2))


@pytest.fixture(scope="module")
def pg_lab(trained, deployment, tmp_path_factory) -> Iterator[tuple[Any, Any, Monitoring]]:  # type: ignore[no-untyped-def]
    """A PostgreSQL workspace holding the suite's deployment (not started) and 3000 payload records over
    100 minutes, some of them shifted (younger, larger loans) so that drift and bias have something to find."""
    _, model, _ = trained
    with postgres_schema() as url:
        ws = lab.provision(tmp_path_factory.mktemp("scale") / "ws", datamart_url=url).workspace
        dep = copy_deployment(model, deployment, ws)
        dm = DataMart(ws.datamart_url)
        ensure_subscription(dm, dep.config, ws)  # as the server does when it first starts
        dm.close()
        mon = Monitoring.for_deployment(ws, dep)
        insert_shifted_payload(mon)
        mon.quality.enable(min_records=50)
        mon.feedback.log(data_path("german_credit_feedback.json"))
        mon.fairness.enable(**FAIRNESS)
        mon.drift.enable(window_hours=None)
        try:
            yield ws, dep, mon
        finally:
            mon.close()


def run_all(mon: Monitoring) -> dict[str, Measurement]:
    """Fairness and drift over the payload window, quality over every feedback record."""
    out = {name: mon.monitor(name).run(*WINDOW, replace=False) for name in ("fairness", "drift")}
    out["quality"] = mon.quality.run(None, utcnow() + timedelta(minutes=1))
    return out


def assert_same(ours: dict[str, Measurement], whole: dict[str, Measurement], mon: Monitoring) -> None:
    """Every metric within 1e-9 of the whole read's, counts and stored transactions the same."""
    for name, m in whole.items():
        got = ours[name]
        assert got.status == m.status == "evaluated", (name, got.message, m.message)
        assert got.record_count == m.record_count
        assert got.metrics.keys() == m.metrics.keys()
        for key, value in m.metrics.items():
            assert abs(got.metrics[key] - value) <= 1e-9, (name, key, got.metrics[key], value)
    for f, found in whole["fairness"].details.features.items():
        theirs = ours["fairness"].details.features[f]
        assert theirs.value_outcomes == found.value_outcomes
        assert (theirs.monitored_count, theirs.reference_count, theirs.biased_count) == (
            found.monitored_count, found.reference_count, found.biased_count)
    for col, found in whole["drift"].details.feature_drift.items():
        assert ours["drift"].details.feature_drift[col].payload_share == pytest.approx(found.payload_share, abs=1e-12)

    def stored(kind: str, m: Measurement) -> pd.DataFrame:
        if kind == "biased":
            rows = mon.fairness.biased_transactions(m.measurement_id)
        else:
            rows = drift_rows(mon, m)
        return rows.drop(columns=["measurement_id", "id"], errors="ignore").reset_index(drop=True)

    pd.testing.assert_frame_equal(stored("biased", ours["fairness"]), stored("biased", whole["fairness"]))
    pd.testing.assert_frame_equal(stored("drift", ours["drift"]), stored("drift", whole["drift"]))
    assert len(stored("drift", whole["drift"])) > 100
    assert len(stored("biased", whole["fairness"])) == whole["fairness"].metrics["Sex_biased_transactions"] + \
        whole["fairness"].metrics["Age_biased_transactions"] > 0


def drift_rows(mon: Monitoring, m: Measurement) -> pd.DataFrame:
    """Every drift transaction a measurement stored (all three views), most likely wrong first."""
    t = drift_transactions.c
    return mon.drift.measurement_rows(drift_transactions, m.measurement_id,
                                      order_by=(t.p_correct, t.scoring_timestamp, t.scoring_id))


@pytest.fixture(scope="module")
def whole(pg_lab) -> dict[str, Measurement]:  # type: ignore[no-untyped-def]
    _, _, mon = pg_lab
    found = run_all(mon)
    assert found["drift"].metrics["inconsistent_transactions"] > 0
    return found


@pytest.mark.postgres
def test_a_window_in_chunks_gives_the_whole_windows_numbers(pg_lab, whole) -> None:  # type: ignore[no-untyped-def]
    ws, dep, _ = pg_lab
    chunked = Monitoring.for_deployment(ws, dep, engine=LocalEngine(chunk_rows=700))
    try:
        assert_same(run_all(chunked), whole, chunked)
    finally:
        chunked.close()


@pytest.mark.postgres
@pytest.mark.parametrize("chunk_rows", [500_000, 700])
def test_monitors_sharing_a_window_read_it_once(pg_lab, whole, monkeypatch, chunk_rows) -> None:  # type: ignore[no-untyped-def]
    """Fairness and drift over the same hours: each part of the window read once for both (the window whole, or
    slices of its time), every number as their own runs give it."""
    from openscale_lab.datamart import window as window_module

    ws, dep, _ = pg_lab
    mon = Monitoring.for_deployment(ws, dep, engine=LocalEngine(chunk_rows=chunk_rows))
    payload = mon.ctx.datamart.payload_table(mon.subscription).name
    parts: list[int] = []
    real = window_module.read_frame

    def counted(engine, query, *args):  # type: ignore[no-untyped-def]
        found = real(engine, query, *args)
        if payload in str(query):
            parts.append(len(found))
        return found

    monkeypatch.setattr(window_module, "read_frame", counted)
    try:
        found = run_together([mon.fairness, mon.drift], *WINDOW)
        assert list(found) == ["fairness", "drift"]
        # whole, or a first part a quarter of the others (the monitors start while the next is read), then full parts
        first = chunk_rows // FIRST_PART
        expected = 1 if RECORDS <= chunk_rows else 1 + -(-(RECORDS - first) // chunk_rows)
        assert sum(parts) == RECORDS and len(parts) == expected
        assert max(parts) <= chunk_rows
        if expected > 1:  # PostgreSQL's slices of time: the first exactly, the others equal (to a row)
            assert parts[0] == first and max(parts[1:]) - min(parts[1:]) <= 1, parts
        assert_same({**found, "quality": whole["quality"]}, whole, mon)
    finally:
        mon.close()


def test_sqlite_windows_read_natively_give_the_cursors_frames_and_numbers(trained, deployment,  # type: ignore[no-untyped-def]
                                                                          monkeypatch) -> None:
    """A large SQLite window is read by ConnectorX in a child process: the same frame as sqlite3's cursor reads
    in this process (types, times, categories), and the same numbers, in chunks read ahead, as the window
    read whole by the cursor."""
    from openscale_lab.datamart import reading
    from openscale_lab.datamart.reading import read_frame
    from openscale_lab.monitors import engines

    ws, _, _ = trained
    mon = own_subscription(ws, deployment, "native")
    try:
        insert_shifted_payload(mon)
        mon.fairness.enable(**FAIRNESS)
        mon.drift.enable(window_hours=None)
        whole = {name: mon.monitor(name).run(*WINDOW) for name in ("fairness", "drift")}
        f, d = mon.fairness, mon.drift
        window = union(f.window(f.config(), *WINDOW), d.window(d.config(), *WINDOW))
        engine = mon.ctx.datamart.engine
        for query in (window.select(), window.select((T0 + timedelta(minutes=30), "z"), 700)):
            cursor = read_frame(engine, query, ["scoring_timestamp"], window.categorical)
            native = read_frame(engine, query, ["scoring_timestamp"], window.categorical, large=True)
            assert len(cursor) in (RECORDS, 700)
            assert isinstance(cursor["Sex"].dtype, pd.CategoricalDtype)
            pd.testing.assert_frame_equal(native, cursor)
        children_before = len(psutil.Process().children(recursive=True))
        monkeypatch.setattr(engines, "NATIVE_ROWS", 1)  # every part read natively: a first of 175, then 700s
        native_reads = []
        real = reading.read_arrow
        monkeypatch.setattr(reading, "read_arrow", lambda *a: native_reads.append(real(*a)) or native_reads[-1])
        mon.ctx.engine = LocalEngine(chunk_rows=700)
        assert_same(run_together([mon.fairness, mon.drift], *WINDOW), whole, mon)
        assert [t.num_rows for t in native_reads] == [175, *[700] * 4, RECORDS - 175 - 4 * 700]
        assert len(psutil.Process().children(recursive=True)) == children_before  # no reader left behind
    finally:
        mon.close()


@pytest.mark.postgres
def test_parts_in_any_order_give_the_whole_windows_numbers(pg_lab, whole) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL streams a window's parts in no particular order: the rows shuffled and cut in three, merged
    last part first, give the window's metrics and the transactions it stores."""
    _, _, mon = pg_lab
    for name in ("fairness", "drift"):
        monitor = mon.monitor(name)
        config = monitor.config()
        rows = monitor.window(config, *WINDOW).read(mon.ctx.datamart.engine)
        shuffled = rows.sample(frac=1, random_state=5).reset_index(drop=True)
        part = None
        for cut in (shuffled.iloc[1700:], shuffled.iloc[1000:1700], shuffled.iloc[:1000]):
            found = monitor.partial(config, cut.reset_index(drop=True))
            part = found if part is None else monitor.merge(found, part)
        result = monitor.finish(config, part, *WINDOW)
        assert result.metrics.keys() == whole[name].metrics.keys()
        for key, value in whole[name].metrics.items():
            assert abs(result.metrics[key] - value) <= 1e-9, (name, key)
        if name == "fairness":
            stored = mon.fairness.biased_transactions(whole[name].measurement_id)
            assert [(r["feature"], r["scoring_id"]) for r in result.extra] == list(
                zip(stored["feature"], stored["scoring_id"], strict=True))
        else:
            assert [t.scoring_id for t, _ in result.extra] == drift_rows(mon, whole[name])["scoring_id"].tolist()


@pytest.mark.postgres
def test_a_monitor_failing_among_others_leaves_theirs_stored(pg_lab, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ws, dep, _ = pg_lab
    mon = Monitoring.for_deployment(ws, dep)
    try:
        before = len(mon.fairness.measurements())

        def broken(config, chunk):  # type: ignore[no-untyped-def]
            raise RuntimeError("the drift model broke")

        monkeypatch.setattr(mon.drift, "partial", broken)
        drift_before = len(mon.drift.measurements())
        with pytest.raises(RuntimeError, match="the drift model broke"):
            run_together([mon.fairness, mon.drift], *WINDOW)
        assert len(mon.fairness.measurements()) == before + 1
        assert mon.fairness.latest().record_count == RECORDS
        assert len(mon.drift.measurements()) == drift_before  # nothing stored for it, not run a second time
    finally:
        mon.close()


@pytest.mark.postgres
def test_the_spark_engine_gives_the_local_engines_numbers(pg_lab, whole, spark) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.monitors.spark_engine import SparkEngine

    ws, dep, _ = pg_lab
    engine = SparkEngine("local[2]", rows_per_partition=800)  # four partitions of the 3000 records
    on_spark = Monitoring.for_deployment(ws, dep, engine=engine)
    try:
        assert_same(run_all(on_spark), whole, on_spark)
        # executors cut their partitions' transactions as the whole window's are cut: by (p correct, time, id)
        on_spark.drift.max_stored_transactions = 40
        cut = on_spark.drift.run(*WINDOW)
        kept = drift_rows(on_spark, cut).drop(columns="measurement_id")
        expected = drift_rows(on_spark, whole["drift"]).drop(columns="measurement_id")
        assert len(expected) > 40
        pd.testing.assert_frame_equal(kept.reset_index(drop=True), expected.head(40).reset_index(drop=True))
        asked = dict(group_by=["Sex", "predictedLabel"], aggregations=[("count", None), ("mean", "LoanAmount"),
                                                                       ("max", "Age"), ("sum", "Age")])
        by_sql = payload_distribution(on_spark.ctx.datamart, on_spark.subscription, **asked)
        by_spark = engine.payload_distribution(on_spark.ctx, **asked)
        key = ["Sex", "predictedLabel"]
        by_sql, by_spark = (f.sort_values(key).reset_index(drop=True) for f in (by_sql, by_spark))
        assert by_sql["count"].sum() == RECORDS and len(by_sql) == 4
        pd.testing.assert_frame_equal(by_spark, by_sql, check_dtype=False, rtol=1e-12)
    finally:
        on_spark.close()


@pytest.fixture
def standalone_cluster(tmp_path: Path) -> Iterator[str]:
    """A Spark standalone master and two one-core workers on 127.0.0.1, from this pyspark installation."""
    cluster = StandaloneCluster(tmp_path / "cluster", workers=2, cores=1, memory="1g")
    with cluster as master:
        pids = [p.pid for p in cluster._procs]
        yield master
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


@pytest.mark.postgres
@pytest.mark.slow
def test_the_spark_engine_on_a_standalone_cluster(pg_lab, whole, standalone_cluster) -> None:  # type: ignore[no-untyped-def]
    ws, dep, mon = pg_lab
    cmd = [sys.executable, "-m", "openscale_lab", "--workspace", str(ws.root), "monitor", "run", "--monitor",
           "fairness", "--monitor", "drift", "--start", WINDOW[0].isoformat(), "--end", WINDOW[1].isoformat(),
           "--engine", "spark", "--spark-master", standalone_cluster, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = {m["monitor"]: m for m in json.loads(done.stdout)}
    for name in ("fairness", "drift"):
        assert report[name]["status"] == "evaluated"
        assert report[name]["record_count"] == whole[name].record_count == RECORDS
        for key, value in whole[name].metrics.items():
            assert abs(report[name]["metrics"][key] - value) <= 1e-9, (name, key)
    biased = mon.fairness.biased_transactions(report["fairness"]["measurement_id"])
    assert len(biased) == len(mon.fairness.biased_transactions(whole["fairness"].measurement_id))


def test_the_spark_engine_needs_postgresql(trained, deployment) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.monitors.spark_engine import SparkEngine

    ws, _, _ = trained
    mon = own_subscription(ws, deployment, "sparksqlite")
    try:
        mon.ctx.engine = SparkEngine("local[2]")
        mon.quality.enable(min_records=1)
        mon.feedback.log(data_path("german_credit_feedback.json"))
        with pytest.raises(LabError, match="needs PostgreSQL, not sqlite"):
            mon.quality.run()
    finally:
        mon.close()


def test_engine_names_are_checked(trained, deployment, capsys) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.cli import main
    from openscale_lab.monitors.report import run_monitors

    ws, _, _ = trained
    with pytest.raises(LabError, match="engine must be 'local' or 'spark'"):
        Monitoring.for_deployment(ws, deployment, engine="dask")
    with pytest.raises(LabError, match="engine must be 'local' or 'spark'"):  # said as such, not "no deployment"
        run_monitors(ws, engine="dask")
    assert main(["--workspace", str(ws.root), "monitor", "run", "--spark-master", "spark://127.0.0.1:7077"]) == 1
    assert "--spark-master is for --engine spark" in capsys.readouterr().err
    with pytest.raises(ValueError, match="chunk_rows"):
        LocalEngine(0)


def test_parts_keep_the_transactions_the_whole_window_keeps_among_ties(trained, deployment) -> None:  # type: ignore[no-untyped-def]
    """Records logged at the same time (a batch) tie on time; the drift model ties many on p correct: a window
    cut in parts still stores the same transactions when only some of them can be stored."""
    ws, _, _ = trained
    mon = own_subscription(ws, deployment, "scaleties")
    try:
        sample = feed_sample(1200, seed=5)
        frame = pd.DataFrame(sample["values"], columns=sample["fields"])
        frame.loc[frame.index % 3 == 0, "LoanAmount"] *= 4
        insert_payload(mon, frame, T0, step=timedelta(0), request_size=100)  # every record at the same time
        mon.drift.enable(window_hours=None)
        mon.drift.max_stored_transactions = 25
        window = (T0, T0 + timedelta(hours=1))
        whole = mon.drift.run(*window)
        mon.ctx.engine = LocalEngine(chunk_rows=170)
        parts = mon.drift.run(*window)
        assert parts.metrics == pytest.approx(whole.metrics, abs=1e-9)
        assert parts.record_count == whole.record_count == 1200
        first, second = (drift_rows(mon, m).drop(columns="measurement_id") for m in (whole, parts))
        assert len(first) == 25 and first["p_correct"].duplicated().any()
        pd.testing.assert_frame_equal(first.reset_index(drop=True), second.reset_index(drop=True))
    finally:
        mon.close()
