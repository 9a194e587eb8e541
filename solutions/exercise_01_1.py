"""Try it 01.1 · How many of the eight applicants does the model predict as `Risk`?

Score the tutorial's eight applicants and count the replies whose `predictedLabel` is `Risk`.
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> int:
    deployment = lab.ensure_deployment(workspace)
    scored = lab.reply_frame(lab.score(deployment, lab.sample_payload()))
    return int((scored["predictedLabel"] == "Risk").sum())


def wrong(answer: int) -> int:
    return 8 - answer if answer != 4 else 5


if __name__ == "__main__":
    print(lab.check.exercise_01_1(solve(lab.open_workspace())))
