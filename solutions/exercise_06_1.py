"""Try it 06.1 · How large a margin would the challenger have survived?

With `redeploy="conditionally"` the challenger replaces the champion only if it is better by at least MARGIN
on the compared metric (area under ROC), on the same held-out feedback. What is the largest MARGIN with which
this challenger would still have been deployed? Answer with a number, to within 0.001 (negative if the
challenger is worse).
"""
from __future__ import annotations

import openscale_lab as lab


def solve(workspace: lab.Workspace) -> float:
    # the learning system stores every challenger with its lineage, the comparison included
    # (in the notebook, `comparison.metrics()` shows the same numbers, with their difference)
    versions = lab.ModelRepository(workspace).find(lab.MODEL_NAME)
    challenger = [m for m in versions if m.metadata.get("learning")][-1]  # the newest challenger: this notebook's
    comparison = challenger.metadata["learning"]["comparison"]  # what `comparison.to_dict()` gives
    metric = comparison["metric"]
    # conditionally: deployed when challenger - champion >= MARGIN, so the largest MARGIN is the difference
    return comparison["challenger"]["metrics"][metric] - comparison["champion"]["metrics"][metric]


def wrong(answer: float) -> float:
    return answer + 0.05


if __name__ == "__main__":
    print(lab.check.exercise_06_1(solve(lab.open_workspace())))
