"""Try it 02.1 · Which features would alert on balanced data?

The fairness monitor alerts when a feature's disparate impact on the payload falls below its threshold (0.95). On
the payload, a group can look favoured only because of who happened to apply. The balanced data (the payload plus
each record copied into the other group and scored again) compares the same applicants in both groups. If the
thresholds applied to the disparate impact on balanced data instead, which features would alert in the latest
fairness run? Answer with a list of feature names (an empty list if none).
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> list[str]:
    deployment = lab.ensure_deployment(workspace)
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    fairness = monitoring.fairness.latest(source="")  # the latest evaluated live run: `fairness` in the notebook
    monitoring.close()
    # each feature's threshold is a lower limit on its disparate impact; the balanced value is `<feature>_balanced`
    return [t.metric for t in fairness.thresholds if fairness.metrics[f"{t.metric}_balanced"] < t.value]


def wrong(answer: list[str]) -> list[str]:
    return sorted({"Sex", "Age"} - set(answer))  # the other features: never the same list


if __name__ == "__main__":
    print(lab.check.exercise_02_1(solve(lab.open_workspace())))
