"""The drift monitor's window in parts: sums, counts and histograms add up; the stored transactions are the
most likely wrong of all parts. Evaluated whole, in chunks or on Spark partitions, the metrics are the same (the
two means up to the order their sums were added in, well within 1e-9)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

# transactions stored per run, the most likely wrong first: every one of a window of the lab's size; in a window
# of millions of records (a quarter of them may be predicted wrong) the ones a person would look at
LIMIT = 10_000


@dataclass
class DriftingTransaction:
    """A transaction responsible for drift: predicted wrong ("accuracy"), inconsistent, or both."""

    scoring_id: str = ""
    p_correct: float = float("nan")
    view: str = "accuracy"
    reasons: list[str] = field(default_factory=list)


@dataclass
class DriftPart:
    """Part of a window: its records, the sums of both accuracy estimates, counts and histograms, and its
    transactions responsible for drift (with their times) most likely wrong first."""

    records: int = 0
    p_correct_sum: float = 0.0
    cbpe_sum: float = 0.0
    wrong: int = 0
    inconsistent: int = 0
    feature_counts: dict[str, np.ndarray] = field(default_factory=dict)
    output_counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    label_counts: dict[str, int] = field(default_factory=dict)
    transactions: list[tuple[DriftingTransaction, datetime]] = field(default_factory=list)
    limit: int = LIMIT  # transactions kept

    def merge(self, other: DriftPart) -> DriftPart:
        both = DriftPart(
            self.records + other.records, self.p_correct_sum + other.p_correct_sum, self.cbpe_sum + other.cbpe_sum,
            self.wrong + other.wrong, self.inconsistent + other.inconsistent,
            {c: self.feature_counts[c] + other.feature_counts[c] for c in self.feature_counts},
            self.output_counts + other.output_counts,
            {k: self.label_counts[k] + other.label_counts[k] for k in self.label_counts},
            self.transactions + other.transactions, min(self.limit, other.limit))
        both.transactions = both.sorted_transactions()[:both.limit]
        return both

    def sorted_transactions(self) -> list[tuple[DriftingTransaction, datetime]]:
        """The most likely wrong first; ties in time order (as a window read whole lists them)."""
        return sorted(self.transactions, key=lambda ts: (ts[0].p_correct, ts[1], ts[0].scoring_id))
