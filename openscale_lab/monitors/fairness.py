"""The fairness monitor: disparate impact per protected feature, with perturbation, biased transactions and
debiasing, and (beyond OpenScale) group error rates on labelled feedback.

OpenScale's definitions followed here ("Calculating fairness", "Reviewing debiased transactions" in IBM's
docs):

* the fairness value of a feature is the disparate impact, the rate of favourable outcomes of the monitored
  group divided by that of the reference group, with an alert below a lower limit (the tutorial's 0.95; a
  feature may set its own `threshold`);
* "balanced" (perturbed) data is the payload plus a perturbed copy of each record moved into the other
  group, its protected value drawn at random across the other group's training values with their
  frequencies (deterministic per record: see `core.fairness_groups`);
* a transaction is biased when the model gives a monitored-group record an unfavourable outcome and its copy
  perturbed into the reference group (the same copy) a favourable one; reference-group records and
  favourable-to-unfavourable flips are never biased;
* debiased outcomes replace the outcome of each biased record by its copy's favourable outcome, and nothing
  else.

Undefined values are never stored as evaluated: one group missing, no favourable outcome in the reference
group, or any disparate impact (payload, balanced, debiased) not finite gives "not evaluated: <reason>".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from sqlalchemy.engine import Connection

from ..core.fairness_groups import (
    combine_debiased,
    draw_values,
    group_distribution,
    group_mask,
    is_biased,
    record_hashes,
    stored_distribution,
)
from ..datamart.tables import biased_transactions
from ..datamart.window import WindowQuery, numbered
from ..errors import LabError
from .base import Evaluation, Monitor, NotEvaluated, check_window_settings
from .fairness_parts import FairnessPart, FeaturePart, plain
from .metrics import (
    disparate_impact,
    equal_opportunity_difference,
    equalized_odds_difference,
    favourable_rate,
    group_rates,
)
from .results import Details, Measurement, MonitorConfig, Threshold, axes, from_known, is_number

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

VIEWS = ("payload", "balanced", "debiased")  # the data a disparate impact is measured on
GROUPS = ("monitored", "reference")
FEATURE_KEYS = {"feature", "monitored", "reference", "threshold", "perturbation"}  # perturbation: recomputed


@dataclass
class FairnessConfig(MonitorConfig):
    """Features as [{"feature", "monitored", "reference", optional "threshold", "perturbation"}]; the
    perturbation holds each group's training values and counts; `perturbation_seed` seeds the draws."""

    features: list[dict[str, Any]] = field(default_factory=list)
    favourable_classes: list[str] = field(default_factory=list)
    unfavourable_classes: list[str] = field(default_factory=list)
    threshold: float = 0.95
    min_records: int = 200
    window_hours: float | None = 1.0
    perturbation_seed: int = 0

    def threshold_of(self, feature: dict[str, Any]) -> float:
        """A feature's own threshold, else the monitor's."""
        return float(feature.get("threshold", self.threshold))


@dataclass
class GroupQuality:
    """One group's outcomes on labelled data, favourable counting as positive."""

    records: int = 0
    positives: int = 0  # records whose true label is favourable
    negatives: int = 0
    true_positive_rate: float = float("nan")
    false_positive_rate: float = float("nan")
    accuracy: float = float("nan")
    selection_rate: float = float("nan")


@dataclass
class LabelledFairness:
    """Fairness on labelled feedback (beyond OpenScale): each group's rates, and the equal-opportunity
    difference (TPR monitored − TPR reference) and equalized-odds difference (max |TPR gap|, |FPR gap|)."""

    monitored: GroupQuality = field(default_factory=GroupQuality)
    reference: GroupQuality = field(default_factory=GroupQuality)
    equal_opportunity_difference: float = float("nan")
    equalized_odds_difference: float = float("nan")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelledFairness:
        found = from_known(cls, data)
        found.monitored = from_known(GroupQuality, data.get("monitored"))
        found.reference = from_known(GroupQuality, data.get("reference"))
        return found


