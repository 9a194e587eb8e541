"""Scale benchmark: batch scoring against Spark, and fairness + quality + drift over growing payload logs.

Run with `make bench-scale` (or `python benchmarks/bench_scale.py --sizes 100000 1000000`; 10 M rows are
opt-in: `--sizes ... 10000000`, which takes many minutes to write). Figures, medians of `--runs` runs:

* in-process scoring: records per second of the compiled scorer on one core (a 100 000-record frame), and
  Spark's PipelineModel.transform on the same records, both with the result in hand (Spark's collected);
* a 1000-record batch over HTTP (the deployment's server: parse, check, score, log, reply) beside Spark's
  transform of the same 1000 records;
* per payload size and data mart: fairness, quality and drift over the whole log (one window) run together, as
  the scheduler and `openscale-lab monitor run` run them (fairness and drift read the window once), their time
  and the peak memory of the process doing it (each size in a fresh process, so peaks do not carry over);
  beside it, in the same process, each monitor run on its own (each reads the window itself) and the time to
  read the shared window alone;
* on the largest PostgreSQL size: the same monitors with the Spark engine on a standalone cluster (a master and
  two one-core workers started from the pyspark installation), and their largest difference from the local
  engine's metrics.

Writes benchmarks/results/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench_monitors import FAIRNESS, timed
from results_file import save_results

POSTGRES_URL = os.environ.get("OPENSCALE_LAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MONITORS = ("fairness", "quality", "drift")


def scoring_figures(runs: int) -> dict[str, float]:
    """Compiled scorer in process and a 1000-record batch over HTTP, each beside Spark on the same records."""
    import http.client

    import orjson
    import pandas as pd

    import openscale_lab as lab
    from openscale_lab.data import load_scoring_feed
    from openscale_lab.deployments.engine import MLEngine
    from openscale_lab.models.spark import get_spark
    from openscale_lab.models.training import train_model

    spark = get_spark("local[1]")  # one core for Spark too: the in-process figure is per core
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="osl-scale-") as tmp:
        ws = lab.provision(Path(tmp) / "ws").workspace
        model = lab.publish_model(ws, train_model(spark))
        dep = MLEngine(ws).deploy(model, "scale", spark, verify_rows=50)
        try:
            from openscale_lab.deployments.app import Served

            scorer = Served.load(dep.path).scorer
            scorer.threads = 1  # the in-process figure is per core
            feed = load_scoring_feed()
            frame = pd.DataFrame(feed["values"], columns=feed["fields"])
            big = pd.concat([frame] * 6, ignore_index=True).head(100_000)
            scorer.predict_frame(big.head(1000))
            seconds = statistics.median(timed(lambda: scorer.predict_frame(big), runs))
            out["inprocess_records_per_s"] = len(big) / seconds
            from pyspark.ml import PipelineModel

            spark_model = PipelineModel.load(str(model.spark_path))
            sdf = spark.createDataFrame(big).cache()
            sdf.count()
            spark_s = statistics.median(timed(
                lambda: spark_model.transform(sdf).select("probability").collect(), max(2, runs // 2)))
            out["spark_records_per_s"] = len(big) / spark_s
            out["inprocess_vs_spark"] = out["inprocess_records_per_s"] / out["spark_records_per_s"]
            # 1000 records over HTTP against Spark transforming the same 1000
            batch = feed["values"][:1000]
            body = orjson.dumps({"fields": feed["fields"], "values": batch})
            conn = http.client.HTTPConnection("127.0.0.1", int(dep.config["port"]))
            path = f"/v1/deployments/{dep.deployment_id}/predictions"

            def one() -> None:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                reply.read()
                assert reply.status == 200

            for _ in range(5):
                one()
            out["batch1000_http_ms"] = statistics.median(timed(one, max(30, runs * 10))) * 1000
            small = spark.createDataFrame(frame.head(1000)).cache()
            small.count()
            out["batch1000_spark_ms"] = statistics.median(timed(
                lambda: spark_model.transform(small).select("probability").collect(), max(5, runs))) * 1000
            out["batch1000_vs_spark"] = out["batch1000_spark_ms"] / out["batch1000_http_ms"]
            conn.close()
        finally:
            MLEngine(ws).stop_all()
            spark.stop()
    return out


def spark_figures(ws: Any, dep: Any, mon: Any, runs: int, logs: Path) -> dict[str, float]:
    """The same monitors as Spark jobs on a standalone cluster (a master and two 1-core workers from this pyspark
    installation), timed, and their largest difference from the local engine's metrics."""
    from openscale_lab.models.spark_cluster import StandaloneCluster
    from openscale_lab.monitors import Monitoring
    from openscale_lab.monitors.spark_engine import SparkEngine

    local = {name: mon.monitor(name).latest().metrics for name in MONITORS}
    out: dict[str, float] = {}
    with StandaloneCluster(logs, workers=2, cores=1, memory="3g") as master:
        engine = SparkEngine(master)
        on_spark = Monitoring.for_deployment(ws, dep, engine=engine)
        try:
            times = {name: [] for name in MONITORS}
            diff = 0.0
            for _ in range(runs):
                for name in MONITORS:
                    t0 = time.perf_counter()
                    m = on_spark.monitor(name).run()
                    times[name].append(time.perf_counter() - t0)
                    diff = max(diff, *(abs(m.metrics[k] - v) for k, v in local[name].items()))
            for name in MONITORS:
                out[f"spark_{name}_s"] = statistics.median(times[name])
            out["spark_monitors_s"] = sum(out[f"spark_{name}_s"] for name in MONITORS)
            out["spark_max_abs_difference"] = diff
        finally:
            on_spark.close()
            engine.stop()
    return out


