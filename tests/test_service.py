"""The scoring service: tutorial format, every success logged, bad input refused, nothing lost on SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
import requests

from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.artifacts import SCORER_FILE
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.deployments.validation import MAX_RECORDS
from openscale_lab.models.scorer import CompiledPipeline
from openscale_lab.tutorial import FEATURE_COLUMNS, sample_payload

pytestmark = pytest.mark.spark


@pytest.fixture
def datamart(trained):  # type: ignore[no-untyped-def]
    ws, _, _ = trained
    dm = DataMart(ws.datamart_url)
    yield dm
    dm.close()


def count(dm: DataMart, deployment) -> int:  # type: ignore[no-untyped-def]
    return dm.payload_count(dm.subscription_for_deployment(deployment.deployment_id))


def test_health_and_docs(deployment) -> None:  # type: ignore[no-untyped-def]
    health = requests.get(deployment.health_url, timeout=5).json()
    assert health["status"] == "ok" and health["deployment_id"] == deployment.deployment_id
    spec = requests.get(f"{deployment.base_url}/openapi.json", timeout=5).json()
    path = f"/v1/deployments/{deployment.deployment_id}/predictions"
    assert path in spec["paths"]
    assert spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0][
        "required"] == ["fields", "values"]
    assert requests.get(deployment.docs_url, timeout=5).status_code == 200


def test_scoring_reply_matches_the_compiled_model_and_is_logged(deployment, datamart) -> None:  # type: ignore[no-untyped-def]
    before = count(datamart, deployment)
    reply = requests.post(deployment.scoring_url, json=sample_payload(), timeout=10).json()
    assert reply["fields"] == [*FEATURE_COLUMNS, "prediction", "predictedLabel", "probability", "transaction_id"]
    assert len(reply["values"]) == 8
    scorer = CompiledPipeline.load(deployment.scorer_dir / SCORER_FILE)
    expected = scorer.score(sample_payload()["values"], FEATURE_COLUMNS)
    assert [tuple(v[20:23]) for v in reply["values"]] == [(p, lab, prob) for p, lab, prob in expected]
    assert {v[21] for v in reply["values"]} <= {"Risk", "No Risk"}
    assert all(abs(sum(v[22]) - 1.0) < 1e-12 for v in reply["values"])
    ids = [v[23] for v in reply["values"]]
    assert len(set(ids)) == 8
    assert count(datamart, deployment) == before + 8
    logged = datamart.get_payload(datamart.subscription_for_deployment(deployment.deployment_id))
    logged = logged.set_index("scoring_id").loc[ids]
    assert list(logged["predictedLabel"]) == [v[21] for v in reply["values"]]
    assert list(logged["probability"]) == [v[22] for v in reply["values"]]
    assert list(logged["LoanAmount"]) == [v[4] for v in sample_payload()["values"]]
    assert (logged["response_time_ms"] > 0).all()
    assert set(logged["model_version"]) == {deployment.model_version}


def _bad_requests() -> list[tuple[str, object, int, str]]:
    missing = sample_payload()
    missing["fields"] = missing["fields"][1:]
    missing["values"] = [v[1:] for v in missing["values"]]
    unknown = sample_payload()
    unknown["fields"][0] = "Checking"
    wrong = sample_payload()
    wrong["values"][6][FEATURE_COLUMNS.index("Age")] = "old"
    one = sample_payload()["values"][0]
    return [
        ("missing field", missing, 422, "missing field(s): CheckingStatus"),
        ("unknown field", unknown, 422, "unknown field(s): 'Checking'"),
        ("wrong type", wrong, 422, "row 6, field 'Age'"),
        ("non-JSON", b"fields=1", 400, "not valid JSON"),
        ("empty batch", {"fields": FEATURE_COLUMNS, "values": []}, 400, "'values' is empty"),
        ("oversized batch", {"fields": FEATURE_COLUMNS, "values": [one] * (MAX_RECORDS + 1)}, 422, "over the limit"),
    ]


@pytest.mark.parametrize("case", _bad_requests(), ids=lambda c: c[0])
def test_bad_input_is_refused_and_not_logged(deployment, datamart, case) -> None:  # type: ignore[no-untyped-def]
    _, body, status, words = case
    before = count(datamart, deployment)
    if isinstance(body, bytes):
        kwargs = {"data": body, "headers": {"Content-Type": "application/json"}}
    else:
        kwargs = {"json": body}
    reply = requests.post(deployment.scoring_url, timeout=30, **kwargs)
    assert reply.status_code == status
    assert words in reply.json()["error"]["message"]
    assert count(datamart, deployment) == before
    ok = requests.post(deployment.scoring_url, json=sample_payload(), timeout=10)
    assert ok.status_code == 200 and count(datamart, deployment) == before + 8


def test_concurrent_clients_are_all_logged(deployment, datamart) -> None:  # type: ignore[no-untyped-def]
    before = count(datamart, deployment)
    payload = {"fields": FEATURE_COLUMNS, "values": sample_payload()["values"][:3]}
    ids: list[str] = []

    def client() -> None:
        with requests.Session() as s:
            for _ in range(20):
                reply = s.post(deployment.scoring_url, json=payload, timeout=10)
                assert reply.status_code == 200
                ids.extend(v[-1] for v in reply.json()["values"])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 4 * 20 * 3
    assert count(datamart, deployment) == before + len(ids)


@pytest.fixture
def doomed(trained, spark):  # type: ignore[no-untyped-def]
    """A deployment of its own, to be killed."""
    ws, model, _ = trained
    engine = MLEngine(ws)
    dep = engine.deploy(model, "doomed deployment", spark, verify_rows=50)
    yield engine, dep
    engine.delete(dep)


def test_nothing_lost_when_killed_right_after_replying(doomed, datamart) -> None:  # type: ignore[no-untyped-def]
    engine, dep = doomed
    pid = engine.pid(dep)
    reply = requests.post(dep.scoring_url, json=sample_payload(), timeout=10)
    os.kill(pid, signal.SIGKILL)  # the very moment the reply is in
    assert reply.status_code == 200
    ids = [v[-1] for v in reply.json()["values"]]
    sub = datamart.subscription_for_deployment(dep.deployment_id)
    logged = set(datamart.get_payload(sub)["scoring_id"])
    assert set(ids) <= logged


def test_nothing_lost_when_killed_under_load(doomed, datamart) -> None:  # type: ignore[no-untyped-def]
    engine, dep = doomed
    pid = engine.pid(dep)
    replied: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    reply = s.post(dep.scoring_url, json=sample_payload(), timeout=5)
                except requests.RequestException:
                    return
                if reply.status_code == 200:
                    replied.extend(v[-1] for v in reply.json()["values"])

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join(10)
    stop.set()
    assert len(replied) > 50
    sub = datamart.subscription_for_deployment(dep.deployment_id)
    logged = set(datamart.get_payload(sub)["scoring_id"])
    missing = set(replied) - logged
    assert not missing, f"{len(missing)} replied records are not in the data mart"
    assert engine.pid(dep) is None
    restarted = engine.start(dep)  # the same deployment comes back, on its port, and keeps its log
    assert restarted.scoring_url == dep.scoring_url  # sockets of the killed server in TIME_WAIT do not hold the port
    assert requests.post(restarted.scoring_url, json=sample_payload(), timeout=10).status_code == 200
    assert datamart.payload_count(sub) == len(logged) + 8


def test_restart_keeps_the_deployment_and_moves_off_a_taken_port(doomed, datamart) -> None:  # type: ignore[no-untyped-def]
    import socket

    engine, dep = doomed
    sub = datamart.subscription_for_deployment(dep.deployment_id)
    assert engine.stop(dep) and engine.pid(dep) is None
    assert not engine.stop(dep)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(dep.config["port"])))
        moved = engine.start(dep)
    assert moved.config["port"] != dep.config["port"]
    assert requests.post(moved.scoring_url, json=sample_payload(), timeout=10).status_code == 200
    again = datamart.subscription_for_deployment(dep.deployment_id)
    assert again.subscription_id == sub.subscription_id and again.scoring_url == moved.scoring_url
    assert engine.start(moved).config["port"] == moved.config["port"]  # already running: left as it is


def test_a_tampered_scorer_refuses_to_start(doomed) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.errors import DeploymentError

    engine, dep = doomed
    engine.stop(dep)
    path = dep.scorer_dir / SCORER_FILE
    spec = json.loads(path.read_text())
    spec["classifier"]["tree_weights"][0] = 2.0
    path.write_text(json.dumps(spec, sort_keys=True))
    with pytest.raises(DeploymentError, match="not verified against Spark"):
        engine.start(dep)
    assert engine.pid(dep) is None
