"""Self-checks of notebook 02 (the monitors): fairness on balanced data, the disparate impact for Age worked out by
hand, and a batch of your own that makes the drift monitor's data consistency alert. Each is worked out from the
measurements and alerts in the learner's own data mart."""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ..datamart.database import LIVE, DataMart, Subscription
from ..deployments.engine import MLEngine
from ..monitors.base import MonitorStore
from ..monitors.results import EVALUATED
from ..tutorial import DEPLOYMENT_NAME
from ..workspace import Workspace
from .verdict import Verdict, hint, right, unanswered, workspace_of

CONSISTENCY = "data_drift_magnitude"  # the drift monitor's drop in data consistency
AGE_TOLERANCE = 1e-6  # exercise 02.2: how close a hand-computed disparate impact must be
NO_DEPLOYMENT = "There is no deployment in this workspace yet: run the notebook from the top first, then this cell"
NO_FAIRNESS = ("There is no evaluated fairness measurement yet: run section 3 (`monitoring.fairness.run()`) first, "
               "then this cell again")


@contextmanager
def subscription_of(workspace: Workspace) -> Iterator[tuple[DataMart, Subscription | None]]:
    """The workspace's data mart (closed afterwards) and the subscription of the tutorial's deployment (the one
    `lab.ensure_deployment` serves), or None if there is none yet. Nothing is started."""
    datamart = DataMart(workspace.datamart_url)
    try:
        found = MLEngine(workspace).find(DEPLOYMENT_NAME)
        yield datamart, datamart.subscription_for_deployment(found[-1].deployment_id) if found else None
    finally:
        datamart.close()


def latest_fairness(workspace: Workspace) -> pd.Series | None:
    """The latest evaluated fairness measurement of the tutorial's deployment (a row of the data mart's
    measurements, metrics and thresholds as plain dicts), or None."""
    with subscription_of(workspace) as (datamart, sub):
        if sub is None:
            return None
        # live runs only: a replayed week (notebook 04) can hold later measurements than the learner's own run
        found = MonitorStore(datamart).measurements(sub.subscription_id, "fairness", LIVE)
    found = found[found["status"] == EVALUATED]
    return None if found.empty else found.iloc[-1]


def feature_names(answer: Any) -> set[str] | None:
    """An answer meant as a collection of feature names (a list, set or tuple of strings, or one string), with
    the case of each name as given; None for anything else."""
    if isinstance(answer, str):
        return {answer.strip()}
    if isinstance(answer, (list, set, tuple, frozenset)) and all(isinstance(a, str) for a in answer):
        return {a.strip() for a in answer}
    return None


def exercise_02_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Which fairness features would alert if each feature's threshold applied to its disparate impact on the
    balanced data (payload + perturbed) of the latest fairness run, instead of the payload's?"""
    if (verdict := unanswered(answer, "exercise_02_1")) is not None:
        return verdict
    given = feature_names(answer)
    if given is None:
        return hint("Answer with a list of feature names, as strings (an empty list [] if none would alert)")
    latest = latest_fairness(workspace_of(workspace))
    if latest is None:
        return hint(NO_FAIRNESS)
    limits = {t["metric"]: t for t in latest["thresholds"]}
    by_case = {name.lower(): name for name in limits}
    unknown = sorted(g for g in given if g.lower() not in by_case)
    if unknown:
        return hint(f"Only the monitored features can alert: {', '.join(sorted(limits))}")
    given = {by_case[g.lower()] for g in given}
    metrics = latest["metrics"]
    alerting = {f for f, t in limits.items() if metrics[f"{f}_balanced"] < t["value"]}
    if given == alerting:
        shown = ", ".join(f"{f} {metrics[f'{f}_balanced']:.3f} (payload {metrics[f]:.3f})" for f in sorted(limits))
        return right(f"Disparate impact on balanced data against each feature's threshold: {shown}. The balanced "
                     "view compares the same applicants in both groups, so it shows the model's own treatment of "
                     "the groups apart from who happened to apply.")
    on_payload = {f for f, t in limits.items() if metrics[f] < t["value"]}
    if given == on_payload:
        return hint("Those are the features alerting on the payload data. The question asks about the balanced data: "
                    "look at the metrics `<feature>_balanced` of the latest fairness measurement "
                    "(`fairness.metrics`), or `fairness.details.plot(fairness, view=\"balanced\")`")
    return hint("Compare each feature's disparate impact on balanced data (the metric `<feature>_balanced` in "
                "`fairness.metrics`) with its threshold (`fairness.thresholds`): a value below its lower limit alerts")


