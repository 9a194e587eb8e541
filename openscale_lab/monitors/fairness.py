"""The fairness monitor: disparate impact per protected feature, with perturbation, biased transactions and
debiasing.

OpenScale's definitions followed here: the fairness value of a feature is the disparate impact, the rate of
favourable outcomes of the monitored group divided by that of the reference group, with an alert below a
lower limit (the tutorial's 0.95); "balanced" data is the payload plus perturbed
copies of each record moved into the other group; a transaction is biased when moving only its protected
value into the other group changes the outcome; debiased outcomes apply those changes to the monitored
group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.fairness_groups import combine_debiased, group_mask, representative
from ..datamart.tables import biased_transactions
from ..errors import LabError
from .base import Evaluation, Monitor, NotEvaluated
from .metrics import disparate_impact, favourable_rate
from .results import Details, Measurement, MonitorConfig, Threshold, axes, from_known

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

VIEWS = ("payload", "balanced", "debiased")  # the data a disparate impact is measured on


@dataclass
class FairnessConfig(MonitorConfig):
    features: list[dict[str, Any]] = field(default_factory=list)
    favourable_classes: list[str] = field(default_factory=list)
    unfavourable_classes: list[str] = field(default_factory=list)
    threshold: float = 0.95
    min_records: int = 200
    window_hours: float | None = 1.0


@dataclass
class FeatureFairness:
    """One protected feature in one run: group sizes, favourable rates and disparate impact per view."""

    monitored_group: list[Any] = field(default_factory=list)
    reference_group: list[Any] = field(default_factory=list)
    monitored_count: int = 0
    reference_count: int = 0
    monitored_favourable_rate: float = float("nan")
    reference_favourable_rate: float = float("nan")
    disparate_impact: float = float("nan")
    balanced_monitored_favourable_rate: float = float("nan")
    balanced_reference_favourable_rate: float = float("nan")
    balanced_disparate_impact: float = float("nan")
    debiased_monitored_favourable_rate: float = float("nan")
    debiased_reference_favourable_rate: float = float("nan")
    debiased_disparate_impact: float = float("nan")
    perturbation: dict[str, Any] = field(default_factory=dict)

    def rates(self, view: str = "payload") -> tuple[float, float, float]:
        """(monitored rate, reference rate, disparate impact) on payload, balanced or debiased data."""
        if view == "payload":
            return self.monitored_favourable_rate, self.reference_favourable_rate, self.disparate_impact
        if view == "balanced":
            return (self.balanced_monitored_favourable_rate, self.balanced_reference_favourable_rate,
                    self.balanced_disparate_impact)
        if view == "debiased":
            return (self.debiased_monitored_favourable_rate, self.debiased_reference_favourable_rate,
                    self.debiased_disparate_impact)
        raise LabError(f"fairness view {view!r}: one of {', '.join(VIEWS)}")


@dataclass
class FairnessDetails(Details):
    title: ClassVar[str] = "Fairness"
    features: dict[str, FeatureFairness] = field(default_factory=dict)
    favourable_classes: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FairnessDetails:
        data = dict(data or {})
        data["features"] = {f: from_known(FeatureFairness, d) for f, d in data.get("features", {}).items()}
        return super().from_dict(data)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"favourable classes": ", ".join(self.favourable_classes)}
        for name, f in self.features.items():
            out[f"{name}: monitored / reference records"] = f"{f.monitored_count} / {f.reference_count}"
        return out

    def plot(self, measurement: Measurement, ax: Axes | None = None, view: str = "payload") -> Axes:
        """Favourable rate of monitored vs reference group per feature, on payload, balanced or debiased data."""
        ax = axes(ax, (7, 3.5))
        names = list(self.features)
        rates = [self.features[f].rates(view) for f in names]
        x = np.arange(len(names))
        ax.bar(x - 0.2, [r[0] for r in rates], 0.4, label="monitored group", color="#e67e22")
        ax.bar(x + 0.2, [r[1] for r in rates], 0.4, label="reference group", color="#1f6fb4")
        for i, (mon, ref, di) in enumerate(rates):
            ax.text(i, max(mon, ref) + 0.03, f"DI {di:.2f}", ha="center")
        ax.set_xticks(x, names)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("favourable rate")
        ax.set_title(f"Fairness ({view} data)")
        ax.legend(loc="lower right")
        return ax


@dataclass
class FairnessRun:
    """The raw outcome of evaluating records: per-feature results, biased records, debiased labels."""

    features: dict[str, FeatureFairness]
    biased: dict[str, list[tuple[int, str, str]]]
    debiased_labels: np.ndarray


class FairnessMonitor(Monitor[FairnessConfig, FairnessDetails]):
    """Configured as in the tutorial: features with monitored and reference groups, favourable classes."""

    name = "fairness"
    default_schedule_hours = 1.0
    config_type = FairnessConfig
    details_type = FairnessDetails

    def enable(self, *, features: list[dict[str, Any]], favourable_classes: list[str],
               unfavourable_classes: list[str], threshold: float = 0.95, min_records: int = 200,
               window_hours: float | None = 1.0, schedule_hours: float | None = None) -> FairnessConfig:
        """`features`: [{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
        {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}].

        The values used to perturb records into the other group come from the model's training data.
        """
        labels = self.ctx.labels
        for cls in [*favourable_classes, *unfavourable_classes]:
            if cls not in labels:
                raise LabError(f"class {cls!r} is not one of the model's labels {labels}")
        if not favourable_classes:
            raise LabError("fairness needs at least one favourable class")
        names = self.ctx.input_columns
        configured = []
        for spec in features:
            feature = spec.get("feature")
            if feature not in names:
                raise LabError(f"fairness feature {feature!r} is not a model input ({', '.join(names)})")
            for key in ("monitored", "reference"):
                if not spec.get(key):
                    raise LabError(f"fairness feature {feature!r}: give the {key} group")
            training = self.ctx.training_data[feature]
            configured.append({
                "feature": feature, "monitored": list(spec["monitored"]), "reference": list(spec["reference"]),
                "perturbation": {"to_reference": representative(training, spec["reference"]),
                                 "to_monitored": representative(training, spec["monitored"])}})
        if not configured:
            raise LabError("fairness needs at least one feature")
        config = FairnessConfig(features=configured, favourable_classes=list(favourable_classes),
                                unfavourable_classes=list(unfavourable_classes), threshold=threshold,
                                min_records=min_records, window_hours=window_hours)
        return self._store_config(config, schedule_hours)

    def thresholds(self, config: FairnessConfig) -> list[Threshold]:
        return [Threshold(s["feature"], "lower_limit", config.threshold) for s in config.features]

    # -- evaluation ---------------------------------------------------------------------------
    def _perturbed_labels(self, frame: pd.DataFrame, feature: str, value: Any) -> np.ndarray:
        changed = frame.copy()
        changed[feature] = value
        pred, _ = self.ctx.scorer.predict_frame(changed)
        return np.asarray(self.ctx.labels, dtype=object)[pred]

    def assess(self, frame: pd.DataFrame, labels: np.ndarray, config: FairnessConfig) -> FairnessRun:
        """Per feature: group rates and counts, disparate impact on payload, balanced and debiased data,
        and the records whose outcome the flip changes. `labels` are the model's outcomes for `frame`."""
        fav = list(config.favourable_classes)
        is_fav = np.isin(labels, fav)
        features: dict[str, FeatureFairness] = {}
        biased: dict[str, list[tuple[int, str, str]]] = {}
        flips, masks = [], {}
        for spec in config.features:
            f = spec["feature"]
            mon, ref = group_mask(frame[f], spec["monitored"]), group_mask(frame[f], spec["reference"])
            masks[f] = (mon, ref)
            mon_flip = self._perturbed_labels(frame[mon], f, spec["perturbation"]["to_reference"])
            ref_flip = self._perturbed_labels(frame[ref], f, spec["perturbation"]["to_monitored"])
            mon_rate, ref_rate = favourable_rate(is_fav[mon]), favourable_rate(is_fav[ref])
            # balanced data: the payload plus each record copied into the other group
            bal_mon = favourable_rate(np.concatenate([is_fav[mon], np.isin(ref_flip, fav)]))
            bal_ref = favourable_rate(np.concatenate([is_fav[ref], np.isin(mon_flip, fav)]))
            mon_idx, ref_idx = np.flatnonzero(mon), np.flatnonzero(ref)
            biased[f] = [(int(i), "monitored", new) for i, new in zip(mon_idx, mon_flip, strict=True)
                         if new != labels[i]]
            biased[f] += [(int(i), "reference", new) for i, new in zip(ref_idx, ref_flip, strict=True)
                          if new != labels[i]]
            flips.append({int(i): str(new) for i, new in zip(mon_idx, mon_flip, strict=True)})
            features[f] = FeatureFairness(
                monitored_group=spec["monitored"], reference_group=spec["reference"],
                monitored_count=int(mon.sum()), reference_count=int(ref.sum()),
                monitored_favourable_rate=mon_rate, reference_favourable_rate=ref_rate,
                disparate_impact=disparate_impact(mon_rate, ref_rate),
                balanced_monitored_favourable_rate=bal_mon, balanced_reference_favourable_rate=bal_ref,
                balanced_disparate_impact=disparate_impact(bal_mon, bal_ref), perturbation=spec["perturbation"])
        debiased = np.asarray(combine_debiased(list(labels), flips), dtype=object)
        is_fav_debiased = np.isin(debiased, fav)
        for f, (mon, ref) in masks.items():
            d_mon, d_ref = favourable_rate(is_fav_debiased[mon]), favourable_rate(is_fav_debiased[ref])
            r = features[f]
            r.debiased_monitored_favourable_rate, r.debiased_reference_favourable_rate = d_mon, d_ref
            r.debiased_disparate_impact = disparate_impact(d_mon, d_ref)
        return FairnessRun(features, biased, debiased)

    def evaluate(self, config: FairnessConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[FairnessDetails]:
        labels = data[self.ctx.subscription.predicted_label_column].to_numpy(dtype=object)
        run = self.assess(data, labels, config)
        for f, r in run.features.items():
            if r.monitored_count == 0 or r.reference_count == 0:
                raise NotEvaluated(f"{f}: {r.monitored_count} records in the monitored group and "
                                   f"{r.reference_count} in the reference group; both are needed")
            if r.reference_favourable_rate == 0:
                raise NotEvaluated(f"{f}: no favourable outcome in the reference group, so disparate impact "
                                   "is undefined")
        metrics: dict[str, float] = {}
        for f, r in run.features.items():
            metrics[f] = r.disparate_impact
            metrics[f"{f}_balanced"] = r.balanced_disparate_impact
            metrics[f"{f}_debiased"] = r.debiased_disparate_impact
            metrics[f"{f}_biased_transactions"] = float(len(run.biased[f]))
        metrics.update(self._debiasing_accuracy(config, start, end))
        details = FairnessDetails(features=run.features, favourable_classes=list(config.favourable_classes))
        return Evaluation(metrics, details, extra=(data, labels, run))

    def save_with(self, measurement: Measurement, result: Evaluation[FairnessDetails], conn: Connection) -> None:
        """Store the run's biased transactions, linked to the measurement, in its transaction."""
        payload, labels, run = result.extra
        rows = []
        for f, found in run.biased.items():
            perturbation = run.features[f].perturbation
            for i, group, new in found:
                rec = payload.iloc[i]
                rows.append({"feature": f, "scoring_id": rec["scoring_id"],
                             "scoring_timestamp": rec["scoring_timestamp"].to_pydatetime(), "group_name": group,
                             "original_value": str(rec[f]),
                             "perturbed_value": str(perturbation["to_reference" if group == "monitored"
                                                                 else "to_monitored"]),
                             "original_label": str(labels[i]), "perturbed_label": str(new),
                             "measurement_id": measurement.measurement_id,
                             "subscription_id": measurement.subscription_id})
        if rows:
            conn.execute(biased_transactions.insert(), rows)

    def _debiasing_accuracy(self, config: FairnessConfig, start: datetime | None,
                            end: datetime) -> dict[str, float]:
        """Accuracy of the model and of its debiased outcomes on the feedback logged in the run's window."""
        data = self.ctx.feedback.read(start, end)
        if data.empty:
            return {}
        pred, _ = self.ctx.scorer.predict_frame(data)
        labels = np.asarray(self.ctx.labels, dtype=object)[pred]
        debiased = self.assess(data, labels, config).debiased_labels
        truth = data[self.ctx.subscription.label_column].to_numpy(dtype=object)
        return {"accuracy_before_debiasing": float(np.mean(labels == truth)),
                "accuracy_after_debiasing": float(np.mean(debiased == truth))}

    # -- views a learner asks for ---------------------------------------------------------------
    def debiased_labels(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's labels and the debiased labels for input records."""
        config = self.config()
        pred, _ = self.ctx.scorer.predict_frame(frame)
        labels = np.asarray(self.ctx.labels, dtype=object)[pred]
        return labels, self.assess(frame, labels, config).debiased_labels

    def training_view(self) -> pd.DataFrame:
        """Favourable rate of each group in the model's training data (by its label)."""
        return training_rates(self.config(), self.ctx.training_data, self.ctx.subscription.label_column)

    def biased_transactions(self, measurement_id: str | None = None) -> pd.DataFrame:
        """Biased transactions of one measurement (default: the latest evaluated fairness measurement)."""
        import pandas as pd

        if measurement_id is None:
            latest = self.latest()
            if latest is None:
                return pd.DataFrame(columns=[c.name for c in biased_transactions.columns])
            measurement_id = latest.measurement_id
        query = sa.select(biased_transactions).where(biased_transactions.c.measurement_id == measurement_id)
        with self.ctx.datamart.engine.connect() as conn:
            return pd.read_sql(query.order_by(biased_transactions.c.feature, biased_transactions.c.scoring_timestamp),
                               conn)


def training_rates(config: FairnessConfig, training: pd.DataFrame, label_column: str) -> pd.DataFrame:
    """Favourable rate of the monitored and reference group of each feature in labelled training data."""
    import pandas as pd

    fav = training[label_column].isin(config.favourable_classes).to_numpy()
    rows = []
    for spec in config.features:
        for group in ("monitored", "reference"):
            mask = group_mask(training[spec["feature"]], spec[group])
            rows.append({"feature": spec["feature"], "group": group, "values": str(spec[group]),
                         "records": int(mask.sum()), "favourable_rate": favourable_rate(fav[mask])})
    return pd.DataFrame(rows)
