"""History benchmark: replaying seven days (notebook 04) through the deployment and evaluating every
monitor hour by hour, beside scoring the same hourly traffic with Spark in the same run.

Run with `make bench-history`. Goal on a 2-core machine: the whole week in <= 30 s. Writes
benchmarks/results/history.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import save_results

import openscale_lab as lab
from openscale_lab.data import load_scoring_feed
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.history import HistoryReplay, Scenario
from openscale_lab.models.spark import get_spark
from openscale_lab.monitors import Monitoring
from openscale_lab.tutorial import FEATURE_COLUMNS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args()
    spark = get_spark()
    from pyspark.ml import PipelineModel

    with tempfile.TemporaryDirectory(prefix="osl-bench-history-") as tmp:
        ws = lab.provision(Path(tmp) / "ws").workspace
        model = lab.ensure_model(ws, spark)
        dep = MLEngine(ws).deploy(model, "benchmark", spark, verify_rows=50)
        mon = Monitoring.for_deployment(ws, dep)
        replay = HistoryReplay(mon, dep)
        times, summary = [], None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            summary = replay.replay(Scenario(days=args.days), seed=7, progress=False)
            times.append(time.perf_counter() - t0)
        assert summary is not None
        # reference: the same hourly volumes scored by Spark (scoring only, no logging or monitors)
        spark_model = PipelineModel.load(str(model.spark_path))
        feed = pd.DataFrame(load_scoring_feed()["values"], columns=FEATURE_COLUMNS)
        rng = np.random.default_rng(7)
        t0 = time.perf_counter()
        for n in summary.per_hour["records"]:
            batch = feed.iloc[rng.integers(0, len(feed), int(n))]
            spark_model.transform(spark.createDataFrame(batch)).select("prediction").collect()
        spark_scoring = time.perf_counter() - t0
        mon.close()
        MLEngine(ws).stop_all()
    spark.stop()
    results = {"days": args.days, "runs": args.runs, "hours": summary.hours, "records": summary.records,
               "measurements": summary.measurements, "replay_s": statistics.median(times),
               "spark_scoring_only_s": spark_scoring}
    results["spark_scoring_only_over_replay"] = spark_scoring / results["replay_s"]
    print(f"\n{summary.hours} hours, {summary.records} records, {summary.measurements} measurements")
    print(f"  replay + evaluation, median of {args.runs}: {results['replay_s']:.1f} s (goal <= 30 s)")
    print(f"  Spark scoring the same traffic alone:      {spark_scoring:.1f} s "
          f"({results['spark_scoring_only_over_replay']:.2f}x the time of the whole replay, which also logs "
          "every record and runs every monitor)")
    save_results("history", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
