"""Try it 04.1 · A fairness threshold of your own.

The fairness monitor alerts when the disparate impact for Sex (female vs male) falls below its threshold, the
tutorial's 0.95. US employment law's "four-fifths rule" draws the line at 0.8 instead. With a threshold of 0.8,
in how many of the week's evaluated hours would Sex have alerted? Count from the hourly measurements the replay
stored: no need to replay the week.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> int:
    # the story's monitors, as notebook 04 has them (`replay`); reading measurements changes nothing
    deployment = lab.MLEngine(workspace).find(lab.DEPLOYMENT_NAME)[-1]
    monitoring = lab.Monitoring.for_deployment(workspace, deployment)
    replay = lab.HistoryReplay(monitoring, deployment)
    fairness = replay.measurements("fairness")
    monitoring.close()
    # only the hours the monitor could evaluate have a value (section 3's `views["payload"]`)
    evaluated = fairness[fairness["status"] == "evaluated"]
    sex = evaluated["metrics"].map(lambda metrics: metrics["Sex"])
    # a lower limit alerts when the value is strictly below it
    return int((sex < 0.8).sum())


def wrong(answer: int) -> int:
    return answer + 1


if __name__ == "__main__":
    print(lab.check.exercise_04_1(solve(lab.open_workspace())))
