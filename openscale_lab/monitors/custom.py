"""Custom monitors: a team's own metrics with default limits and tags, stored like any built-in monitor's.

As in OpenScale: a definition (metrics with default limits, tags) is registered once in the data mart;
a monitor instance enables it for a subscription, optionally overriding limits; the team computes the
values and each `run(values)` stores them as a measurement, with alerts like any monitor's.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from ..core.clock import naive_utc, utcnow
from ..datamart.database import DataMart, Subscription
from ..datamart.tables import custom_monitor_definitions
from ..errors import LabError
from .base import Evaluation, Monitor, MonitorContext
from .results import Details, Measurement, MonitorConfig, Threshold, axes, is_number

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

LIMIT_TYPES = ("lower_limit", "upper_limit")
NAME_LENGTH = 200  # monitor, metric and tag names: the width of the data mart's name columns (String(200))


class CustomMonitorError(LabError):
    """A custom monitor definition or value that does not fit."""


@dataclass(frozen=True)
class CustomMonitorDefinition:
    """A registered custom monitor: its metrics with default limits, and the tags its values may carry."""

    definition_id: str
    name: str
    metrics: list[dict[str, Any]]
    tags: list[dict[str, str]]

    @property
    def metric_names(self) -> list[str]:
        return [m["name"] for m in self.metrics]

    def thresholds(self, overrides: dict[str, dict[str, float]] | None = None) -> list[Threshold]:
        out = []
        for m in self.metrics:
            limits = {k: m[k] for k in LIMIT_TYPES if m.get(k) is not None}
            limits.update((overrides or {}).get(m["name"], {}))
            out += [Threshold(m["name"], kind, float(value)) for kind, value in limits.items()]
        return out


def _check_name(value: Any, what: str) -> str:
    """A name stored in the data mart: a non-blank string of at most NAME_LENGTH characters."""
    if not isinstance(value, str) or not value.strip():
        raise CustomMonitorError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > NAME_LENGTH:
        raise CustomMonitorError(f"{what} must be at most {NAME_LENGTH} characters, got {len(value)}")
    return value


def _check_metrics(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
        raise CustomMonitorError(f"metrics must be a list of {{'name': ...}} dicts, got {metrics!r}")
    if not metrics:
        raise CustomMonitorError("a custom monitor needs at least one metric")
    clean, seen = [], set()
    for m in metrics:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"].strip():
            raise CustomMonitorError(f"each metric needs a name, got {m!r}")
        _check_name(m["name"], "metric name")
        if m["name"] in seen:
            raise CustomMonitorError(f"metric {m['name']!r} is listed twice")
        seen.add(m["name"])
        unknown = set(m) - {"name", "description", *LIMIT_TYPES}
        if unknown:
            raise CustomMonitorError(f"metric {m['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(m.get("description", ""), str):
            raise CustomMonitorError(f"metric {m['name']!r}: description must be a string")
        for kind in LIMIT_TYPES:  # is_number: finite (NaN or infinity would never, or always, alert)
            if m.get(kind) is not None and not is_number(m[kind]):
                raise CustomMonitorError(f"metric {m['name']!r}: {kind} must be a number (finite), got {m[kind]!r}")
        low, high = m.get("lower_limit"), m.get("upper_limit")
        if low is not None and high is not None and low > high:
            raise CustomMonitorError(f"metric {m['name']!r}: lower_limit {low} is above upper_limit {high}")
        clean.append({k: float(v) if k in LIMIT_TYPES and v is not None else v for k, v in m.items()})
    return clean


def _check_tags(tags: list[dict[str, str]] | None) -> list[dict[str, str]]:
    """Tag definitions as stored: a name (unique) and a description."""
    if tags is None:
        return []
    if isinstance(tags, (str, dict)) or not isinstance(tags, (list, tuple)):
        raise CustomMonitorError(f"tags must be a list of {{'name': ...}} dicts, got {tags!r}")
    clean: list[dict[str, str]] = []
    for t in tags:
        if not isinstance(t, dict):
            raise CustomMonitorError(f"each tag must be a {{'name': ...}} dict, got {t!r}")
        name = _check_name(t.get("name"), "tag name")
        if any(c["name"] == name for c in clean):
            raise CustomMonitorError(f"tag {name!r} is listed twice")
        description = t.get("description", "")
        if not isinstance(description, str):
            raise CustomMonitorError(f"tag {name!r}: description must be a string")
        clean.append({"name": name, "description": description})
    return clean


@dataclass
class CustomConfig(MonitorConfig):
    definition_id: str = ""
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class CustomDetails(Details):
    title: ClassVar[str] = "Custom monitor"
    tags: dict[str, str] = field(default_factory=dict)
    custom: bool = True

    def summary(self) -> dict[str, Any]:
        return {f"tag {k}": v for k, v in self.tags.items()}


class CustomMonitor(Monitor[CustomConfig, CustomDetails]):
    """One custom monitor definition enabled for one subscription: `enable`, `run(values)`, `disable`,
    `get_details`, `measurements`, `values`, `plot`."""

    default_schedule_hours = 0.0  # values are pushed by the team, never computed by the scheduler
    config_type = CustomConfig
    details_type = CustomDetails

    def __init__(self, ctx: MonitorContext, definition: CustomMonitorDefinition) -> None:
        super().__init__(ctx)
        self.definition = definition
        self.name = definition.name  # type: ignore[misc]

    def enable(self, *, thresholds: dict[str, dict[str, float]] | None = None) -> CustomConfig:
        """Enable the definition for the subscription, optionally overriding limits:
        `thresholds={"sensitivity": {"lower_limit": 0.9}}`."""
        names = self.definition.metric_names
        if thresholds is not None and not isinstance(thresholds, dict):
            raise CustomMonitorError(f"thresholds must be a dict of metric name to limits, got {thresholds!r}")
        for metric, limits in (thresholds or {}).items():
            if metric not in names:
                raise CustomMonitorError(f"{self.name!r} has no metric {metric!r} (it has {', '.join(names)})")
            if not isinstance(limits, dict):
                raise CustomMonitorError(f"thresholds of {metric}: a dict such as {{'lower_limit': 0.9}}, "
                                         f"got {limits!r}")
            for kind, value in limits.items():
                if kind not in LIMIT_TYPES or not is_number(value):
                    raise CustomMonitorError(
                        f"{metric}: thresholds are lower_limit/upper_limit numbers, got {kind}={value!r}")
        config = CustomConfig(definition_id=self.definition.definition_id, thresholds=dict(thresholds or {}))
        return self._store_config(config, None)

    def thresholds(self, config: CustomConfig) -> list[Threshold]:
        return self.definition.thresholds(config.thresholds)

    def config(self) -> CustomConfig:
        try:
            return super().config()
        except LabError:
            raise CustomMonitorError(f"custom monitor {self.name!r} is not enabled for subscription "
                                     f"{self.ctx.subscription.subscription_id}: call enable() first") from None

    def run(self, values: dict[str, Any], *, tags: dict[str, str] | None = None,  # type: ignore[override]
            timestamp: datetime | None = None) -> Measurement:
        """Store one set of metric values (checked first: nothing is stored if any is wrong); a value
        outside its threshold raises an alert."""
        config = self.config()
        values, tags, when = self.check(values, tags=tags, timestamp=timestamp)
        return self.ctx.store.save(Measurement(
            monitor=self.name, subscription_id=self.ctx.subscription.subscription_id, status="evaluated",
            message="", window_start=None, window_end=when, record_count=0, metrics=values,
            thresholds=self.thresholds(config), details=CustomDetails(tags=tags)))

    def check(self, values: dict[str, Any], *, tags: dict[str, str] | None = None,
              timestamp: datetime | None = None) -> tuple[dict[str, float], dict[str, str], datetime]:
        """One set of metric values, its tags and its time as `run` stores them; CustomMonitorError naming what
        is wrong (a caller storing several sets checks them all first)."""
        if not isinstance(values, dict) or not values:
            raise CustomMonitorError(f"values must be a non-empty dict of metric values, got {values!r}")
        if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
            raise CustomMonitorError(f"tags must be a dict of tag name to string value, got {tags!r}")
        when = utcnow() if timestamp is None else naive_utc(timestamp, "timestamp", CustomMonitorError)
        names = self.definition.metric_names
        unknown = [m for m in values if m not in names]
        if unknown:
            raise CustomMonitorError(f"{self.name!r} has no metric(s) {', '.join(unknown)}; its metrics are "
                                     f"{', '.join(names)}")
        bad = [f"{m}={v!r}" for m, v in values.items() if not is_number(v)]
        if bad:
            raise CustomMonitorError(f"metric values must be finite numbers: {', '.join(bad)}")
        known_tags = {t["name"] for t in self.definition.tags}
        extra = [t for t in (tags or {}) if t not in known_tags]
        if extra:
            raise CustomMonitorError(f"{self.name!r} has no tag(s) {', '.join(extra)}; its tags are "
                                     f"{', '.join(sorted(known_tags)) or 'none'}")
        return {k: float(v) for k, v in values.items()}, dict(tags or {}), when

    def evaluate(self, config: CustomConfig, data: Any, start: datetime | None,
                 end: datetime) -> Evaluation[CustomDetails]:
        raise CustomMonitorError("a custom monitor's values come from its team: call run(values)")

    def values(self) -> pd.DataFrame:
        """Stored values: one row per measurement, a column per metric and per tag."""
        import pandas as pd

        frame = self.measurements()
        if frame.empty:
            return pd.DataFrame(columns=["timestamp", *self.definition.metric_names])
        metrics = pd.DataFrame(frame["metrics"].tolist(), index=frame.index)
        tags = pd.DataFrame([d.get("tags", {}) for d in frame["details"]], index=frame.index)
        return pd.concat([frame[["timestamp", "measurement_id"]], metrics, tags], axis=1)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Each metric over time with its threshold lines."""
        ax = axes(ax, (7, 3.5))
        limits = self.thresholds(self.config())
        values = self.values()
        for metric in self.definition.metric_names:
            line = ax.plot(values["timestamp"], values[metric], "o-", label=metric)[0]
            for t in limits:
                if t.metric == metric:
                    ax.axhline(t.value, color=line.get_color(), ls="--", lw=1)
        ax.set_title(f"Custom monitor: {self.name} (dashed: thresholds)")
        ax.legend()
        ax.figure.autofmt_xdate()
        return ax


