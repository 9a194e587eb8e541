"""Payload analytics: distributions of the payload log over a time window, computed in the database."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..core.clock import check_window
from ..errors import LabError
from .database import DataMart, Subscription, in_window

if TYPE_CHECKING:
    import pandas as pd

AGGREGATIONS = {"count": sa.func.count, "sum": sa.func.sum, "mean": sa.func.avg, "min": sa.func.min,
                "max": sa.func.max}
NUMERIC = (sa.Float, sa.Integer, sa.BigInteger, sa.Numeric)


class AnalyticsError(LabError):
    """A grouping or aggregation the payload log cannot answer."""


def payload_distribution(datamart: DataMart, subscription: Subscription | str, group_by: list[str],
                         aggregations: list[tuple[str, str | None]] | None = None,
                         start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Group the payload log by columns and aggregate, with SQL GROUP BY over [start, end).

    `aggregations`: (function, column) pairs, function one of count, sum, mean, min, max; count takes
    no column. Column names are looked up among the table's columns, never put into SQL text: an
    unknown name is refused. (`SparkEngine.payload_distribution` computes the same as a Spark job.)
    """
    import pandas as pd

    start, end = check_window(start, end, AnalyticsError)
    table = datamart.payload_table(subscription)
    groups, planned = distribution_plan(table, group_by, aggregations)
    exprs = []
    for func, col, label in planned:
        if func == "count":
            exprs.append((sa.func.count() if col is None else sa.func.count(table.c[col])).label(label))
        else:
            exprs.append(AGGREGATIONS[func](table.c[col]).label(label))
    cols = [table.c[g] for g in groups]
    query = (sa.select(*cols, *exprs).where(*in_window(table.c.scoring_timestamp, start, end))
             .group_by(*cols).order_by(*cols))
    with datamart.engine.connect() as conn:
        return pd.read_sql(query, conn)


def distribution_plan(table: sa.Table, group_by: list[str], aggregations: list[tuple[str, str | None]] | None
                      ) -> tuple[list[str], list[tuple[str, str | None, str]]]:
    """The grouping columns and (function, column, result label) of each aggregation, checked by name."""
    columns = {c.name: c for c in table.columns}

    def column(name: Any) -> str:
        if not isinstance(name, str) or name not in columns:
            raise AnalyticsError(f"unknown payload column {name!r}; the payload log has: {', '.join(columns)}")
        return name

    if not group_by:
        raise AnalyticsError("give at least one column to group by")
    groups = [column(g) for g in group_by]
    planned: list[tuple[str, str | None, str]] = []
    for func, col in aggregations or [("count", None)]:
        if func not in AGGREGATIONS:
            raise AnalyticsError(f"unknown aggregation {func!r}; use one of {', '.join(AGGREGATIONS)}")
        if func == "count":
            planned.append(("count", None if col is None else column(col), "count" if col is None else f"count_{col}"))
            continue
        if not isinstance(columns[column(col)].type, NUMERIC):
            raise AnalyticsError(f"{func} needs a numeric column; {col!r} holds text")
        planned.append((func, col, f"{func}_{col}"))
    return groups, planned


def plot_distribution(frame: pd.DataFrame, x: str, stack: str | None = None, value: str = "count") -> Any:
    """Stacked bars: one bar per value of `x`, stacked by `stack`."""

    table = frame.pivot_table(index=x, columns=stack, values=value, aggfunc="sum", fill_value=0) if stack \
        else frame.set_index(x)[[value]]
    ax = table.plot(kind="bar", stacked=True, figsize=(7, 3.5), rot=30)
    ax.set_ylabel(value)
    ax.set_title(f"{value} by {x}" + (f" and {stack}" if stack else ""))
    ax.figure.tight_layout()
    return ax
