"""The class Insights page: one row per student (how far through the notebooks, their lab's alerts, a link into
their Insights dashboard), a chart of where the class is, and serving it with Voilà like the dashboard."""
from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Any

from ..dashboard.serve import NOTEBOOK, SERVED_FOLDER
from ..notebook_runner import lab_notebooks
from .settings import CLASSROOM_ENV, HUB_URL_ENV, PAGE, classroom_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .classroom import Classroom

LOG_FILE = "class_page.log"  # in the class's folder
DASHBOARD = NOTEBOOK


def hub_address(given: str = "") -> str:
    """Where the hub is: `given`, else $OPENSCALE_LAB_HUB_URL, else the hub's own base URL when this runs in a
    server the hub started (links relative to the hub's host); '' when there is no hub."""
    return given or os.environ.get(HUB_URL_ENV) or os.environ.get("JUPYTERHUB_BASE_URL", "")


def dashboard_link(hub_url: str, student: str) -> str:
    """The student's Insights dashboard inside their JupyterHub server: Voilà's server extension renders the
    dashboard's page (notebook 05 without its exercises) that the classroom wrote into their workspace."""
    if not hub_url:
        return ""
    return f"{hub_url.rstrip('/')}/user/{student}/voila/render/workspace/{SERVED_FOLDER}/{DASHBOARD}"


def _notebook_titles() -> dict[str, str]:
    return {p.name[:2]: p.stem[3:].replace("_", " ") for p in lab_notebooks()}


def class_table(rows: list[dict[str, Any]], hub_url: str = "") -> str:
    """The class as an HTML table: a student per row, alerts in red, a problem in its own column; each name links
    into the student's Insights dashboard when there is a hub (`hub_address`)."""
    hub_url = hub_address(hub_url)
    titles = _notebook_titles()
    head = ["student", "reached", "deployment", "payload records", "monitors", "feedback", "history",
            "retrained", "current alerts", "problem"]
    lines = ["<table class='class-insights'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
             + "</tr></thead><tbody>"]
    for r in rows:
        link = dashboard_link(hub_url, r["student"])
        name = html.escape(r["student"])
        who = f"<a href='{html.escape(link)}' target='_blank'>{name}</a>" if link else name
        reached = f"{r['reached']} {titles.get(r['reached'], '')}" if r["reached"] else "not started"
        alerts = ("<span style='color:#b00020'>" + html.escape(", ".join(r["alerts"])) + "</span>"
                  if r["alerts"] else "none")
        cells = [who, html.escape(reached), "running" if r["running"] else ("stopped" if r["deployed"] else "-"),
                 str(r["payload_records"]), html.escape(", ".join(r["monitors"]) or "-"),
                 str(r["feedback_records"]), "yes" if r["history_loaded"] else "-",
                 "yes" if r["retrained"] else "-", alerts, html.escape(r["problem"])]
        lines.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def progress_chart(rows: list[dict[str, Any]]) -> Figure:
    """How many students have reached each notebook, and how many of them have current alerts."""
    import matplotlib.pyplot as plt

    stages = ["", *sorted(_notebook_titles())]
    reached = [sum(r["reached"] == s for r in rows) for s in stages]
    alerting = [sum(r["reached"] == s and bool(r["alerts"]) for r in rows) for s in stages]
    fig, ax = plt.subplots(figsize=(8, 3))
    labels = ["not started" if s == "" else s for s in stages]
    ax.bar(labels, reached, color="#4c78a8", label="students")
    ax.bar(labels, alerting, color="#e45756", label="of them with current alerts")
    ax.set_xlabel("furthest notebook reached")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper right")
    ax.set_title(f"Where the class is ({len(rows)} students)")
    fig.tight_layout()
    return fig


def serve_class_page(room: Classroom, port: int, hub_url: str = "") -> int:
    """Serve the class page with Voilà on 127.0.0.1 until Ctrl-C (see `serve_until_stopped`)."""
    from ..dashboard.serve import serve_until_stopped, start_voila

    env = {CLASSROOM_ENV: str(room.root), HUB_URL_ENV: hub_url}
    log = room.root / LOG_FILE
    return serve_until_stopped(lambda: start_voila(classroom_dir() / PAGE, port, env, log), "class Insights page",
                               port, log)
