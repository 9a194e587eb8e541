"""Try it 03.1 · A custom monitor of your own.

Register a custom monitor of your own (not *my model performance*) with one metric and a threshold, enable it for
the deployment's subscription, and store a value that breaks the threshold. Answer with the monitor's name.
"""
from __future__ import annotations

import openscale_lab as lab

NAME = "manual review rate"


def solve(workspace: lab.Workspace) -> str:
    deployment = lab.ensure_deployment(workspace)
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    # the share of applications the loan officers send to manual review: more than 15 % means the model helps less
    lab.CustomMonitors(monitoring.datamart).register(
        NAME, metrics=[{"name": "review_rate", "upper_limit": 0.15,
                        "description": "share of applications sent to manual review"}])
    review = monitoring.custom(NAME)
    review.enable()  # with the definition's limit; enable(thresholds=...) would override it
    stored = review.run({"review_rate": 0.22})  # above 0.15: an alert
    monitoring.close()
    print([alert["message"] for alert in stored.alerts])
    return NAME


def wrong(answer: str) -> str:
    return "my model performance"  # the notebook's monitor, not your own


if __name__ == "__main__":
    print(lab.check.exercise_03_1(solve(lab.open_workspace())))
