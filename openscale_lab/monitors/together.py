"""Several monitors of one subscription run at once (`Monitoring.run_all`, `openscale-lab monitor run`): those that
read the same payload window (fairness and drift over the same hours) read it once.

Reading a window is most of a run's time at scale (a million payload records take seconds to read from
SQLite), and the fairness and drift monitors read nearly the same columns of it. Here each part of the window
is read once, with the columns of all of them, and handed to each monitor's `partial`; each monitor then
finishes and stores its own measurement, exactly as its own run would have (one definition of every metric:
`evaluate = finish(partial(data))`, see `engines.py`). A monitor whose window differs, that is short of
records (it may reach back), or whose engine is not this process's, runs on its own.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..datamart.reading import compiled_sql
from ..datamart.window import WindowQuery
from .base import Monitor, NotEvaluated, RunPlan
from .engines import LocalEngine
from .results import Measurement


def run_together(monitors: Sequence[Monitor[Any, Any]], start: datetime | None = None,
                 end: datetime | None = None) -> dict[str, Measurement]:
    """Run each monitor over [start, end) (`start` None: each one's configured window; `end` None: now, one
    moment for all), the ones sharing a window in one read of it; their measurements by monitor name."""
    end = end or utcnow()
    plans: dict[str, tuple[Monitor[Any, Any], RunPlan[Any] | None]] = {}
    for m in monitors:
        try:
            plans[m.name] = (m, m.plan(start, end))
        except Exception:  # its own run, in its turn, says what is wrong
            plans[m.name] = (m, None)
    groups: dict[str, list[tuple[Monitor[Any, Any], RunPlan[Any]]]] = {}
    group_of: dict[str, str] = {}
    for name, (monitor, plan) in plans.items():
        if plan is not None and plan.window is not None and isinstance(monitor.ctx.engine, LocalEngine):
            group_of[name] = _key(monitor, plan.window)
            groups.setdefault(group_of[name], []).append((monitor, plan))
    done: dict[str, Measurement] = {}
    errors: dict[str, Exception] = {}  # by monitor: the others still run, the first is raised once they have
    tried: set[str] = set()
    for name, (monitor, _) in plans.items():  # in the order given: a group runs when its first member's turn comes
        try:
            key = group_of.get(name)
            if key is not None and key not in tried and len(groups[key]) > 1:
                tried.add(key)
                done.update(_run_group(groups[key], errors))
            if name not in done and name not in errors:
                done[name] = monitor.run(start, end)
        except Exception as error:
            errors[name] = error
    if errors:
        raise next(iter(errors.values()))
    return {name: done[name] for name in plans}


def _key(monitor: Monitor[Any, Any], window: WindowQuery) -> str:
    """What makes two windows the same rows: the data mart, the table and the conditions (not the columns)."""
    engine = monitor.ctx.datamart.engine
    rows = sa.select(sa.literal(1)).select_from(window.table).where(*window.where)
    return f"{id(engine)}|{compiled_sql(engine, rows)}"


def _run_group(members: list[tuple[Monitor[Any, Any], RunPlan[Any]]],
               errors: dict[str, Exception]) -> dict[str, Measurement]:
    """One read of a window shared by several monitors; those short of records are left to run on their own.
    A monitor whose evaluation fails with an error (not NotEvaluated) stores nothing: its error goes into
    `errors` under its name, and the others are stored."""
    first, plan = members[0]
    engine = first.ctx.engine
    assert isinstance(engine, LocalEngine)
    have = engine.count(first.ctx, plan.window)  # type: ignore[arg-type]
    ready = [(m, p) for m, p in members if have >= p.config.min_records]
    if len(ready) < 2:
        return {}
    window = union(*(p.window for _, p in ready))  # type: ignore[misc]
    found = engine.partials(first.ctx, [(m, p.config) for m, p in ready], window, have)
    out = {}
    for monitor, p in ready:
        part = found.get(monitor.name)
        try:
            if isinstance(part, Exception) and not isinstance(part, NotEvaluated):
                raise part
            out[monitor.name] = monitor.store(p, have, lambda m=monitor, p=p, part=part: engine.finished(
                m, p.config, part, p.start, p.end))
        except Exception as error:
            errors[monitor.name] = error
    return out


def union(*windows: WindowQuery) -> WindowQuery:
    """One window reading the columns of all `windows` (the same rows)."""
    first = windows[0]
    if any(w.columns is None for w in windows):
        columns = None
    else:
        columns = tuple(dict.fromkeys(c for w in windows for c in w.columns or ()))
    return dataclasses.replace(
        first, columns=columns,
        json_columns=tuple(dict.fromkeys(c for w in windows for c in w.json_columns)),
        categorical=tuple(dict.fromkeys(c for w in windows for c in w.categorical)))
