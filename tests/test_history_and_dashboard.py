"""Notebooks 04 and 05 with two days of history, the static report, and the dashboard in headless Chromium."""
from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.history import HistoryReplay, Scenario
from openscale_lab.monitors import Monitoring
from openscale_lab.monitors.base import MonitorStore
from openscale_lab.notebook_runner import notebooks_dir, read_records, run_notebook
from openscale_lab.workspace import Workspace

pytestmark = [pytest.mark.notebooks, pytest.mark.spark]
# the week's story told in two days: bias from half a day in, drift and a latency spike on day two
SHORT_WEEK = {"bias_start_day": 0.5, "bias_peak_day": 1.2, "drift_start_day": 1.5, "spike_day": 1}
ARTIFACTS = Path(os.environ.get("OPENSCALE_LAB_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@pytest.fixture(scope="module")
def history(suite_root: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A fresh workspace with two days of history, made by notebook 04 alone."""
    path = suite_root / "history-workspace"
    out = tmp_path_factory.mktemp("history-notebooks")
    executed = run_notebook(notebooks_dir() / "04_load_history.ipynb", out,
                            {"WORKSPACE": str(path), "DAYS": 2, "SCENARIO": SHORT_WEEK})
    yield Workspace.open(path), read_records(executed), out
    lab.stop_lab(path)


def test_notebook_04_writes_real_hourly_measurements(history) -> None:  # type: ignore[no-untyped-def]
    ws, rec, _ = history
    assert rec["hours"] == 48
    start, end = datetime.fromisoformat(rec["history_start"]), datetime.fromisoformat(rec["history_end"])
    assert end - start == timedelta(hours=48)
    counts = rec["measurements_by_monitor"]
    assert counts["fairness"] == counts["quality"] == counts["model_health"] == 48
    assert counts["drift"] == 16  # every three hours
    dm = DataMart(ws.datamart_url)
    try:
        sub = dm.get_subscription(rec["subscription_id"])
        payload = dm.get_payload(sub, start, end)
        assert len(payload) == rec["records"]
        assert payload["request_id"].str.startswith("replay-").all()
        per_hour = payload.groupby(payload["scoring_timestamp"].dt.floor("h")).size()
        assert len(per_hour) == 48 and per_hour.min() >= 60 and per_hour.max() <= 600
        store = MonitorStore(dm)
        fairness = store.measurements(sub.subscription_id, "fairness")
        fairness = fairness[fairness["status"] == "evaluated"]
        assert len(fairness) == rec["fairness_evaluated_hours"]
        lowest = min(fairness.itertuples(), key=lambda r: r.metrics["Sex"])
        assert lowest.window_end.isoformat() == rec["lowest_fairness_hour"]
        assert lowest.metrics["Sex"] == pytest.approx(rec["lowest_fairness_sex"])
        quiet = store.measurements(sub.subscription_id, "quality")
        assert set(quiet["record_count"]) and (quiet[quiet["status"] == "evaluated"]["record_count"] >= 50).all()
        alerts = store.alerts(sub.subscription_id)
        window = alerts[(alerts["timestamp"] > start) & (alerts["timestamp"] <= end)]
        assert len(window) == rec["alerts"]
    finally:
        dm.close()


def test_replay_is_deterministic_and_replaces_the_history(history) -> None:  # type: ignore[no-untyped-def]
    ws, rec, _ = history
    dep = MLEngine(ws).start(MLEngine(ws).list()[0])
    mon = Monitoring.for_deployment(ws, dep)
    try:
        before = len(mon.measurements())
        again = HistoryReplay(mon, dep).replay(Scenario(days=2, **SHORT_WEEK), seed=7, progress=False,
                                               end=datetime.fromisoformat(rec["history_end"]))
        assert again.records == rec["records"] and again.hours == 48
        assert len(mon.measurements()) == before  # replaced, not doubled
        fairness = mon.measurements("fairness")
        fairness = fairness[fairness["status"] == "evaluated"]
        assert min(m["Sex"] for m in fairness["metrics"]) == pytest.approx(rec["lowest_fairness_sex"])
    finally:
        mon.close()


def test_notebook_05_dashboard_and_report(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, hist, _ = history
    report = tmp_path / "report.html"
    rec = read_records(run_notebook(notebooks_dir() / "05_insights_dashboard.ipynb", tmp_path,
                                    {"WORKSPACE": str(ws.root), "REPORT": str(report)}))
    assert rec["tiles"] == ["Spark German Risk Deployment - Final"]
    assert rec["hours"] == 48
    assert rec["selected_hour"] == hist["lowest_fairness_hour"]
    assert rec["lowest_fairness_sex"] == pytest.approx(hist["lowest_fairness_sex"])
    sex = next(r for r in rec["fairness_rates"] if r["feature"] == "Sex")
    assert sex["disparate impact"] == pytest.approx(hist["lowest_fairness_sex"])
    assert sex["monitored group"] == "female" and sex["reference group"] == "male"
    dm = DataMart(ws.datamart_url)
    try:
        store = MonitorStore(dm)
        fairness = store.measurements(hist["subscription_id"], "fairness")
        chosen = fairness[fairness["window_end"] == datetime.fromisoformat(rec["selected_hour"])].iloc[0]
        assert rec["biased_listed"] == len(
            {(r["scoring_id"]) for r in _biased(dm, chosen["measurement_id"])})
        assert rec["explained_class"] in ("Risk", "No Risk")
        assert rec["total_alerts"] == len(store.alerts(hist["subscription_id"]))
    finally:
        dm.close()
    check_report(report, hist)


def _biased(dm: DataMart, measurement_id: str) -> list[dict[str, object]]:
    import sqlalchemy as sa

    from openscale_lab.datamart.tables import biased_transactions

    with dm.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(biased_transactions).where(biased_transactions.c.measurement_id == measurement_id))]


class _Report(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.classes: dict[str, str] = {}
        self._current: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        self._current = a.get("class")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._current:
            self.classes[self._current] = data
            self._current = None


def check_report(path: Path, hist: dict[str, object]) -> None:
    parser = _Report()
    parser.feed(path.read_text())
    text = " ".join(parser.text)
    assert "OpenScale Lab Insights report" in text and "Spark German Risk Deployment - Final" in text
    assert len(parser.images) >= 5 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    lowest = datetime.fromisoformat(hist["lowest_fairness_hour"])  # type: ignore[arg-type]
    assert f"Hour ending {lowest:%Y-%m-%d %H:%M}" in text
    assert int(parser.classes["alert-count"]) >= hist["alerts"]  # type: ignore[operator]
    assert "Payload + Perturbed" in text and "Training" in text and "Debiased" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / "insights_report.html")


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


@pytest.mark.browser
def test_dashboard_in_headless_chromium(history) -> None:  # type: ignore[no-untyped-def]
    found = _chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium and chromium-driver must be installed under CI (make browser)")
        pytest.skip("no chromium/chromedriver: sudo apt-get install chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never download a browser or driver
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from openscale_lab.dashboard import start_dashboard, stop_dashboard
    from openscale_lab.deployments.engine import free_port

    ws, hist, _ = history
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_dashboard(ws, port)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1100"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    wait = WebDriverWait(driver, 120, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])

    def shot(name: str) -> None:
        driver.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))

    try:
        driver.get(f"http://127.0.0.1:{port}/")
        # 1. overview: a tile with the deployment, its latest values and alerts
        tile = wait.until(ec.presence_of_element_located((By.CLASS_NAME, "osl-tile")))
        assert "Spark German Risk Deployment - Final" in tile.text and "fairness" in tile.text
        assert "alerts:" in tile.text
        shot("1-overview")
        # 2. deployment view
        wait.until(ec.element_to_be_clickable((By.XPATH, "//button[contains(., 'Open Spark German Risk')]"))).click()
        wait.until(ec.text_to_be_present_in_element((By.CLASS_NAME, "osl-deployment"), "Spark German Risk"))
        hours = Select(wait.until(ec.presence_of_element_located((By.XPATH, "//select"))))
        assert len(hours.options) == 48
        shot("2-deployment")
        # 3. the hour with the lowest fairness
        lowest = datetime.fromisoformat(hist["lowest_fairness_hour"])
        hours.select_by_visible_text(f"{lowest - timedelta(hours=1):%Y-%m-%d %H:00}–{lowest:%H:00}")
        expected = f"Hour ending {lowest:%Y-%m-%d %H:%M}."
        wait.until(lambda d: text_of(d, "//p[contains(., 'Hour ending')]") == expected)
        summary = text_of(driver, "//*[contains(@class, 'osl-fairness')]")
        assert summary.startswith("For Sex, female got the favourable outcome")
        assert "less often than male" in summary  # the bias the week's traffic builds up
        shot("3-hour")
        # 4. the biased transactions of that hour
        driver.find_element(By.XPATH, "//button[normalize-space()='Biased transactions']").click()
        wait.until(lambda d: "biased transactions" in text_of(d, "//*[contains(@class, 'osl-count')]"))
        listed = int(text_of(driver, "//*[contains(@class, 'osl-count')]").split()[0])
        assert listed > 0
        shot("4-biased")
        # 5. explain the first one
        picker = Select(driver.find_elements(By.XPATH, "//select")[1])
        chosen = picker.first_selected_option.text
        driver.find_element(By.XPATH, "//button[contains(., 'Explain')]").click()
        wait.until(lambda d: d.find_elements(By.CLASS_NAME, "osl-explained")
                   and chosen in text_of(d, "//*[contains(@class, 'osl-explained')]"))
        explained = text_of(driver, "//*[contains(@class, 'osl-explained')]")
        assert "with confidence" in explained and ("Risk" in explained)
        wait.until(lambda d: text_of(d, "//p[contains(., 'Attributes sent')]") == "Attributes sent to the model:")
        assert chosen in text_of(driver, "//*[contains(@class, 'osl-explained')]")
        time.sleep(0.5)
        shot("5-explained")
    finally:
        driver.quit()
        stop_dashboard(server)
