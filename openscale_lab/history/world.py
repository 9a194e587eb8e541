"""The world the replayed week happens in: who turns out to be a bad risk, and what the business does.

The deployed model must not grade itself, so true labels come from a *labelling model* of another family: a
logistic regression (scikit-learn; categories one-hot encoded, numbers standardised) fitted once, on the
deployed model's training data, with a deterministic solver (L-BFGS). It gives each applicant the
probability of being a bad risk. The scenario changes the world, never the metrics: from its
`concept_shift_day` the odds of a bad risk of one segment are multiplied (concept drift: the same applicant,
another outcome), and a true label is drawn for every replayed transaction. Feedback is a share of those
labels, linked by transaction id, arriving hours later (the tutorial's manual labelling).

The business process: the bank grants the loan the model approves, and the applicant takes it up with the
scenario's take-up probability; a taken-up loan is an accepted credit of the amount asked for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..tutorial import CATEGORICAL_COLUMNS, FAVOURABLE_LABEL, NUMERIC_COLUMNS, UNFAVOURABLE_LABEL

if TYPE_CHECKING:
    from .scenario import Scenario


class World:
    """The probability that an applicant turns out a bad risk, on a given day of the scenario."""

    def __init__(self, training: pd.DataFrame, label_column: str) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        self.columns = [*CATEGORICAL_COLUMNS, *NUMERIC_COLUMNS]
        encode = ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL_COLUMNS),
                                    ("numbers", StandardScaler(), NUMERIC_COLUMNS)])
        self.model = make_pipeline(encode, LogisticRegression(solver="lbfgs", max_iter=2000))
        self.model.fit(training[self.columns], (training[label_column] == UNFAVOURABLE_LABEL).astype(int))

    def base_probability(self, applicants: pd.DataFrame) -> np.ndarray:
        """The labelling model's probability of a bad risk, before any scenario rule."""
        return self.model.predict_proba(applicants[self.columns])[:, 1]

    def bad_risk_probability(self, applicants: pd.DataFrame, day: float, scenario: Scenario,
                             before: np.ndarray | None = None) -> np.ndarray:
        """`before`: `base_probability` of these applicants, if known already."""
        p = self.base_probability(applicants) if before is None else before
        factor = scenario.concept_odds(day)
        if factor == 1.0:
            return p
        segment = np.ones(len(applicants), dtype=bool)
        for column, values in scenario.concept_segment.items():
            segment &= applicants[column].isin(values).to_numpy()
        odds = p / np.clip(1.0 - p, 1e-12, None) * factor
        return np.where(segment, odds / (1.0 + odds), p)

    def labels(self, applicants: pd.DataFrame, day: float, scenario: Scenario, rng: np.random.Generator,
               before: np.ndarray | None = None) -> np.ndarray:
        """A true label per applicant, drawn from the world of that day."""
        bad = rng.random(len(applicants)) < self.bad_risk_probability(applicants, day, scenario, before)
        return np.where(bad, UNFAVOURABLE_LABEL, FAVOURABLE_LABEL)


def business_records(scored: pd.DataFrame, predicted_label: str, take_up: float,
                     rng: np.random.Generator) -> pd.DataFrame:
    """What the business did with scored applications: approved by the model (favourable decision), then
    taken up by the applicant with probability `take_up`; the amount granted is the amount asked for."""
    approved = (scored[predicted_label] == FAVOURABLE_LABEL).to_numpy()
    accepted = (approved & (rng.random(len(scored)) < take_up)).astype(int)
    return pd.DataFrame({
        "record_id": scored["transaction_id"].to_numpy(), "timestamp": scored["timestamp"].to_numpy(),
        "LoanDuration": scored["LoanDuration"].astype(int).to_numpy(), "LoanPurpose": scored["LoanPurpose"].to_numpy(),
        "LoanAmount": scored["LoanAmount"].astype(int).to_numpy(),
        "InstallmentPercent": scored["InstallmentPercent"].astype(int).to_numpy(),
        "AcceptedPercent": 100.0 * accepted, "AmountGranted": scored["LoanAmount"].astype(int).to_numpy() * accepted,
        "Accepted": accepted})
