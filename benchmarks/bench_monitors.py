"""Monitor benchmark: explanations, and a fairness + quality + drift run over 100 000 payload records,
on SQLite and on PostgreSQL, each beside the reference tools doing the same work in the same run.

Run with `make bench-monitors` (or `python benchmarks/bench_monitors.py`). Goals on a 2-core machine:
one LIME explanation (5000 perturbations) and one contrastive explanation <= 1 s each; fairness +
quality + drift over 100 000 payload records <= 10 s; drift alone (drop in accuracy, data consistency, output
and feature drift) over 100 000 records <= 2 s. Writes benchmarks/results/monitors.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results_file import save_results

import openscale_lab as lab
from openscale_lab.data import data_path, load_scoring_feed
from openscale_lab.deployments.client import score_in_batches
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.models.spark import get_spark
from openscale_lab.monitors import Monitoring

POSTGRES_URL = os.environ.get("OPENSCALE_LAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FAIRNESS = dict(features=[{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
                          {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}],
                favourable_classes=["No Risk"], unfavourable_classes=["Risk"], threshold=0.95, min_records=200,
                window_hours=None)


def timed(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def big_payload(n: int, seed: int = 0) -> dict[str, list]:
    feed = load_scoring_feed()
    idx = np.random.default_rng(seed).integers(0, len(feed["values"]), n)
    return {"fields": feed["fields"], "values": [feed["values"][i] for i in idx]}


def set_up(ws_root: Path, result: Any, spark: Any, records: int, datamart_url: str | None) -> tuple[Any, Monitoring]:
    ws = lab.provision(ws_root, datamart_url=datamart_url).workspace
    model = lab.publish_model(ws, result)
    dep = MLEngine(ws).deploy(model, "benchmark", spark, verify_rows=50)
    score_in_batches(dep, big_payload(records), batch_size=1000)
    mon = Monitoring.for_deployment(ws, dep)
    mon.quality.enable()
    mon.feedback.log(data_path("german_credit_feedback.json"))
    mon.fairness.enable(**FAIRNESS)
    mon.drift.enable(window_hours=None)
    return ws, mon


def run_monitors(mon: Monitoring) -> None:
    for name in ("fairness", "quality", "drift"):
        m = mon.monitor(name).run()
        assert m.evaluated, m


def reference_run(mon: Monitoring, spark_model: Any, spark: Any) -> None:
    """The same fairness work with the reference tools: fairlearn for group rates, Spark to score the
    perturbed records, scikit-learn for quality on the feedback."""
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import roc_auc_score

    payload = mon.ctx.datamart.get_payload(mon.subscription)
    fav = (payload["predictedLabel"] == "No Risk").astype(int)
    for feature, spec in [("Sex", "male"), ("Age", 36)]:
        MetricFrame(metrics=selection_rate, y_true=fav, y_pred=fav, sensitive_features=payload[feature])
        flipped = payload[[c["name"] for c in mon.subscription.input_schema]].copy()
        flipped[feature] = spec
        spark_model.transform(spark.createDataFrame(flipped)).select("prediction").collect()
    feedback = mon.feedback.read()
    probs = spark_model.transform(spark.createDataFrame(
        feedback[[c["name"] for c in mon.subscription.input_schema]])).select("probability").collect()
    roc_auc_score(feedback["Risk"] == "Risk", [p[0][1] for p in probs])


def reference_drift(mon: Monitoring) -> None:
    """Feature and output distances the obvious way (pandas binning, scipy's Jensen-Shannon), beside the same
    drift detection model and constraints: the baseline for the drift monitor's own binning and distances."""
    from scipy.spatial.distance import jensenshannon

    payload = mon.ctx.datamart.get_payload(mon.subscription)
    training = mon.ctx.training_data
    model = mon.drift.load_model()
    for col in model.columns:
        if col in model.categories:
            p = training[col].value_counts(normalize=True)
            q = payload[col].value_counts(normalize=True).reindex(p.index, fill_value=0)
        else:
            edges = np.unique(np.quantile(training[col], np.linspace(0, 1, 11)))
            p = pd.cut(training[col], edges, include_lowest=True).value_counts(normalize=True, sort=False)
            q = pd.cut(payload[col], edges, include_lowest=True).value_counts(normalize=True, sort=False)
        jensenshannon(p.to_numpy(), q.to_numpy(), base=2)
        0.5 * np.abs(p.to_numpy() - q.to_numpy()).sum()
    model.p_correct(payload)
    mon.drift.constraints().check(payload)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"records": args.records, "runs": args.runs}
    med = statistics.median
    spark = get_spark()
    from pyspark.ml import PipelineModel

    from openscale_lab.models.training import train_model

    result = train_model(spark)
    with tempfile.TemporaryDirectory(prefix="osl-bench-mon-") as tmp:
        print(f"SQLite: scoring {args.records} records into the payload log ...", flush=True)
        ws, mon = set_up(Path(tmp) / "sqlite", result, spark, args.records, None)
        spark_model = PipelineModel.load(str(ws.models_dir / mon.subscription.model_id / "spark_model"))
        tid = mon.ctx.datamart.get_payload(mon.subscription, limit=1)["scoring_id"].iloc[0]
        explainer = mon.explanations
        explainer.lime(tid)  # builds the explainer once
        results["lime_5000_s"] = med(timed(lambda: explainer.lime(tid, num_samples=5000), args.runs))
        results["contrastive_s"] = med(timed(lambda: explainer.contrastive(tid), args.runs))
        # reference: the same LIME explanation with Spark scoring the perturbations
        names = explainer.columns

        def spark_proba(encoded: np.ndarray) -> np.ndarray:
            frame = pd.DataFrame({c: [explainer.decode_value(c, v) for v in encoded[:, j]]
                                  for j, c in enumerate(names)})
            rows = spark_model.transform(spark.createDataFrame(frame)).select("probability").collect()
            return np.array([r[0].toArray() for r in rows])

        record = explainer.transaction(tid)
        x = explainer.encode(record.to_frame().T)[0]
        lime_ref = explainer._lime_explainer()
        results["lime_5000_spark_s"] = med(timed(
            lambda: lime_ref.explain_instance(x, spark_proba, num_features=20, num_samples=5000),
            max(3, args.runs // 2)))
        results["lime_speedup_vs_spark"] = results["lime_5000_spark_s"] / results["lime_5000_s"]
        run_monitors(mon)  # warm-up
        results["sqlite_run_s"] = med(timed(lambda: run_monitors(mon), args.runs))
        results["reference_run_s"] = med(timed(lambda: reference_run(mon, spark_model, spark), max(3, args.runs // 2)))
        results["sqlite_speedup_vs_reference"] = results["reference_run_s"] / results["sqlite_run_s"]
        results["drift_run_s"] = med(timed(lambda: mon.drift.run(), args.runs))
        drift_config, window = mon.drift.config(), mon.ctx.datamart.get_payload(mon.subscription)
        results["drift_evaluate_s"] = med(timed(lambda: mon.drift.evaluate(drift_config, window, None, None),
                                                args.runs))
        results["drift_reference_s"] = med(timed(lambda: reference_drift(mon), args.runs))
        results["drift_speedup_vs_reference"] = results["drift_reference_s"] / results["drift_run_s"]
        mon.close()
        MLEngine(ws).stop_all()
        if not args.skip_postgres:
            import sqlalchemy as sa

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            try:
                print(f"PostgreSQL: scoring {args.records} records into the payload log ...", flush=True)
                url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
                ws_pg, mon_pg = set_up(Path(tmp) / "pg", result, spark, args.records, url)
                run_monitors(mon_pg)
                results["postgres_run_s"] = med(timed(lambda: run_monitors(mon_pg), args.runs))
                results["postgres_speedup_vs_reference"] = results["reference_run_s"] / results["postgres_run_s"]
                mon_pg.close()
                MLEngine(ws_pg).stop_all()
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    spark.stop()
    print(f"\nmedians of {args.runs} runs")
    rows = [("LIME explanation, 5000 perturbations", "lime_5000_s", "s", "<= 1 s"),
            ("  same with Spark scoring (reference)", "lime_5000_spark_s", "s", ""),
            ("  speed-up", "lime_speedup_vs_spark", "x", ""),
            ("contrastive explanation", "contrastive_s", "s", "<= 1 s"),
            (f"fairness+quality+drift, {args.records} records, SQLite", "sqlite_run_s", "s", "<= 10 s"),
            (f"fairness+quality+drift, {args.records} records, PostgreSQL", "postgres_run_s", "s", "<= 10 s"),
            ("  reference tools (fairlearn + Spark + sklearn)", "reference_run_s", "s", ""),
            ("  speed-up on SQLite", "sqlite_speedup_vs_reference", "x", ""),
            (f"drift (accuracy, consistency, output, features), {args.records} records, SQLite", "drift_run_s", "s",
             "<= 2 s"),
            ("  of which evaluating the window read (no data mart read or write)", "drift_evaluate_s", "s", ""),
            ("  pandas binning + scipy distances, same model and constraints (reference)", "drift_reference_s", "s",
             ""),
            ("  speed-up", "drift_speedup_vs_reference", "x", "")]
    for name, key, unit, goal in rows:
        if key in results:
            print(f"  {name:76s} {results[key]:8.3f} {unit:2s} {goal}")
    save_results("monitors", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
