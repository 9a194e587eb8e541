"""Evaluating a workspace's monitors on demand, and their results as plain JSON values (the `monitor` command).

`run_monitors` evaluates the enabled registered monitors of one deployment's subscription (or of every
deployment's) over one window; `enabled_monitors` lists what is enabled. Custom monitors have no evaluation
of their own (their values are stored by their owners), so `run_monitors` leaves them out.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..core.clock import check_window, naive_utc, utcnow
from ..deployments.artifacts import Deployment
from ..deployments.engine import MLEngine
from ..errors import LabError
from ..workspace import Workspace
from .engines import make_engine
from .monitoring import Monitoring
from .registry import MONITORS
from .results import Measurement, jsonable
from .together import run_together

WorkspaceLike = Workspace | str | os.PathLike[str] | None


def parse_time(text: str | None, name: str = "time") -> datetime | None:
    """An ISO 8601 time as the data mart's naive UTC (a time without an offset is read as UTC)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LabError(f"{name} {text!r} is not an ISO 8601 time, e.g. 2026-01-31T12:00 or "
                       "2026-01-31T12:00+01:00") from None
    return naive_utc(when, name)


def _deployments(ws: Workspace, deployment: str | None) -> list[Deployment]:
    """The workspace's deployments, or those whose name or id is `deployment`."""
    found = MLEngine(ws).list()
    if not found:
        raise LabError(f"no deployments in the workspace {ws.root}: run notebook 01_train_and_deploy_model first")
    if deployment is None:
        return found
    chosen = [d for d in found if deployment in (d.name, d.deployment_id)]
    if not chosen:
        names = ", ".join(sorted({repr(d.name) for d in found}))
        raise LabError(f"no deployment {deployment!r} in the workspace {ws.root}; its deployments are {names}")
    return chosen


@contextmanager
def _monitorings(workspace: WorkspaceLike, deployment: str | None, engine: str = "local",
                 spark_master: str | None = None) -> Iterator[list[tuple[Deployment, Monitoring]]]:
    """Each chosen deployment with the Monitoring of its active subscription, closed on leaving. Without
    `deployment`, deployments that never registered a subscription (never started) are passed over."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    chosen_engine = make_engine(engine, spark_master)  # a bad engine is said as such, once for every deployment
    opened: list[tuple[Deployment, Monitoring]] = []
    try:
        for dep in _deployments(ws, deployment):
            try:
                opened.append((dep, Monitoring.for_deployment(ws, dep, chosen_engine)))
            except LabError:
                if deployment is not None:
                    raise
        if not opened:
            raise LabError(f"no deployment in the workspace {ws.root} has a subscription yet: start one once "
                           "(openscale-lab deployment start) so it registers")
        yield opened
    finally:
        for _, monitoring in opened:
            monitoring.close()


def _check_monitors(monitors: list[str] | None) -> list[str] | None:
    for name in monitors or []:
        if name not in MONITORS:
            raise LabError(f"no monitor {name!r} to run; the registered monitors are {', '.join(MONITORS)} "
                           "(custom monitors store their own values and are not run)")
    return list(dict.fromkeys(monitors)) if monitors else None


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime]:
    end = utcnow() if end is None else naive_utc(end, "end")
    lo, _ = check_window(start, end)
    return lo, end


def _run(workspace: WorkspaceLike, deployment: str | None, monitors: list[str] | None,
         start: datetime | None, end: datetime | None, engine: str = "local",
         spark_master: str | None = None) -> list[tuple[Deployment, Measurement]]:
    wanted = _check_monitors(monitors)
    start, end = _window(start, end)
    with _monitorings(workspace, deployment, engine, spark_master) as chosen:
        plan = [(dep, monitoring, name) for dep, monitoring in chosen for name in monitoring.enabled()
                if wanted is None or name in wanted]
        missing = [name for name in wanted or [] if name not in {name for _, _, name in plan}]
        if missing:
            where = f"deployment {deployment!r}" if deployment else "any deployment"
            raise LabError(f"the {', '.join(missing)} monitor{'s are' if len(missing) > 1 else ' is'} not "
                           f"enabled for {where}: enable it first (notebook 02_configure_monitors)")
        out = []
        for dep, monitoring in chosen:  # a deployment's monitors sharing a window read it once
            names = [name for d, _, name in plan if d is dep]
            found = run_together([monitoring.monitor(name) for name in names], start, end)
            out += [(dep, found[name]) for name in names]
        return out


def run_monitors(workspace: WorkspaceLike, deployment: str | None = None, monitors: list[str] | None = None,
                 start: datetime | None = None, end: datetime | None = None, engine: str = "local",
                 spark_master: str | None = None) -> list[Measurement]:
    """Evaluate now the enabled registered monitors (or only `monitors`) of the deployment named (or with
    id) `deployment`, or of every deployment, each over [start, end) and stored as a scheduled run's would be.

    `end` defaults to now (one moment for all of them); `start` to each monitor's configured window. A
    monitor named in `monitors` must be enabled for at least one chosen deployment. `engine` "spark" evaluates
    them as Spark jobs on `spark_master` (see `Monitoring.for_deployment`).
    """
    return [m for _, m in _run(workspace, deployment, monitors, start, end, engine, spark_master)]


def monitor_report(workspace: WorkspaceLike, deployment: str | None = None, monitors: list[str] | None = None,
                   start: datetime | None = None, end: datetime | None = None, engine: str = "local",
                   spark_master: str | None = None) -> list[dict[str, Any]]:
    """`run_monitors`, each measurement as `measurement_summary` gives it (with its deployment)."""
    return [measurement_summary(m, dep)
            for dep, m in _run(workspace, deployment, monitors, start, end, engine, spark_master)]


def _strict(value: Any) -> Any:
    """JSON values with NaN and infinities as null, so that any JSON reader accepts them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def measurement_summary(m: Measurement, deployment: Deployment | None = None) -> dict[str, Any]:
    """A measurement as plain JSON values: its `to_dict()` with the details' short summary in place of the
    full details, the deployment's id and name when given, and undefined numbers as null."""
    out = m.to_dict()
    out["details"] = m.details.summary() if m.details is not None else {}
    if deployment is not None:
        out = {"deployment_id": deployment.deployment_id, "deployment_name": deployment.name, **out}
    return dict(_strict(jsonable(out)))


def enabled_monitors(workspace: WorkspaceLike, deployment: str | None = None) -> list[dict[str, Any]]:
    """What is enabled, one row per monitor of each deployment's active subscription: deployment, subscription,
    monitor, schedule, when it was enabled, when it last ran, and whether it is a custom monitor (not run)."""
    order = {name: i for i, name in enumerate(MONITORS)}
    rows: list[dict[str, Any]] = []
    with _monitorings(workspace, deployment) as chosen:
        for dep, monitoring in chosen:
            instances = monitoring.ctx.store.instances(monitoring.subscription.subscription_id)
            for inst in sorted(instances, key=lambda i: (order.get(i["monitor"], len(order)), i["monitor"])):
                rows.append({"deployment_id": dep.deployment_id, "deployment_name": dep.name,
                             "subscription_id": inst["subscription_id"], "monitor": inst["monitor"],
                             "custom": inst["monitor"] not in MONITORS, "schedule_hours": inst["schedule_hours"],
                             "enabled_at": inst["enabled_at"], "last_run_at": inst["last_run_at"]})
    return [dict(_strict(jsonable(r))) for r in rows]
