"""Scoring benchmark: the lab's deployment over HTTP (with payload logging) against Spark on the same records.

Run with `make bench` (or `python benchmarks/bench_scoring.py`). Prints a table and writes
benchmarks/results/scoring.json. Goals on a 2-core machine: single record p50 <= 2 ms and >= 100x
faster than Spark's PipelineModel.transform; a 1000-record batch <= 30 ms; cold start <= 3 s.

`--baseline REV` also serves the same deployment with the lab's code at git revision REV (checked out into
a temporary worktree), alternating runs between the two servers, and reports each figure's ratio
current / baseline: what a change costs, measured in the same run on the same machine.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from results_file import save_results

import openscale_lab as lab
from openscale_lab.core.jsonfile import write_json_atomic
from openscale_lab.data import feed_sample
from openscale_lab.datamart.database import SQLITE_SYNC_ENV
from openscale_lab.deployments.artifacts import DEPLOYMENT_FILE, SERVE_MODULE, Deployment
from openscale_lab.deployments.engine import MLEngine, free_port
from openscale_lab.models.spark import get_spark
from openscale_lab.tutorial import FEATURE_COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def http_timings(dep: Deployment, records: list[list], requests_per_run: int) -> list[float]:
    """Milliseconds per request, one keep-alive connection, each request a distinct slice of records."""
    host, port = dep.config["host"], int(dep.config["port"])
    path = dep.scoring_url.split(str(port), 1)[1]
    conn = http.client.HTTPConnection(host, port)
    headers = {"Content-Type": "application/json"}
    n = len(records) // requests_per_run
    bodies = [orjson.dumps({"fields": FEATURE_COLUMNS, "values": records[i * n:(i + 1) * n]})
              for i in range(requests_per_run)]
    times = []
    for body in bodies:
        t0 = time.perf_counter()
        conn.request("POST", path, body, headers)
        reply = conn.getresponse()
        data = reply.read()
        times.append((time.perf_counter() - t0) * 1000)
        if reply.status != 200:
            raise RuntimeError(data[:300])
    conn.close()
    return times


def serve_with(dep: Deployment, code: Path | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A server process for `dep` on a free port, running the lab's code from `code` (None: this checkout)."""
    port = free_port()
    write_json_atomic(dep.path / DEPLOYMENT_FILE, dict(
        dep.config, port=port, scoring_url=f"http://127.0.0.1:{port}/v1/deployments/{dep.deployment_id}/predictions"))
    env = dict(os.environ, **env, **({"PYTHONPATH": str(code)} if code else {}))
    proc = subprocess.Popen([sys.executable, "-m", SERVE_MODULE, str(dep.path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=code or None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/health")
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server from {code or 'this checkout'} did not start")


# What is compared with the baseline revision: this checkout as it runs (SQLite synchronous=FULL), this
# checkout with the baseline's synchronous=NORMAL, which isolates the cost of the request checks, and a second
# server of the baseline itself, whose ratio is the noise floor of the comparison on this machine.
VARIANTS: dict[str, tuple[bool, dict[str, str]]] = {
    "current": (False, {}), "checks": (False, {SQLITE_SYNC_ENV: "NORMAL"}), "baseline again": (True, {})}
FIGURES = ("single_p50_ms", "single_p99_ms", "batch1000_ms")


def compare(dep: Deployment, baseline: str, records: list[list], batches: list[list], runs: int,
            single: int, batch_count: int) -> dict[str, float]:
    """p50/p99 of single records and the median 1000-record batch: each variant of this checkout and the
    code at `baseline`, serving the same deployment, in turns (the order rotates from run to run)."""
    med = statistics.median
    figures: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="osl-baseline-") as tmp:
        worktree = Path(tmp) / "code"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), baseline], check=True,
                       capture_output=True, cwd=ROOT)
        plan = [("baseline", worktree, {}),
                *((name, worktree if old else None, env) for name, (old, env) in VARIANTS.items())]
        servers: list[tuple[str, Deployment, subprocess.Popen[bytes]]] = []
        try:
            for name, code, env in plan:  # all up at once, measured in turns: drift of the machine hits all alike
                proc = serve_with(dep, code, env)
                servers.append((name, Deployment(dep.path, json.loads((dep.path / DEPLOYMENT_FILE).read_text())),
                                proc))
                http_timings(servers[-1][1], records[:50], 50)  # warm-up
            for run in range(runs):
                turn = run % len(servers)
                for name, served, _ in servers[turn:] + servers[:turn]:
                    ones = http_timings(served, records, single)
                    many = http_timings(served, batches, batch_count)
                    got = figures.setdefault(name, {})
                    got.setdefault("single_p50_ms", []).append(percentile(ones, 50))
                    got.setdefault("single_p99_ms", []).append(percentile(ones, 99))
                    got.setdefault("batch1000_ms", []).append(med(many))
        finally:
            for _, _, proc in servers:
                proc.terminate()
                proc.wait(10)
            write_json_atomic(dep.path / DEPLOYMENT_FILE, dep.config)
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], capture_output=True, cwd=ROOT)
    out: dict[str, float] = {}
    for key in FIGURES:
        then = out[f"{key}_baseline"] = med(figures["baseline"][key])
        for name in VARIANTS:
            now = out[f"{key}_{name}"] = med(figures[name][key])
            out[f"{key}_{name}_ratio"] = now / then
    return out


