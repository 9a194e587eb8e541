"""Self-checks of notebook 03 (custom monitors and payload analytics): a custom monitor of your own that alerts,
and which credit history the model calls risky most often. Both are read from the learner's own data mart."""
from __future__ import annotations

import os
from typing import Any

from ..datamart.analytics import payload_distribution
from ..monitors.base import MonitorStore
from ..monitors.custom import CustomMonitors
from ..monitors.results import EVALUATED
from ..tutorial import UNFAVOURABLE_LABEL
from ..workspace import Workspace
from .nb02 import NO_DEPLOYMENT, subscription_of
from .verdict import Verdict, hint, right, unanswered, workspace_of

TUTORIAL_MONITOR = "my model performance"  # the notebook's own custom monitor


def exercise_03_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """The name of a custom monitor of one's own, registered with a thresholded metric, enabled for the deployment's
    subscription, with a stored value that raised an alert."""
    if (verdict := unanswered(answer, "exercise_03_1")) is not None:
        return verdict
    if not isinstance(answer, str) or not answer.strip():
        return hint("Answer with your custom monitor's name, as a string")
    name = answer.strip()
    if name == TUTORIAL_MONITOR:
        return hint("That is the notebook's own monitor: register one of your own, with another name")
    with subscription_of(workspace_of(workspace)) as (datamart, sub):
        if sub is None:
            return hint(NO_DEPLOYMENT)
        definition = CustomMonitors(datamart).get(name, missing_ok=True)
        store = MonitorStore(datamart)
        stored = store.measurements(sub.subscription_id, name) if definition is not None else None
        alerts = store.alerts(sub.subscription_id, name) if definition is not None else None
    if definition is None or stored is None or alerts is None:
        return hint("No custom monitor with that name is registered in your data mart: "
                    "`lab.CustomMonitors(datamart).register(name, metrics=[...])` registers one (names are "
                    "case-sensitive)")
    stored = stored[stored["status"] == EVALUATED]
    if stored.empty:
        return hint("Your monitor has no stored value for the deployment's subscription yet: enable it with "
                    "`monitoring.custom(name).enable(...)` and store a value with `.run({metric: value})`")
    if alerts.empty:
        if not any(len(limits) for limits in stored["thresholds"]):
            return hint("Your metric has no threshold: give it a `lower_limit` or an `upper_limit` when you register "
                        "it, or when you enable the monitor (`enable(thresholds=...)`), then store a value again")
        return hint("None of the values you stored breaks its threshold: store one below a lower limit (or above an "
                    "upper limit)")
    alert = alerts.iloc[-1]
    return right(f"{alert['message']}: the alert is stored in the data mart like any built-in monitor's.")


def exercise_03_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Which CreditHistory value has the highest share of Risk predictions in the payload log?"""
    if (verdict := unanswered(answer, "exercise_03_2")) is not None:
        return verdict
    if not isinstance(answer, str) or not answer.strip():
        return hint("Answer with one CreditHistory value, as a string")
    with subscription_of(workspace_of(workspace)) as (datamart, sub):
        if sub is None:
            return hint(NO_DEPLOYMENT)
        counts = payload_distribution(datamart, sub, ["CreditHistory", sub.predicted_label_column])
    if counts.empty:
        return hint("The payload log is empty: score some applicants first (section 2 of notebook 03 needs them)")
    table = counts.pivot_table(index="CreditHistory", columns=sub.predicted_label_column, values="count",
                               aggfunc="sum", fill_value=0)
    risk = table[UNFAVOURABLE_LABEL] if UNFAVOURABLE_LABEL in table else table.sum(axis=1) * 0
    share = risk / table.sum(axis=1)
    best = {str(v).lower() for v in share[share == share.max()].index}
    given = answer.strip().lower()
    if given in best:
        return right(f"{share.max():.1%} of its payload records are predicted {UNFAVOURABLE_LABEL} (the others: "
                     f"{', '.join(f'{v} {s:.1%}' for v, s in share.sort_values(ascending=False).items())}).")
    known = {str(v).lower() for v in table.index}
    if given not in known:
        return hint("That is not a CreditHistory value found in the payload log: `by_history` lists them")
    if risk.max() > 0 and given in {str(v).lower() for v in risk[risk == risk.max()].index}:
        return hint(f"That value has the most {UNFAVOURABLE_LABEL} predictions, but the question asks for the share: "
                    f"its {UNFAVOURABLE_LABEL} count divided by all predictions for that value")
    return hint(f"For each CreditHistory value in `by_history`, divide the count of {UNFAVOURABLE_LABEL} predictions "
                "by the count of all its predictions, and take the value with the largest share")
