"""Custom monitors: a team's own metrics with default limits and tags, stored like any built-in monitor's."""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..datamart import DataMart
from ..errors import LabError
from ..tables import custom_monitor_definitions
from ..workspace import utcnow
from .base import Measurement, MonitorStore, Threshold

if TYPE_CHECKING:
    import pandas as pd

LIMIT_TYPES = ("lower_limit", "upper_limit")


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


def _check_metrics(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not metrics:
        raise CustomMonitorError("a custom monitor needs at least one metric")
    clean = []
    for m in metrics:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"]:
            raise CustomMonitorError(f"each metric needs a name, got {m!r}")
        unknown = set(m) - {"name", "description", *LIMIT_TYPES}
        if unknown:
            raise CustomMonitorError(f"metric {m['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
        for kind in LIMIT_TYPES:
            if m.get(kind) is not None and not _is_number(m[kind]):
                raise CustomMonitorError(f"metric {m['name']!r}: {kind} must be a number, got {m[kind]!r}")
        clean.append(dict(m))
    return clean


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class CustomMonitors:
    """Register definitions, enable them for a subscription, and store their values."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart
        self.store_ = MonitorStore(datamart)

    def register(self, name: str, metrics: list[dict[str, Any]],
                 tags: list[dict[str, str]] | None = None) -> CustomMonitorDefinition:
        """A new definition; registering an existing name returns the stored one unchanged."""
        existing = self.get(name, missing_ok=True)
        if existing is not None:
            return existing
        clean = _check_metrics(metrics)
        tag_list = [{"name": t["name"], "description": t.get("description", "")} for t in tags or []]
        definition = CustomMonitorDefinition(uuid.uuid4().hex[:12], name, clean, tag_list)
        with self.datamart.engine.begin() as conn:
            conn.execute(custom_monitor_definitions.insert().values(
                definition_id=definition.definition_id, name=name, metrics=json.dumps(clean),
                tags=json.dumps(tag_list), created_at=utcnow()))
        return definition

    def get(self, name: str, missing_ok: bool = False) -> CustomMonitorDefinition | None:
        with self.datamart.engine.connect() as conn:
            row = conn.execute(sa.select(custom_monitor_definitions).where(
                custom_monitor_definitions.c.name == name)).first()
        if row is None:
            if missing_ok:
                return None
            raise CustomMonitorError(f"no custom monitor called {name!r}: register it first")
        return CustomMonitorDefinition(row.definition_id, row.name, json.loads(row.metrics), json.loads(row.tags))

    def list(self) -> pd.DataFrame:
        import pandas as pd

        with self.datamart.engine.connect() as conn:
            return pd.read_sql(sa.select(custom_monitor_definitions), conn)

    def enable(self, subscription_id: str, name: str,
               thresholds: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
        """Enable a definition for a subscription, optionally overriding limits.

        `thresholds` like {"sensitivity": {"lower_limit": 0.9}}.
        """
        definition = self.get(name)
        for metric, limits in (thresholds or {}).items():
            if metric not in definition.metric_names:
                raise CustomMonitorError(
                    f"{name!r} has no metric {metric!r} (it has {', '.join(definition.metric_names)})")
            for kind, value in limits.items():
                if kind not in LIMIT_TYPES or not _is_number(value):
                    raise CustomMonitorError(
                        f"{metric}: thresholds are lower_limit/upper_limit numbers, got {kind}={value!r}")
        config = {"definition_id": definition.definition_id, "thresholds": thresholds or {}}
        self.store_.save_config(subscription_id, name, config, schedule_hours=0.0)
        return config

    def store(self, subscription_id: str, name: str, values: dict[str, Any], tags: dict[str, str] | None = None,
              timestamp: datetime | None = None) -> Measurement:
        """Store one set of metric values; a value outside its threshold raises an alert."""
        definition = self.get(name)
        config = self.store_.config(subscription_id, name)
        if config is None:
            raise CustomMonitorError(f"custom monitor {name!r} is not enabled for subscription {subscription_id}")
        unknown = [m for m in values if m not in definition.metric_names]
        if unknown:
            raise CustomMonitorError(f"{name!r} has no metric(s) {', '.join(unknown)}; its metrics are "
                                     f"{', '.join(definition.metric_names)}")
        bad = [f"{m}={v!r}" for m, v in values.items() if not _is_number(v)]
        if bad:
            raise CustomMonitorError(f"metric values must be finite numbers: {', '.join(bad)}")
        known_tags = {t["name"] for t in definition.tags}
        extra = [t for t in (tags or {}) if t not in known_tags]
        if extra:
            raise CustomMonitorError(f"{name!r} has no tag(s) {', '.join(extra)}; its tags are "
                                     f"{', '.join(sorted(known_tags)) or 'none'}")
        when = timestamp or utcnow()
        return self.store_.save(Measurement(
            monitor=name, subscription_id=subscription_id, status="evaluated", message="", window_start=None,
            window_end=when, record_count=0, metrics={k: float(v) for k, v in values.items()},
            thresholds=definition.thresholds(config["thresholds"]), details={"tags": dict(tags or {}),
                                                                             "custom": True}))

    def values(self, subscription_id: str, name: str) -> pd.DataFrame:
        """Stored values: one row per measurement, a column per metric and per tag."""
        import pandas as pd

        frame = self.store_.measurements(subscription_id, name)
        if frame.empty:
            return pd.DataFrame(columns=["timestamp", *self.get(name).metric_names])
        metrics = pd.DataFrame(frame["metrics"].tolist(), index=frame.index)
        tags = pd.DataFrame([d.get("tags", {}) for d in frame["details"]], index=frame.index)
        return pd.concat([frame[["timestamp", "measurement_id"]], metrics, tags], axis=1)

    def plot(self, subscription_id: str, name: str) -> Any:
        """Each metric over time with its threshold lines."""
        import matplotlib.pyplot as plt

        definition = self.get(name)
        config = self.store_.config(subscription_id, name) or {"thresholds": {}}
        values = self.values(subscription_id, name)
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for metric in definition.metric_names:
            line = ax.plot(values["timestamp"], values[metric], "o-", label=metric)[0]
            for t in definition.thresholds(config["thresholds"]):
                if t.metric == metric:
                    ax.axhline(t.value, color=line.get_color(), ls="--", lw=1)
        ax.set_title(f"Custom monitor: {name} (dashed: thresholds)")
        ax.legend()
        fig.autofmt_xdate()
        fig.tight_layout()
        return ax
