"""IBM's SDK against the lab: what the OpenScale-compatible service adds to the lab's own calls.

In one fresh workspace (the tutorial's model deployed, 200 feed applicants scored, the tutorial's feedback), each
step is timed the lab's way (`lab.Monitoring`, in this process) and through `ibm-watson-openscale` against the
service (HTTP, JSON, the SDK's models), alternately, several times: a quality, a fairness and a drift run, an
explanation (LIME and contrastive), and reading a subscription and a run's measurement back. Medians, and the
ratio SDK / lab in the same run. Run with `make bench-sdk`; writes benchmarks/results/sdk.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from results_file import save_results

import openscale_lab as lab


def timed(step: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def sdk_client(service: Any) -> Any:
    from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator
    from ibm_watson_openscale import APIClient

    return APIClient(authenticator=BearerTokenAuthenticator(bearer_token=service.token), service_url=service.url,
                     service_instance_id=service.instance_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as tmp:
        ws = lab.provision(Path(tmp) / "ws").workspace
        try:
            return run(ws, args.repeats)
        finally:
            lab.stop_lab(ws)


def run(ws: lab.Workspace, repeats: int) -> int:
    from ibm_watson_openscale.base_classes.watson_open_scale_v2 import Target

    deployment = lab.ensure_deployment(ws)
    lab.score_in_batches(deployment, lab.feed_sample(200, seed=3), batch_size=50)
    monitoring = lab.Monitoring.for_deployment(ws, deployment)
    monitoring.feedback.log(lab.data_path("german_credit_feedback.json"))
    client = sdk_client(lab.start_service(ws))
    sub_id = monitoring.subscription.subscription_id
    target = Target(target_type="subscription", target_id=sub_id)
    created = {
        "quality": ({"min_feedback_data_size": 50}, [{"metric_id": "area_under_roc", "type": "lower_limit",
                                                      "value": 0.7}]),
        "fairness": ({"features": [{"feature": "Sex", "majority": ["male"], "minority": ["female"]},
                                   {"feature": "Age", "majority": [[26, 75]], "minority": [[18, 25]]}],
                      "favourable_class": ["No Risk"], "unfavourable_class": ["Risk"], "min_records": 200},
                     [{"metric_id": "fairness_value", "type": "lower_limit", "value": 95.0}]),
        "drift": ({"min_samples": 200, "drift_threshold": 0.05}, None)}
    ids = {name: client.monitor_instances.create(data_mart_id=client.service_instance_id, monitor_definition_id=name,
                                                 target=target, parameters=params,
                                                 thresholds=limits, background_mode=True).result.metadata.id
           for name, (params, limits) in created.items()}
    tid = str(lab.reply_frame(lab.score(deployment, lab.sample_payload()))["transaction_id"].iloc[0])
    last_run: dict[str, str] = {}

    def sdk_run(name: str) -> None:
        last_run[name] = client.monitor_instances.run(monitor_instance_id=ids[name], background_mode=True
                                                      ).result.metadata.id

    def sdk_explain() -> None:
        task = client.monitor_instances.explanation_tasks(scoring_ids=[tid], explanation_types=["lime", "contrastive"])
        client.monitor_instances.get_explanation_tasks(task.result.metadata.explanation_task_ids[0])

    def sdk_read() -> None:
        client.subscriptions.get(sub_id)
        client.monitor_instances.get_measurement_details(ids["quality"], last_run["quality"])

    def lab_read() -> None:
        monitoring.datamart.get_subscription(sub_id)
        monitoring.quality.latest()

    steps: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        **{f"{name} run": (lambda n=name: monitoring.monitor(n).run(), lambda n=name: sdk_run(n)) for name in ids},
        "explanation": (lambda: (monitoring.explanations.lime(tid), monitoring.explanations.contrastive(tid)),
                        sdk_explain),
        "read back": (lab_read, sdk_read)}
    for lab_step, sdk_step in steps.values():  # warm both paths once
        lab_step(), sdk_step()
    times: dict[str, dict[str, list[float]]] = {k: {"lab": [], "sdk": []} for k in steps}
    for _ in range(repeats):
        for name, (lab_step, sdk_step) in steps.items():
            times[name]["lab"].append(timed(lab_step))
            times[name]["sdk"].append(timed(sdk_step))
    results: dict[str, Any] = {"repeats": repeats, "steps": {}}
    print(f"{'step':<14}{'lab (ms)':>10}{'SDK (ms)':>10}{'SDK/lab':>9}")
    for name, found in times.items():
        lab_ms, sdk_ms = (statistics.median(found[k]) * 1000 for k in ("lab", "sdk"))
        results["steps"][name] = {"lab_ms": lab_ms, "sdk_ms": sdk_ms, "ratio": sdk_ms / lab_ms}
        print(f"{name:<14}{lab_ms:>10.1f}{sdk_ms:>10.1f}{sdk_ms / lab_ms:>9.2f}")
    total = {k: sum(s[f"{k}_ms"] for s in results["steps"].values()) for k in ("lab", "sdk")}
    results["total"] = {**total, "ratio": total["sdk"] / total["lab"]}
    print(f"{'all steps':<14}{total['lab']:>10.1f}{total['sdk']:>10.1f}{total['sdk'] / total['lab']:>9.2f}")
    monitoring.close()
    save_results("sdk", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