@dataclass
class FeatureFairness:
    """One protected feature in one run: group sizes, favourable rates and disparate impact per view, and
    group rates on labelled feedback when the window has some."""

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
    biased_count: int = 0
    perturbation: dict[str, Any] = field(default_factory=dict)
    labelled: LabelledFairness | None = None
    # per view ("payload", "balanced"): [{"value", "group", "favourable", "unfavourable"}] for each value of
    # the feature in the monitored or reference group, by value (`outcomes_per_value`); empty in details
    # stored before it was kept
    value_outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

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

    def undefined(self, feature: str) -> str | None:
        """Why this feature's fairness cannot be evaluated, or None."""
        if self.monitored_count == 0 or self.reference_count == 0:
            return (f"{feature}: {self.monitored_count} records in the monitored group and "
                    f"{self.reference_count} in the reference group; both are needed")
        if self.reference_favourable_rate == 0:
            return (f"{feature}: no favourable outcome among the {self.reference_count} records of the reference "
                    f"group, so disparate impact is undefined")
        for view in VIEWS:
            value = self.rates(view)[2]
            if not math.isfinite(value):
                return f"{feature}: the disparate impact on {view} data is {value}, not a finite number"
        return None


@dataclass
class FairnessDetails(Details):
    title: ClassVar[str] = "Fairness"
    features: dict[str, FeatureFairness] = field(default_factory=dict)
    favourable_classes: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FairnessDetails:
        data = dict(data or {})
        features = {}
        for name, stored in data.get("features", {}).items():
            found = from_known(FeatureFairness, stored)
            if isinstance(stored.get("labelled"), dict):  # details stored before labelled fairness have none
                found.labelled = LabelledFairness.from_dict(stored["labelled"])
            features[name] = found
        data["features"] = features
        return super().from_dict(data)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"favourable classes": ", ".join(self.favourable_classes)}
        for name, f in self.features.items():
            out[f"{name}: monitored / reference records"] = f"{f.monitored_count} / {f.reference_count}"
            out[f"{name}: biased transactions"] = f.biased_count
            if f.labelled is not None:
                out[f"{name}: equal opportunity / equalized odds difference (feedback)"] = (
                    f"{f.labelled.equal_opportunity_difference:.3f} / {f.labelled.equalized_odds_difference:.3f}")
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


class BiasedRecord(NamedTuple):
    """A biased monitored-group record: its position, the reference value it was moved to, the new outcome."""

    position: int
    perturbed_value: Any
    perturbed_label: str


@dataclass
class Perturbed:
    """One feature's perturbation of a frame: group masks, and each group's copies moved into the other
    group (values and the model's outcomes), in record order within the group."""

    monitored: np.ndarray
    reference: np.ndarray
    to_reference_values: list[Any]
    to_reference_labels: np.ndarray
    to_monitored_values: list[Any]
    to_monitored_labels: np.ndarray


@dataclass
class FairnessRun:
    """The raw outcome of evaluating records: per-feature results, biased records, debiased labels."""

    features: dict[str, FeatureFairness]
    biased: dict[str, list[BiasedRecord]]
    debiased_labels: np.ndarray
    perturbed: dict[str, Perturbed] = field(default_factory=dict)


