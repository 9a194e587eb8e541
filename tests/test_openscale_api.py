"""The OpenScale-compatible service: the token, the platform's errors, what it does not emulate, its process.

IBM's own SDK drives the whole tutorial flow against it in `test_notebooks.py` (the appendix notebook)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
import requests

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.service.process import SERVICE_MODULE, folder

pytestmark = pytest.mark.spark


@pytest.fixture
def service(deployment, trained):  # type: ignore[no-untyped-def]
    """The service of the suite's shared workspace (one deployment), stopped afterwards."""
    ws = trained[0]
    info = lab.start_service(ws)
    yield ws, info, f"{info.url}/openscale/{info.instance_id}/v2"
    lab.stop_service(ws)
    assert lab.service_status(ws) is None


def call(info, method: str, url: str, body: object = None, raw: bytes | None = None,  # type: ignore[no-untyped-def]
         token: str | None = "") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or info.token}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, url, data=data, headers=headers, timeout=60)


def platform_error(reply: requests.Response, status: int, *words: str) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) >= {"trace", "errors"} and body["errors"][0]["code"], body
    message = body["errors"][0]["message"]
    for word in words:
        assert word in message, message
    return body["errors"][0]  # type: ignore[no-any-return]


def test_every_call_needs_the_workspaces_token_but_the_heartbeat(service) -> None:  # type: ignore[no-untyped-def]
    ws, info, v2 = service
    assert requests.get(f"{info.url}/v2/fairness/heartbeat", timeout=10).json()["instance_id"] == info.instance_id
    for token in (None, "not-the-token"):
        for method, path in (("GET", "data_marts"), ("POST", "subscriptions"), ("GET", "no_such_thing")):
            platform_error(call(info, method, f"{v2}/{path}", {}, token=token), 401, "bearer token")
    assert oct((folder(ws) / "token").stat().st_mode & 0o777) == "0o600"
    assert call(info, "GET", f"{v2}/data_marts").json()["data_marts"][0]["metadata"]["id"] == info.instance_id
    platform_error(call(info, "GET", f"{info.url}/openscale/another-instance/v2/data_marts"), 404, info.instance_id)


def test_malformed_requests_get_the_platforms_400_naming_the_field(service) -> None:  # type: ignore[no-untyped-def]
    ws, info, v2 = service
    [dep] = lab.MLEngine(ws).list()
    dm = DataMart(ws.datamart_url)
    sub = dm.subscription_for_deployment(dep.deployment_id)
    provider = dm.list_bindings()["binding_id"].iloc[0]
    before = dm.payload_count(sub)
    dm.close()
    platform_error(call(info, "POST", f"{v2}/subscriptions", raw=b"{not json"), 400, "not JSON")
    platform_error(call(info, "POST", f"{v2}/monitor_instances", {}), 400, "monitor_definition_id")
    good = {"data_mart_id": info.instance_id, "service_provider_id": provider,
            "deployment": {"deployment_id": dep.deployment_id},
            "asset_properties": {"label_column": "Risk", "prediction_field": "predictedLabel"}}
    assert call(info, "POST", f"{v2}/subscriptions", good).json()["metadata"]["id"] == sub.subscription_id
    wrong = dict(good, asset_properties={"label_column": "Outcome"})
    platform_error(call(info, "POST", f"{v2}/subscriptions", wrong), 400, "label_column", "Risk")
    target = {"target_type": "subscription", "target_id": sub.subscription_id}
    error = platform_error(call(info, "POST", f"{v2}/monitor_instances", {
        "monitor_definition_id": "fairness", "target": target, "parameters": {"features": [{"feature": "Sex"}],
                                                                              "favourable_class": ["No Risk"],
                                                                              "unfavourable_class": ["Risk"]}}),
        400, "minority")
    assert error["target"] == {"type": "field", "name": "parameters.features[0].minority"}
    fairness = {"features": [{"feature": "Sex", "majority": ["male"], "minority": ["female"], "threshold": "high"}],
                "favourable_class": ["No Risk"], "unfavourable_class": ["Risk"]}
    platform_error(call(info, "POST", f"{v2}/monitor_instances", {
        "monitor_definition_id": "fairness", "target": target, "parameters": fairness}), 400, "threshold")
    fairness["features"][0].pop("threshold")
    for specific in (7, [7], [{"applies_to": "Sex", "value": 90}], [{"applies_to": [{"key": "feature", "value": 1}],
                                                                   "value": 90}]):
        platform_error(call(info, "POST", f"{v2}/monitor_instances", {
            "monitor_definition_id": "fairness", "target": target, "parameters": fairness,
            "thresholds": [{"metric_id": "fairness_value", "type": "lower_limit", "value": 80,
                            "specific_values": specific}]}), 400, "specific_values")
    platform_error(call(info, "POST", f"{v2}/monitor_instances", {
        "monitor_definition_id": "quality", "target": target, "parameters": {}, "thresholds": 3}), 400, "thresholds")
    platform_error(call(info, "POST", f"{v2}/monitor_instances", {
        "monitor_definition_id": "quality", "target": target, "parameters": {},
        "thresholds": [{"metric_id": "log_loss", "type": "upper_limit", "value": 1}]}), 400, "area_under_roc")
    reply = lab.score(dep, lab.sample_payload())
    record = {"scoring_id": "sdk-record", "request": lab.sample_payload(), "response": reply}
    broken = {**record, "request": {"fields": ["Age"], "values": [[30]]}}
    platform_error(call(info, "POST", f"{v2}/data_sets/{sub.subscription_id}-payload_logging/records",
                        [record, broken]), 400, "request_body[1].request")
    platform_error(call(info, "POST", f"{v2}/data_sets/{sub.subscription_id}-feedback/records",
                        [{"Age": "old"}]), 400, "feedback not logged")
    dm = DataMart(ws.datamart_url)
    assert dm.payload_count(sub) == before + 8  # the 8 scored; neither record of the refused request
    dm.close()
    nested = [("subscriptions", dict(good, asset_properties={"feature_fields": [{"a": 1}]})),
              ("monitor_definitions", {"name": "m", "metrics": [{"name": "x", "thresholds": 7}]}),
              ("monitor_definitions", {"name": "m", "metrics": [{"name": "x"}], "tags": "region"}),
              (f"data_sets/{sub.subscription_id}-feedback/records", [{"fields": [["Age"]], "values": [[1]]}]),
              (f"data_sets/{sub.subscription_id}-payload_logging/records", [dict(record, response_time="fast")]),
              ("monitor_instances", {"monitor_definition_id": "quality", "target": target,
                                     "parameters": {"min_feedback_data_size": 1e300}}),
              ("explanation_tasks", {"scoring_ids": ["nobody"], "subscription_id": sub.subscription_id})]
    for path, body in nested:  # what is inside a body is checked too: a 4xx naming it, never a 5xx
        reply = call(info, "POST", f"{v2}/{path}", body)
        assert 400 <= reply.status_code < 500 and reply.json()["errors"], (path, body, reply.text)
    reply = call(info, "GET", f"{v2}/data_sets/{sub.subscription_id}-payload_logging/records?offset=" + "9" * 20)
    platform_error(reply, 400, "offset")
    for bad in (b"[", b'"text"', b"{}", b"[1, 2]"):  # never a 5xx, whatever the body
        for path in ("subscriptions", "monitor_instances", "service_providers", "explanation_tasks",
                     "monitor_definitions", f"data_sets/{sub.subscription_id}-payload_logging/records"):
            reply = call(info, "POST", f"{v2}/{path}", raw=bad)
            assert 400 <= reply.status_code < 500 and reply.json()["errors"], (path, bad, reply.text)


