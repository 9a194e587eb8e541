"""Try it 05.2 · Which hour had the lowest area under ROC?

Open the deployment and read the Quality chart: which hour had the lowest area under ROC? Answer with the
hour's window end (how the dashboard names an hour) as a datetime, a pandas Timestamp or a string such as
"2026-11-20 14:00".
"""
from __future__ import annotations

from datetime import datetime

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> datetime:
    data = lab.InsightsData(workspace)
    subscription_id = data.overview()[0]["subscription_id"]
    quality = data.series(subscription_id, "quality")  # one row per evaluated hour, a column per metric
    data.close()
    lowest = quality.loc[quality["area_under_roc"].idxmin()]
    return lowest["window_end"].to_pydatetime()


def wrong(answer: datetime) -> str:
    return f"{answer:%Y-%m-%d} 00:00" if answer.hour else f"{answer:%Y-%m-%d} 12:00"


if __name__ == "__main__":
    print(lab.check.exercise_05_2(solve(lab.open_workspace())))
