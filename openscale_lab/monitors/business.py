"""Business applications: business payload derived from the model's decisions, daily KPIs with limits,
and how the KPIs move with the model's fairness and quality.

As in OpenScale's business applications: an application has a business payload (records of what the
business did) and business metrics (KPIs: an aggregation of a payload field per day, with limits). The
KPI monitor follows the monitor contract; it evaluates calendar days (`run_days`), so it has no schedule.
"""
from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from ..core.clock import check_window, utcnow
from ..datamart.analytics import AGGREGATIONS
from ..datamart.database import LIVE, DataMart, Subscription, in_window, of_source
from ..datamart.tables import BUSINESS_PREFIX, SQL_TYPES, business_applications
from ..errors import LabError
from .base import Evaluation, Monitor, MonitorContext, MonitorStore
from .results import Details, Measurement, MonitorConfig, Threshold, is_number

if TYPE_CHECKING:
    import pandas as pd

MIN_DAYS_FOR_CORRELATION = 3
NAME_LENGTH = 200  # application and metric names: the width of the data mart's name columns (String(200))
# payload field names become column names of a table: letters, digits and underscores, starting with a letter
# or underscore (nothing to quote on any database), at most 63 characters (PostgreSQL's identifier limit: a
# longer one fails there), and none of the columns every business payload table has
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
FIXED_COLUMNS = ("record_id", "subscription_id", "timestamp")


class BusinessError(LabError):
    """A business application, metric or payload that does not fit."""


@dataclass(frozen=True)
class BusinessApplication:
    """A business application linked to subscriptions, with its payload schema and KPIs."""

    application_id: str
    name: str
    description: str
    payload_fields: list[dict[str, str]]
    business_metrics: list[dict[str, Any]]
    subscription_ids: list[str]

    def table(self) -> sa.Table:
        return sa.Table(
            f"{BUSINESS_PREFIX}{self.application_id}", sa.MetaData(),
            sa.Column("record_id", sa.String(64), primary_key=True),
            sa.Column("subscription_id", sa.String(64), nullable=False),
            sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
            *[sa.Column(f["name"], SQL_TYPES[f["type"]]()) for f in self.payload_fields])

    def thresholds(self) -> list[Threshold]:
        return [Threshold(m["name"], kind, float(m[kind])) for m in self.business_metrics
                for kind in ("lower_limit", "upper_limit") if m.get(kind) is not None]


def _check_list(value: Any, what: str) -> list[dict[str, Any]]:
    if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)) or not value:
        raise BusinessError(f"{what} must be a non-empty list of dicts, got {value!r}")
    for item in value:
        if not isinstance(item, dict):
            raise BusinessError(f"each of {what} must be a dict, got {item!r}")
    return list(value)


