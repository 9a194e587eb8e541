"""Where each student is: how far through the notebooks their lab shows they got, and their lab's current
alerts, read from their workspace and data mart (never from what they printed)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..datamart.database import DataMart
from ..datamart.tables import (
    FEEDBACK_PREFIX,
    REPLAY_PREFIX,
    alerts,
    business_applications,
    custom_monitor_definitions,
    measurements,
    monitor_instances,
)
from ..deployments.engine import MLEngine
from ..errors import LabError
from ..workspace import CONFIG_FILE, Workspace
from .classroom import Classroom, Student

# what each notebook leaves in a lab, in order: a student has reached the last stage whose mark their lab shows
STAGES = [("00", "provisioned"), ("01", "deployed"), ("02", "monitors_enabled"), ("02", "feedback_logged"),
          ("03", "business_kpis"), ("04", "history_loaded"), ("06", "retrained")]


def _latest_alerts(conn: sa.Connection, subscription_ids: list[str]) -> list[str]:
    """The alerts of each monitor's latest live measurement (the replayed week's are history, not current)."""
    live = sa.and_(measurements.c.subscription_id.in_(subscription_ids),
                   sa.not_(measurements.c.measurement_id.startswith(REPLAY_PREFIX)))
    latest = (sa.select(measurements.c.monitor, sa.func.max(measurements.c.timestamp).label("at"))
              .where(live).group_by(measurements.c.monitor).subquery())
    rows = conn.execute(
        sa.select(alerts.c.monitor, alerts.c.metric).select_from(
            measurements.join(latest, sa.and_(measurements.c.monitor == latest.c.monitor,
                                              measurements.c.timestamp == latest.c.at))
            .join(alerts, alerts.c.measurement_id == measurements.c.measurement_id))
        .where(live).order_by(alerts.c.monitor, alerts.c.metric)).all()
    return sorted({f"{monitor}: {metric}" for monitor, metric in rows})


def _from_datamart(url: str) -> dict[str, Any]:
    dm = DataMart(url)
    try:
        subs = dm.active_subscriptions()
        ids = [s.subscription_id for s in subs]
        names = set(sa.inspect(dm.engine).get_table_names())
        with dm.engine.connect() as conn:
            monitors = sorted({m for (m,) in conn.execute(
                sa.select(monitor_instances.c.monitor).where(monitor_instances.c.subscription_id.in_(ids)))})
            feedback = sum(int(conn.execute(sa.text(f'SELECT count(*) FROM "{FEEDBACK_PREFIX}{i}"')).scalar_one())
                           for i in ids if f"{FEEDBACK_PREFIX}{i}" in names)
            kpis = conn.execute(sa.select(sa.func.count()).select_from(business_applications)).scalar_one()
            custom = conn.execute(sa.select(sa.func.count()).select_from(custom_monitor_definitions)).scalar_one()
            replayed = conn.execute(sa.select(sa.func.count()).select_from(measurements).where(
                measurements.c.measurement_id.startswith(REPLAY_PREFIX))).scalar_one()
            current = _latest_alerts(conn, ids)
        payload = sum(dm.payload_count(s) for s in subs)
    finally:
        dm.close()
    return {"payload_records": payload, "monitors": monitors, "monitors_enabled": bool(monitors),
            "feedback_records": feedback, "feedback_logged": feedback > 0,
            "business_kpis": bool(kpis) or bool(custom), "history_loaded": replayed > 0,
            "alerts": current, "alert_count": len(current)}


def student_progress(student: Student) -> dict[str, Any]:
    """One student's row: their lab's marks, the notebook they have reached, their current alerts. A lab that
    cannot be read says why in `problem` rather than stopping the class's view."""
    row: dict[str, Any] = {"student": student.name, "reached": "", "provisioned": False, "deployed": False,
                           "running": False, "model_versions": 0, "retrained": False, "payload_records": 0,
                           "monitors": [], "monitors_enabled": False, "feedback_records": 0, "feedback_logged": False,
                           "business_kpis": False, "history_loaded": False, "alerts": [], "alert_count": 0,
                           "problem": ""}
    if not (student.workspace / CONFIG_FILE).is_file():
        row["problem"] = "no workspace: run openscale-lab classroom create again"
        return row
    ws = Workspace(student.workspace)
    row["provisioned"] = True
    try:
        engine = MLEngine(ws)
        deployments = engine.list()
        row["deployed"] = bool(deployments)
        row["running"] = any(engine.pid(d) is not None for d in deployments)
        row["retrained"] = any(e.get("action") == "redeploy" for d in deployments for e in d.history or [])
        row["model_versions"] = sum(1 for p in ws.models_dir.glob("*/") if p.is_dir()) if ws.models_dir.is_dir() else 0
        row.update(_from_datamart(ws.datamart_url))
    except (LabError, sa.exc.SQLAlchemyError, OSError) as exc:
        row["problem"] = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    marks = [number for number, mark in STAGES if row[mark]]
    row["reached"] = marks[-1] if marks else ""
    return row


def class_progress(room: Classroom) -> list[dict[str, Any]]:
    """Every student's row, in the class's order."""
    return [student_progress(s) for s in room.students()]