class FairnessMonitor(Monitor[FairnessConfig, FairnessDetails]):
    """Configured as in the tutorial: features with monitored and reference groups, favourable classes."""

    name = "fairness"
    default_schedule_hours = 1.0
    config_type = FairnessConfig
    details_type = FairnessDetails

    def enable(self, *, features: list[dict[str, Any]], favourable_classes: list[str],
               unfavourable_classes: list[str], threshold: float = 0.95, min_records: int = 200,
               window_hours: float | None = 1.0, schedule_hours: float | None = None,
               perturbation_seed: int = 0, reach_back: bool = False) -> FairnessConfig:
        """`features`: [{"feature": "Sex", "monitored": ["female"], "reference": ["male"], "threshold": 0.9},
        {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}]; a feature without its own
        `threshold` gets `threshold`. Both are lower limits on disparate impact, in (0, 1].

        Each group's values and their counts in the model's training data are stored with the configuration:
        perturbed records draw their protected value from them, seeded by `perturbation_seed`. With
        `reach_back`, an hour holding fewer than `min_records` records is evaluated on the last `min_records`
        (as OpenScale reads the last min_records payload records), the measurement's window starting at the
        oldest of them.
        """
        labels = self.ctx.labels
        for cls in [*favourable_classes, *unfavourable_classes]:
            if cls not in labels:
                raise LabError(f"class {cls!r} is not one of the model's labels {labels}")
        if not favourable_classes:
            raise LabError("fairness needs at least one favourable class")
        if set(favourable_classes) & set(unfavourable_classes):
            raise LabError(f"classes {sorted(set(favourable_classes) & set(unfavourable_classes))} are both "
                           "favourable and unfavourable")
        threshold = _checked_threshold(threshold, "the fairness threshold")
        check_window_settings("fairness", min_records, window_hours)
        if isinstance(perturbation_seed, bool) or not isinstance(perturbation_seed, (int, np.integer)):
            raise LabError(f"perturbation_seed must be an integer, got {perturbation_seed!r}")
        configured = [self._configured(spec) for spec in features]
        names = [c["feature"] for c in configured]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise LabError(f"fairness feature(s) {', '.join(map(repr, twice))} configured more than once")
        if not configured:
            raise LabError("fairness needs at least one feature")
        config = FairnessConfig(features=configured, favourable_classes=list(favourable_classes),
                                unfavourable_classes=list(unfavourable_classes), threshold=threshold,
                                min_records=min_records, window_hours=window_hours,
                                perturbation_seed=int(perturbation_seed), reach_back=bool(reach_back))
        return self._store_config(config, schedule_hours)

    def _configured(self, spec: dict[str, Any]) -> dict[str, Any]:
        """One feature checked, with its groups' training values for perturbation."""
        if not isinstance(spec, dict):
            raise LabError(f"a fairness feature is a dict with feature, monitored and reference, got {spec!r}")
        names = self.ctx.input_columns
        feature = spec.get("feature")
        if feature not in names:
            raise LabError(f"fairness feature {feature!r} is not a model input ({', '.join(names)})")
        unknown = sorted(set(spec) - FEATURE_KEYS)
        if unknown:
            raise LabError(f"fairness feature {feature!r}: unknown setting(s) {', '.join(unknown)}; "
                           f"known: {', '.join(sorted(FEATURE_KEYS - {'perturbation'}))}")
        for key in GROUPS:
            if not spec.get(key):
                raise LabError(f"fairness feature {feature!r}: give the {key} group")
            _check_group(feature, key, spec[key])
        training = self.ctx.training_data[feature]
        if (group_mask(training, spec["monitored"]) & group_mask(training, spec["reference"])).any():
            raise LabError(f"fairness feature {feature!r}: the monitored group {spec['monitored']} and the "
                           f"reference group {spec['reference']} overlap")
        out: dict[str, Any] = {"feature": feature, "monitored": list(spec["monitored"]),
                               "reference": list(spec["reference"])}
        if "threshold" in spec:
            out["threshold"] = _checked_threshold(spec["threshold"], f"fairness feature {feature!r}: threshold")
        out["perturbation"] = {}
        for key in GROUPS:
            found = group_distribution(training, spec[key])
            if found is None:
                raise LabError(f"fairness feature {feature!r}: no training record is in the {key} group "
                               f"{spec[key]}, so records cannot be perturbed into it")
            out["perturbation"][key] = found
        return out

    def thresholds(self, config: FairnessConfig) -> list[Threshold]:
        return [Threshold(s["feature"], "lower_limit", config.threshold_of(s)) for s in config.features]

    def payload_columns(self) -> list[str]:
        return [*self.ctx.input_columns, self.ctx.subscription.predicted_label_column]

    # -- evaluation ---------------------------------------------------------------------------
    def _labels_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's labels for a frame of inputs."""
        if frame.empty:
            return np.array([], dtype=object)
        pred, _ = self.ctx.scorer.predict_frame(frame)
        return np.asarray(self.ctx.labels, dtype=object)[pred]

    def _moved(self, X: np.ndarray, hashes: np.ndarray, mask: np.ndarray, spec: dict[str, Any], group: str,
               seed: int) -> tuple[list[Any], np.ndarray]:
        """The records of `mask` (feature vectors `X`) moved into `group`: their drawn values and the model's
        outcomes."""
        f = spec["feature"]
        chosen = np.flatnonzero(mask)
        values = draw_values(stored_distribution(spec, group), hashes[chosen], seed, f, group)
        if not values:
            return values, np.array([], dtype=object)
        moved = self.ctx.scorer.with_column(X[chosen], f, values, copy=False)  # X[chosen] is a copy already
        pred, _ = self.ctx.scorer.predict_matrix(moved)
        return values, np.asarray(self.ctx.labels, dtype=object)[pred]

    def perturb(self, frame: pd.DataFrame, config: FairnessConfig) -> dict[str, Perturbed]:
        """Each feature's perturbed copies of the records of `frame` (see `core.fairness_groups`)."""
        frame = numbered(frame)
        cols = self.ctx.input_columns
        hashes = record_hashes({c: frame[c] for c in cols})
        X = self.ctx.scorer.feature_matrix(lambda name: frame[name], len(frame))  # encoded once
        out = {}
        for spec in config.features:
            f = spec["feature"]
            mon, ref = group_mask(frame[f], spec["monitored"]), group_mask(frame[f], spec["reference"])
            to_ref = self._moved(X, hashes, mon, spec, "reference", config.perturbation_seed)
            to_mon = self._moved(X, hashes, ref, spec, "monitored", config.perturbation_seed)
            out[f] = Perturbed(mon, ref, *to_ref, *to_mon)
        return out

    def assess(self, frame: pd.DataFrame, labels: np.ndarray, config: FairnessConfig) -> FairnessRun:
        """Per feature: group rates and counts, disparate impact on payload, balanced and debiased data,
        and the biased records. `labels` are the model's outcomes for `frame`."""
        fav, unfav = list(config.favourable_classes), list(config.unfavourable_classes)
        labels = np.asarray(labels, dtype=object)
        is_fav = np.isin(labels, fav)
        perturbed = self.perturb(frame, config)
        features: dict[str, FeatureFairness] = {}
        biased: dict[str, list[BiasedRecord]] = {}
        flips = []
        for spec in config.features:
            f = spec["feature"]
            p = perturbed[f]
            mon_idx = np.flatnonzero(p.monitored)
            biased[f] = [BiasedRecord(int(i), value, str(new)) for i, value, new
                         in zip(mon_idx, p.to_reference_values, p.to_reference_labels, strict=True)
                         if is_biased(labels[i], new, fav, unfav)]
            flips.append({int(i): str(new) for i, new in zip(mon_idx, p.to_reference_labels, strict=True)})
            mon_rate, ref_rate = favourable_rate(is_fav[p.monitored]), favourable_rate(is_fav[p.reference])
            # balanced data: the payload plus each group's records copied into the other group
            bal_mon = favourable_rate(np.concatenate([is_fav[p.monitored], np.isin(p.to_monitored_labels, fav)]))
            bal_ref = favourable_rate(np.concatenate([is_fav[p.reference], np.isin(p.to_reference_labels, fav)]))
            features[f] = FeatureFairness(
                monitored_group=spec["monitored"], reference_group=spec["reference"],
                monitored_count=int(p.monitored.sum()), reference_count=int(p.reference.sum()),
                monitored_favourable_rate=mon_rate, reference_favourable_rate=ref_rate,
                disparate_impact=disparate_impact(mon_rate, ref_rate),
                balanced_monitored_favourable_rate=bal_mon, balanced_reference_favourable_rate=bal_ref,
                balanced_disparate_impact=disparate_impact(bal_mon, bal_ref), biased_count=len(biased[f]),
                perturbation=spec["perturbation"])
        debiased = np.asarray(combine_debiased(list(labels), flips, fav, unfav), dtype=object)
        is_fav_debiased = np.isin(debiased, fav)
        for f, r in features.items():
            p = perturbed[f]
            d_mon, d_ref = favourable_rate(is_fav_debiased[p.monitored]), favourable_rate(is_fav_debiased[p.reference])
            r.debiased_monitored_favourable_rate, r.debiased_reference_favourable_rate = d_mon, d_ref
            r.debiased_disparate_impact = disparate_impact(d_mon, d_ref)
        return FairnessRun(features, biased, debiased, perturbed)

    def window(self, config: FairnessConfig, start: datetime | None, end: datetime) -> WindowQuery:
        return self.ctx.payload_window(start, end, self.payload_columns())

    def partial(self, config: FairnessConfig, chunk: pd.DataFrame) -> FairnessPart:
        """Per feature: group counts, favourable counts on payload, balanced and debiased data, outcomes per
        value, and the biased transactions of the records of `chunk`."""
        chunk = numbered(chunk)
        labels = chunk[self.ctx.subscription.predicted_label_column].to_numpy(dtype=object)
        run = self.assess(chunk, labels, config)
        fav = list(config.favourable_classes)
        is_fav, is_fav_debiased = np.isin(labels, fav), np.isin(run.debiased_labels, fav)
        ids = chunk["scoring_id"].to_numpy(dtype=object)
        stamps = chunk["scoring_timestamp"]
        out = FairnessPart(records=len(chunk))
        for spec in config.features:
            f = spec["feature"]
            p = run.perturbed[f]
            part = FeaturePart()
            part.counts.update(
                monitored=int(p.monitored.sum()), reference=int(p.reference.sum()),
                monitored_favourable=int(is_fav[p.monitored].sum()),
                reference_favourable=int(is_fav[p.reference].sum()),
                to_monitored_favourable=int(np.isin(p.to_monitored_labels, fav).sum()),
                to_reference_favourable=int(np.isin(p.to_reference_labels, fav).sum()),
                debiased_monitored_favourable=int(is_fav_debiased[p.monitored].sum()),
                debiased_reference_favourable=int(is_fav_debiased[p.reference].sum()))
            values = chunk[f].to_numpy(dtype=object)
            for view, rows in _value_outcomes(chunk[f], is_fav, p, spec, fav).items():
                for row in rows:
                    part.outcomes[(view, row["value"], row["group"])] = [row["favourable"], row["unfavourable"]]
            part.biased = [{"feature": f, "scoring_id": ids[b.position],
                            "scoring_timestamp": stamps.iloc[b.position].to_pydatetime(),
                            "group_name": "monitored",  # reference-group records are never biased
                            "original_value": str(plain(values[b.position])),
                            "perturbed_value": str(b.perturbed_value), "original_label": str(labels[b.position]),
                            "perturbed_label": b.perturbed_label} for b in run.biased[f]]
            out.features[f] = part
        return out

    def merge(self, a: FairnessPart, b: FairnessPart) -> FairnessPart:
        return a.merge(b)

    def finish(self, config: FairnessConfig, part: FairnessPart, start: datetime | None,
               end: datetime) -> Evaluation[FairnessDetails]:
        features: dict[str, FeatureFairness] = {}
        for spec in config.features:
            f = spec["feature"]
            c = part.features[f]
            mon, ref = c.rate("monitored_favourable", "monitored"), c.rate("reference_favourable", "reference")
            # balanced data: the payload plus each group's records copied into the other group
            bal_mon = c.rate_of(("monitored_favourable", "to_monitored_favourable"), ("monitored", "reference"))
            bal_ref = c.rate_of(("reference_favourable", "to_reference_favourable"), ("reference", "monitored"))
            d_mon = c.rate("debiased_monitored_favourable", "monitored")
            d_ref = c.rate("debiased_reference_favourable", "reference")
            features[f] = FeatureFairness(
                monitored_group=spec["monitored"], reference_group=spec["reference"],
                monitored_count=c.counts["monitored"], reference_count=c.counts["reference"],
                monitored_favourable_rate=mon, reference_favourable_rate=ref,
                disparate_impact=disparate_impact(mon, ref),
                balanced_monitored_favourable_rate=bal_mon, balanced_reference_favourable_rate=bal_ref,
                balanced_disparate_impact=disparate_impact(bal_mon, bal_ref),
                debiased_monitored_favourable_rate=d_mon, debiased_reference_favourable_rate=d_ref,
                debiased_disparate_impact=disparate_impact(d_mon, d_ref), biased_count=len(c.biased),
                perturbation=spec["perturbation"], value_outcomes=c.value_outcomes())
        for f, r in features.items():
            reason = r.undefined(f)
            if reason:
                raise NotEvaluated(reason)
        metrics: dict[str, float] = {}
        for f, r in features.items():
            metrics[f] = r.disparate_impact
            metrics[f"{f}_balanced"] = r.balanced_disparate_impact
            metrics[f"{f}_debiased"] = r.debiased_disparate_impact
            metrics[f"{f}_biased_transactions"] = float(r.biased_count)
        metrics.update(self._on_feedback(config, features, start, end))
        details = FairnessDetails(features=features, favourable_classes=list(config.favourable_classes))
        biased = sorted((row for p in part.features.values() for row in p.biased),
                        key=lambda r: (r["feature"], r["scoring_timestamp"], r["scoring_id"]))
        return Evaluation(metrics, details, record_count=part.records, extra=biased)

    def evaluate(self, config: FairnessConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[FairnessDetails]:
        return self.finish(config, self.partial(config, data), start, end)

    def save_with(self, measurement: Measurement, result: Evaluation[FairnessDetails], conn: Connection) -> None:
        """Store the run's biased transactions, linked to the measurement, in its transaction."""
        rows = [dict(row, measurement_id=measurement.measurement_id, subscription_id=measurement.subscription_id)
                for row in result.extra]
        if rows:
            conn.execute(biased_transactions.insert(), rows)

    def _on_feedback(self, config: FairnessConfig, features: dict[str, FeatureFairness], start: datetime | None,
                     end: datetime) -> dict[str, float]:
        """On the feedback logged in the run's window: accuracy before and after debiasing, and per feature
        each group's rates (stored on `features`) and the equal-opportunity and equalized-odds differences.
        Metrics undefined on this feedback are left out. Feedback is labelled by hand, so small: it is read
        whole, in this process, whichever engine evaluated the payload."""
        data = self.ctx.labelled(start, end)
        if data.empty:
            return {}
        data = numbered(data)
        labels = self._labels_of(data)
        truth = data[self.ctx.subscription.label_column].to_numpy(dtype=object)
        debiased = self.assess(data, labels, config).debiased_labels
        metrics = {"accuracy_before_debiasing": float(np.mean(labels == truth)),
                   "accuracy_after_debiasing": float(np.mean(debiased == truth))}
        fav = list(config.favourable_classes)
        for spec in config.features:
            f = spec["feature"]
            found = labelled_fairness(np.isin(truth, fav), np.isin(labels, fav),
                                      group_mask(data[f], spec["monitored"]), group_mask(data[f], spec["reference"]))
            features[f].labelled = found
            for name in ("equal_opportunity_difference", "equalized_odds_difference"):
                value = getattr(found, name)
                if math.isfinite(value):
                    metrics[f"{f}_{name}"] = value
        return metrics

    # -- views a learner asks for ---------------------------------------------------------------
    def debiased_labels(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's labels and the debiased labels for input records."""
        config = self.config()
        frame = numbered(frame)
        labels = self._labels_of(frame)
        return labels, self.assess(frame, labels, config).debiased_labels

    def training_view(self) -> pd.DataFrame:
        """Favourable rate of each group in the model's training data (by its label)."""
        return training_rates(self.config(), self.ctx.training_data, self.ctx.subscription.label_column)

    def biased_transactions(self, measurement_id: str | None = None) -> pd.DataFrame:
        """Biased transactions of one measurement (default: the latest evaluated fairness measurement)."""
        t = biased_transactions.c
        return self.measurement_rows(biased_transactions, measurement_id, order_by=(t.feature, t.scoring_timestamp))


def outcomes_per_value(values: Sequence[Any], favourable: np.ndarray, spec: dict[str, Any],
                       groups: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Favourable and unfavourable outcome counts per value, for the values in the monitored or reference group
    of a configured feature (`spec`), ordered by value; an outcome not favourable counts as unfavourable.
    `groups` ("monitored", "reference" or "" per value) may be given when the caller knows them already."""
    import pandas as pd

    values = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)
    if groups is None:
        series = pd.Series(values, dtype=object)
        groups = np.where(group_mask(series, spec["monitored"]), "monitored",
                          np.where(group_mask(series, spec["reference"]), "reference", ""))
    inside = groups != ""
    if not inside.any():
        return []
    # counted with factorize and bincount: this runs for every feature of every hourly run
    codes, uniques = pd.factorize(values[inside])
    is_reference = (groups[inside] == "reference").astype(np.int64)
    keys = codes * 2 + is_reference
    size = 2 * len(uniques)
    total = np.bincount(keys, minlength=size)
    fav = np.bincount(keys, weights=np.asarray(favourable, dtype=bool)[inside], minlength=size).astype(np.int64)
    rows = []
    for key in np.flatnonzero(total):
        value = uniques[key // 2]
        rows.append({"value": value.item() if hasattr(value, "item") else value,
                     "group": "reference" if key % 2 else "monitored", "favourable": int(fav[key]),
                     "unfavourable": int(total[key] - fav[key])})
    return sorted(rows, key=lambda r: (isinstance(r["value"], str), r["value"]))


def _value_outcomes(values: pd.Series, is_fav: np.ndarray, p: Perturbed, spec: dict[str, Any],
                    fav: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Outcomes per value on payload data, and on balanced data (the payload plus its perturbed copies)."""
    inside = p.monitored | p.reference
    kept = values.to_numpy(dtype=object)[inside]
    groups = np.where(p.monitored, "monitored", "reference")[inside]
    copies = np.asarray([*p.to_reference_values, *p.to_monitored_values], dtype=object)
    copy_groups = np.array(["reference"] * len(p.to_reference_values) + ["monitored"] * len(p.to_monitored_values))
    copied_fav = np.concatenate([np.isin(p.to_reference_labels, fav), np.isin(p.to_monitored_labels, fav)])
    return {"payload": outcomes_per_value(kept, is_fav[inside], spec, groups),
            "balanced": outcomes_per_value(np.concatenate([kept, copies]), np.concatenate([is_fav[inside], copied_fav]),
                                           spec, np.concatenate([groups, copy_groups]))}


def _checked_threshold(value: Any, what: str) -> float:
    if not (is_number(value) and 0 < value <= 1):
        raise LabError(f"{what} must be a number in (0, 1] (a lower limit on disparate impact), got {value!r}")
    return float(value)


def labelled_fairness(truth: np.ndarray, predicted: np.ndarray, monitored: np.ndarray,
                      reference: np.ndarray) -> LabelledFairness:
    """Each group's rates on labelled records (`truth`/`predicted` True for favourable) and the
    equal-opportunity and equalized-odds differences between the groups."""
    mon = GroupQuality(**group_rates(truth[monitored], predicted[monitored]))
    ref = GroupQuality(**group_rates(truth[reference], predicted[reference]))
    return LabelledFairness(
        monitored=mon, reference=ref,
        equal_opportunity_difference=equal_opportunity_difference(mon.true_positive_rate, ref.true_positive_rate),
        equalized_odds_difference=equalized_odds_difference(mon.true_positive_rate, ref.true_positive_rate,
                                                            mon.false_positive_rate, ref.false_positive_rate))


def _check_group(feature: str, key: str, group: Any) -> None:
    """A group is a list of categories and/or [low, high] number ranges (low ≤ high)."""
    if not isinstance(group, (list, tuple)):
        raise LabError(f"fairness feature {feature!r}: give the {key} group as a list, e.g. ['female'] or "
                       f"[[18, 25]], got {group!r}")
    for item in group:
        if isinstance(item, (list, tuple)) and not (
                len(item) == 2 and all(is_number(v) for v in item) and item[0] <= item[1]):
            raise LabError(f"fairness feature {feature!r}: {key} range {item!r} must be [low, high] with two "
                           "numbers, low ≤ high")


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