def test_what_the_lab_does_not_emulate_is_named(service) -> None:  # type: ignore[no-untyped-def]
    _, info, v2 = service
    platform_error(call(info, "GET", f"{v2}/ml_instances"), 404, "Watson Machine Learning")
    platform_error(call(info, "GET", f"{v2}/gen_ai_apps"), 404, "generative AI")
    platform_error(call(info, "GET", f"{v2}/no_such_resource"), 404, "docs/openscale-api.md")
    platform_error(call(info, "POST", f"{v2}/service_providers", {"name": "wml", "service_type":
                                                                  "watson_machine_learning"}), 400, "service_type")
    platform_error(call(info, "POST", f"{v2}/explanation_tasks", {"scoring_ids": ["nobody"]}), 404, "nobody")


def test_the_service_is_one_process_per_workspace_and_stops(service) -> None:  # type: ignore[no-untyped-def]
    ws, info, _ = service
    os.kill(info.pid, signal.SIGSTOP)  # busy (or stuck): still the workspace's service, never a second one
    try:
        assert lab.service_status(ws).answering is False
        with pytest.raises(lab.LabError, match="does not answer"):
            lab.start_service(ws, timeout=1)
    finally:
        os.kill(info.pid, signal.SIGCONT)
    again = lab.start_service(ws)
    assert again.pid == info.pid and lab.service_status(ws) == again
    assert "token=…" in repr(again) and info.token not in repr(again)
    cli = [sys.executable, "-m", "openscale_lab", "--workspace", str(ws.root), "service"]
    shown = subprocess.run([*cli, "status"], capture_output=True, text=True, timeout=60)
    assert info.url in shown.stdout and info.token not in shown.stdout, shown
    for port in ("99999", "http"):
        refused = subprocess.run([*cli, "start", "--port", port], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "--port" in refused.stderr and "Traceback" not in refused.stderr
    stopped = subprocess.run([*cli, "stop"], capture_output=True, text=True, timeout=60)
    assert "stopped" in stopped.stdout and lab.service_status(ws) is None
    assert not [p for p in psutil.process_iter(["cmdline"]) if SERVICE_MODULE in (p.info["cmdline"] or [])
                and str(ws.root) in (p.info["cmdline"] or [])]
    restarted = lab.start_service(ws)  # the same instance and token after a restart
    assert (restarted.instance_id, restarted.token) == (info.instance_id, info.token)
