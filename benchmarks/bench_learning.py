"""Continuous learning benchmark: one learning-system iteration end to end (read the feedback, train the
challenger with Spark, compare, compile and verify against Spark, redeploy in place), beside fitting the same
pipeline on the same data with Spark alone, measured in the same run; and the swap itself: the latency of
requests from clients scoring while the running server changes model.

Run with `make bench-learning`. Goals: the swap causes no request over 50 ms; the iteration's overhead over
Spark training is reported. Writes benchmarks/results/learning.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
from results_file import save_results

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.datamart.feedback import FeedbackLog
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.history import Scenario, World
from openscale_lab.models.spark import get_spark
from openscale_lab.models.training import build_pipeline
from openscale_lab.tutorial import FEATURE_COLUMNS

CLIENTS = 4


def log_feedback(ws: lab.Workspace, dep: lab.Deployment, n: int) -> None:
    """`n` feed applicants with labels from the story's world after its concept drift (day 4)."""
    training = lab.load_training_data()
    feed = pd.DataFrame(lab.load_scoring_feed()["values"], columns=FEATURE_COLUMNS)
    rng = np.random.default_rng(11)
    batch = feed.iloc[rng.choice(len(feed), n, replace=False)].reset_index(drop=True)
    labels = World(training, "Risk").labels(batch, 4.0, Scenario(), rng)
    dm = DataMart(ws.datamart_url)
    sub = dm.subscription_for_deployment(dep.deployment_id)
    FeedbackLog(dm, sub, dep.config["model"]["labels"]).log(batch.assign(Risk=labels))
    dm.close()


def clients(url: str, stop: threading.Event, out: list[tuple[float, float]]) -> list[threading.Thread]:
    """Threads scoring one applicant at a time until `stop`; each (start, end) lands in `out`."""
    rows = lab.feed_sample(200, seed=3)["values"]

    def run(k: int) -> None:
        with requests.Session() as http:
            i = k
            while not stop.is_set():
                t0 = time.perf_counter()
                reply = http.post(url, json={"fields": FEATURE_COLUMNS, "values": [rows[i % len(rows)]]}, timeout=30)
                t1 = time.perf_counter()
                if reply.status_code != 200:
                    raise SystemExit(f"a request was refused during the swap: {reply.status_code} {reply.text}")
                out.append((t0, t1))
                i += CLIENTS

    threads = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--feedback", type=int, default=4000)
    args = parser.parse_args()
    spark = get_spark()
    results: dict[str, Any] = {"runs": args.runs, "feedback_records": args.feedback}
    with tempfile.TemporaryDirectory(prefix="osl-bench-learning-") as tmp:
        ws = lab.provision(Path(tmp) / "ws").workspace
        engine = MLEngine(ws)
        dep = engine.deploy(lab.ensure_model(ws, spark), "benchmark", spark)
        log_feedback(ws, dep, args.feedback)
        system = lab.LearningSystem(ws, dep)
        config = system.configure(min_feedback=100, retrain="always", redeploy="always", training_data="feedback")
        swaps: list[tuple[float, float]] = []
        tell = MLEngine._tell_server

        def timed_tell(self: MLEngine, d: Any, timeout: float = 30.0) -> None:
            t0 = time.perf_counter()
            tell(self, d, timeout)
            swaps.append((t0, time.perf_counter()))

        MLEngine._tell_server = timed_tell  # type: ignore[method-assign]
        iteration, spark_alone, requests_log = [], [], []
        stop = threading.Event()
        threads = clients(dep.scoring_url, stop, requests_log)
        try:
            for _ in range(args.runs):
                t0 = time.perf_counter()
                run = system.run(since=datetime(2000, 1, 1), spark=spark, progress=False)
                iteration.append(time.perf_counter() - t0)
                assert run.deployed, run.reason
                window = system.feedback_window(since=datetime(2000, 1, 1))
                t0 = time.perf_counter()
                frame = system.training_frame(spark, window)
                build_pipeline(system.labels, config.num_trees, config.max_depth, config.seed).fit(frame)
                spark_alone.append(time.perf_counter() - t0)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            MLEngine._tell_server = tell  # type: ignore[method-assign]
            engine.stop_all()
    spark.stop()
    during = [end - start for start, end in requests_log if any(start < s1 and end > s0 for s0, s1 in swaps)]
    others = sorted(end - start for start, end in requests_log if not any(start < s1 and end > s0 for s0, s1 in swaps))
    results.update(
        iteration_s=statistics.median(iteration), spark_training_alone_s=statistics.median(spark_alone),
        swap_s=statistics.median(s1 - s0 for s0, s1 in swaps), requests=len(requests_log),
        requests_during_swaps=len(during), max_request_during_swap_ms=1000 * max(during, default=0.0),
        p99_request_other_ms=1000 * others[int(0.99 * (len(others) - 1))] if others else None)
    results["iteration_over_spark_training"] = results["iteration_s"] / results["spark_training_alone_s"]
    print(f"\nlearning iteration (read, train, compare, verify, redeploy), median of {args.runs}: "
          f"{results['iteration_s']:.1f} s")
    print(f"  Spark fitting the same pipeline on the same data alone: {results['spark_training_alone_s']:.1f} s "
          f"(the iteration takes {results['iteration_over_spark_training']:.2f}x)")
    print(f"  the swap (the server loading the verified scorer and switching): {1000 * results['swap_s']:.0f} ms")
    print(f"  {results['requests_during_swaps']} requests overlapped a swap, the slowest "
          f"{results['max_request_during_swap_ms']:.1f} ms (goal: none over 50 ms); p99 of the others "
          f"{results['p99_request_other_ms']:.1f} ms; {results['requests']} requests, all answered 200")
    save_results("learning", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
