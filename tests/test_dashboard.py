"""Notebook 05: the Insights dashboard, the static report, and the dashboard in headless Chromium; first the
dashboard's pure parts (outcomes per value, charts, tiles, rows of transactions), which need no Spark."""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from openscale_lab.datamart.database import DataMart
from openscale_lab.monitors.base import MonitorStore
from openscale_lab.notebook_runner import notebooks_dir, read_records, run_notebook

from .helpers import assert_exercises_solved, copy_workspace

ARTIFACTS = Path(os.environ.get("OPENSCALE_LAB_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
DEPLOYMENT = "Spark German Risk Deployment - Final"
APPLICATION = "Tutorial Credit Risk Application"
SEX = {"monitored": ["female"], "reference": ["male"]}
AGE = {"monitored": [[18, 25]], "reference": [[26, 75]]}


# -- outcomes per value (the fairness monitor keeps them, the dashboard draws them) --------------------------
def test_outcomes_per_value_count_each_value_of_both_groups() -> None:
    from openscale_lab.monitors.fairness import outcomes_per_value

    ages = [19, 30, 19, 80, 30, 25]  # 80 is in neither group: left out, as the rates leave it out
    found = outcomes_per_value(ages, np.array([1, 0, 0, 1, 1, 1], dtype=bool), AGE)
    assert found == [{"value": 19, "group": "monitored", "favourable": 1, "unfavourable": 1},
                     {"value": 25, "group": "monitored", "favourable": 1, "unfavourable": 0},
                     {"value": 30, "group": "reference", "favourable": 1, "unfavourable": 1}]
    assert outcomes_per_value([], np.array([], dtype=bool), SEX) == []


def test_balanced_outcomes_hold_the_payload_and_every_perturbed_copy() -> None:
    from openscale_lab.monitors.fairness import Perturbed, _value_outcomes

    values = pd.Series(["female", "male", "male", "female"])
    is_fav = np.array([False, True, True, True])
    monitored, reference = (values == "female").to_numpy(), (values == "male").to_numpy()
    perturbed = Perturbed(monitored, reference, ["male", "male"], np.array(["Risk", "No Risk"], dtype=object),
                          ["female", "female"], np.array(["Risk", "Risk"], dtype=object))
    found = _value_outcomes(values, is_fav, perturbed, {"feature": "Sex", **SEX}, ["No Risk"])
    assert found["payload"] == [{"value": "female", "group": "monitored", "favourable": 1, "unfavourable": 1},
                                {"value": "male", "group": "reference", "favourable": 2, "unfavourable": 0}]
    # balanced: the payload plus the women moved to male (Risk, No Risk) and the men moved to female (Risk, Risk)
    assert found["balanced"] == [{"value": "female", "group": "monitored", "favourable": 1, "unfavourable": 3},
                                 {"value": "male", "group": "reference", "favourable": 3, "unfavourable": 1}]


def test_value_outcomes_frame_and_details_stored_before_they_were_kept() -> None:
    from openscale_lab.dashboard import charts
    from openscale_lab.dashboard.data import value_outcomes
    from openscale_lab.monitors.fairness import FairnessDetails

    stored = {"features": {"Sex": {"monitored_count": 2, "reference_count": 2, "value_outcomes": {
        "payload": [{"value": "female", "group": "monitored", "favourable": 1, "unfavourable": 1}],
        "balanced": [{"value": "female", "group": "monitored", "favourable": 2, "unfavourable": 2}]}}}}
    frame = value_outcomes(FairnessDetails.from_dict(stored).features["Sex"])
    assert frame.to_dict("records") == [
        {"view": "Payload", "value": "female", "group": "monitored", "favourable": 1, "unfavourable": 1},
        {"view": "Payload + Perturbed", "value": "female", "group": "monitored", "favourable": 2, "unfavourable": 2}]
    older = FairnessDetails.from_dict({"features": {"Sex": {"monitored_count": 2, "reference_count": 2}}})
    empty = value_outcomes(older.features["Sex"])
    assert empty.empty and list(empty.columns) == ["view", "value", "group", "favourable", "unfavourable"]
    fig = charts.value_outcomes(empty, "Sex")  # says so instead of failing
    assert any("not stored" in t.get_text() for ax in fig.axes for t in ax.texts)
    assert charts.to_png(charts.value_outcomes(frame, "Sex")).startswith(b"\x89PNG")


# -- time charts ---------------------------------------------------------------------------------------
def _hourly(values: list[float | None]) -> pd.DataFrame:
    t0 = datetime(2026, 11, 20, 1)
    ends = [t0 + timedelta(hours=i) for i in range(len(values))]
    return pd.DataFrame({"window_end": pd.to_datetime(ends), "measurement_id": [f"m{i}" for i in range(len(values))],
                         "window_start": pd.to_datetime([e - timedelta(hours=1) for e in ends]),
                         "evaluated": [v is not None for v in values],
                         "Sex": [np.nan if v is None else v for v in values]})


def test_time_chart_breaks_its_line_at_hours_not_evaluated_and_marks_them() -> None:
    from openscale_lab.dashboard import charts
    from openscale_lab.dashboard.panels import SERIES

    series = _hourly([1.0, 0.9, None, None, 0.8, 0.97])
    alerts = pd.DataFrame({"measurement_id": ["m4"], "metric": ["Sex"], "value": [0.8]})
    thresholds = [{"metric": "Sex", "type": "lower_limit", "value": 0.95}]
    fig = charts.timeseries(series, SERIES[0], thresholds, alerts, selected=series["window_end"][4].to_pydatetime())
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert np.isnan(np.asarray(lines["Sex"].get_ydata(), dtype=float)[[2, 3]]).all()  # the line breaks there
    assert len(lines["not evaluated"].get_xdata()) == 2 and lines["not evaluated"].get_color() == charts.NOT_EVALUATED
    assert list(lines["alert"].get_ydata()) == [0.8] and lines["alert"].get_color() == charts.ALERT
    assert any(line.get_linestyle() == "--" and list(line.get_ydata()) == [0.95, 0.95] for line in ax.get_lines())
    assert ax.get_ylabel() == "disparate impact (ratio)"
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"Sex", "not evaluated", "alert"}


def test_every_chart_has_its_unit_on_each_axis() -> None:
    from openscale_lab.dashboard.panels import SERIES

    for spec in SERIES:
        assert all(p.unit for p in spec.panels), spec.monitor
    units = {p.unit for s in SERIES for p in s.panels}
    assert {"area under ROC (AUC)", "response time (ms)", "drop in accuracy"} <= units
    assert any("share of transactions" in u for u in units)


def test_each_kpi_has_its_own_axis() -> None:
    from openscale_lab.dashboard import charts
    from openscale_lab.dashboard.data import kpi_units
    from openscale_lab.dashboard.panels import kpi_spec
    from openscale_lab.tutorial import TUTORIAL_APPLICATION

    metrics = TUTORIAL_APPLICATION["business_metrics"]
    days = pd.to_datetime(["2026-11-20", "2026-11-21", "2026-11-22"])
    series = pd.DataFrame({"window_start": days, "window_end": days + pd.Timedelta(days=1),
                           "measurement_id": ["d0", "d1", "d2"], "evaluated": [True, True, True],
                           "Accepted Credits": [2300.0, 2250.0, 2100.0],
                           "Credit Amount Granted": [6.1e6, 5.9e6, 5.2e6]})
    alerts = pd.DataFrame({"measurement_id": ["d2", "d2"], "metric": ["Accepted Credits", "Credit Amount Granted"],
                           "value": [2100.0, 5.2e6]})
    thresholds = [{"metric": m["name"], "type": "lower_limit", "value": float(m["lower_limit"])} for m in metrics]
    spec = kpi_spec(kpi_units(metrics), APPLICATION)
    fig = charts.timeseries(series, spec, thresholds, alerts)
    credits, amount = fig.axes
    assert credits.get_ylabel() == "Accepted credits per day" and amount.get_ylabel() == "Credit amount granted per day"
    assert credits.get_ylim()[1] < 10_000 < 1_000_000 < amount.get_ylim()[1]  # neither flattened by the other
    assert [len(ax.patches) for ax in fig.axes] == [3, 3]  # a bar per day on each
    assert all(any(line.get_label() == "alert" for line in ax.get_lines()) for ax in fig.axes)


# -- tiles and rows ------------------------------------------------------------------------------------
def test_tiles_show_each_monitors_alerts_beside_its_latest_value() -> None:
    from openscale_lab.dashboard.tiles import application_tile, deployment_tile

    tile = {"deployment_name": DEPLOYMENT, "model": "model v1", "total_alerts": 5,
            "monitors": ["fairness", "quality", "drift", "model_health", "my_monitor", "business_kpis"],
            "alerts": {"fairness": 3, "business_kpis": 2},
            "latest": {"fairness": {"metrics": {"Sex": 0.8, "Age": 1.0}, "thresholds": [
                {"metric": "Sex", "type": "lower_limit", "value": 0.95},
                {"metric": "Age", "type": "lower_limit", "value": 0.95}]},
                "my_monitor": {"metrics": {"sensitivity": 0.5}, "thresholds": []}}}
    page = deployment_tile(tile)
    assert "Sex 0.800, Age 1.000" in page and "sensitivity 0.500" in page and "⚠ 3 alerts" in page
    for monitor, count in [("fairness", 3), ("quality", 0), ("drift", 0), ("model_health", 0), ("my_monitor", 0),
                           ("business_kpis", 2)]:
        row = page.split(f"data-monitor='{monitor}'")[1].split("</tr>")[0]
        assert f"data-alerts='{count}'" in row
    app = {"application": APPLICATION, "deployment_name": DEPLOYMENT, "day": datetime(2026, 11, 22),
           "values": {"Accepted Credits": 2100.0, "Credit Amount Granted": 5_200_000.0},
           "limits": {"Accepted Credits": {"lower_limit": 2150}, "Credit Amount Granted": {"lower_limit": 5_500_000}},
           "alerts": {"Accepted Credits": 1, "Credit Amount Granted": 0}}
    page = application_tile(app)
    assert "2026-11-22" in page and "2,100" in page and "5,200,000" in page and "limit ≥ 5,500,000" in page
    assert "data-alerts='1'" in page.split("data-kpi='Accepted Credits'")[1].split("</tr>")[0]


def test_each_listed_transaction_has_an_explain_button() -> None:
    from openscale_lab.dashboard.rows import ExplainableRows

    explained: list[str] = []
    rows = ExplainableRows(explained.append, size=2)
    frame = pd.DataFrame({"scoring_id": ["a", "b", "c"], "Age": [30, 40, 50], "note": ["x" * 80, "", ""]})
    rows.show(frame, ["scoring_id", "Age", "note", "missing"], "<p>3 transactions</p>")
    assert [r.layout.display for r in rows.rows] == ["flex", "flex"] and "1 more" in rows.more.value
    assert "scoring_id" in rows.header.value and "missing" not in rows.header.value
    assert "x" * 80 in rows.cells[0].value  # whole in the tooltip, cut on the page
    rows.buttons[1].click()
    assert explained == ["b"]
    rows.show(frame.head(1), ["scoring_id"], "")
    assert [r.layout.display for r in rows.rows] == ["flex", "none"] and rows.explain_row(1) is None
    assert rows.more.value == ""


def test_series_keeps_measurements_not_evaluated_only_when_asked(tmp_path: Path) -> None:
    from openscale_lab.dashboard.data import InsightsData
    from openscale_lab.monitors.results import Measurement, Threshold

    url = f"sqlite:///{tmp_path / 'dm.sqlite'}"
    dm = DataMart(url)
    store = MonitorStore(dm)
    t0 = datetime(2026, 11, 20, 1)
    for i, status in enumerate(["evaluated", "not_evaluated", "evaluated"]):
        store.save(Measurement("quality", "s1", status, "" if status == "evaluated" else "too few records",
                               t0 + timedelta(hours=i), t0 + timedelta(hours=i + 1), 10,
                               {"area_under_roc": 0.6 + i / 10} if status == "evaluated" else {},
                               [Threshold("area_under_roc", "lower_limit", 0.7)]))
    dm.close()
    data = InsightsData(SimpleNamespace(datamart_url=url))  # type: ignore[arg-type]
    try:
        assert len(data.series("s1", "quality")) == 2  # what notebook 04 and lowest_fairness_hour read
        every = data.series("s1", "quality", not_evaluated=True)
        assert every["evaluated"].tolist() == [True, False, True]
        assert np.isnan(every["area_under_roc"][1]) and every["area_under_roc"][2] == pytest.approx(0.8)
        assert (every["window_end"] - every["window_start"] == pd.Timedelta(hours=1)).all()
        assert data.series("s1", "drift", not_evaluated=True).empty
        assert data.alerts("s1")["metric"].tolist() == ["area_under_roc"]
    finally:
        data.close()


# -- notebook 05 and the report --------------------------------------------------------------------------
@pytest.mark.notebooks
@pytest.mark.spark
def test_notebook_05_dashboard_and_report(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.monitors.drift import VIEWS

    ws, hist, _ = history
    report = tmp_path / "report.html"
    rec = read_records(run_notebook(notebooks_dir() / "05_insights_dashboard.ipynb", tmp_path,
                                    {"WORKSPACE": str(ws.root), "REPORT": str(report)}))
    assert rec["tiles"] == [DEPLOYMENT]
    assert rec["hours"] == hist["hours"] == len(rec["slider_hours"])
    start, end = datetime.fromisoformat(hist["history_start"]), datetime.fromisoformat(hist["history_end"])
    slider = [datetime.fromisoformat(h) for h in rec["slider_hours"]]
    assert slider == sorted(slider) and start < slider[0] and slider[-1] <= end
    assert rec["selected_hour"] == hist["lowest_fairness_hour"]
    assert rec["lowest_fairness_sex"] == pytest.approx(hist["lowest_fairness_sex"])
    sex = next(r for r in rec["fairness_rates"] if r["feature"] == "Sex")
    assert sex["disparate impact"] == pytest.approx(hist["lowest_fairness_sex"])
    assert sex["monitored group"] == "female" and sex["reference group"] == "male"
    sub_id = hist["subscription_id"]
    hour = datetime.fromisoformat(rec["selected_hour"])
    dm = DataMart(ws.datamart_url)
    try:
        store = MonitorStore(dm)
        alerts = store.alerts(sub_id)
        assert rec["total_alerts"] == len(alerts)
        assert rec["alerts_by_monitor"] == {str(k): int(v) for k, v in alerts.groupby("monitor").size().items()}
        check_kpi_tile(rec["applications"], store, sub_id)
        fairness = store.measurements(sub_id, "fairness")
        chosen = fairness[fairness["window_end"] == hour].iloc[0]
        check_value_outcomes(rec["value_outcomes"], chosen["details"]["features"])
        drift = store.measurements(sub_id, "drift")
        covering = drift[(drift["window_end"] >= hour) & (drift["window_end"] < hour + timedelta(hours=3))].iloc[0]
        assert covering["status"] == "evaluated"
        stored = _rows(dm, "drift_transactions", covering["measurement_id"]).sort_values(
            ["p_correct", "scoring_timestamp"], kind="stable")
        assert set(rec["drift_listed"]) == set(VIEWS)
        for view, kinds in VIEWS.items():
            assert rec["drift_listed"][view] == stored[stored["view"].isin(kinds)]["scoring_id"].tolist(), view
        assert sum(map(len, rec["drift_listed"].values())) > 0
        biased = _rows(dm, "biased_transactions", chosen["measurement_id"])
        assert rec["biased_listed"] == biased["scoring_id"].nunique() > 0
        assert rec["explained"] == rec["first_row"] and rec["first_row"] in set(biased["scoring_id"])
        assert rec["explained_class"] in ("Risk", "No Risk")
    finally:
        dm.close()
    check_report(report, hist, rec["alerts_by_monitor"])
    # the exercises explain transactions (explanations are stored): in a copy, the shared week stays as it is
    assert_exercises_solved("05", copy_workspace(ws, tmp_path / "exercises"))


def check_kpi_tile(applications: list[dict[str, Any]], store: MonitorStore, sub_id: str) -> None:
    """The business application's tile shows the latest KPI measurement's values and each KPI's alerts."""
    assert [a["application"] for a in applications] == [APPLICATION]
    kpis = store.measurements(sub_id, "business_kpis")
    latest = kpis[kpis["status"] == "evaluated"].sort_values("window_end").iloc[-1]
    tile = applications[0]
    assert tile["measurement_id"] == latest["measurement_id"]
    assert tile["values"] == pytest.approx({k: latest["metrics"][k] for k in tile["values"]})
    assert set(tile["values"]) == {"Accepted Credits", "Credit Amount Granted"}
    counts = store.alerts(sub_id, "business_kpis").groupby("metric").size()
    assert tile["alerts"] == {k: int(counts.get(k, 0)) for k in tile["values"]}


def check_value_outcomes(outcomes: dict[str, list[dict[str, Any]]], features: dict[str, Any]) -> None:
    """Outcomes per value add up to the measurement's group sizes and favourable rates, on Payload data and on
    Payload + Perturbed data (each record there twice: itself and its copy in the other group)."""
    assert set(outcomes) == set(features) == {"Sex", "Age"}
    for feature, rows in outcomes.items():
        stored = features[feature]
        frame = pd.DataFrame(rows)
        frame["records"] = frame["favourable"] + frame["unfavourable"]
        totals = frame.groupby(["view", "group"])[["favourable", "records"]].sum()
        both = stored["monitored_count"] + stored["reference_count"]
        assert totals.loc[("Payload", "monitored"), "records"] == stored["monitored_count"]
        assert totals.loc[("Payload", "reference"), "records"] == stored["reference_count"]
        assert totals.loc[("Payload + Perturbed", "monitored"), "records"] == both
        assert totals.loc[("Payload + Perturbed", "reference"), "records"] == both
        for view, prefix in [("Payload", ""), ("Payload + Perturbed", "balanced_")]:
            for group in ("monitored", "reference"):
                row = totals.loc[(view, group)]
                assert row["favourable"] / row["records"] == pytest.approx(
                    stored[f"{prefix}{group}_favourable_rate"]), (feature, view, group)
        if feature == "Sex":
            assert set(frame["value"]) == {"female", "male"}
        else:  # Age: one entry per age, each in its group's range
            ages = frame[frame["view"] == "Payload"]
            assert ((ages["group"] == "monitored") == ages["value"].between(18, 25)).all()


def _rows(dm: DataMart, table: str, measurement_id: str) -> pd.DataFrame:
    import sqlalchemy as sa

    from openscale_lab.datamart import tables

    t = getattr(tables, table)
    with dm.engine.connect() as conn:
        return pd.read_sql(sa.select(t).where(t.c.measurement_id == measurement_id), conn)


class _Report(HTMLParser):
    """The report's text, images, and the first text inside each element with a class."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.elements: list[tuple[str, dict[str, str | None], str]] = []
        self._open: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append({"src": a.get("src") or "", "alt": a.get("alt") or ""})
        if a.get("class"):
            self._open.append((str(a["class"]), a))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for cls, attrs in self._open:
            self.elements.append((cls, attrs, data))
        self._open = []

    def first(self, cls: str) -> str:
        return next(text for c, _, text in self.elements if c == cls)


def check_report(path: Path, hist: dict[str, Any], alerts_by_monitor: dict[str, int]) -> None:
    parser = _Report()
    parser.feed(path.read_text())
    text = " ".join(parser.text)
    assert "OpenScale Lab Insights report" in text and DEPLOYMENT in text
    assert len(parser.images) >= 8 and all(i["src"].startswith("data:image/png;base64,") for i in parser.images)
    shown = {i["alt"] for i in parser.images}
    assert {"Fairness", "Drift", f"Business KPIs — {APPLICATION}", "outcomes per Sex", "outcomes per Age"} <= shown
    lowest = datetime.fromisoformat(hist["lowest_fairness_hour"])
    assert f"Hour ending {lowest:%Y-%m-%d %H:%M}" in text
    assert int(parser.first("alert-count")) >= hist["alerts"]
    per_monitor = {str(attrs.get("data-monitor")): int(t) for c, attrs, t in parser.elements if c == "monitor-alerts"}
    assert per_monitor == alerts_by_monitor
    listed = {attrs.get("data-monitor") for c, attrs, _ in parser.elements if c == "osl-monitor"}
    assert {"fairness", "quality", "drift", "model_health", "business_kpis"} | set(alerts_by_monitor) <= listed
    assert "Payload + Perturbed" in text and "Training" in text and "Debiased" in text
    assert APPLICATION in text and "Accepted Credits" in text and "Credit Amount Granted" in text
    assert "Outcomes per value of Sex" in text and "Outcomes per value of Age" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / "insights_report.html")


# -- the dashboard in headless Chromium ------------------------------------------------------------------
# what Jupyter and Voilà show for an error: stderr and error outputs, and the dashboard's own error message
ERROR_SELECTORS = ['[data-mime-type="application/vnd.jupyter.stderr"]',
                   '[data-mime-type="application/vnd.jupyter.error"]', ".jp-OutputArea-output.jp-mod-error",
                   ".jp-RenderedText.jp-mod-error", ".osl-error"]


def _chromium() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def text_of(driver, xpath: str) -> str:  # type: ignore[no-untyped-def]
    """Text of an element, wherever the page has scrolled it (widgets redraw: retried when replaced)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for attempt in range(5):
        try:
            element = driver.find_element(By.XPATH, xpath)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            return str(element.get_attribute("textContent")).strip()
        except StaleElementReferenceException:
            if attempt == 4:
                raise
            time.sleep(0.2)
    return ""


def page_errors(driver) -> list[str]:  # type: ignore[no-untyped-def]
    """Every error or traceback the page shows (none is expected, ever)."""
    from selenium.webdriver.common.by import By

    found = [f"{sel}: {e.get_attribute('textContent')[:800]}" for sel in ERROR_SELECTORS
             for e in driver.find_elements(By.CSS_SELECTOR, sel)]
    for output in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"):
        content = str(output.get_attribute("textContent"))
        if "Traceback" in content or "Error:" in content or "There was an error" in content:
            found.append(f"output: {content[:800]}")
    page = str(driver.find_element(By.TAG_NAME, "body").get_attribute("textContent"))
    found += [f"the page says: {said}" for said in ("Traceback (most recent call last)",
                                                    "There was an error when executing") if said in page]
    return found


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """Headless Chromium (Debian's, never a downloaded one)."""
    found = _chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium and chromium-driver must be installed under CI (make browser)")
        pytest.skip("no chromium/chromedriver: sudo apt-get install chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1100"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    yield driver
    driver.quit()


def _served(workspace):  # type: ignore[no-untyped-def]
    from openscale_lab.dashboard import start_dashboard
    from openscale_lab.deployments.engine import free_port

    port = free_port()
    return port, start_dashboard(workspace, port)


@pytest.mark.browser
def test_dashboard_without_history_says_what_to_run_first(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import openscale_lab as lab
    from openscale_lab.dashboard import stop_dashboard

    port, server = _served(lab.provision(tmp_path / "ws").workspace)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CLASS_NAME, "osl-empty"))
        time.sleep(1)  # the notebook's last cells
        assert "run notebook 04" in text_of(browser, "//*[contains(@class, 'osl-empty')]")
        assert page_errors(browser) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-0-no-history.png"))
    finally:
        stop_dashboard(server)


@pytest.mark.browser
@pytest.mark.notebooks  # the history fixture runs notebook 04
@pytest.mark.spark
def test_dashboard_in_headless_chromium(history, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from openscale_lab.dashboard import InsightsData, stop_dashboard
    from openscale_lab.dashboard.app import hour_label

    ws, hist, _ = history
    data = InsightsData(ws)
    try:
        hours = data.hours(hist["subscription_id"])
    finally:
        data.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port, server = _served(ws)
    driver = browser
    wait = WebDriverWait(driver, 120, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])

    def shot(name: str) -> None:
        driver.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))
        assert page_errors(driver) == [], name

    def selected() -> str:
        return text_of(driver, "//*[contains(@class, 'osl-selected-hour')]")

    try:
        driver.get(f"http://127.0.0.1:{port}/")
        # 1. overview: a tile per deployment (each monitor's latest value beside its alerts) and the application's
        tile = wait.until(ec.presence_of_element_located((By.CLASS_NAME, "osl-tile")))
        assert DEPLOYMENT in tile.text and "fairness" in tile.text and "alerts:" in tile.text
        assert len(driver.find_elements(By.CSS_SELECTOR, ".osl-tile .osl-monitor")) >= 5
        app = text_of(driver, "//*[contains(@class, 'osl-app-tile')]")
        assert APPLICATION in app and "Accepted Credits" in app and "Latest day" in app
        shot("1-overview")
        # 2. deployment view: the charts, with the hour slider under them at the latest hour
        wait.until(ec.element_to_be_clickable((By.XPATH, "//button[contains(., 'Open Spark German Risk')]"))).click()
        wait.until(ec.text_to_be_present_in_element((By.CLASS_NAME, "osl-deployment"), "Spark German Risk"))
        wait.until(lambda d: selected() == f"Selected: {hour_label(hours[-1])}")
        handle = driver.find_element(By.CSS_SELECTOR, ".osl-hour-slider .noUi-handle")
        assert handle.get_attribute("aria-valuemax") == f"{len(hours) - 1}.0" == f"{hist['hours'] - 1}.0"
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".widget-image")) >= 5)  # the charts, then details
        shot("2-deployment")
        # 3. slide to the hour with the lowest fairness: a click on the track near it, then the arrow keys
        lowest = datetime.fromisoformat(hist["lowest_fairness_hour"])
        target = hours.index(lowest)
        track = driver.find_element(By.CSS_SELECTOR, ".osl-hour-slider .noUi-base")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", track)
        width = track.rect["width"]
        ActionChains(driver).move_to_element_with_offset(
            track, round(width * (target / (len(hours) - 1) - 0.5)), 0).click().perform()
        wait.until(lambda d: selected() != f"Selected: {hour_label(hours[-1])}")
        index = {f"Selected: {hour_label(h)}": i for i, h in enumerate(hours)}
        for _ in range(10):
            now = index[selected()]
            if now == target:
                break
            before = selected()
            driver.find_element(By.CSS_SELECTOR, ".osl-hour-slider .noUi-handle").send_keys(
                Keys.ARROW_RIGHT if now < target else Keys.ARROW_LEFT)
            wait.until(lambda d: selected() != before)
        assert selected() == f"Selected: {hour_label(lowest)}"
        expected = f"Hour ending {lowest:%Y-%m-%d %H:%M}."
        wait.until(lambda d: text_of(d, "//p[contains(., 'Hour ending')]") == expected)
        summary = text_of(driver, "//*[contains(@class, 'osl-fairness')]")
        assert summary.startswith("For Sex, female got the favourable outcome")
        assert "less often than male" in summary  # the bias the week's traffic builds up
        assert "transactions of the drift run" in text_of(driver, "//*[contains(@class, 'osl-drift-count')]")
        shot("3-hour")
        # 4. the biased transactions of that hour, each with an Explain button
        driver.find_element(By.XPATH, "//button[normalize-space()='Biased transactions']").click()
        wait.until(lambda d: "biased transactions" in text_of(d, "//*[contains(@class, 'osl-count')]"))
        listed = int(text_of(driver, "//*[contains(@class, 'osl-count')]").split()[0])
        assert listed > 0
        rows = [r for r in driver.find_elements(By.CSS_SELECTOR, ".osl-tx-row") if r.is_displayed()]
        assert len(rows) == min(listed, 50)
        shot("4-biased")
        # 5. explain the first one with its row's button
        chosen = rows[0].find_element(By.CSS_SELECTOR, ".osl-cells span").get_attribute("title")
        button = rows[0].find_element(By.TAG_NAME, "button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        wait.until(lambda d: d.find_elements(By.CLASS_NAME, "osl-explained")
                   and chosen in text_of(d, "//*[contains(@class, 'osl-explained')]"))
        explained = text_of(driver, "//*[contains(@class, 'osl-explained')]")
        assert "with confidence" in explained and "Risk" in explained
        wait.until(lambda d: text_of(d, "//p[contains(., 'Attributes sent')]") == "Attributes sent to the model:")
        time.sleep(0.5)
        shot("5-explained")
        # 6. type another transaction's id and press Enter
        driver.find_element(By.XPATH, "//button[normalize-space()='All transactions']").click()
        wait.until(lambda d: "transactions in this hour" in text_of(d, "//*[contains(@class, 'osl-count')]")
                   and "biased" not in text_of(d, "//*[contains(@class, 'osl-count')]"))
        other = next(t for t in (r.find_element(By.CSS_SELECTOR, ".osl-cells span").get_attribute("title")
                                 for r in driver.find_elements(By.CSS_SELECTOR, ".osl-tx-row") if r.is_displayed())
                     if t != chosen)
        box = driver.find_element(By.XPATH, "//input[@placeholder='type an id and press Enter']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(other, Keys.ENTER)
        wait.until(lambda d: other in text_of(d, "//*[contains(@class, 'osl-explained')]"))
        time.sleep(0.5)
        shot("6-explained-by-id")
    finally:
        stop_dashboard(server)


# -- redeployments ---------------------------------------------------------------------------------------
def _versions(rows: list[dict[str, Any]], versions: list[str], minutes: list[int], request: str) -> None:
    """Give hand-made payload records their scoring model version, time (minutes after T0) and request."""
    from .helpers import T0

    for row, version, minute in zip(rows, versions, minutes, strict=True):
        row.update(model_version=version, scoring_timestamp=T0 + timedelta(minutes=minute), request_id=request,
                   scoring_id=f"{request}-{minute}")


def test_redeployments_are_where_the_scoring_version_changes_in_each_source(datamart) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.dashboard.data import InsightsData
    from openscale_lab.datamart.database import LIVE
    from openscale_lab.datamart.tables import REPLAY_PREFIX

    from .helpers import T0, make_subscription, payload_rows

    sub = make_subscription(datamart)
    idle = make_subscription(datamart, "dep2")
    live, story = payload_rows(6, T0, timedelta(minutes=1)), payload_rows(5, T0, timedelta(minutes=1))
    _versions(live, ["1", "1", "2", "2", "1", "1"], [0, 10, 20, 30, 40, 50], "live")  # redeployed, rolled back
    _versions(story, ["1", "1", "1", "2", "2"], [5, 15, 25, 35, 45], f"{REPLAY_PREFIX}story")  # interleaved
    datamart.store_payload(datamart.payload_table(sub), live + story)
    datamart.store_payload(datamart.payload_table(idle), payload_rows(3, T0, timedelta(minutes=1)))
    data = InsightsData(SimpleNamespace(datamart_url=datamart.url))  # type: ignore[arg-type]
    try:
        def found(source: str | None) -> list[tuple[datetime, str, str]]:
            frame = data.redeployments(sub.subscription_id, source)
            assert list(frame.columns) == ["time", "from_version", "to_version"]
            return [(t.to_pydatetime(), a, b) for t, a, b in frame.itertuples(index=False)]

        at = {m: T0 + timedelta(minutes=m) for m in (20, 35, 40)}
        assert found(LIVE) == [(at[20], "1", "2"), (at[40], "2", "1")]  # the story's records left out
        assert found(REPLAY_PREFIX) == [(at[35], "1", "2")]
        # every record, as the dashboard reads them: each source in its own order, never a change between them
        assert found(None) == [(at[20], "1", "2"), (at[35], "1", "2"), (at[40], "2", "1")]
        assert len(data.redeployments(sub.subscription_id)) == 3  # every record is the default
        none = data.redeployments(idle.subscription_id)  # one version throughout
        assert none.empty and list(none.columns) == ["time", "from_version", "to_version"]
    finally:
        data.close()


def test_time_charts_mark_each_redeployment_with_a_labelled_dashed_line() -> None:
    import matplotlib.dates as mdates

    from openscale_lab.dashboard import charts
    from openscale_lab.dashboard.panels import SERIES
    from openscale_lab.dashboard.tiles import deployment_tile

    series = _hourly([1.0, 0.9, 0.97, 0.96, 0.8, 0.97])
    times = [datetime(2026, 11, 20, 2, 30), datetime(2026, 11, 20, 4, 10), datetime(2026, 11, 21)]
    redeployments = pd.DataFrame({"time": pd.to_datetime(times), "from_version": ["1", "2", "1"],
                                  "to_version": ["2", "1", "2"]})
    span = (datetime(2026, 11, 20, 0), datetime(2026, 11, 20, 6))  # the third is after it: not drawn
    drift = next(s for s in SERIES if s.monitor == "drift")
    for spec in (SERIES[0], drift):
        fig = charts.timeseries(series, spec, [], pd.DataFrame(), span=span, redeployments=redeployments)
        for ax in fig.axes:
            marks = [line for line in ax.get_lines() if line.get_gid() == charts.REDEPLOYMENT]
            assert [mdates.num2date(mdates.date2num(line.get_xdata()[0])).replace(tzinfo=None) for line in marks] \
                == times[:2]
            assert all(line.get_linestyle() == "--" for line in marks)
            assert ax.get_xlim() == tuple(mdates.date2num(span))  # the span is kept
        labels = [t for t in fig.axes[0].texts if t.get_gid() == charts.REDEPLOYMENT]
        assert [t.get_text().strip() for t in labels] == ["v1 → v2", "v2 → v1"]
        assert all(t.get_fontsize() < 8 for t in labels)
        assert not any(t.get_gid() == charts.REDEPLOYMENT for ax in fig.axes[1:] for t in ax.texts)
        assert charts.to_png(fig).startswith(b"\x89PNG")
    plain = charts.timeseries(series, SERIES[0], [], pd.DataFrame())  # without: as before
    assert not any(line.get_gid() == charts.REDEPLOYMENT for line in plain.axes[0].get_lines())
    tile = deployment_tile({"deployment_name": DEPLOYMENT, "model": "model v2", "model_version": "2",
                            "total_alerts": 0, "monitors": [], "alerts": {}, "latest": {}})
    assert "data-model-version='2'" in tile and "Serving model v2" in tile
