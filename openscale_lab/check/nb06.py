"""Self-checks of notebook 06 (continuous learning): the margin the challenger won by, and the bad risks each
model approved. Both read the learning system's latest run as the model repository records it (the
challenger's lineage keeps the comparison on the held-out feedback)."""
from __future__ import annotations

import numbers
import os
from typing import Any

from ..models.repository import ModelRepository
from ..tutorial import UNFAVOURABLE_LABEL
from ..workspace import Workspace
from .nb04 import whole_number
from .verdict import Verdict, hint, right, unanswered, workspace_of

TOLERANCE = 0.001  # exercise 06.1: a margin within this of the gain is right
NO_RUN = ("The model repository holds no challenger compared with its champion yet: run notebook 06 up to "
          "section 5 (champion against challenger) first")


def latest_comparison(workspace: Workspace) -> dict[str, Any] | None:
    """The comparison of the newest challenger the learning system stored (champion and challenger on the same
    held-out feedback), or None."""
    runs = [m for m in ModelRepository(workspace).list() if (m.metadata.get("learning") or {}).get("comparison")]
    return dict(runs[-1].metadata["learning"]["comparison"]) if runs else None


def exercise_06_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """The largest MARGIN at which `redeploy="conditionally"` would still have deployed the challenger."""
    if (verdict := unanswered(answer, "exercise_06_1")) is not None:
        return verdict
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return hint("Answer with a number (a float such as the MARGIN parameter)")
    comparison = latest_comparison(workspace_of(workspace))
    if comparison is None:
        return hint(NO_RUN)
    metric, gain = comparison["metric"], float(comparison["gain"])
    champion = comparison["champion"]["metrics"][metric]
    challenger = comparison["challenger"]["metrics"][metric]
    if abs(float(answer) - gain) <= TOLERANCE:
        verdict_now = "deployed" if gain >= 0 else "never deployed, whatever the margin"
        return right(f"The challenger's {metric} beats the champion's by {gain:.4f}: with any MARGIN up to that it "
                     f"is {verdict_now}; a larger MARGIN keeps the champion serving. A margin guards against "
                     "replacing a model for a difference the held-out sample could give by chance.")
    if any(abs(float(answer) - v) <= TOLERANCE for v in (champion, challenger)):
        return hint("That is one model's value on its own. `conditionally` compares the difference: challenger "
                    "minus champion, on the metric the learning system compares.")
    return hint(f"Look at the `{metric}` row of `comparison.metrics()`: the decision deploys when challenger minus "
                "champion is at least MARGIN (`decide` says so in its reason). Give that difference.")


def bad_risks_approved(scored: dict[str, Any], positive_label: str) -> int:
    """Applicants whose true label is the unfavourable one (Risk) that a model decided favourably: a cell of its
    confusion matrix, which one depending on the quality monitor's positive class."""
    cm = scored["confusion_matrix"]
    return int(cm["fn"] if positive_label == UNFAVOURABLE_LABEL else cm["fp"])


def good_applicants_refused(scored: dict[str, Any], positive_label: str) -> int:
    """Applicants whose true label is the favourable one that a model refused: the other off-diagonal cell."""
    cm = scored["confusion_matrix"]
    return int(cm["fp"] if positive_label == UNFAVOURABLE_LABEL else cm["fn"])


def pair_of(answer: Any) -> tuple[int, int] | None:
    """(champion, challenger) from a pair of whole numbers or a dict with those keys; None otherwise."""
    if isinstance(answer, dict):
        answer = (answer.get("champion"), answer.get("challenger"))
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return None
    first, second = whole_number(answer[0]), whole_number(answer[1])
    return None if first is None or second is None else (first, second)


def exercise_06_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """How many held-out applicants who were bad risks did the champion approve, and the challenger?"""
    if (verdict := unanswered(answer, "exercise_06_2")) is not None:
        return verdict
    pair = pair_of(answer)
    if pair is None:
        return hint("Answer with two whole numbers, the champion's first: (champion, challenger), or a dict "
                    "{'champion': ..., 'challenger': ...}")
    comparison = latest_comparison(workspace_of(workspace))
    if comparison is None:
        return hint(NO_RUN)
    positive = comparison["positive_label"]
    expected = tuple(bad_risks_approved(comparison[who], positive) for who in ("champion", "challenger"))
    if pair == expected:
        refused = [good_applicants_refused(comparison[who], positive) for who in ("champion", "challenger")]
        return right(f"Of the held-out applicants who turned out to be {UNFAVOURABLE_LABEL}, the champion approved "
                     f"{expected[0]} and the challenger {expected[1]}: each a loan the bank loses money on. The other "
                     f"off-diagonal cell is the price: good applicants refused, {refused[0]} by the champion and "
                     f"{refused[1]} by the challenger. Area under ROC alone says neither.")
    if pair == expected[::-1]:
        return hint("The numbers are right but in the wrong order: the champion's first.")
    return hint(f"In each confusion matrix (section 5) the rows are the true label and the columns the decision; "
                f"the positive class is `comparison.positive_label`. Find the cell of applicants whose true label is "
                f"{UNFAVOURABLE_LABEL} and whose decision is the other class (`confusion_matrix` of "
                "`comparison.champion` and `comparison.challenger`).")
