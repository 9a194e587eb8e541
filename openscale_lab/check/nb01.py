"""Self-checks of notebook 01 (training, deployment, binding and subscription)."""
from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from ..datamart.database import DataMart
from ..deployments.artifacts import load_verified_scorer
from ..deployments.engine import MLEngine
from ..tutorial import FEATURE_COLUMNS, SAMPLE_APPLICANTS, UNFAVOURABLE_LABEL
from ..workspace import Workspace
from .verdict import Verdict, hint, right, unanswered, whole_number, workspace_of


def exercise_01_1(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """How many of the tutorial's eight applicants does the deployed model predict as Risk?"""
    if (verdict := unanswered(answer, "exercise_01_1")) is not None:
        return verdict
    count = whole_number(answer)
    if count is None:
        return hint("answer with a whole number of applicants")
    counts = set()
    for dep in MLEngine(workspace_of(workspace)).list():  # the deployment the learner scored with, whichever it is
        scorer = load_verified_scorer(dep.path, dep.config)
        labels = [label for _, label, _ in scorer.score([list(a) for a in SAMPLE_APPLICANTS], FEATURE_COLUMNS)]
        counts.add(labels.count(UNFAVOURABLE_LABEL))
    if not counts:
        return hint("there is no deployment in this workspace yet: run the notebook's sections 1-8 first.")
    if count in counts:
        return right("the column predictedLabel of the reply (or of the payload log) holds each decision.")
    return hint(f"count the rows of the scored table whose predictedLabel is {UNFAVOURABLE_LABEL!r} "
                "(scored['predictedLabel'].value_counts()).")


def _payload_record(datamart: DataMart, transaction_id: str) -> dict[str, Any] | None:
    """The payload record with this transaction id in any subscription's log, or None."""
    for subscription in datamart.list_subscriptions()["subscription_id"]:
        table = datamart.payload_table(str(subscription))
        with datamart.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.scoring_id == transaction_id)).first()
        if row is not None:
            return dict(row._mapping)
    return None


def exercise_01_2(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """The transaction id of an applicant of the learner's own, scored by the deployment."""
    if (verdict := unanswered(answer, "exercise_01_2")) is not None:
        return verdict
    if not isinstance(answer, str):
        return hint("a transaction id is text: take it from the reply, lab.reply_frame(reply)['transaction_id']")
    datamart = DataMart(workspace_of(workspace).datamart_url)
    try:
        record = _payload_record(datamart, answer.strip())
    finally:
        datamart.close()
    if record is None:
        return hint("no payload record in your data mart has this transaction id: score your applicant with "
                    "lab.score(deployment, payload) and copy the id from that reply.")
    applicant = tuple(record[c] for c in FEATURE_COLUMNS)
    if any(applicant == tuple(a) for a in SAMPLE_APPLICANTS):
        return hint("this applicant is one of the tutorial's eight, unchanged: change a field before scoring.")
    return right(f"your applicant was logged with the decision {record['predictedLabel']!r}, before the reply "
                 "left the server.")


def exercise_01_3(answer: Any, workspace: str | os.PathLike[str] | Workspace | None = None) -> Verdict:
    """Which output field of the deployment holds the predicted label?"""
    if (verdict := unanswered(answer, "exercise_01_3")) is not None:
        return verdict
    if not isinstance(answer, str):
        return hint("answer with a field name, as text")
    datamart = DataMart(workspace_of(workspace).datamart_url)
    try:
        fields = {s.predicted_label_column for s in datamart.active_subscriptions()}
    finally:
        datamart.close()
    if not fields:
        return hint("no deployment is subscribed yet: run section 7 first.")
    if answer.strip() in fields:
        return right("the subscription's prediction_field tells every monitor where the decision is.")
    return hint("read the error lab.subscribe raises for a wrong prediction_field: it says what the deployment "
                "returns; or look at the 'outputs' column of lab.list_assets(ws).")
