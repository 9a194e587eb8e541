"""Payload logs of any size for the scale benchmark: what a deployment's server would have logged for N records.

Records are drawn from the tutorial's scoring feed with their loan amounts moved by up to ±20 % (so nearly every
record is distinct, as real traffic is, and nothing can be computed once per repeated record), spread evenly
over the hours before `end`, scored with the deployment's compiled scorer and written in bulk (executemany on
SQLite, COPY on PostgreSQL), chunk by chunk: 10 M records never sit in memory at once.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from openscale_lab.data import load_scoring_feed
from openscale_lab.datamart.database import DataMart, Subscription
from openscale_lab.models.scorer import CompiledPipeline

CHUNK = 200_000


def payload_chunks(scorer: CompiledPipeline, sub: Subscription, n: int, end: datetime, hours: float,
                   seed: int = 0) -> Iterator[pd.DataFrame]:
    """The payload rows of `n` records in chunks, oldest first, as the payload table's columns."""
    feed = load_scoring_feed()
    base = pd.DataFrame(feed["values"], columns=feed["fields"])
    rng = np.random.default_rng(seed)
    start = end - timedelta(hours=hours)
    step = timedelta(hours=hours).total_seconds() / max(n, 1)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        frame = base.iloc[rng.integers(0, len(base), size)].reset_index(drop=True)
        frame["LoanAmount"] = np.maximum(0, np.round(frame["LoanAmount"] * rng.uniform(0.8, 1.2, size))).astype(int)
        pred, probs = scorer.predict_frame(frame)
        ids = np.arange(first, first + size)
        frame.insert(0, "scoring_timestamp", pd.to_datetime(start) + pd.to_timedelta((ids * step).astype(int), "s"))
        frame.insert(0, "request_id", [f"scale-{i // 100}" for i in ids])
        frame.insert(0, "scoring_id", [f"scale-{i // 100}-{i % 100 + 1}" for i in ids])
        frame[sub.prediction_column] = pred.astype(float)
        frame[sub.predicted_label_column] = np.asarray(scorer.labels, dtype=object)[pred]
        frame[sub.probability_column] = [json.dumps(p) for p in probs.tolist()]
        frame["prediction_probability"] = probs.max(axis=1)
        frame["response_time_ms"] = 1.0
        frame["deployment_id"] = sub.deployment_id
        frame["model_version"] = sub.model_version
        yield frame


def fill_payload(datamart: DataMart, sub: Subscription, scorer: CompiledPipeline, n: int, end: datetime,
                 hours: float = 24.0, seed: int = 0) -> int:
    """Write `n` payload records into the subscription's payload table; returns how many it holds."""
    table = datamart.payload_table(sub)
    columns = [c.name for c in table.columns]
    with tqdm(total=n, desc=f"payload rows ({datamart.engine.dialect.name})", unit="row") as bar:
        for chunk in payload_chunks(scorer, sub, n, end, hours, seed):
            _write(datamart, table.name, columns, chunk[columns])
            bar.update(len(chunk))
    return datamart.payload_count(sub)


def _write(datamart: DataMart, table: str, columns: list[str], chunk: pd.DataFrame) -> None:
    rows: list[tuple[Any, ...]] = list(chunk.astype(object).itertuples(index=False, name=None))
    raw = datamart.engine.raw_connection()
    try:
        cur = raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        if datamart.engine.dialect.name == "postgresql":
            with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:  # psycopg 3
                for row in rows:
                    copy.write_row([v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
        else:
            marks = ", ".join("?" for _ in columns)
            cur.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                            [tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, pd.Timestamp) else v
                                   for v in row) for row in rows])
        raw.commit()
    finally:
        raw.close()
