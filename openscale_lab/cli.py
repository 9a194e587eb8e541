"""The `openscale-lab` command: run the lab, and start, stop or list deployments."""
from __future__ import annotations

import argparse
import json
import sys

from .errors import LabError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openscale-lab", description=__doc__)
    parser.add_argument("--workspace", help="lab workspace folder (default: $OPENSCALE_LAB_WORKSPACE or "
                                            "~/openscale-lab-workspace)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run-lab", help="execute every notebook in order with papermill")
    run.add_argument("--output", default="output", help="folder for the executed notebooks")
    run.add_argument("--only", nargs="*", help="notebook name prefixes to run (e.g. 00 01)")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                     help="a notebook parameter for every notebook that has it, e.g. -p DAYS=2 (VALUE is read "
                          "as JSON when it parses, else as text)")
    dep = sub.add_parser("deployment", help="manage the workspace's deployments")
    dep.add_argument("action", choices=["start", "stop", "status"])
    dep.add_argument("--name", help="only the deployment of this name")
    sched = sub.add_parser("scheduler", help="run every enabled monitor when its schedule says it is due")
    sched.add_argument("--once", action="store_true", help="evaluate what is due now, then exit")
    sched.add_argument("--poll", type=float, default=60.0, help="seconds between checks (default 60)")
    dash = sub.add_parser("dashboard", help="serve the Insights dashboard as a web page (Voila) on 127.0.0.1")
    dash.add_argument("--port", type=int, default=8866)
    prov = sub.add_parser("provision", help="create or check the workspace")
    prov.add_argument("--datamart-url", help="SQLAlchemy URL of the data mart (default: SQLite in the workspace)")
    prov.add_argument("--reset-data-mart", action="store_true", help="drop and recreate the lab's tables")
    return parser


def _parameters(given: list[str]) -> dict[str, object]:
    """NAME=VALUE pairs as notebook parameters (VALUE as JSON when it parses, else as text)."""
    out: dict[str, object] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise LabError(f"parameter {item!r}: write it as NAME=VALUE, e.g. DAYS=2")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def _deployment(args: argparse.Namespace) -> int:
    from .deployments.engine import MLEngine
    from .workspace import Workspace

    engine = MLEngine(Workspace.open(args.workspace))
    chosen = [d for d in engine.list() if args.name in (None, d.name)]
    if args.action == "status" or not chosen:
        if not chosen:
            print("no deployments in this workspace: run notebook 01_train_and_deploy_model first")
            return 1 if args.action != "status" else 0
        for row in engine.status():
            state = f"running (pid {row['pid']})" if row["running"] else "stopped"
            print(f"{row['name']} [{row['deployment_id']}] model v{row['model_version']}: {state} {row['scoring_url']}")
        return 0
    for dep in chosen:
        if args.action == "start":
            dep = engine.start(dep)
            print(f"{dep.name}: running at {dep.scoring_url} (docs: {dep.docs_url})")
        else:
            print(f"{dep.name}: {'stopped' if engine.stop(dep) else 'was not running'}")
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from .monitors import Scheduler
    from .workspace import Workspace

    def show(m: object) -> None:
        print(m, flush=True)

    scheduler = Scheduler(Workspace.open(args.workspace))
    if args.once:
        for m in scheduler.run_pending():
            show(m)
        scheduler.close()
        return 0
    print(f"scheduler running, checking every {args.poll:g} s; Ctrl-C stops it", flush=True)
    scheduler.run_forever(args.poll, on_result=show)
    print("scheduler stopped", flush=True)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from .dashboard import start_dashboard, stop_dashboard
    from .workspace import Workspace

    proc = start_dashboard(Workspace.open(args.workspace), args.port)
    print(f"Insights dashboard at http://127.0.0.1:{args.port}/ ; Ctrl-C stops it", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        stop_dashboard(proc)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run-lab":
            from .models.spark import java_version
            from .notebook_runner import run_lab

            java_version()  # a clear message now rather than a JVM error inside a notebook

            done = run_lab(args.output, args.workspace, args.only, _parameters(args.parameter))
            print("executed notebooks:")
            for path in done:
                print(f"  {path}")
            from .workspace import resolve_workspace_path

            print(f"start the deployment again with: openscale-lab --workspace "
                  f"{resolve_workspace_path(args.workspace)} deployment start")
            return 0
        if args.command == "provision":
            from .provisioning import provision

            print(provision(args.workspace, args.datamart_url, args.reset_data_mart))
            return 0
        if args.command == "dashboard":
            return _dashboard(args)
        if args.command == "scheduler":
            return _scheduler(args)
        return _deployment(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
