"""Concurrency benchmark: many clients scoring single records at once, on SQLite and on PostgreSQL.

Run with `python benchmarks/bench_concurrency.py` (or the Makefile's target). Prints a table and writes
benchmarks/results/concurrency.json. Goals on a 2-core machine, 16 clients x 1000 single-record requests:
PostgreSQL >= 2 000 req/s, SQLite >= 2 500 req/s, p99 <= 20 ms on both, every acknowledged record in the
payload log (rows == acknowledged); a 1000-record batch over HTTP <= 5 ms.

The load comes from one light generator: one process on uvloop whose clients each keep one HTTP/1.1
connection, write prebuilt request bytes and read the reply by its Content-Length. Its own CPU time is reported
beside the server's, so the figures measure the server, not the generator.

`--baseline REV` (default: the last commit before group commit) serves the same deployment with the lab's
code at that git revision (a temporary worktree) on the same data marts, measured in turns with this checkout;
each figure gets its ratio current / baseline (the median of the runs' ratios). The baseline's figures include
whatever else changed since that revision (the scorer, the request checks).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import sqlalchemy as sa
import uvloop
from bench_scoring import http_timings, percentile, serve_with
from results_file import save_results

import openscale_lab as lab
from openscale_lab.core.jsonfile import read_json, write_json_atomic
from openscale_lab.data import feed_sample
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.artifacts import DEPLOYMENT_FILE, LOG_FILE, PID_FILE, REPLAY_SECRET_FILE, Deployment
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.tutorial import FEATURE_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("OPENSCALE_LAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BEFORE_GROUP_COMMIT = "278a681"  # the last commit whose server committed each request on the event loop


@dataclass
class Load:
    """What one run of the load generator saw."""

    requests: int
    acknowledged: int
    seconds: float
    latencies_ms: list[float]
    generator_cpu_s: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def request_bytes(host: str, port: int, path: str, record: list[Any]) -> bytes:
    body = orjson.dumps({"fields": FEATURE_COLUMNS, "values": [record]})
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def client(host: str, port: int, requests: list[bytes], latencies: list[float]) -> int:
    """Send `requests` one after another on one keep-alive connection; the number answered 200."""
    reader, writer = await asyncio.open_connection(host, port)
    ok = 0
    clock = time.perf_counter
    try:
        for raw in requests:
            t0 = clock()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            start = head.lower().find(b"content-length:")
            length = int(head[start + 15:head.index(b"\r\n", start)])
            await reader.readexactly(length)
            latencies.append((clock() - t0) * 1000.0)
            ok += head.startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()
    return ok


def generate(dep: Deployment, records: list[list[Any]], clients: int, per_client: int, server_pid: int) -> Load:
    """`clients` connections at once, each sending `per_client` single-record requests (prebuilt bytes)."""
    host, port = dep.config["host"], int(dep.config["port"])
    path = dep.scoring_url.split(str(port), 1)[1]
    plans = [[request_bytes(host, port, path, records[(c * per_client + i) % len(records)])
              for i in range(per_client)] for c in range(clients)]
    latencies: list[float] = []
    server = psutil.Process(server_pid)

    async def run() -> int:
        return sum(await asyncio.gather(*(client(host, port, plan, latencies) for plan in plans)))

    server_before = sum(server.cpu_times()[:2])
    cpu0, t0 = time.process_time(), time.perf_counter()
    acknowledged = uvloop.run(run())  # libuv's loop: the lightest generator at hand
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_cpu = sum(server.cpu_times()[:2]) - server_before
    return Load(clients * per_client, acknowledged, seconds, latencies, cpu, server_cpu)


def copy_deployment(dep: Deployment, model_path: Path, workspace: lab.Workspace) -> Deployment:
    """The verified deployment and its model copied into another workspace (not started): no second compile."""
    shutil.copytree(model_path, workspace.models_dir / model_path.name)
    target = workspace.deployments_dir / dep.path.name
    shutil.copytree(dep.path, target, ignore=shutil.ignore_patterns(PID_FILE, LOG_FILE, REPLAY_SECRET_FILE))
    return MLEngine(workspace).get(dep.deployment_id)


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """The URL of a fresh PostgreSQL schema, dropped afterwards; None when no server answers."""
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL left out: no server answers at {POSTGRES_URL} ({exc.orig})")
        engine.dispose()
        yield None
        return
    schema = f"bench_concurrency_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def payload_rows(datamart: DataMart, deployment_id: str) -> int:
    return datamart.payload_count(datamart.subscription_for_deployment(deployment_id))


def measure(dep: Deployment, datamart_url: str, worktree: Path | None, records: list[list[Any]],
            batch: list[list[Any]], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Each figure per run, for this checkout and (with a worktree) the baseline, serving `dep` in turns."""
    plan = [("current", None)] + ([("baseline", worktree)] if worktree else [])
    servers: list[tuple[str, Deployment, subprocess.Popen[bytes]]] = []
    figures: dict[str, dict[str, list[float]]] = {name: {} for name, _ in plan}
    datamart = DataMart(datamart_url)
    try:
        for name, code in plan:  # all up at once, measured in turns: drift of the machine hits all alike
            proc = serve_with(dep, code, {})
            servers.append((name, Deployment(dep.path, read_json(dep.path / DEPLOYMENT_FILE)), proc))
            generate(servers[-1][1], records, args.clients, 50, proc.pid)  # warm-up
        for run in range(args.runs):
            turn = run % len(servers)
            for name, served, proc in servers[turn:] + servers[:turn]:
                before = payload_rows(datamart, dep.deployment_id)
                load = generate(served, records, args.clients, args.requests, proc.pid)
                stored = payload_rows(datamart, dep.deployment_id) - before
                batches = http_timings(served, batch * args.batches, args.batches)
                got = figures[name]
                for key, value in (("req_per_s", load.rate), ("p50_ms", percentile(load.latencies_ms, 50)),
                                   ("p99_ms", percentile(load.latencies_ms, 99)),
                                   ("acknowledged", load.acknowledged), ("stored", stored),
                                   ("lost", load.acknowledged - stored),
                                   ("generator_cpu_s", load.generator_cpu_s), ("server_cpu_s", load.server_cpu_s),
                                   ("seconds", load.seconds), ("batch1000_ms", statistics.median(batches))):
                    got.setdefault(key, []).append(value)
                print(f"  {name:8s} run {run + 1}: {load.rate:7.0f} req/s, p99 "
                      f"{percentile(load.latencies_ms, 99):5.1f} ms, {load.acknowledged} acknowledged, "
                      f"{stored} stored, batch of 1000 {statistics.median(batches):5.1f} ms", flush=True)
    finally:
        for _, _, proc in servers:
            proc.terminate()
            proc.wait(10)
        write_json_atomic(dep.path / DEPLOYMENT_FILE, dep.config)
        datamart.close()
    return figures


