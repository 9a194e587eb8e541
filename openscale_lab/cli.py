"""The `openscale-lab` command: run the lab, start, stop, list or roll back deployments, run the monitors, the
scheduler and the learning system. --workspace goes before or after the command."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from .errors import LabError

WORKSPACE_HELP = "lab workspace folder (default: $OPENSCALE_LAB_WORKSPACE or ~/openscale-lab-workspace)"


def _workspace_option() -> argparse.ArgumentParser:
    """--workspace for every command, so it may follow the command too; SUPPRESS keeps the value given before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=argparse.SUPPRESS, help=WORKSPACE_HELP)
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openscale-lab", description=__doc__)
    parser.add_argument("--workspace", help=WORKSPACE_HELP)
    common = [_workspace_option()]
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run-lab", parents=common, help="execute every notebook in order with papermill")
    run.add_argument("--output", default="output", help="folder for the executed notebooks")
    run.add_argument("--only", nargs="*", help="notebook name prefixes to run (e.g. 00 01)")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                     help="a notebook parameter for every notebook that has it, e.g. -p DAYS=2 (VALUE is read "
                          "as JSON when it parses, else as text)")
    dep = sub.add_parser("deployment", parents=common,
                         help="start, stop, list (status) or roll back the workspace's deployments")
    dep.add_argument("action", choices=DEPLOYMENT_ACTIONS,
                     help="list: a table of the deployments; status: one line each; rollback: serve again the "
                          "model version that served before the current one, in place")
    dep.add_argument("--name", help="only the deployment of this name")
    sched = sub.add_parser("scheduler", parents=common,
                           help="run every enabled monitor when its schedule says it is due")
    sched.add_argument("--once", action="store_true", help="evaluate what is due now, then exit")
    sched.add_argument("--poll", type=float, default=60.0, help="seconds between checks (default 60)")
    sched.add_argument("--learn-on-alert", action="store_true",
                       help="when a quality alert fires, run the deployment's learning system (configured with "
                            "`retrain` first); off by default")
    _monitor_parser(sub, common)
    _retrain_parser(sub, common)
    dash = sub.add_parser("dashboard", parents=common,
                          help="serve the Insights dashboard as a web page (Voila) on 127.0.0.1")
    dash.add_argument("--port", type=int, default=8866)
    svc = sub.add_parser("service", parents=common,
                         help="start, stop or show the OpenScale-compatible service (IBM's SDK talks to it)")
    svc.add_argument("action", choices=["start", "stop", "status"],
                     help="start: run it (or show the running one); stop; status: show it if it runs")
    svc.add_argument("--port", type=_port, help="port on 127.0.0.1, 1-65535 (default: a free one)")
    from .classroom.cli import add_parser as classroom_parser

    classroom_parser(sub)
    prov = sub.add_parser("provision", parents=common, help="create or check the workspace")
    prov.add_argument("--datamart-url", help="SQLAlchemy URL of the data mart (default: SQLite in the workspace)")
    prov.add_argument("--reset-data-mart", action="store_true", help="drop and recreate the lab's tables")
    return parser


DEPLOYMENT_ACTIONS = ["start", "stop", "status", "list", "rollback"]


def _port(text: str) -> int:
    """A TCP port number given on the command line."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {port}")
    return port


MONITOR_RUN_HELP = """\
Evaluate now every enabled registered monitor (quality, fairness, drift, ...), scheduled or not,
of a deployment's subscription or of every deployment's, and print each measurement: status,
metrics, thresholds and alerts. Each measurement is stored in the data mart, as a scheduled run's
would be. Custom monitors are not run: their values are stored by their owners
(monitoring.custom(name).run(values)).

The window is [--start, --end): --end defaults to now, --start to each monitor's configured window.
Times are ISO 8601 (2026-01-31T12:00, 2026-01-31T12:00+01:00); a time without an offset is UTC.