def cold_start(dep: Deployment, record: list) -> float:
    """Seconds from launching a deployment's server process to its first scoring reply."""
    port = free_port()
    write_json_atomic(dep.path / DEPLOYMENT_FILE, dict(dep.config, port=port))
    body = orjson.dumps({"fields": FEATURE_COLUMNS, "values": [record]})
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", SERVE_MODULE, str(dep.path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", f"/v1/deployments/{dep.deployment_id}/predictions", body,
                             {"Content-Type": "application/json"})
                if conn.getresponse().status == 200:
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.005)
            if proc.poll() is not None:
                raise RuntimeError("server exited during cold start")
    finally:
        proc.terminate()
        proc.wait(10)


SPARK_COLD = """
import sys, time
t0 = float(sys.argv[1])
from openscale_lab.models.spark import get_spark
from pyspark.ml import PipelineModel
spark = get_spark()
model = PipelineModel.load(sys.argv[2])
frame = spark.read.json(spark.sparkContext.parallelize([sys.argv[3]]))
for c in frame.columns:
    if dict(frame.dtypes)[c] == "bigint":
        frame = frame.withColumn(c, frame[c].cast("int"))
model.transform(frame).select("prediction").collect()
print(time.time() - t0)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each measurement (median is reported)")
    parser.add_argument("--single", type=int, default=400, help="single-record requests per run")
    parser.add_argument("--batches", type=int, default=10, help="1000-record requests per run")
    parser.add_argument("--spark-single", type=int, default=15, help="single-record Spark transforms per run")
    parser.add_argument("--baseline", metavar="REV", help="also measure the lab's code at this git revision")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="osl-bench-") as tmp:
        print("training and deploying the model ...", flush=True)
        spark = get_spark()
        ws = lab.provision(Path(tmp) / "ws").workspace
        model = lab.ensure_model(ws, spark)
        engine = MLEngine(ws)
        dep = engine.deploy(model, "benchmark", spark)
        feed = feed_sample(args.single + 1000 * args.batches, seed=7)["values"]
        single_records, batch_records = feed[:args.single], feed[args.single:]
        http_timings(dep, single_records[:50], 50)  # warm-up
        single_runs = [http_timings(dep, single_records, args.single) for _ in range(args.runs)]
        batch_runs = [http_timings(dep, batch_records, args.batches) for _ in range(args.runs)]
        engine.stop(dep)
        dep = engine.get(dep.deployment_id)
        cold = [cold_start(dep, single_records[0]) for _ in range(args.runs)]
        versus = (compare(dep, args.baseline, single_records, batch_records, args.runs, args.single, args.batches)
                  if args.baseline else {})

        from pyspark.ml import PipelineModel
        from pyspark.sql import types as T

        spark_model = PipelineModel.load(str(model.spark_path))
        schema = T.StructType([T.StructField(c["name"], T.StringType() if c["type"] == "string" else T.IntegerType())
                               for c in model.input_schema])

        def spark_ms(records: list[list]) -> float:
            t0 = time.perf_counter()
            spark_model.transform(spark.createDataFrame(records, schema)).select("prediction", "probability").collect()
            return (time.perf_counter() - t0) * 1000

        for r in single_records[:5]:
            spark_ms([r])
        spark_single = [statistics.median(spark_ms([r]) for r in single_records[:args.spark_single])
                        for _ in range(args.runs)]
        spark_batch = [spark_ms(batch_records[:1000]) for _ in range(args.runs)]
        record_json = json.dumps(dict(zip(FEATURE_COLUMNS, single_records[0])))
        spark_cold = []
        for _ in range(max(3, args.runs // 2)):
            out = subprocess.run([sys.executable, "-c", SPARK_COLD, str(time.time()), str(model.spark_path),
                                  record_json], capture_output=True, text=True, check=True)
            spark_cold.append(float(out.stdout.strip().splitlines()[-1]))
        spark.stop()

    med = statistics.median
    results = {
        "single_p50_ms": med(percentile(r, 50) for r in single_runs),
        "single_p99_ms": med(percentile(r, 99) for r in single_runs),
        "batch1000_ms": med(med(r) for r in batch_runs),
        "cold_start_s": med(cold),
        "spark_single_ms": med(spark_single),
        "spark_batch1000_ms": med(spark_batch),
        "spark_cold_start_s": med(spark_cold),
        "runs": args.runs,
    }
    results["single_speedup_vs_spark"] = results["spark_single_ms"] / results["single_p50_ms"]
    results["batch_speedup_vs_spark"] = results["spark_batch1000_ms"] / results["batch1000_ms"]
    results["cold_start_speedup_vs_spark"] = results["spark_cold_start_s"] / results["cold_start_s"]
    goals = [
        ("single record p50 (HTTP + payload log)", results["single_p50_ms"], "ms", "<= 2 ms",
         results["single_p50_ms"] <= 2),
        ("single record p99", results["single_p99_ms"], "ms", "", True),
        ("speed-up vs Spark, single record", results["single_speedup_vs_spark"], "x", ">= 100x",
         results["single_speedup_vs_spark"] >= 100),
        ("1000-record batch", results["batch1000_ms"], "ms", "<= 30 ms", results["batch1000_ms"] <= 30),
        ("speed-up vs Spark, 1000 records", results["batch_speedup_vs_spark"], "x", "", True),
        ("cold start to first reply", results["cold_start_s"], "s", "<= 3 s", results["cold_start_s"] <= 3),
        ("Spark transform, single record", results["spark_single_ms"], "ms", "baseline", True),
        ("Spark transform, 1000 records", results["spark_batch1000_ms"], "ms", "baseline", True),
        ("Spark cold start to first prediction", results["spark_cold_start_s"], "s", "baseline", True),
    ]
    print(f"\nmedians of {args.runs} runs")
    for name, value, unit, goal, ok in goals:
        verdict = "" if not goal or goal == "baseline" else ("ok" if ok else "MISSED")
        print(f"  {name:42s} {value:10.2f} {unit:3s} {goal:10s} {verdict}")
    if versus:
        results.update(versus, baseline=args.baseline)
        print(f"\nagainst {args.baseline}, the same deployment served in turns (medians of {args.runs} runs each):")
        print("  checks = this checkout with the baseline's SQLite synchronous=NORMAL (goal: p50 and p99 ratios "
              "<= 1.10);")
        print("  current = this checkout as it runs, synchronous=FULL (the cost of a commit on disk);")
        print("  baseline again = a second server of the baseline: the noise floor of these ratios")
        print(f"  {'':16s}" + "".join(f"{key:>24s}" for key in FIGURES))
        print(f"  {'baseline':16s}" + "".join(f"{versus[f'{key}_baseline']:>15.2f} ms      " for key in FIGURES))
        for name in VARIANTS:
            cells = "".join(f"{versus[f'{key}_{name}']:>15.2f} ms{versus[f'{key}_{name}_ratio']:5.2f}x"
                            for key in FIGURES)
            verdict = ""
            if name == "checks":
                worst = max(versus[f"{key}_checks_ratio"] for key in ("single_p50_ms", "single_p99_ms"))
                verdict = "  ok" if worst <= 1.10 else "  MISSED"
            print(f"  {name:16s}{cells}{verdict}")
    save_results("scoring", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
