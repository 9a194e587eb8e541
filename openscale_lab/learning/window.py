"""The labelled feedback a learning iteration uses: read from the data mart, checked, split once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LearningError

if TYPE_CHECKING:
    import pandas as pd

    from ..datamart.feedback import FeedbackLog


@dataclass
class FeedbackWindow:
    """Feedback that arrived in [start, end) from one source, split into the part the challenger trains on and
    the held-out part both models are compared on (a seeded random split: reproducible)."""

    start: datetime | None
    end: datetime
    source: str
    records: pd.DataFrame
    train: pd.DataFrame
    holdout: pd.DataFrame
    label_column: str

    @classmethod
    def read(cls, feedback: FeedbackLog, start: datetime | None, end: datetime, source: str, record_source: str,
             labels: list[str], label_column: str, holdout: float, seed: int) -> FeedbackWindow:
        """Read and check the window's feedback; a label outside the model's classes is named with its record."""
        records = feedback.read(start, end, source=record_source).reset_index(drop=True)
        bad = records[~records[label_column].isin(labels)]
        if len(bad):
            first = bad.iloc[0]
            raise LearningError(
                f"{len(bad)} feedback record(s) in the window have a {label_column} outside the model's classes "
                f"{labels}: first feedback_id {first['feedback_id']!r} ({label_column} = {first[label_column]!r}). "
                "Correct or delete them in the data mart; the model keeps serving meanwhile")
        order = np.random.default_rng(seed).permutation(len(records))
        held = int(round(len(records) * holdout))
        return cls(start=start, end=end, source=source, records=records,
                   train=records.iloc[np.sort(order[held:])], holdout=records.iloc[np.sort(order[:held])],
                   label_column=label_column)

    def check_both_labels(self, part: pd.DataFrame, what: str) -> None:
        """Area under ROC needs records of both classes: LearningError naming what is missing."""
        found = sorted(set(part[self.label_column])) if len(part) else []
        if len(found) < 2:
            raise LearningError(f"{what} holds {len(part)} record(s) of {found or 'no'} class(es) only: comparing "
                                "models needs labels of both classes (log more feedback, or widen the window)")

    @property
    def first_arrival(self) -> datetime | None:
        return self.records["timestamp"].min().to_pydatetime() if len(self.records) else None

    @property
    def last_arrival(self) -> datetime | None:
        return self.records["timestamp"].max().to_pydatetime() if len(self.records) else None

    def summary(self) -> dict[str, Any]:
        """Counts and times, as the model's lineage records them."""
        return {"source": self.source, "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat(), "records": len(self.records), "train_records": len(self.train),
                "holdout_records": len(self.holdout),
                "first_arrival": self.first_arrival.isoformat() if self.first_arrival else None,
                "last_arrival": self.last_arrival.isoformat() if self.last_arrival else None}