def monitors_at(size: int, datamart: str, runs: int, spark_cluster: bool = False) -> dict[str, float]:
    """One size on one data mart, in this process: write the log, then time the monitors and the read alone."""
    from scale_payload import fill_payload

    import openscale_lab as lab
    from openscale_lab.core.clock import utcnow
    from openscale_lab.data import data_path
    from openscale_lab.deployments.engine import MLEngine
    from openscale_lab.models.spark import get_spark
    from openscale_lab.models.training import train_model
    from openscale_lab.monitors import Monitoring
    from openscale_lab.monitors.engines import LocalEngine
    from openscale_lab.monitors.together import run_together, union

    schema = None
    url = None
    if datamart == "postgresql":
        import sqlalchemy as sa

        schema = f"scale_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    out: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="osl-scale-") as tmp:
            spark = get_spark("local[2]")
            ws = lab.provision(Path(tmp) / "ws", datamart_url=url).workspace
            model = lab.publish_model(ws, train_model(spark))
            dep = MLEngine(ws).deploy(model, "scale", spark, verify_rows=50)
            MLEngine(ws).stop_all()
            spark.stop()
            mon = Monitoring.for_deployment(ws, dep)
            t0 = time.perf_counter()
            fill_payload(mon.ctx.datamart, mon.subscription, mon.ctx.scorer, size, utcnow() - timedelta(minutes=1))
            out["write_s"] = time.perf_counter() - t0
            mon.quality.enable()
            mon.feedback.log(data_path("german_credit_feedback.json"))
            mon.fairness.enable(**FAIRNESS)
            mon.drift.enable(window_hours=None)
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            monitors = [mon.monitor(name) for name in MONITORS]
            together = []
            for _ in range(runs):  # as the scheduler and `openscale-lab monitor run` run them: one read for both
                t0 = time.perf_counter()
                found = run_together(monitors)
                together.append(time.perf_counter() - t0)
                assert all(m.evaluated for m in found.values()), [m.message for m in found.values()]
            out["monitors_s"] = statistics.median(together)
            out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            times = {name: [] for name in MONITORS}
            for _ in range(runs):  # each on its own, as `monitor.run()` does: each reads the window itself
                for name in MONITORS:
                    t0 = time.perf_counter()
                    m = mon.monitor(name).run()
                    times[name].append(time.perf_counter() - t0)
                    assert m.evaluated, m.message
            for name in MONITORS:
                out[f"{name}_s"] = statistics.median(times[name])
            out["separately_s"] = sum(out[f"{name}_s"] for name in MONITORS)
            plans = [mon.fairness.plan(), mon.drift.plan()]
            window = union(*(p.window for p in plans))
            engine = LocalEngine()
            rows = engine.count(mon.ctx, window)
            out["read_s"] = statistics.median(timed(  # the shared window alone, read as the monitors read it
                lambda: sum(len(part) for part in engine.parts(mon.ctx, window, rows, "read")), runs))
            out["peak_rss_before_monitors_mb"] = base / 1024
            if spark_cluster:
                out.update(spark_figures(ws, dep, mon, runs, Path(tmp) / "cluster"))
            mon.close()
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--datamarts", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--no-spark", action="store_true", help="leave out the Spark engine on a cluster")
    parser.add_argument("--scoring-only", action="store_true", help="only the scoring figures")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "DATAMART", "SPARK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one size on one data mart, its figures as JSON on the last line
        print(json.dumps(monitors_at(int(args.one[0]), args.one[1], args.runs, args.one[2] == "spark")))
        return 0
    results: dict[str, Any] = {"runs": args.runs, "scoring": scoring_figures(args.runs), "monitors": {}}
    for datamart in [] if args.scoring_only else args.datamarts:
        for size in args.sizes:
            print(f"{datamart}: {size} payload records ...", flush=True)
            spark = datamart == "postgresql" and size == max(args.sizes) and not args.no_spark
            done = subprocess.run([sys.executable, __file__, "--one", str(size), datamart, "spark" if spark else "-",
                                   "--runs", str(args.runs)], stdout=subprocess.PIPE, text=True, check=True)
            results["monitors"][f"{datamart}_{size}"] = json.loads(done.stdout.strip().splitlines()[-1])
    s = results["scoring"]
    print(f"\nmedians of {args.runs} runs")
    print(f"compiled scorer in process, one core: {s['inprocess_records_per_s']:,.0f} records/s "
          f"(Spark {s['spark_records_per_s']:,.0f}/s, {s['inprocess_vs_spark']:.1f}x)  goal >= 500,000/s")
    print(f"1000-record batch over HTTP: {s['batch1000_http_ms']:.1f} ms (Spark transform "
          f"{s['batch1000_spark_ms']:.1f} ms, {s['batch1000_vs_spark']:.1f}x)  goal <= 5 ms, >= 30x")
    for key, m in results["monitors"].items():
        print(f"{key:>22}: fairness + quality + drift together {m['monitors_s']:.1f} s (goal <= 10 s at 1 M; the "
              f"shared window's read alone {m['read_s']:.1f} s), peak {m['peak_rss_mb']:,.0f} MB (goal <= 2 GB); "
              f"written in {m['write_s']:.0f} s")
        print(f"{'':>22}  each on its own: fairness {m['fairness_s']:.1f} s + quality {m['quality_s']:.2f} s + "
              f"drift {m['drift_s']:.1f} s = {m['separately_s']:.1f} s ({m['separately_s'] / m['monitors_s']:.1f}x "
              "the time together)")
        if "spark_monitors_s" in m:
            print(f"{'':>22}  Spark engine, standalone cluster of 2 workers: fairness {m['spark_fairness_s']:.1f} s + "
                  f"quality {m['spark_quality_s']:.1f} s + drift {m['spark_drift_s']:.1f} s = "
                  f"{m['spark_monitors_s']:.1f} s; largest |difference| from the local engine "
                  f"{m['spark_max_abs_difference']:.1e}")
    save_results("scale-scoring" if args.scoring_only else "scale", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
