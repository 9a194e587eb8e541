"""What a monitor run produces: thresholds, typed details, and the measurement that carries them.

Results can be kept and shown the way evidently's and NannyML's are: `to_dict()`/`to_json()`,
`_repr_html_()` (a notebook shows a table, alerts marked) and `plot()`; charts live beside the results
they draw. Measurements already stored load back through `Details.from_dict`, which reads the same keys
the data mart has always held.
"""
from __future__ import annotations

import dataclasses
import html
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from ..core.clock import utcnow

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

D = TypeVar("D", bound="Details")
T = TypeVar("T")
C = TypeVar("C", bound="MonitorConfig")

EVALUATED = "evaluated"
NOT_EVALUATED = "not_evaluated"


def jsonable(value: Any) -> Any:
    """Plain JSON types (NaN kept as NaN), for storing in the data mart."""
    return json.loads(json.dumps(value, default=_plain, allow_nan=True))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def is_number(value: Any) -> bool:
    """A finite int or float, NumPy's included (not a bool)."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def from_known(cls: type[T], data: dict[str, Any] | None) -> T:
    """A dataclass from stored values, ignoring keys it does not know (stored by another version)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in (data or {}).items() if k in known})


def axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """`ax` itself, or the axes of a new pyplot figure (notebooks show it)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


@dataclass(frozen=True)
class Threshold:
    """A limit on one metric: lower_limit (value must not be below) or upper_limit (not above)."""

    metric: str
    type: str
    value: float

    def broken_by(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value < self.value if self.type == "lower_limit" else value > self.value

    def __str__(self) -> str:
        return f"{'≥' if self.type == 'lower_limit' else '≤'} {self.value}"


@dataclass
class MonitorConfig:
    """What every monitor's stored configuration has: the data window and the records it needs."""

    window_hours: float | None = None
    min_records: int = 0
    # a window with fewer than min_records records reaches back to the last min_records records (OpenScale's
    # fairness and quality read the latest records they need); off by default
    reach_back: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """A configuration from its stored form (keys it does not know are ignored)."""
        return from_known(cls, data)


@dataclass
class Details:
    """A monitor's typed details. Subclasses add fields, and `plot()` where a picture helps."""

    title: ClassVar[str] = "Details"

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=True)

    @classmethod
    def from_dict(cls: type[D], data: dict[str, Any] | None) -> D:
        return from_known(cls, data)

    def summary(self) -> dict[str, Any]:
        """Short values shown under a measurement's metrics (scalars only by default)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if isinstance(v, (str, int, float, bool))}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in self.summary().items())
        return f"<table class='osl-details'>{rows}</table>" if rows else ""

    def plot(self, measurement: Measurement, ax: Axes | None = None) -> Axes:
        """The monitor's metrics as bars, with threshold lines."""
        ax = axes(ax, (7, 3.2))
        names = [k for k, v in measurement.metrics.items() if is_number(v)]
        ax.bar(names, [measurement.metrics[k] for k in names], color="#1f6fb4")
        for t in measurement.thresholds:
            ax.axhline(t.value, color="#c0392b", ls="--", lw=1, label=f"{t.metric} {t}")
        ax.tick_params(axis="x", rotation=45)
        if measurement.thresholds:
            ax.legend(fontsize=8)
        ax.set_title(f"{measurement.monitor} ({measurement.status})")
        return ax


@dataclass
class Measurement:
    """One evaluation of a monitor over a data window, as stored in the data mart."""

    monitor: str
    subscription_id: str
    status: str
    message: str
    window_start: datetime | None
    window_end: datetime
    record_count: int
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)
    details: Details | None = None
    measurement_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    timestamp: datetime = field(default_factory=utcnow)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def evaluated(self) -> bool:
        return self.status == EVALUATED

    def broken(self) -> list[Threshold]:
        """The thresholds this measurement's metrics break."""
        if not self.evaluated:
            return []
        return [t for t in self.thresholds if is_number(self.metrics.get(t.metric))
                and t.broken_by(float(self.metrics[t.metric]))]

    def table(self) -> pd.DataFrame:
        """Metric, value, threshold and whether it is broken, one row per metric."""
        import pandas as pd

        limits = {t.metric: t for t in self.thresholds}
        rows = [{"metric": name, "value": value, "threshold": str(limits[name]) if name in limits else "",
                 "alert": bool(name in limits and limits[name].broken_by(value))}
                for name, value in self.metrics.items()]
        return pd.DataFrame(rows, columns=["metric", "value", "threshold", "alert"])

    def to_dict(self) -> dict[str, Any]:
        return {"measurement_id": self.measurement_id, "monitor": self.monitor,
                "subscription_id": self.subscription_id, "status": self.status, "message": self.message,
                "window_start": self.window_start, "window_end": self.window_end,
                "record_count": self.record_count, "metrics": dict(self.metrics),
                "thresholds": [dataclasses.asdict(t) for t in self.thresholds],
                "details": self.details.to_dict() if self.details is not None else {},
                "timestamp": self.timestamp, "alerts": list(self.alerts)}

    def to_json(self) -> str:
        return json.dumps(jsonable(self.to_dict()), allow_nan=True)

    def plot(self, ax: Axes | None = None) -> Axes:
        """The monitor's own chart of this measurement."""
        if self.details is None:
            ax = axes(ax, (6, 1.5))
            ax.text(0.5, 0.5, self.message or self.status, ha="center", va="center")
            ax.set_axis_off()
            return ax
        return self.details.plot(self, ax)

    def _repr_html_(self) -> str:
        window = f"{self.window_start:%Y-%m-%d %H:%M} – " if self.window_start else "until "
        head = (f"<p><b>{html.escape(self.monitor)}</b> · {html.escape(self.status)} · {window}"
                f"{self.window_end:%Y-%m-%d %H:%M} · {self.record_count} records · "
                f"<span class='osl-alerts'>{len(self.broken())} alert(s)</span></p>")
        if self.message:
            head += f"<p>{html.escape(self.message)}</p>"
        rows = "".join(
            f"<tr{' class=osl-alert style=color:#c0392b' if r.alert else ''}><td>{html.escape(r.metric)}</td>"
            f"<td>{_cell(r.value)}</td><td>{html.escape(r.threshold)}</td><td>{'⚠ alert' if r.alert else ''}</td></tr>"
            for r in self.table().itertuples())
        table = (f"<table><thead><tr><th>metric</th><th>value</th><th>threshold</th><th></th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>") if rows else ""
        details = self.details._repr_html_() if self.details is not None else ""
        return head + table + details

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if isinstance(v, (int, float)))
        return (f"<{self.monitor} measurement {self.status}: {self.message or shown} "
                f"({self.record_count} records, {len(self.alerts)} alert(s))>")

    @classmethod
    def from_row(cls, row: dict[str, Any], details_type: type[Details] | None) -> Measurement:
        """A stored measurement (one row of `MonitorStore.measurements()`) with its typed details."""
        def when(value: Any) -> datetime | None:
            if value is None or value != value:  # None or NaT
                return None
            return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value

        details = row["details"]
        status = row["status"]
        return cls(monitor=row["monitor"], subscription_id=row["subscription_id"], status=status,
                   message=row["message"] or "", window_start=when(row["window_start"]),
                   window_end=when(row["window_end"]), record_count=int(row["record_count"]),
                   metrics=dict(row["metrics"]), thresholds=[Threshold(**t) for t in row["thresholds"]],
                   details=(details_type or Details).from_dict(details) if status == EVALUATED else None,
                   measurement_id=row["measurement_id"], timestamp=when(row["timestamp"]))
