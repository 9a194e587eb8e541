"""The monitor contract, checked over every registered monitor the way scikit-learn's `check_estimator` checks
every estimator: enable → run on no data, too little data, one-class and one-group data, normal data →
disable; configuration and measurement round-trip through the data mart; results serialise and render; no
exception anywhere, a clear status everywhere."""
from __future__ import annotations

import json
import math
import sys
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest

from openscale_lab.data import feed_sample, load_feedback_data
from openscale_lab.monitors import (
    MONITORS,
    BusinessApplications,
    Measurement,
    Monitor,
    Monitoring,
    MonitorNotEnabledError,
    measurement_from_row,
)
from openscale_lab.tutorial import (
    CREDIT_AMOUNT_FIELD,
    FAIRNESS_FEATURES,
    FAVOURABLE_LABEL,
    TUTORIAL_APPLICATION,
    UNFAVOURABLE_LABEL,
)

from .helpers import T0, insert_payload, own_subscription

matplotlib.use("Agg")
pytestmark = pytest.mark.spark

# Arguments for `enable` of monitors that have required settings; a monitor not listed is enabled with none.
ENABLE: dict[str, Callable[[Monitoring], dict[str, Any]]] = {
    "fairness": lambda mon: {"features": FAIRNESS_FEATURES, "favourable_classes": [FAVOURABLE_LABEL],
                             "unfavourable_classes": [UNFAVOURABLE_LABEL]},
    "business_kpis": lambda mon: {"application": BusinessApplications(mon.datamart).create(
        **{**TUTORIAL_APPLICATION, "name": f"contract {mon.subscription.subscription_id}"},
        subscription_ids=[mon.subscription.subscription_id]).name},
}
WINDOW = (T0, T0 + timedelta(hours=1))
DOCS = Path(__file__).resolve().parent.parent / "docs" / "adding-a-monitor.md"


def _records(n: int, seed: int) -> pd.DataFrame:
    sample = feed_sample(n, seed=seed)
    return pd.DataFrame(sample["values"], columns=sample["fields"])


def no_data(mon: Monitoring) -> None:
    """Nothing logged in the window."""


def too_little(mon: Monitoring) -> None:
    insert_payload(mon, _records(5, 1), T0)
    mon.feedback.log(load_feedback_data().head(5), timestamp=T0)


def one_class_one_group(mon: Monitoring) -> None:
    """Only women, every outcome favourable; feedback of one class only."""
    frame = _records(300, 2).assign(Sex="female", Age=40)
    insert_payload(mon, frame, T0, labels=[FAVOURABLE_LABEL] * len(frame))
    feedback = load_feedback_data()
    mon.feedback.log(feedback[feedback["Risk"] == "Risk"], timestamp=T0)


def normal(mon: Monitoring) -> None:
    insert_payload(mon, _records(400, 3), T0)
    mon.feedback.log(load_feedback_data(), timestamp=T0)


CASES = {"no data": no_data, "too little data": too_little, "one class and one group": one_class_one_group,
         "normal data": normal}


@pytest.fixture
def fresh_monitoring(trained, deployment):  # type: ignore[no-untyped-def]
    """Monitoring of a new, empty subscription of the suite's deployment (its own payload log)."""
    mon = own_subscription(trained[0], deployment, "contract")
    yield mon
    mon.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_measurement(monitor: Monitor[Any, Any], m: Measurement) -> None:
    """A clear status, finite thresholded metrics, and a result that round-trips, serialises and renders."""
    assert isinstance(m, Measurement) and m.monitor == monitor.name
    assert m.status in ("evaluated", "not_evaluated")
    if m.evaluated:
        for t in m.thresholds:
            assert math.isfinite(m.metrics[t.metric]), f"{monitor.name}: {t.metric} is not finite"
        assert isinstance(m.details, monitor.details_type)
    else:
        assert m.message.startswith("not evaluated: ") and len(m.message) > len("not evaluated: ") + 3
        assert m.details is None
    stored = monitor.measurements()
    row = stored[stored["measurement_id"] == m.measurement_id]
    assert len(row) == 1
    back = measurement_from_row(row.iloc[0].to_dict())
    assert (back.status, back.message, back.record_count) == (m.status, m.message, m.record_count)
    assert _same(back.metrics, m.metrics) and back.thresholds == m.thresholds
    assert _same(back.to_dict()["details"], m.to_dict()["details"])
    assert len(monitor.alerts().query("measurement_id == @m.measurement_id")) == len(m.broken())
    parsed = json.loads(m.to_json())
    assert parsed["measurement_id"] == m.measurement_id and parsed["status"] == m.status
    page = m._repr_html_()
    assert monitor.name in page and m.status in page
    ax = m.plot()
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", list(MONITORS))
def test_every_monitor_follows_the_contract(name: str, case: str, fresh_monitoring: Monitoring) -> None:
    mon = fresh_monitoring
    monitor = mon.monitor(name)
    assert getattr(mon, name) is monitor and name in dir(mon)
    assert monitor.get_details()["status"] == "not enabled"
    with pytest.raises(MonitorNotEnabledError, match="enable"):
        monitor.run(*WINDOW)
    config = monitor.enable(**ENABLE.get(name, lambda _: {})(mon))
    assert config == monitor.config()  # stored and read back, typed
    details = monitor.get_details()
    assert details["status"] == "enabled" and details["config"] == config.to_dict()
    CASES[case](mon)
    if name == "business_kpis":
        apps = BusinessApplications(mon.datamart)
        apps.derive_credit_payload(apps.get(config.application), mon.subscription, favourable=FAVOURABLE_LABEL,
                                    amount_field=CREDIT_AMOUNT_FIELD)
    m = monitor.run(*WINDOW)
    check_measurement(monitor, m)
    if case == "no data" and config.min_records > 0:
        assert m.message == f"not evaluated: 0 of {config.min_records} {monitor.data_description}"
    if case == "normal data" and name != "business_kpis":
        assert m.evaluated, m.message
    assert monitor.latest(evaluated_only=False).measurement_id == m.measurement_id
    assert monitor.disable() is True and monitor.disable() is False
    assert monitor.get_details()["status"] == "not enabled" and not monitor.enabled
    assert m.measurement_id in set(monitor.measurements()["measurement_id"])  # measurements stay


