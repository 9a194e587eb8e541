"""Try it 02.3 · Make data consistency alert with a batch of your own.

The drift monitor's drop in data consistency is the share of transactions that break a constraint learned from
the training data (`monitoring.drift.constraints().describe()` lists them). Build a batch of at least 200
applicants from the feed (another seed) and change them so that data consistency alerts on them alone: note the
time, send the batch, and run drift on a window that starts at that time (`monitoring.drift.run(start=...)`), so
the window holds only your applicants. Answer with the measurement's id.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> str:
    deployment = lab.ensure_deployment(workspace)
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    # a new channel: the bank's own installment plan for everyone. The constraints say that InstallmentPlans=bank
    # never occurs with a skilled or self-employed job in the training data: most of these applicants break it
    batch = lab.feed_sample(200, seed=11)
    applicants = pd.DataFrame(batch["values"], columns=batch["fields"])
    applicants["InstallmentPlans"] = "bank"
    start = datetime.now(timezone.utc)  # before sending: the window starts here, so it holds only this batch
    lab.score_in_batches(deployment, {"fields": batch["fields"], "values": applicants.values.tolist()},
                         batch_size=100)
    measurement = monitoring.drift.run(start=start)
    monitoring.close()
    print("broken thresholds:", [t.metric for t in measurement.broken()])
    return measurement.measurement_id


def wrong(answer: str) -> str:
    return answer[::-1]  # an id the data mart does not hold


if __name__ == "__main__":
    print(lab.check.exercise_02_3(solve(lab.open_workspace())))
