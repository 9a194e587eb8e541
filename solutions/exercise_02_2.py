"""Try it 02.2 · The disparate impact for Age, by hand.

As the notebook does for Sex, compute the disparate impact for Age in the latest fairness run from the payload
records of its window: the monitored group is ages 18 to 25, the reference group ages 26 to 75 (both ends
included), the favourable outcome `No Risk`. Answer with a float; it must agree with the monitor's value within
1e-6.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> float:
    deployment = lab.ensure_deployment(workspace)
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    fairness = monitoring.fairness.latest(source="")  # the latest evaluated live run: `fairness` in the notebook
    # the records the monitor read: its window [window_start, window_end), live records only (source="")
    window = monitoring.datamart.get_payload(monitoring.subscription, fairness.window_start, fairness.window_end,
                                             source="")
    monitoring.close()
    favourable = window["predictedLabel"] == "No Risk"
    young, older = window["Age"].between(18, 25), window["Age"].between(26, 75)  # ranges include both ends
    return float(favourable[young].mean() / favourable[older].mean())


def wrong(answer: float) -> float:
    return 1 / answer if abs(answer - 1) > 1e-3 else answer + 0.05  # the groups the other way round


if __name__ == "__main__":
    print(lab.check.exercise_02_2(solve(lab.open_workspace())))