def documented_example() -> type[Monitor[Any, Any]]:
    """The monitor file shown in docs/adding-a-monitor.md, loaded as a module of `openscale_lab.monitors`."""
    code = DOCS.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    module = types.ModuleType("openscale_lab.monitors.documented_example")
    module.__package__ = "openscale_lab.monitors"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(code, str(DOCS), "exec"), module.__dict__)
    monitors = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Monitor) and v is not Monitor]
    assert len(monitors) == 1
    return monitors[0]


@pytest.mark.parametrize("case", list(CASES))
def test_the_documented_monitor_is_one_file_and_one_registration(case: str, fresh_monitoring: Monitoring,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    example = documented_example()
    monkeypatch.setitem(MONITORS, example.name, example)  # the one registration
    test_every_monitor_follows_the_contract(example.name, case, fresh_monitoring)


def test_undefined_metrics_are_not_evaluated_with_a_reason(fresh_monitoring: Monitoring) -> None:
    mon = fresh_monitoring
    mon.quality.enable(min_records=10)
    mon.fairness.enable(**ENABLE["fairness"](mon), min_records=100)
    one_class_one_group(mon)
    quality, fairness = mon.quality.run(*WINDOW), mon.fairness.run(*WINDOW)
    assert quality.message == "not evaluated: the feedback holds only one class (Risk); area under ROC needs both"
    assert fairness.message == ("not evaluated: Sex: 300 records in the monitored group and 0 in the reference "
                                "group; both are needed")
    assert mon.alerts().empty


def test_measurements_stored_before_typed_details_still_load(fresh_monitoring: Monitoring) -> None:
    """Rows as the data mart held them before details were typed (plain dicts, older keys) load as typed."""
    row = {"measurement_id": "old1", "monitor": "fairness", "subscription_id": "s", "status": "evaluated",
           "message": "", "window_start": None, "window_end": T0, "record_count": 208, "timestamp": T0,
           "metrics": {"Sex": 1.3}, "thresholds": [{"metric": "Sex", "type": "lower_limit", "value": 0.95}],
           "details": {"favourable_classes": ["No Risk"], "features": {"Sex": {
               "monitored_group": ["female"], "reference_group": ["male"], "monitored_count": 60,
               "reference_count": 148, "monitored_favourable_rate": 0.8, "reference_favourable_rate": 0.6,
               "disparate_impact": 1.33, "balanced_disparate_impact": 1.2, "perturbation": {"to_reference": "male"},
               "some_key_of_the_future": 1}}}}
    m = measurement_from_row(row)
    assert m.details.features["Sex"].rates("payload") == (0.8, 0.6, 1.33)
    assert m.details.features["Sex"].balanced_disparate_impact == 1.2
    quality = measurement_from_row({**row, "monitor": "quality", "details": {
        "confusion_matrix": {"tp": 1, "fp": 2, "tn": 3, "fn": 4}, "positive_label": "Risk"}})
    assert quality.details.confusion_matrix.sensitivity == pytest.approx(0.2)


def test_a_run_is_stored_whole_or_not_at_all(fresh_monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch) -> None:
    mon = fresh_monitoring
    mon.fairness.enable(**ENABLE["fairness"](mon))
    normal(mon)

    def broken(*_: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(mon.fairness, "save_with", broken)  # fails while writing the biased transactions
    with pytest.raises(RuntimeError, match="disk is full"):
        mon.fairness.run(*WINDOW)
    assert mon.fairness.measurements().empty and mon.alerts().empty and mon.fairness.biased_transactions().empty
