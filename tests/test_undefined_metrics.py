"""Degenerate data is never stored as "evaluated": a metric that is undefined on the window gives
"not evaluated: <reason>" instead."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from openscale_lab.data import load_feedback_data

from .helpers import own_subscription

pytestmark = pytest.mark.spark


@pytest.fixture
def mon(trained, deployment):  # type: ignore[no-untyped-def]
    monitoring = own_subscription(trained[0], deployment, "undefined")
    yield monitoring
    monitoring.close()


def test_feedback_of_one_class_leaves_quality_not_evaluated(mon) -> None:  # type: ignore[no-untyped-def]
    mon.quality.enable(min_records=10)
    feedback = load_feedback_data()
    one_class = feedback[feedback["Risk"] == "No Risk"].head(30)
    when = datetime(2022, 1, 1, 10)
    mon.feedback.log({"fields": list(one_class.columns), "values": one_class.values.tolist()}, timestamp=when)
    m = mon.quality.run(start=when - timedelta(minutes=1), end=when + timedelta(minutes=1))
    assert m.status == "not_evaluated" and "only one class (No Risk)" in m.message
    assert m.metrics == {} and mon.alerts("quality").query("measurement_id == @m.measurement_id").empty
    stored = mon.measurements("quality").set_index("measurement_id").loc[m.measurement_id]
    assert stored["status"] == "not_evaluated"