def exercise_02_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """The disparate impact for Age in the latest fairness run, computed by hand from the payload (within 1e-6)."""
    if (verdict := unanswered(answer, "exercise_02_2")) is not None:
        return verdict
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or not math.isfinite(float(answer)):
        return hint("Answer with one number (a float): the favourable rate of the monitored age group divided by "
                    "that of the reference group")
    latest = latest_fairness(workspace_of(workspace))
    if latest is None:
        return hint(NO_FAIRNESS)
    metrics, value = latest["metrics"], float(answer)
    if "Age" not in metrics:
        return hint("The latest fairness run does not monitor Age: enable fairness as in section 3 and run it again")
    expected = float(metrics["Age"])
    if abs(value - expected) <= AGE_TOLERANCE:
        return right(f"{expected:.6f}: the monitor's stored value for Age, from the same records of its window.")
    if value and abs(1 / value - expected) <= AGE_TOLERANCE:
        return hint("The groups are the other way round: the monitored group's rate goes on top")
    if "Sex" in metrics and abs(value - float(metrics["Sex"])) <= AGE_TOLERANCE:
        return hint("That is the value for Sex: the Age groups are ranges of ages, as the fairness configuration "
                    "says (`monitoring.fairness.config()`)")
    if abs(value - float(metrics.get("Age_balanced", math.nan))) <= AGE_TOLERANCE:
        return hint("That is the value on balanced data: take the payload records only, with the labels they got")
    return hint("Read the payload records of the fairness run's window (`fairness.window_start` to "
                "`fairness.window_end`, live records: `source=\"\"`), as the Sex example does; the monitored and "
                "reference groups are the age ranges of the fairness configuration "
                "(`monitoring.fairness.config()`), both ends included (`Series.between`), and favourable means one of "
                "its favourable classes")


def exercise_02_3(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """The id of a drift measurement whose data consistency alerts on a window that holds only applicants no
    earlier drift run judged."""
    if (verdict := unanswered(answer, "exercise_02_3")) is not None:
        return verdict
    if not isinstance(answer, str) or not answer.strip():
        return hint("Answer with the measurement's id, a text: `measurement.measurement_id` of what "
                    "`monitoring.drift.run(start=...)` returned")
    answer = answer.strip()
    with subscription_of(workspace_of(workspace)) as (datamart, sub):
        if sub is None:
            return hint(NO_DEPLOYMENT)
        store = MonitorStore(datamart)
        every = store.measurements(sub.subscription_id)
        alerts = store.alerts(sub.subscription_id, "drift")
    found = every[every["measurement_id"] == answer]
    if found.empty:
        return hint("Your data mart has no measurement with that id: answer with `measurement_id` of the "
                    "measurement `monitoring.drift.run(start=...)` returned")
    run = found.iloc[0]
    if run["monitor"] != "drift":
        return hint(f"That is a measurement of the {run['monitor']} monitor: answer with a drift run's id")
    if run["status"] != EVALUATED:
        return hint(f"That drift run was not evaluated ({run['message']}): its window needs at least as many of "
                    "your applicants as the monitor's min_records")
    if CONSISTENCY not in set(alerts.loc[alerts["measurement_id"] == answer, "metric"]):
        return hint("Data consistency did not alert in that run: more of your applicants must break a constraint "
                    "of the training data (`monitoring.drift.constraints().describe()` lists them)")
    earlier = every[(every["monitor"] == "drift") & (every["measurement_id"] != answer)
                    & (every["window_end"] < run["window_end"])]
    if pd.isna(run["window_start"]) or (not earlier.empty and run["window_start"] < earlier["window_end"].max()):
        return hint("That window also holds applicants an earlier drift run judged: note the time, send a new batch, "
                    "and run drift from that time (`monitoring.drift.run(start=...)`), so the window holds only "
                    "your applicants")
    share = run["metrics"][CONSISTENCY]
    return right(f"{share:.0%} of your {run['record_count']} applicants break a constraint of the training data, "
                 "so data consistency alerts on them alone.")