def _definition(row: Any) -> CustomMonitorDefinition:
    return CustomMonitorDefinition(row.definition_id, row.name, json.loads(row.metrics), json.loads(row.tags))


def built_in_names() -> set[str]:
    """Names of the lab's own monitors (every loaded `Monitor` subclass that declares one)."""
    found, todo = set(), [Monitor]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if isinstance(cls.__dict__.get("name"), str):
            found.add(cls.__dict__["name"])
    return found


class CustomMonitors:
    """The data mart's custom monitor definitions: `register`, `get`, `list`, and `monitor(...)` to use one."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart

    def register(self, name: str, metrics: list[dict[str, Any]],
                 tags: list[dict[str, str]] | None = None) -> CustomMonitorDefinition:
        """A new definition; registering an existing name returns the stored one unchanged.

        `name` (at most 200 characters), every metric's name and limits (finite numbers) and every tag are
        checked before the data mart is asked, so no database error reaches the caller."""
        _check_name(name, "custom monitor name")
        existing = self.get(name, missing_ok=True)
        if existing is not None:
            return existing
        if name in built_in_names():
            raise CustomMonitorError(f"{name!r} is the name of a built-in monitor; choose another name")
        clean = _check_metrics(metrics)
        tag_list = _check_tags(tags)
        definition = CustomMonitorDefinition(uuid.uuid4().hex[:12], name, clean, tag_list)
        with self.datamart.engine.begin() as conn:
            conn.execute(custom_monitor_definitions.insert().values(
                definition_id=definition.definition_id, name=name, metrics=json.dumps(clean),
                tags=json.dumps(tag_list), created_at=utcnow()))
        return definition

    def definitions(self) -> list[CustomMonitorDefinition]:
        """Every registered definition, read in one query."""
        with self.datamart.engine.connect() as conn:
            return [_definition(row) for row in conn.execute(sa.select(custom_monitor_definitions))]

    def get(self, name: str, missing_ok: bool = False) -> CustomMonitorDefinition | None:
        """The definition called `name`; CustomMonitorError if there is none (None with `missing_ok`)."""
        if not isinstance(name, str):
            raise CustomMonitorError(f"custom monitor name must be a string, got {name!r}")
        with self.datamart.engine.connect() as conn:
            row = conn.execute(sa.select(custom_monitor_definitions).where(
                custom_monitor_definitions.c.name == name)).first()
        if row is None:
            if missing_ok:
                return None
            raise CustomMonitorError(f"no custom monitor called {name!r}: register it first")
        return _definition(row)

    def list(self) -> pd.DataFrame:
        import pandas as pd

        with self.datamart.engine.connect() as conn:
            return pd.read_sql(sa.select(custom_monitor_definitions), conn)

    def monitor(self, subscription: Subscription | str, name: str) -> CustomMonitor:
        """The custom monitor `name` for a subscription (enable it before its first run)."""
        definition = self.get(name)
        assert definition is not None
        return CustomMonitor(MonitorContext.of(self.datamart, subscription), definition)