exit codes: 0 the monitors were evaluated, even if alerts were raised or a monitor had too little
data ("not_evaluated"); 3 with --fail-on-alert when any alert was raised; 1 on an error (unknown
deployment or monitor, bad time, empty workspace); 2 on bad usage."""


def _monitor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                    common: list[argparse.ArgumentParser]) -> None:
    """The `monitor run` and `monitor list` commands."""
    mon = sub.add_parser("monitor", parents=common, help="evaluate the enabled monitors now (run) or show them (list)",
                         description="Evaluate the enabled monitors now (run) or show what is enabled (list).")
    actions = mon.add_subparsers(dest="action", required=True, metavar="{run,list}")
    run = actions.add_parser("run", parents=common,
                             help="evaluate the enabled monitors now and print the measurements",
                             description=MONITOR_RUN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    listing = actions.add_parser("list", parents=common,
                                 help="show the enabled monitors: deployment, subscription, schedule, last run",
                                 description="Show the enabled monitors of each deployment's subscription: schedule "
                                             "and last run.")
    for action in (run, listing):
        action.add_argument("--deployment", metavar="NAME", help="only the deployment of this name (or id); "
                                                                  "default: every deployment of the workspace")
    run.add_argument("--monitor", action="append", metavar="NAME",
                     help="only this registered monitor, e.g. quality (repeat for more); default: every enabled one")
    run.add_argument("--start", metavar="ISO", help="start of the window (default: the monitor's own window)")
    run.add_argument("--end", metavar="ISO", help="end of the window, not included (default: now)")
    run.add_argument("--fail-on-alert", action="store_true", help="exit with code 3 when any alert is raised")
    run.add_argument("--engine", choices=["local", "spark"], default="local",
                     help="where large windows are evaluated: this process, in chunks (default), or Spark jobs "
                          "reading the data mart over JDBC (PostgreSQL data marts)")
    run.add_argument("--spark-master", metavar="URL", help="Spark master for --engine spark, e.g. "
                                                           "spark://127.0.0.1:7077 (default: local[2])")
    for action in (run, listing):
        action.add_argument("--json", action="store_true", help="print JSON instead of a table")


RETRAIN_HELP = """\
One iteration of a deployment's learning system (Watson Machine Learning's continuous learning): read the
labelled feedback that arrived in [--since, --until), evaluate the serving model on it, retrain a challenger
with Spark (notebook 01's pipeline) if --retrain says so, compare both on held-out feedback, and redeploy the
challenger in place if --redeploy says so. Settings given here are stored as the learning system's
configuration (the others keep their stored or default values). Prints the iteration as JSON.

--since defaults to the end of the last window a challenger learnt from, --until to now. Times are ISO 8601;
a time without an offset is UTC.

exit codes: 0 the iteration ran (whatever it decided); 1 on an error (no such deployment, a bad setting,
feedback with labels outside the model's classes); 2 on bad usage."""


def _retrain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                    common: list[argparse.ArgumentParser]) -> None:
    """The `retrain` command: the learning system's options."""
    from .learning.settings import METRICS, MODES, SOURCES, TRAINING_DATA

    run = sub.add_parser("retrain", parents=common,
                         help="run the learning system once: retrain on feedback, compare, redeploy",
                         description=RETRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--deployment", metavar="NAME", help="the deployment (name or id; default: the only one)")
    run.add_argument("--source", choices=list(SOURCES), help="whose feedback: live, or the replayed week's (story)")
    run.add_argument("--min-feedback", type=int, help="fewest feedback records that start an iteration")
    run.add_argument("--retrain", choices=MODES, help="never, conditionally (quality below --threshold), always")
    run.add_argument("--redeploy", choices=MODES, help="never, conditionally (better by --margin), always")
    run.add_argument("--metric", choices=METRICS, help="the quality metric compared")
    run.add_argument("--threshold", type=float, help="conditionally retrain below this value of the metric")
    run.add_argument("--margin", type=float, help="conditionally redeploy a challenger better by this much")
    run.add_argument("--holdout", type=float, help="share of the feedback held out for the comparison")
    run.add_argument("--training-data", choices=TRAINING_DATA, help="what the challenger learns from")
    run.add_argument("--num-trees", type=int, help="the challenger's number of trees")
    run.add_argument("--max-depth", type=int, help="the challenger's tree depth")
    run.add_argument("--seed", type=int, help="seed of the held-out split and the forest")
    run.add_argument("--since", metavar="ISO", help="feedback that arrived from this time")
    run.add_argument("--until", metavar="ISO", help="feedback that arrived before this time (default: now)")
    run.add_argument("--spark-master", default=None,
                     help="Spark master URL (default: $OPENSCALE_LAB_SPARK_MASTER, else local[*])")


def _retrain(args: argparse.Namespace) -> int:
    from .deployments.engine import MLEngine
    from .learning import LearningSystem
    from .learning.settings import LearningConfig
    from .monitors.report import parse_time
    from .workspace import Workspace

    ws = Workspace.open(args.workspace)
    dep = _one_deployment(MLEngine(ws), args.deployment)
    system = LearningSystem(ws, dep, spark_master=args.spark_master)
    given = {name: getattr(args, name) for name in LearningConfig.__dataclass_fields__
             if getattr(args, name, None) is not None}
    stored = system.config.to_dict() if system.is_configured else {}
    if given or not stored:
        system.configure(**{**stored, **given})
    run = system.run(parse_time(args.since, "--since"), parse_time(args.until, "--until"), progress=False)
    print(json.dumps(run.summary(), indent=2, default=str))
    return 0


def _one_deployment(engine: Any, name: str | None) -> Any:
    """The deployment called (or with the id) `name`; without a name, the workspace's only one."""
    found = [d for d in engine.list() if name in (None, d.name, d.deployment_id)]
    if not found:
        raise LabError(f"no deployment {name!r} in this workspace" if name else
                       "no deployments in this workspace: run notebook 01_train_and_deploy_model first")
    if len(found) > 1:
        raise LabError(f"{len(found)} deployments: choose one with --deployment "
                       f"({', '.join(d.name for d in found)})")
    return found[0]


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
    if not chosen:
        print(f"no deployment {args.name!r} in this workspace" if args.name else
              "no deployments in this workspace: run notebook 01_train_and_deploy_model first")
        return 0 if args.action in ("status", "list") else 1
    if args.action in ("status", "list"):
        rows = [(r, f"running (pid {r['pid']})" if r["running"] else "stopped")
                for r in engine.status() if args.name in (None, r["name"])]
        if args.action == "list":
            _table([[r["name"], r["deployment_id"], f"v{r['model_version']}", state, r["scoring_url"]]
                    for r, state in rows], ["deployment", "id", "model", "state", "scoring URL"])
            return 0
        for r, state in rows:
            print(f"{r['name']} [{r['deployment_id']}] model v{r['model_version']}: {state} {r['scoring_url']}")
        return 0
    if args.action == "rollback":
        from .learning import LearningSystem

        dep = LearningSystem(engine.workspace, _one_deployment(engine, args.name)).rollback()
        print(f"{dep.name}: now serving model v{dep.model_version} ({dep.model_id}) at {dep.scoring_url}")
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

    ws = Workspace.open(args.workspace)
    if args.learn_on_alert:
        from .learning import LearningScheduler

        def learnt(run: Any) -> None:
            print(json.dumps(run.summary(), default=str), flush=True)

        scheduler: Scheduler = LearningScheduler(ws, on_learning=learnt)
    else:
        scheduler = Scheduler(ws)
    if args.once:
        for m in scheduler.run_pending():
            show(m)
        scheduler.close()
        return 0
    print(f"scheduler running, checking every {args.poll:g} s; Ctrl-C stops it", flush=True)
    scheduler.run_forever(args.poll, on_result=show)
    print("scheduler stopped", flush=True)
    return 0


ALERT_EXIT_CODE = 3  # `monitor run --fail-on-alert` when any alert was raised


def _monitor(args: argparse.Namespace) -> int:
    from .monitors.report import enabled_monitors, monitor_report, parse_time

    if args.action == "list":
        rows = enabled_monitors(args.workspace, args.deployment)
        if args.json:
            print(json.dumps(rows, indent=2, allow_nan=False))
        elif not rows:
            print("no monitors enabled: enable them in notebook 02_configure_monitors")
        else:
            _table([[f"{r['deployment_name']} [{r['deployment_id']}]", r["subscription_id"],
                     r["monitor"] + (" (custom)" if r["custom"] else ""),
                     f"{r['schedule_hours']:g} h" if r["schedule_hours"] else "not scheduled",
                     r["last_run_at"] or "never"] for r in rows],
                   ["deployment", "subscription", "monitor", "schedule", "last run"])
        return 0
    if args.spark_master and args.engine != "spark":
        raise LabError("--spark-master is for --engine spark")
    report = monitor_report(args.workspace, args.deployment, args.monitor, parse_time(args.start, "--start"),
                            parse_time(args.end, "--end"), args.engine, args.spark_master)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    elif not report:
        print("no monitors enabled: enable them in notebook 02_configure_monitors")
    else:
        for m in report:
            _show_measurement(m)
    alerts = sum(len(m["alerts"]) for m in report)
    return ALERT_EXIT_CODE if args.fail_on_alert and alerts else 0


def _show_measurement(m: dict[str, Any]) -> None:
    """One measurement summary as a heading line and a table of its metrics."""
    window = f"{m['window_start']} – {m['window_end']}" if m["window_start"] else f"until {m['window_end']}"
    print(f"{m['deployment_name']} [{m['deployment_id']}] {m['monitor']}: {m['status']}, {window}, "
          f"{m['record_count']} records, {len(m['alerts'])} alert(s)")
    if m["message"]:
        print(f"  {m['message']}")
    limits = {t["metric"]: f"{'≥' if t['type'] == 'lower_limit' else '≤'} {t['value']}" for t in m["thresholds"]}
    broken = {a["metric"] for a in m["alerts"]}
    _table([[f"  {name}", f"{value:.4g}" if isinstance(value, (int, float)) else str(value),
             limits.get(name, ""), "ALERT" if name in broken else ""] for name, value in m["metrics"].items()])


def _table(rows: list[list[object]], header: list[str] | None = None) -> None:
    """Rows printed as left-aligned columns."""
    cells = [[str(c) for c in row] for row in ([header] if header else []) + rows]
    if not cells:
        return
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C, SIGTERM or SIGHUP, which all stop Voilà and its kernels."""
    from .dashboard import start_dashboard
    from .dashboard.serve import LOG_FILE, serve_until_stopped
    from .workspace import Workspace

    ws = Workspace.open(args.workspace)
    return serve_until_stopped(lambda: start_dashboard(ws, args.port), "Insights dashboard", args.port,
                               ws.root / LOG_FILE)


def _shown(path: Path) -> str:
    """`path` as typed at a shell prompt here: relative to the current folder when inside it, quoted if need be."""
    try:
        path = path.relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.quote(str(path))


def lab_command() -> str:
    """How to call this command from the current folder: the venv's script when there is one, else its name."""
    script = Path(sys.executable).parent / "openscale-lab"
    return _shown(script) if script.is_file() else "openscale-lab"


DASHBOARD_STEP = "serve the Insights dashboard at http://127.0.0.1:8866/ (Ctrl-C stops it)"
JUPYTER_STEP = "work through the notebooks, 00 to 06, in JupyterLab"


def next_steps(workspace: str | os.PathLike[str] | None) -> str:
    """What to do after `run-lab`, as commands that work when pasted here (the project's `make` targets when the
    current folder is the project)."""
    from .core.paths import notebooks_dir
    from .workspace import resolve_workspace_path

    ws = resolve_workspace_path(workspace)
    command = f"{lab_command()} --workspace {shlex.quote(str(ws))}"
    project = Path("Makefile").is_file() and Path("openscale_lab").is_dir()
    make_ws = "" if ws == (Path.cwd() / "workspace").resolve() else f" WORKSPACE={shlex.quote(str(ws))}"
    steps = []
    report = ws / "insights_report.html"
    if report.is_file():
        steps.append(("open the Insights report (one HTML file) in a browser", _shown(report)))
    if project:
        steps += [(DASHBOARD_STEP, f"make dashboard{make_ws}"), (JUPYTER_STEP, f"make jupyter{make_ws}")]
    else:
        steps += [(DASHBOARD_STEP, f"{command} dashboard"),
                  (JUPYTER_STEP + " (pip install jupyterlab)",
                   f"OPENSCALE_LAB_WORKSPACE={shlex.quote(str(ws))} jupyter lab {_shown(notebooks_dir())}")]
    steps.append(("use IBM's OpenScale SDK against the lab (notebooks/appendix_ibm_sdk.ipynb starts it too)",
                  f"{command} service start"))
    steps.append(("start the deployment again", f"{command} deployment start"))
    return "\n".join(["next steps:"] + [f"  {what}:\n    {how}" for what, how in steps])


def _service(args: argparse.Namespace) -> int:
    """`service start|stop|status`: what an `APIClient` needs, the token's file rather than the token."""
    from .service import process
    from .workspace import Workspace

    ws = Workspace.open(args.workspace)
    if args.action == "stop":
        print("stopped the OpenScale-compatible service" if process.stop_service(ws) else "no service was running")
        return 0
    info = process.start_service(ws, args.port) if args.action == "start" else process.service_status(ws)
    if info is None:
        print("the OpenScale-compatible service is not running (start it: "
              f"openscale-lab --workspace {ws.root} service start)")
        return 0
    print(f"service_url:         {info.url}\nservice_instance_id: {info.instance_id}\n"
          f"bearer token in:     {process.folder(ws) / process.TOKEN_FILE}\npid:                 {info.pid}"
          + ("" if info.answering else "\nstate:               running, but not answering (busy, or stuck: "
             "openscale-lab service stop)"))
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
            print()
            print(next_steps(args.workspace))
            return 0
        if args.command == "provision":
            from .provisioning import provision

            print(provision(args.workspace, args.datamart_url, args.reset_data_mart))
            return 0
        if args.command == "dashboard":
            return _dashboard(args)
        if args.command == "scheduler":
            return _scheduler(args)
        if args.command == "monitor":
            return _monitor(args)
        if args.command == "retrain":
            return _retrain(args)
        if args.command == "service":
            return _service(args)
        if args.command == "classroom":
            from .classroom.cli import run as classroom

            return classroom(args)
        return _deployment(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
