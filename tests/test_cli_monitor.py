"""`openscale-lab monitor run` and `monitor list`: the measurements a run prints are the library's, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import openscale_lab as lab
from openscale_lab.cli import ALERT_EXIT_CODE, main
from openscale_lab.data import data_path, feed_sample
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.app import ensure_subscription
from openscale_lab.monitors import CustomMonitors, Monitoring
from openscale_lab.workspace import Workspace

from .helpers import copy_deployment, insert_payload

pytestmark = pytest.mark.spark

FAIRNESS = dict(features=[{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
                          {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}],
                favourable_classes=["No Risk"], unfavourable_classes=["Risk"], threshold=0.95, min_records=200)
START = datetime(2021, 6, 1, 10)  # an hour of the model's own traffic, with feedback
END = START + timedelta(hours=1)
BIASED = datetime(2021, 6, 2, 10)  # an hour where women are granted credit half as often as men
EMPTY = ["--start", "2019-01-01T00:00", "--end", "2019-01-02T00:00"]


def window(start: datetime) -> list[str]:
    return ["--start", start.isoformat(), "--end", (start + timedelta(hours=1)).isoformat()]


@pytest.fixture(scope="module")
def monitored(trained, deployment, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A workspace of its own: a copy of the session's deployment (not running) and its model, the active
    subscription with quality, fairness, drift and a custom monitor enabled, and scored traffic."""
    _, model, _ = trained
    ws = lab.provision(tmp_path_factory.mktemp("cli-monitor") / "ws").workspace
    dm = DataMart(ws.datamart_url)
    ensure_subscription(dm, copy_deployment(model, deployment, ws).config, ws)
    dm.close()
    mon = Monitoring.for_deployment(ws, deployment.deployment_id)
    mon.quality.enable()
    mon.fairness.enable(**FAIRNESS)
    mon.drift.enable()
    CustomMonitors(mon.datamart).register("my model performance", metrics=[{"name": "sensitivity"}])
    mon.custom("my model performance").enable()
    feed = feed_sample(300, seed=3)
    insert_payload(mon, pd.DataFrame(feed["values"], columns=feed["fields"]), START, step=timedelta(seconds=10))
    mon.feedback.log(data_path("german_credit_feedback.json"), timestamp=START + timedelta(minutes=30))
    biased = feed_sample(250, seed=11)
    frame = pd.DataFrame(biased["values"], columns=biased["fields"])
    frame["Sex"] = ["female"] * 100 + ["male"] * 150
    labels = (["No Risk"] * 40 + ["Risk"] * 60) + (["No Risk"] * 120 + ["Risk"] * 30)  # 0.4 vs 0.8
    insert_payload(mon, frame, BIASED, labels)
    yield ws, mon, deployment
    mon.close()


