"""Self-checks of notebook 05 (the Insights dashboard): the biased transaction whose explanation leans most on
Age, and the hour of the lowest area under ROC. Both read what the dashboard shows, from the workspace."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..dashboard.data import InsightsData
from ..workspace import Workspace
from .verdict import Verdict, hint, right, unanswered, workspace_of

FIRST_BIASED = 5  # exercise 05.1: the first five biased transactions listed for the lowest-fairness hour
FEATURE = "Age"
NO_DASHBOARD = ("The dashboard has nothing to show yet: run notebook 04 (the week of history) first, then this "
                "notebook again")


def feature_weight(explanation: dict[str, Any], feature: str = FEATURE) -> float:
    """The LIME weight of `feature` in a transaction's explanation (0 if LIME left it out)."""
    return next((float(f["weight"]) for f in explanation["lime"]["features"] if f["feature"] == feature), 0.0)


def exercise_05_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Of the first five biased transactions of the lowest-fairness hour, whose explanation depends most on Age?"""
    if (verdict := unanswered(answer, "exercise_05_1")) is not None:
        return verdict
    if not isinstance(answer, str):
        return hint("Answer with a transaction id, as a string (the `scoring_id` of a listed transaction)")
    data = InsightsData(workspace_of(workspace))
    try:
        tiles = data.overview()
        lowest = data.lowest_fairness_hour(tiles[0]["subscription_id"]) if tiles else None
        if lowest is None:
            return hint(NO_DASHBOARD)
        sub_id = tiles[0]["subscription_id"]
        ids = data.transactions(sub_id, lowest[0], biased_only=True)["scoring_id"].head(FIRST_BIASED).tolist()
        if not ids:
            return hint("The lowest-fairness hour lists no biased transaction in this workspace: nothing to compare")
        if answer.strip() not in ids:
            return hint(f"Pick one of the first {FIRST_BIASED} biased transactions listed for the hour of the "
                        "lowest fairness (`biased.head(5)` in the guided tour, or the Biased transactions list)")
        # what the dashboard's Explain button shows: the stored explanation, computed (and stored) if there is none
        weights = {tid: abs(feature_weight(data.explanation(sub_id, tid))) for tid in ids}
    finally:
        data.close()
    best = max(weights.values())
    if weights[answer.strip()] >= best - 1e-12:
        return right(f"Its LIME weight for Age is {best:.3f} in size, the largest of the {len(ids)}. A transaction "
                     "flagged biased for Sex can still depend on Age: the fairness monitor asks what the model does "
                     "when one value changes, LIME how much each feature weighs near this applicant.")
    return hint("Explain each of the five (its Explain button, or `dashboard.explain(transaction_id)`), and in each "
                "explanation's `lime['features']` compare the size of the weight of Age, whatever its sign: a "
                "negative weight pushes away from the decision just as much.")


def hour_of(answer: Any) -> datetime | None:
    """An answer meant as an hour: a datetime, a pandas Timestamp, an ISO string, or the slider's label
    ("2026-11-20 13:00–14:00", read as the window's end); naive UTC. None if it is none of these."""
    label = re.fullmatch(r"\s*(\d{4}-\d\d-\d\d[ T]\d\d:\d\d)\s*[–-]\s*\d\d:\d\d\s*", answer) \
        if isinstance(answer, str) else None
    if label:  # the slider's label, with an en dash or a hyphen between the hour's start and end
        try:
            return pd.Timestamp(label.group(1)).to_pydatetime() + timedelta(hours=1)
        except ValueError:
            return None
    if isinstance(answer, np.datetime64):
        answer = pd.Timestamp(answer)
    if not isinstance(answer, (str, datetime)):
        return None
    try:
        stamp = pd.Timestamp(answer)
    except ValueError:
        return None
    if pd.isna(stamp):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def exercise_05_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Which hour had the lowest area under ROC?"""
    if (verdict := unanswered(answer, "exercise_05_2")) is not None:
        return verdict
    hour = hour_of(answer)
    if hour is None:
        return hint("Answer with the hour's window end, as a datetime, a pandas Timestamp or a string such as "
                    "'2026-11-20 14:00' (or the slider's label of the hour)")
    data = InsightsData(workspace_of(workspace))
    try:
        tiles = data.overview()
        quality = data.series(tiles[0]["subscription_id"], "quality") if tiles else pd.DataFrame()
    finally:
        data.close()
    if quality.empty or "area_under_roc" not in quality:
        return hint(NO_DASHBOARD)
    lowest = quality["area_under_roc"].min()
    hours = {t.to_pydatetime() for t in quality.loc[quality["area_under_roc"] == lowest, "window_end"]}
    if hour in hours:
        return right(f"Its area under ROC is {lowest:.3f}. Pick it with the slider: the hour's details show the "
                     "confusion matrix behind it, and how many feedback records it was measured on.")
    if hour + timedelta(hours=1) in hours:
        return hint("That is when the hour's window starts: the dashboard names an hour by its window's end.")
    return hint("Read the Quality chart (or `dashboard.data.series(subscription_id, 'quality')`, one row per "
                "evaluated hour): find the lowest `area_under_roc` and give its `window_end`.")
