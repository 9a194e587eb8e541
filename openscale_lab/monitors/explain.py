"""Explanations: LIME weights and a contrastive explanation for any transaction in the payload log.

A service, not a monitor: it explains one transaction when asked and has no schedule, thresholds or
measurements (OpenScale's explainability works the same way, per transaction id).
"""
from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from ..core.clock import utcnow
from ..datamart.tables import explanations
from ..errors import LabError
from .base import MonitorContext
from .results import axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes


class UnknownTransactionError(LabError):
    """No payload record with this transaction id."""


class ExplanationService:
    """Explains the deployment's decisions in-process, with its own compiled scorer."""

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx
        schema = ctx.subscription.input_schema
        self.columns = [c["name"] for c in schema]
        self.categorical = [c["name"] for c in schema if c["type"] == "string"]
        # values suggested to a client must be ones it could send: whole numbers where the schema says integer
        self.integer = {c["name"] for c in schema if c["type"] == "integer"}
        indexers = {i.input: i for i in ctx.scorer.indexers}
        # categorical values are coded as the model's own indices, so a LIME sample maps straight to features
        self.codes = {c: list(indexers[c].labels) for c in self.categorical}
        self._perm = [self.columns.index(what.input if how == "index" else what) for how, what in ctx.scorer._slots]
        self._lime: Any = None

    @cached_property
    def training_encoded(self) -> np.ndarray:
        return self.encode(self.ctx.training_data)

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)))
        for j, col in enumerate(self.columns):
            if col in self.codes:
                index = {v: i for i, v in enumerate(self.codes[col])}
                out[:, j] = frame[col].map(index).fillna(len(self.codes[col])).to_numpy(dtype=float)
            else:
                out[:, j] = frame[col].to_numpy(dtype=float)
        return out

    def _sendable(self, col: str, values: Any) -> Any:
        """Numbers as the schema lets a client send them (rounded for integer fields)."""
        return np.round(values) if col in self.integer else values

    def decode_value(self, col: str, code: float) -> Any:
        if col in self.codes:
            i = int(code)
            return self.codes[col][i] if i < len(self.codes[col]) else "(unseen)"
        return int(code) if float(code).is_integer() else float(code)

    def predict_proba(self, encoded: np.ndarray) -> np.ndarray:
        """Class probabilities for encoded rows, straight through the compiled trees."""
        return self.ctx.scorer._probability_many(np.asarray(encoded, dtype=float)[:, self._perm])

    def transaction(self, transaction_id: str) -> pd.Series:
        import pandas as pd

        table = self.ctx.datamart.payload_table(self.ctx.subscription)
        with self.ctx.datamart.engine.connect() as conn:
            frame = pd.read_sql(sa.select(table).where(table.c.scoring_id == transaction_id), conn)
        if frame.empty:
            raise UnknownTransactionError(
                f"no transaction {transaction_id!r} in the payload log of subscription "
                f"{self.ctx.subscription.subscription_id}; take an id from the payload log or a scoring reply")
        return frame.iloc[0]

    # -- LIME ---------------------------------------------------------------------------------
    def _lime_explainer(self) -> Any:
        if self._lime is None:
            from lime.lime_tabular import LimeTabularExplainer

            cat_idx = [self.columns.index(c) for c in self.categorical]
            self._lime = LimeTabularExplainer(
                self.training_encoded, feature_names=self.columns, class_names=self.ctx.labels,
                categorical_features=cat_idx,
                categorical_names={self.columns.index(c): self.codes[c] + ["(unseen)"] for c in self.categorical},
                discretize_continuous=True, mode="classification", random_state=0)
        return self._lime

    def lime(self, transaction_id: str, num_samples: int = 5000, seed: int = 0) -> dict[str, Any]:
        """LIME weights of every feature for the predicted class of one transaction."""
        record = self.transaction(transaction_id)
        x = self.encode(record.to_frame().T)[0]
        probs = self.predict_proba(x[None, :])[0]
        cls = int(np.argmax(probs))
        explainer = self._lime_explainer()
        explainer.random_state = np.random.RandomState(seed)
        exp = explainer.explain_instance(x, self.predict_proba, labels=(cls,), num_features=len(self.columns),
                                         num_samples=num_samples)
        features = [{"feature": self.columns[i], "value": self.decode_value(self.columns[i], x[i]),
                     "weight": float(w), "condition": condition}
                    for (condition, _), (i, w) in zip(exp.as_list(label=cls), exp.as_map()[cls], strict=True)]
        features.sort(key=lambda f: abs(f["weight"]), reverse=True)
        result = {"transaction_id": transaction_id, "predicted_class": self.ctx.labels[cls],
                  "confidence": float(probs[cls]), "num_samples": num_samples, "features": features,
                  "intercept": float(exp.intercept[cls]), "local_prediction": float(exp.local_pred[0])}
        self._store(transaction_id, "lime", result)
        return result

    # -- contrastive --------------------------------------------------------------------------
    def _candidates(self, x: np.ndarray) -> list[tuple[int, float, float]]:
        """(column, new value, cost) for every single-feature change worth trying."""
        data = self.training_encoded
        out = []
        for j, col in enumerate(self.columns):
            if col in self.codes:
                out += [(j, float(v), 1.0) for v in range(len(self.codes[col])) if v != x[j]]
            else:
                values = data[:, j]
                spread = float(np.subtract(*np.percentile(values, [75, 25]))) or float(values.std()) or 1.0
                grid = np.unique(self._sendable(col, np.quantile(values, np.linspace(0.0, 1.0, 21))))
                out += [(j, float(v), abs(float(v) - x[j]) / spread) for v in grid if v != x[j]]
        return out

    def contrastive(self, transaction_id: str, max_changes: int = 4) -> dict[str, Any]:
        """Pertinent negative: the cheapest change that flips the decision (one feature, else greedy).
        Pertinent positive: the fewest original values that, on a typical applicant, keep the decision."""
        record = self.transaction(transaction_id)
        x = self.encode(record.to_frame().T)[0]
        probs = self.predict_proba(x[None, :])[0]
        cls = int(np.argmax(probs))
        cands = self._candidates(x)
        batch = np.repeat(x[None, :], len(cands), axis=0)
        for r, (j, v, _) in enumerate(cands):
            batch[r, j] = v
        p = self.predict_proba(batch)
        flips = [r for r in range(len(cands)) if int(np.argmax(p[r])) != cls]
        changes: list[tuple[int, float]] = []
        if flips:
            best = min(flips, key=lambda r: (cands[r][2], p[r][cls]))
            changes = [(cands[best][0], cands[best][1])]
            final = p[best]
        else:  # greedy: keep taking the change that lowers the current class the most
            current = x.copy()
            final = probs
            for _ in range(max_changes):
                used = {j for j, _ in changes}
                trial = [(j, v) for j, v, _ in cands if j not in used]
                tb = np.repeat(current[None, :], len(trial), axis=0)
                for r, (j, v) in enumerate(trial):
                    tb[r, j] = v
                tp = self.predict_proba(tb)
                r = int(np.argmin(tp[:, cls]))
                changes.append(trial[r])
                current[trial[r][0]] = trial[r][1]
                final = tp[r]
                if int(np.argmax(final)) != cls:
                    break
        flipped = int(np.argmax(final)) != cls
        negative = {"found": flipped, "new_class": self.ctx.labels[int(np.argmax(final))],
                    "new_confidence": float(np.max(final)),
                    "changes": [{"feature": self.columns[j], "from": self.decode_value(self.columns[j], x[j]),
                                 "to": self.decode_value(self.columns[j], v)} for j, v in changes]}
        result = {"transaction_id": transaction_id, "predicted_class": self.ctx.labels[cls],
                  "confidence": float(probs[cls]), "pertinent_negative": negative,
                  "pertinent_positive": self._pertinent_positive(x, cls)}
        self._store(transaction_id, "contrastive", result)
        return result

    def _pertinent_positive(self, x: np.ndarray, cls: int) -> dict[str, Any]:
        data = self.training_encoded
        base = np.empty_like(x)
        for j, col in enumerate(self.columns):  # a typical applicant: most frequent category, median number
            base[j] = (np.bincount(data[:, j].astype(int)).argmax() if col in self.codes
                       else self._sendable(col, np.median(data[:, j])))
        current, kept = base.copy(), []
        for _ in range(len(self.columns)):
            if int(np.argmax(self.predict_proba(current[None, :])[0])) == cls:
                break
            options = [j for j in range(len(x)) if j not in kept and current[j] != x[j]]
            if not options:
                break
            tb = np.repeat(current[None, :], len(options), axis=0)
            for r, j in enumerate(options):
                tb[r, j] = x[j]
            j = options[int(np.argmax(self.predict_proba(tb)[:, cls]))]
            kept.append(j)
            current[j] = x[j]
        holds = int(np.argmax(self.predict_proba(current[None, :])[0])) == cls
        return {"holds": holds, "features": [{"feature": self.columns[j],
                                              "value": self.decode_value(self.columns[j], x[j])} for j in kept]}

    def explain(self, transaction_id: str, num_samples: int = 5000) -> dict[str, Any]:
        """Both explanations, plus the attributes the model was sent."""
        return {"transaction_id": transaction_id, "attributes": self.attributes(transaction_id),
                "lime": self.lime(transaction_id, num_samples), "contrastive": self.contrastive(transaction_id)}

    def attributes(self, transaction_id: str) -> dict[str, Any]:
        """The inputs the model was sent for a transaction, as plain values."""
        record = self.transaction(transaction_id)
        return {c: record[c].item() if hasattr(record[c], "item") else record[c] for c in self.columns}

    def stored(self, transaction_id: str) -> dict[str, Any]:
        """Explanations stored for a transaction, by kind."""
        with self.ctx.datamart.engine.connect() as conn:
            rows = conn.execute(sa.select(explanations.c.kind, explanations.c.content).where(
                explanations.c.subscription_id == self.ctx.subscription.subscription_id,
                explanations.c.transaction_id == transaction_id)).all()
        return {kind: json.loads(content) for kind, content in rows}

    def _store(self, transaction_id: str, kind: str, content: dict[str, Any]) -> None:
        sub_id = self.ctx.subscription.subscription_id
        with self.ctx.datamart.engine.begin() as conn:
            conn.execute(explanations.delete().where(explanations.c.subscription_id == sub_id,
                                                     explanations.c.transaction_id == transaction_id,
                                                     explanations.c.kind == kind))
            conn.execute(explanations.insert().values(subscription_id=sub_id, transaction_id=transaction_id,
                                                      kind=kind, created_at=utcnow(),
                                                      content=json.dumps(content, default=str)))


def plot_lime(explanation: dict[str, Any], top: int = 12, ax: Axes | None = None) -> Axes:
    """LIME weights: which features pushed towards (positive) or away from the predicted class."""
    ax = axes(ax, (7, 4))
    feats = explanation["features"][:top][::-1]
    ax.barh([f"{f['feature']} = {f['value']}" for f in feats], [f["weight"] for f in feats],
            color=["#2e8b57" if f["weight"] > 0 else "#c0392b" for f in feats])
    ax.axvline(0, color="grey", lw=1)
    ax.set_title(f"LIME: why {explanation['predicted_class']} ({explanation['confidence']:.0%})", fontsize=10,
                 loc="left")
    ax.set_xlabel("LIME weight")
    return ax
