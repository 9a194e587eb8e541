"""`openscale-lab classroom create|status|reset|remove|env|dashboard`: the instructor's commands."""
from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from .roster import numbered, read_roster
from .settings import FIRST_PORT, PORTS_PER_STUDENT

ROOT_HELP = "the class's folder (default: $OPENSCALE_LAB_CLASSROOM)"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `classroom` command and its actions."""
    room = sub.add_parser("classroom", help="one isolated lab per student on a shared server (JupyterHub)")
    actions = room.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make (or complete) the class: a folder, a PostgreSQL schema and "
                                               "a port range per student; safe to run again")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--students", type=int, metavar="N", help="student001 ... studentN")
    who.add_argument("--roster", metavar="FILE", help="one name per line, or a CSV with a 'student' column")
    create.add_argument("--datamart-url", required=True, metavar="URL",
                        help="the class's PostgreSQL database, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    create.add_argument("--spark-master", metavar="URL",
                        help="a shared Spark cluster (spark://host:7077); default: a driver per student on one core")
    create.add_argument("--spark-memory", help="each student's Spark driver memory (default 1g)")
    create.add_argument("--first-port", type=int, help=f"first student's first port (default {FIRST_PORT}; "
                                                       "set when the class is made)")
    create.add_argument("--ports-per-student", type=int, help=f"default {PORTS_PER_STUDENT}")
    status = actions.add_parser("status", help="each student's progress through the notebooks and current alerts")
    status.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    for name, says in [("reset", "empty students' data marts and remove their models and deployments (their "
                                 "notebooks stay)"),
                       ("remove", "stop and delete students' labs (with --all: the whole classroom)")]:
        act = actions.add_parser(name, help=says)
        act.add_argument("students", nargs="*", metavar="STUDENT")
        act.add_argument("--all", action="store_true", help="every student")
    env = actions.add_parser("env", help="a student's environment as shell exports (what JupyterHub sets)")
    env.add_argument("student")
    page = actions.add_parser("dashboard", help="serve the class Insights page (Voila) on 127.0.0.1")
    page.add_argument("--port", type=int, default=8867)
    page.add_argument("--hub-url", default="", help="the hub's URL, for links into students' dashboards")
    for act in (create, status, *[actions.choices[n] for n in ("reset", "remove", "env", "dashboard")]):
        act.add_argument("--root", default=None, help=ROOT_HELP)


def _table(rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    shown = pd.DataFrame([{"student": r["student"], "reached": r["reached"] or "-", "running": r["running"],
                           "payload": r["payload_records"], "monitors": len(r["monitors"]),
                           "feedback": r["feedback_records"], "history": r["history_loaded"],
                           "retrained": r["retrained"], "alerts": ", ".join(r["alerts"]) or "-",
                           "problem": r["problem"] or ""} for r in rows])
    return shown.to_string(index=False) if len(shown) else "(no students)"


def run(args: argparse.Namespace) -> int:
    """Carry out one classroom action; ClassroomError (a LabError) for anything that cannot be done."""
    from .classroom import Classroom
    from .progress import class_progress

    if args.action == "create":
        names = numbered(args.students) if args.students is not None else read_roster(args.roster)
        room = Classroom.create(args.root, names, args.datamart_url,
                                spark_master=args.spark_master, spark_memory=args.spark_memory,
                                first_port=args.first_port, ports_per_student=args.ports_per_student)
        for student in room.students():
            print(f"{student.name}: {student.home} (schema {student.schema}, ports {student.ports[0]}-"
                  f"{student.ports[1]})")
        print(f"{len(room.names)} students in {room.root}")
        return 0
    room = Classroom.open(args.root)
    if args.action == "status":
        rows = class_progress(room)
        print(json.dumps(rows, indent=1) if args.json else _table(rows))
        return 0
    if args.action == "reset":
        print("reset: " + ", ".join(room.reset(args.students, everyone=args.all)))
        return 0
    if args.action == "remove":
        print("removed: " + ", ".join(room.remove(args.students, everyone=args.all)))
        return 0
    if args.action == "env":
        for key, value in room.environment(args.student).items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    from .page import serve_class_page

    return serve_class_page(room, args.port, args.hub_url)

