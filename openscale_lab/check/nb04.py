"""Self-checks of notebook 04 (the replayed week): a fairness threshold of your own, and how long the drift
monitor takes to see the data drift. Both are worked out from the story's own measurements and alerts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from ..datamart.database import DataMart
from ..datamart.tables import REPLAY_PREFIX
from ..history.scenario import Scenario
from ..monitors.base import MonitorStore
from ..workspace import Workspace
from .verdict import Verdict, hint, right, unanswered, whole_number, workspace_of

THRESHOLD = 0.8  # exercise 04.1: the fairness threshold to try instead of the tutorial's 0.95 (the four-fifths rule)
CONSISTENCY = "data_drift_magnitude"  # the drift monitor's drop in data consistency
NO_WEEK = ("There is no replayed week in this workspace yet: run notebook 04 up to section 2 (the replay) first, "
           "then this cell again")


@dataclass(frozen=True)
class Story:
    """The replayed week as the workspace holds it: when it starts, its scenario, its measurements and alerts."""

    subscription_id: str
    start: datetime
    scenario: Scenario
    measurements: pd.DataFrame
    alerts: pd.DataFrame


def story_of(workspace: Workspace) -> Story | None:
    """The workspace's replayed week (the latest, if several deployments have one), read from its data mart;
    None if there is none."""
    weeks = {sub: found for sub, found in workspace.config.get("history", {}).items() if found.get("start")}
    if not weeks:
        return None
    sub_id, found = max(weeks.items(), key=lambda item: item[1]["end"])
    datamart = DataMart(workspace.datamart_url)
    try:
        store = MonitorStore(datamart)
        done = store.measurements(sub_id, source=REPLAY_PREFIX)
        alerts = store.alerts(sub_id, source=REPLAY_PREFIX)
    finally:
        datamart.close()
    if done.empty:
        return None
    return Story(sub_id, datetime.fromisoformat(found["start"]), Scenario.from_dict(found["scenario"]), done, alerts)


def exercise_04_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """In how many of the week's evaluated hours would Sex alert with a fairness threshold of 0.8?"""
    if (verdict := unanswered(answer, "exercise_04_1")) is not None:
        return verdict
    count = whole_number(answer)
    if count is None:
        return hint("Answer with a whole number of hours (an int)")
    story = story_of(workspace_of(workspace))
    if story is None:
        return hint(NO_WEEK)
    fair = story.measurements[(story.measurements["monitor"] == "fairness")
                              & (story.measurements["status"] == "evaluated")]
    sex = pd.Series([m.get("Sex") for m in fair["metrics"]], dtype=float)
    expected = int((sex < THRESHOLD).sum())
    if count == expected:
        return right(f"Of {len(sex)} evaluated hours, {expected} have a disparate impact for Sex below "
                     f"{THRESHOLD:g} (the four-fifths rule of US employment law), against "
                     f"{int((sex < 0.95).sum())} below 0.95. A lower limit alerts later and less often: fewer false "
                     "alarms, but the campaign's change is seen later.")
    if count == int((sex < 0.95).sum()):
        return hint("That is how many hours alert with the tutorial's 0.95. Count again with the new limit: the "
                    "hours whose payload disparate impact for Sex is below 0.8.")
    if count == int((sex <= THRESHOLD).sum()):
        return hint("An alert fires when the value is strictly below the limit, not when it equals it.")
    return hint("Take the evaluated fairness measurements of section 3 (`views['payload']`, one per hour) and count "
                "those whose disparate impact for Sex is below 0.8; hours the monitor could not evaluate do not "
                "count.")


def exercise_04_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """How many hours after the data drift begins does the first data consistency alert fire?"""
    if (verdict := unanswered(answer, "exercise_04_2")) is not None:
        return verdict
    hours = whole_number(answer)
    if hours is None:
        return hint("Answer with a whole number of hours (an int; -1 if no such alert fires)")
    story = story_of(workspace_of(workspace))
    if story is None:
        return hint(NO_WEEK)
    begins = story.start + timedelta(days=story.scenario.drift_start_day)
    alerts = story.alerts[(story.alerts["monitor"] == "drift") & (story.alerts["metric"] == CONSISTENCY)
                          & (story.alerts["timestamp"] >= begins)]
    if alerts.empty:
        expected = -1
    else:
        expected = int((alerts["timestamp"].min() - begins) / timedelta(hours=1))
    if hours == expected:
        if expected < 0:
            return right("No data consistency alert fired this week: its drift stays under the limit.")
        return right(f"The drift begins at {begins:%Y-%m-%d %H:%M} and the first run to alert ends "
                     f"{expected} hours later: the share of moved applicants grows from nothing, and the drift "
                     "monitor runs every three hours on a three-hour window.")
    return hint("Take the story's drift alerts (`alerts`, monitor 'drift', metric 'data_drift_magnitude'), the "
                "earliest one's `timestamp` (the end of the run's window), and subtract when the drift begins: "
                "`summary.start + pd.Timedelta(days=scenario.drift_start_day)`; count the hours between them.")