def summary(figures: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """Medians over the runs (losses summed: any is a failure), and the median of each run's current / baseline
    ratio (the two measured one after the other: the machine's drift between runs cancels out)."""
    out: dict[str, float] = {}
    for name, got in figures.items():
        for key, values in got.items():
            out[f"{key}_{name}"] = sum(values) if key == "lost" else statistics.median(values)
    if "baseline" in figures:
        for key in ("req_per_s", "p50_ms", "p99_ms", "batch1000_ms", "server_cpu_s"):
            out[f"{key}_ratio"] = statistics.median(
                now / then for now, then in zip(figures["current"][key], figures["baseline"][key], strict=True))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (median is reported)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=1000, help="single-record requests per client and run")
    parser.add_argument("--batches", type=int, default=30, help="1000-record requests per run (median reported)")
    parser.add_argument("--baseline", metavar="REV", default=BEFORE_GROUP_COMMIT,
                        help="git revision to compare with (default: %(default)s, before group commit); "
                             "'none' leaves the comparison out")
    args = parser.parse_args()

    results: dict[str, Any] = {"clients": args.clients, "requests_per_client": args.requests, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="osl-bench-concurrency-") as tmp:
        print("training and deploying the model ...", flush=True)
        from openscale_lab.models.spark import get_spark

        spark = get_spark()
        sqlite_ws = lab.provision(Path(tmp) / "sqlite").workspace
        model = lab.ensure_model(sqlite_ws, spark)
        engine = MLEngine(sqlite_ws)
        dep = engine.deploy(model, "benchmark", spark)
        engine.stop(dep)
        spark.stop()  # the JVM's threads would share the two cores with the server
        dep = engine.get(dep.deployment_id)
        feed = feed_sample(args.clients * args.requests, seed=11)["values"]
        batch = feed_sample(1000, seed=7)["values"]
        worktree = None
        if args.baseline.lower() != "none":
            worktree = Path(tmp) / "baseline-code"
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline], check=True,
                           capture_output=True, cwd=ROOT)
        try:
            with postgres_schema() as pg_url:
                marts = [("sqlite", sqlite_ws, dep)]
                if pg_url:
                    pg_ws = lab.provision(Path(tmp) / "postgresql", pg_url).workspace
                    marts.append(("postgresql", pg_ws, copy_deployment(dep, model.path, pg_ws)))
                for mart, ws, served in marts:
                    print(f"\n{mart}: {args.clients} clients x {args.requests} single-record requests, "
                          f"{args.runs} runs", flush=True)
                    figures = measure(served, ws.datamart_url, worktree, feed, batch, args)
                    results[mart] = summary(figures)
        finally:
            if worktree is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], capture_output=True,
                               cwd=ROOT)

    goals = {"sqlite": 2500, "postgresql": 2000}
    print(f"\nmedians of {args.runs} runs; load generator: one uvloop process, {args.clients} keep-alive "
          "connections")
    for mart, got in results.items():
        if not isinstance(got, dict):
            continue
        rate, p99, batch_ms = got["req_per_s_current"], got["p99_ms_current"], got["batch1000_ms_current"]
        rows = [
            (f"{mart}: throughput", rate, "req/s", f">= {goals[mart]}", rate >= goals[mart]),
            (f"{mart}: p50 latency", got["p50_ms_current"], "ms", "", True),
            (f"{mart}: p99 latency", p99, "ms", "<= 20 ms", p99 <= 20),
            (f"{mart}: acknowledged but not stored", got["lost_current"], "", "0", got["lost_current"] == 0),
            (f"{mart}: 1000-record batch over HTTP", batch_ms, "ms", "<= 5 ms", batch_ms <= 5),
            (f"{mart}: load generator CPU", got["generator_cpu_s_current"], "s",
             f"of {got['seconds_current']:.1f} s", True),
            (f"{mart}: server CPU", got["server_cpu_s_current"], "s", "", True),
        ]
        for name, value, unit, goal, ok in rows:
            verdict = "" if not goal or goal.startswith("of") else ("ok" if ok else "MISSED")
            print(f"  {name:44s} {value:10.2f} {unit:5s} {goal:12s} {verdict}")
        if "req_per_s_ratio" in got:
            print(f"  {mart}: against {args.baseline} (median of the runs' ratios): " + ", ".join(
                f"{key} {got[f'{key}_baseline']:.2f} -> {got[f'{key}_current']:.2f} ({got[f'{key}_ratio']:.2f}x)"
                for key in ("req_per_s", "p99_ms", "batch1000_ms", "server_cpu_s")))
    results["baseline"] = args.baseline
    save_results("concurrency", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
