"""Try it 06.2 · How many bad risks did each model approve?

Area under ROC says how well a model ranks applicants, not what its decisions cost. On the held-out feedback,
how many applicants who turned out to be bad risks (true label `Risk`) did the champion approve (decide
`No Risk`), and how many did the challenger? Read it from the two confusion matrices. Answer with two whole
numbers, the champion's first: (champion, challenger).
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> tuple[int, int]:
    # (in the notebook: `comparison.champion.confusion_matrix` and `comparison.challenger.confusion_matrix`)
    versions = lab.ModelRepository(workspace).find(lab.MODEL_NAME)
    challenger = [m for m in versions if m.metadata.get("learning")][-1]  # the newest challenger: this notebook's
    comparison = challenger.metadata["learning"]["comparison"]
    positive = comparison["positive_label"]  # the quality monitor's positive class
    approved = []
    for model in ("champion", "challenger"):
        cm = comparison[model]["confusion_matrix"]
        # true Risk decided No Risk: a false negative when Risk is the positive class, else a false positive
        approved.append(cm["fn"] if positive == lab.UNFAVOURABLE_LABEL else cm["fp"])
    return approved[0], approved[1]


def wrong(answer: tuple[int, int]) -> tuple[int, int]:
    return answer[0] + 1, answer[1]


if __name__ == "__main__":
    print(lab.check.exercise_06_2(solve(lab.open_workspace())))
