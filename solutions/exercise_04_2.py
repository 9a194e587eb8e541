"""Try it 04.2 · How long does the drift monitor take to see the data drift?

The scenario's data drift begins on day `scenario.drift_start_day`: from then on a growing share of applicants
commit a larger share of their income to installments. How many hours after it begins does the drift monitor
raise its first data consistency alert (metric `data_drift_magnitude`)? Take the alert's `timestamp`, the end
of the drift run's window. Answer with a whole number of hours (-1 if no such alert fires).
"""
from __future__ import annotations

import pandas as pd

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> int:
    deployment = lab.MLEngine(workspace).find(lab.DEPLOYMENT_NAME)[-1]
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    replay = lab.HistoryReplay(monitoring, deployment)
    week = replay.stored()  # the replayed week: its start and its scenario (notebook 04's `summary`, `scenario`)
    alerts = replay.alerts("drift")
    monitoring.close()
    consistency = alerts[alerts["metric"] == "data_drift_magnitude"]
    if consistency.empty:
        return -1
    begins = week.day_start(week.scenario.drift_start_day)
    return int((consistency["timestamp"].min() - begins) / pd.Timedelta(hours=1))


def wrong(answer: int) -> int:
    return answer + 3  # one drift run later


if __name__ == "__main__":
    print(lab.check.exercise_04_2(solve(lab.open_workspace())))
