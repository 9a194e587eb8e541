"""The fairness monitor: disparate impact per protected feature, with perturbation, biased transactions
and debiasing."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from ..errors import LabError
from ..tables import biased_transactions
from .base import Measurement, MonitorContext, Threshold
from .debias import combine_debiased
from .feedback import FeedbackLog
from .metrics import disparate_impact, favourable_rate

if TYPE_CHECKING:
    import pandas as pd

NAME = "fairness"


def group_mask(values: pd.Series, group: list[Any]) -> np.ndarray:
    """Members of a group given as categories or [low, high] ranges, vectorised."""
    mask = np.zeros(len(values), dtype=bool)
    cats = [g for g in group if not isinstance(g, (list, tuple))]
    if cats:
        mask |= values.isin(cats).to_numpy()
    for g in group:
        if isinstance(g, (list, tuple)):
            numeric = values.to_numpy(dtype=float, na_value=np.nan) if values.dtype != object else None
            if numeric is not None:
                mask |= (numeric >= g[0]) & (numeric <= g[1])
    return mask


def _representative(values: pd.Series, group: list[Any]) -> Any:
    """The value a record takes when perturbed into `group`: most frequent category, or median of a range."""
    members = values[group_mask(values, group)]
    if members.empty:
        first = group[0]
        return first[0] if isinstance(first, (list, tuple)) else first
    if all(isinstance(g, (list, tuple)) for g in group):
        return int(round(float(members.median())))
    mode = members.mode().iloc[0]
    return mode.item() if hasattr(mode, "item") else mode


class FairnessMonitor:
    """Configured as in the tutorial: features with monitored and reference groups, favourable classes."""

    def __init__(self, ctx: MonitorContext, feedback: FeedbackLog) -> None:
        self.ctx = ctx
        self.feedback = feedback

    def enable(self, features: list[dict[str, Any]], favourable_classes: list[str],
               unfavourable_classes: list[str], threshold: float = 0.95, min_records: int = 200,
               window_hours: float | None = 1.0, schedule_hours: float | None = None) -> dict[str, Any]:
        """`features`: [{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
        {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}].

        The values used to perturb records into the other group come from the training data.
        """
        labels = self.ctx.labels
        for cls in [*favourable_classes, *unfavourable_classes]:
            if cls not in labels:
                raise LabError(f"class {cls!r} is not one of the model's labels {labels}")
        training = self.ctx.training_data
        names = [c["name"] for c in self.ctx.subscription.input_schema]
        configured = []
        for spec in features:
            feature = spec.get("feature")
            if feature not in names:
                raise LabError(f"fairness feature {feature!r} is not a model input ({', '.join(names)})")
            for key in ("monitored", "reference"):
                if not spec.get(key):
                    raise LabError(f"fairness feature {feature!r}: give the {key} group")
            configured.append({
                "feature": feature, "monitored": list(spec["monitored"]), "reference": list(spec["reference"]),
                "perturbation": {"to_reference": _representative(training[feature], spec["reference"]),
                                 "to_monitored": _representative(training[feature], spec["monitored"])}})
        config = {"features": configured, "favourable_classes": list(favourable_classes),
                  "unfavourable_classes": list(unfavourable_classes), "threshold": threshold,
                  "min_records": min_records, "window_hours": window_hours}
        self.ctx.store.save_config(self.ctx.subscription.subscription_id, NAME, config, schedule_hours)
        return config

    # -- evaluation ---------------------------------------------------------------------------
    def _perturbed_labels(self, frame: pd.DataFrame, feature: str, value: Any) -> np.ndarray:
        changed = frame.copy()
        changed[feature] = value
        pred, _ = self.ctx.scorer.predict_frame(changed)
        return np.asarray(self.ctx.labels, dtype=object)[pred]

    def evaluate(self, frame: pd.DataFrame, labels: np.ndarray, config: dict[str, Any]) -> dict[str, Any]:
        """Per feature: group rates and counts, disparate impact on payload, balanced and debiased data,
        and the records whose outcome the flip changes. `labels` are the model's outcomes for `frame`."""
        fav = set(config["favourable_classes"])
        is_fav = np.isin(labels, list(fav))
        result: dict[str, Any] = {"features": {}, "flips": []}
        for spec in config["features"]:
            f = spec["feature"]
            mon, ref = group_mask(frame[f], spec["monitored"]), group_mask(frame[f], spec["reference"])
            to_ref, to_mon = spec["perturbation"]["to_reference"], spec["perturbation"]["to_monitored"]
            mon_flip = self._perturbed_labels(frame[mon], f, to_ref)
            ref_flip = self._perturbed_labels(frame[ref], f, to_mon)
            mon_rate, ref_rate = favourable_rate(is_fav[mon]), favourable_rate(is_fav[ref])
            # balanced data: the payload plus each record copied into the other group
            mon_flip_fav, ref_flip_fav = np.isin(mon_flip, list(fav)), np.isin(ref_flip, list(fav))
            bal_mon = favourable_rate(np.concatenate([is_fav[mon], ref_flip_fav]))
            bal_ref = favourable_rate(np.concatenate([is_fav[ref], mon_flip_fav]))
            mon_idx, ref_idx = np.flatnonzero(mon), np.flatnonzero(ref)
            biased = [(int(i), "monitored", new) for i, new in zip(mon_idx, mon_flip) if new != labels[i]]
            biased += [(int(i), "reference", new) for i, new in zip(ref_idx, ref_flip) if new != labels[i]]
            result["flips"].append({int(i): str(new) for i, new in zip(mon_idx, mon_flip)})
            result["features"][f] = {
                "monitored_group": spec["monitored"], "reference_group": spec["reference"],
                "monitored_count": int(mon.sum()), "reference_count": int(ref.sum()),
                "monitored_favourable_rate": mon_rate, "reference_favourable_rate": ref_rate,
                "disparate_impact": disparate_impact(mon_rate, ref_rate),
                "balanced_monitored_favourable_rate": bal_mon, "balanced_reference_favourable_rate": bal_ref,
                "balanced_disparate_impact": disparate_impact(bal_mon, bal_ref),
                "biased": biased, "perturbation": spec["perturbation"],
            }
        debiased = np.asarray(combine_debiased(list(labels), result["flips"]), dtype=object)
        is_fav_debiased = np.isin(debiased, list(fav))
        for spec in config["features"]:
            f = spec["feature"]
            mon, ref = group_mask(frame[f], spec["monitored"]), group_mask(frame[f], spec["reference"])
            d_mon, d_ref = favourable_rate(is_fav_debiased[mon]), favourable_rate(is_fav_debiased[ref])
            result["features"][f].update(debiased_monitored_favourable_rate=d_mon,
                                         debiased_reference_favourable_rate=d_ref,
                                         debiased_disparate_impact=disparate_impact(d_mon, d_ref))
        result["debiased_labels"] = debiased
        return result

    def debiased_labels(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's labels and the debiased labels for input records."""
        config = self.ctx.config(NAME)
        pred, _ = self.ctx.scorer.predict_frame(frame)
        labels = np.asarray(self.ctx.labels, dtype=object)[pred]
        return labels, self.evaluate(frame, labels, config)["debiased_labels"]

    def training_view(self) -> pd.DataFrame:
        """Favourable rate of each group in the training data (by its label)."""
        import pandas as pd

        config = self.ctx.config(NAME)
        data = self.ctx.training_data
        fav = data[self.ctx.subscription.label_column].isin(config["favourable_classes"]).to_numpy()
        rows = []
        for spec in config["features"]:
            for group in ("monitored", "reference"):
                mask = group_mask(data[spec["feature"]], spec[group])
                rows.append({"feature": spec["feature"], "group": group, "values": str(spec[group]),
                             "records": int(mask.sum()), "favourable_rate": favourable_rate(fav[mask])})
        return pd.DataFrame(rows)

    def run(self, start: datetime | None = None, end: datetime | None = None) -> Measurement:
        config = self.ctx.config(NAME)
        features = [s["feature"] for s in config["features"]]
        thresholds = [Threshold(f, "lower_limit", config["threshold"]) for f in features]
        start, end = self.ctx.window(start, end, config["window_hours"])
        payload = self.ctx.payload(start, end)
        if len(payload) < config["min_records"]:
            return self.ctx.not_evaluated(NAME, start, end, len(payload), config["min_records"],
                                          "payload records", thresholds)
        labels = payload[self.ctx.subscription.predicted_label_column].to_numpy(dtype=object)
        result = self.evaluate(payload, labels, config)
        metrics: dict[str, float] = {}
        details: dict[str, Any] = {"features": {}, "favourable_classes": config["favourable_classes"]}
        biased_rows = []
        for f, r in result["features"].items():
            metrics[f] = r["disparate_impact"]
            metrics[f"{f}_balanced"] = r["balanced_disparate_impact"]
            metrics[f"{f}_debiased"] = r["debiased_disparate_impact"]
            metrics[f"{f}_biased_transactions"] = float(len(r["biased"]))
            details["features"][f] = {k: v for k, v in r.items() if k != "biased"}
            for i, group, new in r["biased"]:
                rec = payload.iloc[i]
                biased_rows.append({"feature": f, "scoring_id": rec["scoring_id"],
                                    "scoring_timestamp": rec["scoring_timestamp"].to_pydatetime(),
                                    "group_name": group, "original_value": str(rec[f]),
                                    "perturbed_value": str(r["perturbation"]["to_reference" if group == "monitored"
                                                                            else "to_monitored"]),
                                    "original_label": str(labels[i]), "perturbed_label": str(new)})
        accuracy = self._debiasing_accuracy(config, start, end)
        if accuracy:
            metrics.update(accuracy)
        measurement = Measurement(
            monitor=NAME, subscription_id=self.ctx.subscription.subscription_id, status="evaluated", message="",
            window_start=start, window_end=end, record_count=len(payload), metrics=metrics, thresholds=thresholds,
            details=details)
        self.ctx.store.save(measurement)
        if biased_rows:
            for row in biased_rows:
                row.update(measurement_id=measurement.measurement_id,
                           subscription_id=self.ctx.subscription.subscription_id)
            with self.ctx.datamart.engine.begin() as conn:
                conn.execute(biased_transactions.insert(), biased_rows)
        return measurement

    def _debiasing_accuracy(self, config: dict[str, Any], start: datetime | None,
                            end: datetime) -> dict[str, float]:
        """Accuracy of the model and of its debiased outcomes on the feedback logged in the run's window."""
        data = self.feedback.read(start, end)
        if data.empty:
            return {}
        pred, _ = self.ctx.scorer.predict_frame(data)
        labels = np.asarray(self.ctx.labels, dtype=object)[pred]
        debiased = self.evaluate(data, labels, config)["debiased_labels"]
        truth = data[self.ctx.subscription.label_column].to_numpy(dtype=object)
        return {"accuracy_before_debiasing": float(np.mean(labels == truth)),
                "accuracy_after_debiasing": float(np.mean(debiased == truth))}

    def biased_transactions(self, measurement_id: str | None = None) -> pd.DataFrame:
        """Biased transactions of one measurement (default: the latest fairness measurement)."""
        import pandas as pd

        sub_id = self.ctx.subscription.subscription_id
        if measurement_id is None:
            done = self.ctx.store.measurements(sub_id, NAME)
            done = done[done["status"] == "evaluated"]
            if done.empty:
                return pd.DataFrame(columns=[c.name for c in biased_transactions.columns])
            measurement_id = done["measurement_id"].iloc[-1]
        query = sa.select(biased_transactions).where(biased_transactions.c.measurement_id == measurement_id)
        with self.ctx.datamart.engine.connect() as conn:
            return pd.read_sql(query.order_by(biased_transactions.c.feature, biased_transactions.c.scoring_timestamp),
                               conn)