def _validate(name: Any, payload_fields: list[dict[str, str]], metrics: list[dict[str, Any]],
              subscription_ids: Any, description: Any) -> None:
    """Refuse, naming the argument, what the data mart could not store or a query could not use."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH:
        raise BusinessError(f"business application name must be a non-empty string of at most {NAME_LENGTH} "
                            f"characters, got {name!r}")
    if not isinstance(description, str):
        raise BusinessError(f"description must be a string, got {description!r}")
    if isinstance(subscription_ids, str) or not isinstance(subscription_ids, (list, tuple)) or not all(
            isinstance(s, str) for s in subscription_ids):
        raise BusinessError(f"subscription_ids must be a list of subscription ids, got {subscription_ids!r}")
    seen: set[str] = set()
    for f in _check_list(payload_fields, "payload_fields"):
        field_name = f.get("name")
        if not isinstance(field_name, str) or not FIELD_NAME.fullmatch(field_name):
            raise BusinessError(f"payload_fields: field name {field_name!r} must be letters, digits and "
                                f"underscores, not starting with a digit, at most 63 characters (it names a "
                                f"column of the data mart)")
        # SQLite's column names ignore case: Amount and amount would be one column
        if field_name.lower() in seen or field_name.lower() in FIXED_COLUMNS:
            raise BusinessError(f"payload_fields: field name {field_name!r} is used twice (or is one of "
                                f"{', '.join(FIXED_COLUMNS)}, which every business payload has)")
        seen.add(field_name.lower())
        if f.get("type") not in SQL_TYPES:
            raise BusinessError(f"payload field {f.get('name')!r}: type must be one of {', '.join(SQL_TYPES)}")
    names = {f["name"]: f["type"] for f in payload_fields}
    for m in _check_list(metrics, "business_metrics"):
        metric = m.get("name")
        if not isinstance(metric, str) or not metric.strip() or len(metric) > NAME_LENGTH:
            raise BusinessError(f"business_metrics: a metric name must be a non-empty string of at most {NAME_LENGTH} "
                                f"characters, got {metric!r}")
        for kind in ("lower_limit", "upper_limit"):
            if m.get(kind) is not None and not is_number(m[kind]):
                raise BusinessError(f"business metric {metric!r}: {kind} must be a finite number, got {m[kind]!r}")
        if m.get("field") not in names:
            raise BusinessError(f"business metric {m.get('name')!r} reads {m.get('field')!r}, not a payload field")
        if m.get("aggregation") not in AGGREGATIONS or m.get("time_unit") != "day":
            raise BusinessError(f"business metric {m.get('name')!r}: aggregation one of "
                                f"{', '.join(AGGREGATIONS)}, time_unit 'day'")
        if m["aggregation"] != "count" and names[m["field"]] == "string":
            raise BusinessError(f"business metric {m['name']!r}: {m['aggregation']} needs a numeric field")


class BusinessApplications:
    """Creates and reads business applications in the data mart."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart

    def create(self, name: str, payload_fields: list[dict[str, str]], business_metrics: list[dict[str, Any]],
               subscription_ids: list[str], description: str = "") -> BusinessApplication:
        """A new application (its business payload table too). An existing name is returned as it is, linked
        to any of `subscription_ids` it did not watch yet (a redeployed model gets a new subscription)."""
        _validate(name, payload_fields, business_metrics, subscription_ids, description)
        found = self.get(name, missing_ok=True)
        if found is not None:
            return self.link(found, subscription_ids)
        app = BusinessApplication(uuid.uuid4().hex[:12], name, description, payload_fields, business_metrics,
                                  list(subscription_ids))
        with self.datamart.engine.begin() as conn:
            conn.execute(business_applications.insert().values(
                application_id=app.application_id, name=name, description=description,
                payload_fields=json.dumps(payload_fields), business_metrics=json.dumps(business_metrics),
                subscription_ids=json.dumps(app.subscription_ids), created_at=utcnow()))
            app.table().create(conn, checkfirst=True)
        return app

    def link(self, app: BusinessApplication, subscription_ids: list[str]) -> BusinessApplication:
        """The application, also watching `subscription_ids` (those it already watches stay)."""
        new = [s for s in subscription_ids if s not in app.subscription_ids]
        if not new:
            return app
        linked = [*app.subscription_ids, *new]
        with self.datamart.engine.begin() as conn:
            conn.execute(business_applications.update().where(
                business_applications.c.application_id == app.application_id).values(
                subscription_ids=json.dumps(linked)))
        return dataclasses.replace(app, subscription_ids=linked)

    def get(self, name: str, missing_ok: bool = False, *, application_id: str | None = None
            ) -> BusinessApplication | None:
        """The application called `name` (or with `application_id`)."""
        column, value = ((business_applications.c.application_id, application_id) if application_id
                         else (business_applications.c.name, name))
        if not isinstance(value, str):
            what = "application_id" if application_id else "name"
            raise BusinessError(f"business application {what} must be a string, got {value!r}")
        with self.datamart.engine.connect() as conn:
            row = conn.execute(sa.select(business_applications).where(column == value)).first()
        if row is None:
            if missing_ok:
                return None
            raise BusinessError(f"no business application called {name!r}")
        return BusinessApplication(row.application_id, row.name, row.description, json.loads(row.payload_fields),
                                   json.loads(row.business_metrics), json.loads(row.subscription_ids))

    def monitor(self, subscription: Subscription | str) -> BusinessKPIMonitor:
        """The KPI monitor of a subscription (enable it with an application's name before its first run)."""
        return BusinessKPIMonitor(MonitorContext.of(self.datamart, subscription))

    # -- business payload ---------------------------------------------------------------------
    def derive_credit_payload(self, app: BusinessApplication, subscription: Subscription,
                              start: datetime | None = None, end: datetime | None = None, *,
                              favourable: str, amount_field: str) -> int:
        """Business records from the model's payload in [start, end): a favourable decision is an accepted
        credit (`Accepted` 1, `AcceptedPercent` 100) whose `AmountGranted` is the record's `amount_field`;
        every other field of the application's payload is copied from the scoring record. Rerunning a
        window replaces its records. Only live records are read and replaced: a replayed week's business
        records come from its own business process."""
        start, end = check_window(start, end, BusinessError)
        payload = self.datamart.get_payload(subscription, start, end, source=LIVE)
        if amount_field not in payload.columns:
            raise BusinessError(f"amount_field {amount_field!r} is not a column of the scoring payload")
        accepted = (payload[subscription.predicted_label_column] == favourable).to_numpy(dtype=int)
        derived = {"Accepted": accepted, "AcceptedPercent": 100.0 * accepted,
                   "AmountGranted": payload[amount_field].to_numpy(dtype=int) * accepted}
        columns: dict[str, list[Any]] = {
            "record_id": payload["scoring_id"].tolist(),
            "subscription_id": [subscription.subscription_id] * len(payload),
            "timestamp": [t.to_pydatetime() for t in payload["scoring_timestamp"]]}
        for f in app.payload_fields:
            name = f["name"]
            if name in derived:
                columns[name] = derived[name].tolist()
            elif name in payload.columns:
                columns[name] = payload[name].tolist()
            else:
                raise BusinessError(f"business payload field {name!r} is neither a scoring payload column nor one "
                                    f"derived from the decision ({', '.join(derived)})")
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        table = app.table()
        with self.datamart.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.subscription_id == subscription.subscription_id,
                                              *in_window(table.c.timestamp, start, end),
                                              *of_source(table.c.record_id, LIVE)))
            if rows:
                conn.execute(table.insert(), rows)
        return len(rows)

    def store_payload(self, app: BusinessApplication, subscription_id: str, records: pd.DataFrame) -> int:
        """Store business records as the business logged them (columns `record_id`, `timestamp` and the
        application's payload fields), all or none; a record id stored before is replaced."""
        import pandas as pd

        if subscription_id not in app.subscription_ids:
            raise BusinessError(f"business application {app.name!r} is not linked to subscription {subscription_id}")
        fields = [f["name"] for f in app.payload_fields]
        missing = sorted({"record_id", "timestamp", *fields} - set(records.columns))
        if missing:
            raise BusinessError(f"business records lack the column(s) {', '.join(missing)}")
        ids = records["record_id"]
        if ids.isna().any() or ids.duplicated().any():
            raise BusinessError("every business record needs its own record_id (one is missing or given twice)")
        try:  # naive UTC, as every time in the data mart (an aware time is converted, not cut)
            when = pd.to_datetime(records["timestamp"], utc=True).dt.tz_localize(None)
        except (ValueError, TypeError) as exc:
            raise BusinessError(f"business record timestamps must be times: {exc}") from None
        if when.isna().any():
            row = int(when.isna().to_numpy().argmax())
            raise BusinessError(f"business record {row} ({ids.iloc[row]!r}) has no timestamp")
        frame = records[fields].astype(object).assign(record_id=ids.astype(str), subscription_id=subscription_id,
                                                      timestamp=[t.to_pydatetime() for t in when])
        rows = frame.to_dict("records")  # object columns: plain Python numbers, as every database driver binds
        table = app.table()
        keys = frame["record_id"].tolist()
        with self.datamart.engine.begin() as conn:
            for start in range(0, len(keys), 500):
                conn.execute(table.delete().where(table.c.record_id.in_(keys[start:start + 500])))
            if rows:
                conn.execute(table.insert(), rows)
        return len(rows)

    def delete_payload(self, app: BusinessApplication, subscription_id: str, source: str,
                       since: datetime | None = None) -> int:
        """Remove one subscription's business records of `source` (a replayed story's prefix), only those
        from `since` on if given."""
        table = app.table()
        later = [table.c.timestamp >= since] if since is not None else []
        with self.datamart.engine.begin() as conn:
            table.create(conn, checkfirst=True)
            done = conn.execute(table.delete().where(table.c.subscription_id == subscription_id,
                                                     *of_source(table.c.record_id, source), *later))
        return int(done.rowcount or 0)

    def business_payload(self, app: BusinessApplication, start: datetime | None = None,
                         end: datetime | None = None, subscription_id: str | None = None,
                         source: str | None = None) -> pd.DataFrame:
        """Business records in [start, end), of one subscription or of all the application watches (only
        those of `source`, LIVE or a replay prefix, if given)."""
        import pandas as pd

        start, end = check_window(start, end, BusinessError)
        table = app.table()
        with self.datamart.engine.connect() as conn:
            return pd.read_sql(sa.select(table).where(*self._where(table, start, end, subscription_id, source))
                               .order_by(table.c.timestamp), conn)

    # -- KPIs ---------------------------------------------------------------------------------
    @staticmethod
    def _where(table: sa.Table, start: datetime | None, end: datetime | None,
               subscription_id: str | None, source: str | None = None) -> list[Any]:
        where = [*in_window(table.c.timestamp, start, end), *of_source(table.c.record_id, source)]
        return [*where, table.c.subscription_id == subscription_id] if subscription_id else where

    def _kpi_columns(self, app: BusinessApplication, table: sa.Table) -> list[Any]:
        return [AGGREGATIONS[m["aggregation"]](table.c[m["field"]]).label(f"kpi_{i}")
                for i, m in enumerate(app.business_metrics)]

    def daily_kpis(self, app: BusinessApplication, start: datetime | None = None, end: datetime | None = None,
                   subscription_id: str | None = None, source: str | None = None) -> pd.DataFrame:
        """Each KPI per calendar day, computed in the database (of `source`'s records only, if given)."""
        import pandas as pd

        start, end = check_window(start, end, BusinessError)
        table = app.table()
        day = sa.func.date(table.c.timestamp).label("day")
        query = (sa.select(day, *self._kpi_columns(app, table))
                 .where(*self._where(table, start, end, subscription_id, source)).group_by(day).order_by(day))
        with self.datamart.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        frame = frame.rename(columns={f"kpi_{i}": m["name"] for i, m in enumerate(app.business_metrics)})
        frame["day"] = pd.to_datetime(frame["day"])
        return frame

    def window_kpis(self, app: BusinessApplication, start: datetime | None, end: datetime,
                    subscription_id: str | None = None, source: str | None = None) -> dict[str, float]:
        """Each KPI over [start, end), computed in the database (NaN when the window has no records)."""
        lo, hi = check_window(start, end, BusinessError)
        table = app.table()
        query = sa.select(*self._kpi_columns(app, table)).where(
            *self._where(table, lo, hi, subscription_id, source))
        with self.datamart.engine.connect() as conn:
            row = conn.execute(query).one()
        return {m["name"]: (float(v) if v is not None else float("nan"))
                for m, v in zip(app.business_metrics, row, strict=True)}

    def correlations(self, app: BusinessApplication, model_metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Pearson correlation, over days, of each KPI with the model's daily mean of each monitor metric
        (`"monitor:metric"`; default: the fairness value of each monitored feature and the area under ROC)."""
        import pandas as pd

        store = MonitorStore(self.datamart)
        rows = []
        for sub_id in app.subscription_ids:
            kpis = self._daily(store, sub_id, BusinessKPIMonitor.name, [m["name"] for m in app.business_metrics])
            chosen = model_metrics if model_metrics is not None else self._model_metrics(sub_id)
            wanted = [tuple(m.split(":", 1)) for m in chosen]
            if not wanted:
                continue
            model = pd.concat([self._daily(store, sub_id, mon, [metric]).rename(columns={metric: f"{mon}:{metric}"})
                               for mon, metric in wanted], axis=1)
            joined = kpis.join(model, how="inner")
            for kpi in kpis.columns:
                for metric in model.columns:
                    both = joined[[kpi, metric]].dropna()
                    # a constant series has no correlation (and would only make numpy warn)
                    enough = len(both) >= MIN_DAYS_FOR_CORRELATION and both.std().gt(0).all()
                    corr = float(both[kpi].corr(both[metric])) if enough else float("nan")
                    rows.append({"subscription_id": sub_id, "kpi": kpi, "model_metric": metric, "days": len(both),
                                 "correlation": corr})
        return pd.DataFrame(rows, columns=["subscription_id", "kpi", "model_metric", "days", "correlation"])

    def _model_metrics(self, subscription_id: str) -> tuple[str, ...]:
        """The fairness value of each feature the fairness monitor watches, and the quality monitor's metric."""
        fairness = self.datamart.monitor_config(subscription_id, "fairness") or {"features": []}
        quality = ("quality:area_under_roc",) if self.datamart.monitor_config(subscription_id, "quality") else ()
        return (*(f"fairness:{f['feature']}" for f in fairness["features"]), *quality)

    @staticmethod
    def _daily(store: MonitorStore, sub_id: str, monitor: str, metrics: list[str]) -> pd.DataFrame:
        import pandas as pd

        frame = store.measurements(sub_id, monitor)
        frame = frame[frame["status"] == "evaluated"] if not frame.empty else frame
        if frame.empty:
            return pd.DataFrame(columns=metrics, index=pd.DatetimeIndex([], name="day"))
        values = pd.DataFrame([{k: d.get(k) for k in metrics} for d in frame["metrics"]], index=frame.index,
                              dtype=float)
        daily = monitor == BusinessKPIMonitor.name
        start = frame["window_start"].fillna(frame["window_end"]) if daily else frame["window_end"]
        values["day"] = pd.to_datetime(start).dt.floor("D")
        return values.groupby("day").mean()

    def plot(self, app: BusinessApplication, correlations: pd.DataFrame) -> Any:
        """Daily KPIs against their limits, and the correlation table as bars."""
        import matplotlib.pyplot as plt

        daily = self.daily_kpis(app)
        fig, axes = plt.subplots(1, len(app.business_metrics) + 1, figsize=(12, 3.5))
        for ax, m in zip(axes[:-1], app.business_metrics, strict=True):  # the last axes: correlations
            ax.bar(daily["day"].dt.strftime("%m-%d"), daily[m["name"]], color="#1f6fb4")
            if m.get("lower_limit") is not None:
                ax.axhline(m["lower_limit"], color="#c0392b", ls="--", lw=1, label="lower limit")
                ax.legend(fontsize=8)
            ax.set_title(m["name"])
            ax.tick_params(axis="x", rotation=45)
        shown = correlations.dropna(subset=["correlation"])
        ax = axes[-1]
        if shown.empty:
            ax.text(0.5, 0.5, f"correlations need\n{MIN_DAYS_FOR_CORRELATION}+ days of data", ha="center",
                    va="center")
            ax.set_axis_off()
        else:
            ax.barh(shown["kpi"] + " ~ " + shown["model_metric"], shown["correlation"], color="#8e44ad")
            ax.set_xlim(-1, 1)
            ax.set_title("Correlation with the model")
        fig.tight_layout()
        return axes


@dataclass
class BusinessKPIConfig(MonitorConfig):
    application_id: str = ""
    application: str = ""
    window_hours: float | None = 24.0
    min_records: int = 1


@dataclass
class BusinessKPIDetails(Details):
    title: ClassVar[str] = "Business KPIs"
    application_id: str = ""
    application: str = ""


class BusinessKPIMonitor(Monitor[BusinessKPIConfig, BusinessKPIDetails]):
    """The KPIs of a business application per calendar day, over the business records of one subscription
    the application watches (so they line up with that subscription's model metrics)."""

    name = "business_kpis"
    default_schedule_hours = 0.0  # evaluated per calendar day by run_days(), not on a rolling window
    config_type = BusinessKPIConfig
    details_type = BusinessKPIDetails
    data_description = "business payload records"

    @property
    def applications(self) -> BusinessApplications:
        return BusinessApplications(self.ctx.datamart)

    def enable(self, *, application: str, min_records: int = 1) -> BusinessKPIConfig:
        """Evaluate the KPIs of the business application called `application`."""
        app = self.applications.get(application)
        assert app is not None
        if self.ctx.subscription.subscription_id not in app.subscription_ids:
            raise BusinessError(f"business application {application!r} is not linked to subscription "
                                f"{self.ctx.subscription.subscription_id}")
        config = BusinessKPIConfig(application_id=app.application_id, application=app.name, min_records=min_records)
        return self._store_config(config, None)

    def application(self, config: BusinessKPIConfig) -> BusinessApplication:
        app = self.applications.get(config.application, application_id=config.application_id)
        assert app is not None
        return app

    def thresholds(self, config: BusinessKPIConfig) -> list[Threshold]:
        return self.application(config).thresholds()

    def load(self, config: BusinessKPIConfig, start: datetime | None, end: datetime) -> pd.DataFrame:
        return self.applications.business_payload(self.application(config), start, end,
                                                   self.ctx.subscription.subscription_id, self.ctx.source)

    def evaluate(self, config: BusinessKPIConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[BusinessKPIDetails]:
        app = self.application(config)
        metrics = self.applications.window_kpis(app, start, end, self.ctx.subscription.subscription_id,
                                                self.ctx.source)
        return Evaluation(metrics, BusinessKPIDetails(application_id=app.application_id, application=app.name))

    def run_days(self, start: datetime | None = None, end: datetime | None = None) -> list[Measurement]:
        """One KPI measurement per calendar day with business payload in [start, end), each replacing an
        earlier one of that day; limits raise alerts. A day not over yet is measured up to `end` (default:
        now), never into the future."""
        start, end = check_window(start, end, BusinessError)
        app = self.application(self.config())
        days = self.applications.daily_kpis(app, start, end, self.ctx.subscription.subscription_id,
                                            self.ctx.source)["day"]
        until = end or utcnow()
        return [self.run(day.to_pydatetime(), min(day.to_pydatetime() + timedelta(days=1), until), replace=True)
                for day in days if day.to_pydatetime() < until]