def cli(capsys: pytest.CaptureFixture[str], ws: Workspace, *args: str) -> tuple[int, str, str]:
    code = main(["--workspace", str(ws.root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, words: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err


def test_monitor_run_prints_the_measurements_the_library_computes(monitored) -> None:  # type: ignore[no-untyped-def]
    ws, mon, dep = monitored
    done = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(ws.root), "monitor", "run",
                           "--deployment", dep.name, *window(START), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [m["monitor"] for m in printed] == ["quality", "fairness", "drift"] == mon.enabled()  # not the custom
    for m in printed:
        expected = mon.monitor(m["monitor"]).run(start=START, end=END)
        assert m["status"] == expected.status == "evaluated", m["message"]
        assert (m["deployment_id"], m["deployment_name"]) == (dep.deployment_id, dep.name)
        assert m["subscription_id"] == mon.subscription.subscription_id
        assert (m["window_start"], m["window_end"], m["record_count"]) == (str(START), str(END),
                                                                          expected.record_count)
        assert m["metrics"].keys() == expected.metrics.keys()
        for name, value in expected.metrics.items():
            assert m["metrics"][name] == (pytest.approx(value) if value == value else None), name
        assert m["thresholds"] == [{"metric": t.metric, "type": t.type, "value": t.value}
                                   for t in expected.thresholds]
        assert [(a["metric"], a["value"]) for a in m["alerts"]] == [
            (a["metric"], pytest.approx(a["value"])) for a in expected.alerts]
    assert printed[0]["record_count"] == 98 and printed[1]["record_count"] == 300  # feedback, payload
    stored = mon.measurements()
    assert {m["measurement_id"] for m in printed} <= set(stored["measurement_id"])  # stored like a scheduled run


def test_monitor_run_table_and_one_monitor(monitored, capsys) -> None:  # type: ignore[no-untyped-def]
    ws, mon, dep = monitored
    code, out, err = cli(capsys, ws, "monitor", "run", "--monitor", "fairness", *window(BIASED))
    assert code == 0, err  # alerts do not fail the run without --fail-on-alert
    lines = out.splitlines()
    assert lines[0].startswith(f"{dep.name} [{dep.deployment_id}] fairness: evaluated, {BIASED} – ")
    assert "250 records" in lines[0] and "alert(s)" in lines[0]
    sex = next(line.split() for line in lines if line.split()[:1] == ["Sex"])
    assert sex == ["Sex", "0.5", "≥", "0.95", "ALERT"]
    assert mon.fairness.latest().metrics["Sex"] == pytest.approx(0.5)


def test_fail_on_alert_exit_code(monitored, capsys) -> None:  # type: ignore[no-untyped-def]
    ws, _, _ = monitored
    code, out, _ = cli(capsys, ws, "monitor", "run", "--monitor", "fairness", *window(BIASED), "--json",
                       "--fail-on-alert")
    assert code == ALERT_EXIT_CODE == 3
    assert {a["metric"] for a in json.loads(out)[0]["alerts"]} >= {"Sex"}
    code, out, _ = cli(capsys, ws, "monitor", "run", *EMPTY, "--json", "--fail-on-alert")  # nothing to alert on
    assert code == 0
    assert {m["status"] for m in json.loads(out)} == {"not_evaluated"}


def test_monitor_list_shows_exactly_what_is_enabled(monitored, capsys) -> None:  # type: ignore[no-untyped-def]
    ws, mon, dep = monitored
    code, out, _ = cli(capsys, ws, "monitor", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["monitor"], r["custom"]) for r in rows] == [
        ("quality", False), ("fairness", False), ("drift", False), ("my model performance", True)]
    assert [r["monitor"] for r in rows if not r["custom"]] == mon.enabled()
    instances = mon.instances().set_index("monitor")
    for r in rows:
        assert (r["deployment_id"], r["deployment_name"]) == (dep.deployment_id, dep.name)
        assert r["subscription_id"] == mon.subscription.subscription_id
        assert r["schedule_hours"] == instances.loc[r["monitor"], "schedule_hours"]
    code, out, _ = cli(capsys, ws, "monitor", "list", "--deployment", dep.deployment_id)
    assert code == 0
    assert out.split()[:5] == ["deployment", "subscription", "monitor", "schedule", "last"]
    assert "my model performance (custom)" in out and "not scheduled" in out


@pytest.mark.parametrize(("args", "words"), [
    (["run", "--monitor", "nosuch"], "no monitor 'nosuch' to run; the registered monitors are quality, "),
    (["run", "--monitor", "model_health"], "the model_health monitor is not enabled for any deployment"),
    (["run", "--start", "yesterday"], "--start 'yesterday' is not an ISO 8601 time"),
    (["run", "--start", "2021-06-01T11:00", "--end", "2021-06-01T10:00"], "must be before end"),
    (["run", "--start", "2021-06-01T10:00", "--end", "2021-06-01T10:00"], "must be before end"),
    (["run", "--deployment", "nosuch"], "no deployment 'nosuch' in the workspace"),
    (["list", "--deployment", "nosuch"], "no deployment 'nosuch' in the workspace"),
])
def test_bad_input_is_one_error_line(monitored, capsys, args, words) -> None:  # type: ignore[no-untyped-def]
    ws, mon, _ = monitored
    before = len(mon.measurements())
    code, out, err = cli(capsys, ws, "monitor", *args)
    assert code == 1 and out == ""
    one_error_line(err, words)
    assert len(mon.measurements()) == before  # nothing was run


def test_a_workspace_without_deployments_and_bad_usage(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ws = lab.provision(tmp_path / "empty").workspace
    for action in ("run", "list"):
        code, out, err = cli(capsys, ws, "monitor", action)
        assert code == 1
        one_error_line(err, "no deployments in the workspace")
    code, _, err = cli(capsys, Workspace(tmp_path / "missing"), "monitor", "list")
    assert code == 1
    one_error_line(err, "no lab workspace at")
    with pytest.raises(SystemExit) as usage:
        main(["monitor"])
    assert usage.value.code == 2
    assert "error: the following arguments are required: {run,list}" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "openscale_lab", "--workspace", str(ws.root), "monitor", "run",
                           "--end", "31/01/2026"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    one_error_line(done.stderr, "--end '31/01/2026' is not an ISO 8601 time")


def test_help_documents_exit_codes(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["monitor", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--fail-on-alert" in text and "3 with --fail-on-alert when any alert was raised" in text
    assert "even if alerts were raised" in text and "Custom monitors are not run" in text
