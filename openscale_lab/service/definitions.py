"""OpenScale's monitor definitions, and how a monitor instance's parameters and thresholds become the lab's.

The definition ids, names and metric ids follow Watson OpenScale's V2 definitions (`quality`, `fairness`,
`drift`, `explainability`, `performance`, `model_health`; `fairness_value` in percent, thresholds as
`MetricThresholdOverride`s, fairness features as majority/minority groups), as the `ibm-watson-openscale` SDK
and IBM's tutorial notebooks use them. Each is served by the lab's own monitor of the same purpose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .resources import ApiError, finite

QUALITY_METRICS = ["area_under_roc", "area_under_pr", "accuracy", "true_positive_rate", "false_positive_rate",
                   "precision", "recall", "f1_measure", "log_loss"]
FAIRNESS_METRICS = ["fairness_value", "balanced_fairness_value", "debiased_fairness_value", "biased_transactions",
                    "equal_opportunity_difference", "equalized_odds_difference", "accuracy_before_debiasing",
                    "accuracy_after_debiasing"]
DRIFT_METRICS = ["drift_magnitude", "predicted_accuracy", "base_accuracy", "data_drift_magnitude", "output_drift",
                 "feature_drift", "cbpe_accuracy", "records_predicted_wrong", "inconsistent_transactions"]
HEALTH_METRICS = ["records", "scoring_requests", "rejected_requests", "throughput_records_per_min",
                  "response_time_avg_ms", "response_time_median_ms", "response_time_p95_ms", "response_time_max_ms"]
PERCENT = 100.0  # OpenScale gives fairness values and their thresholds in percent; the lab's are ratios
# Defaults when an instance leaves a setting out: the ibm-watson-openscale 3.1 SDK's own (its default quality
# instance: min_feedback_data_size 100, area_under_roc lower limit 0.8; its fairness configuration from training
# statistics: fairness_value lower limit 80; its drift instance: min_samples 200, drift_threshold 0.05).
QUALITY_MIN_FEEDBACK, QUALITY_THRESHOLD = 100, 0.8
FAIRNESS_THRESHOLD = 80.0
DRIFT_MIN_SAMPLES, DRIFT_THRESHOLD = 200, 0.05


@dataclass(frozen=True)
class Definition:
    """A built-in monitor definition and the lab monitor behind it (None: nothing to evaluate)."""

    definition_id: str
    name: str
    lab_monitor: str | None
    metrics: list[str]
    defaults: dict[str, tuple[str, float]] = field(default_factory=dict)  # metric -> (limit type, value)
    tags: list[str] = field(default_factory=list)

    def resource_entity(self) -> dict[str, Any]:
        metrics = []
        for m in self.metrics:
            spec: dict[str, Any] = {"id": m, "name": m, "expected_direction": "increasing"}
            if m in self.defaults:
                kind, value = self.defaults[m]
                spec["thresholds"] = [{"type": kind, "default": value}]
                spec["expected_direction"] = "increasing" if kind == "lower_limit" else "decreasing"
            metrics.append(spec)
        return {"name": self.name, "metrics": metrics,
                "tags": [{"id": t, "name": t, "description": f"the {t} a value is about"} for t in self.tags],
                "applies_to": {"input_data_type": ["structured"], "problem_type": ["binary"]},
                "managed_by": "openscale-lab"}


BUILT_IN = {d.definition_id: d for d in [
    Definition("quality", "Quality", "quality", QUALITY_METRICS,
               {"area_under_roc": ("lower_limit", QUALITY_THRESHOLD)}),
    Definition("fairness", "Fairness", "fairness", FAIRNESS_METRICS,
               {"fairness_value": ("lower_limit", FAIRNESS_THRESHOLD)}, ["feature"]),
    Definition("drift", "Drift", "drift", DRIFT_METRICS,
               {"drift_magnitude": ("upper_limit", DRIFT_THRESHOLD), "data_drift_magnitude": ("upper_limit", 0.10),
                "output_drift": ("upper_limit", 0.05), "feature_drift": ("upper_limit", 0.05)}),
    Definition("explainability", "Explainability", None, []),
    Definition("performance", "Performance", "model_health", HEALTH_METRICS),
    Definition("model_health", "Model health", "model_health", HEALTH_METRICS),
]}


def checked_thresholds(thresholds: Any) -> list[dict[str, Any]]:
    """MetricThresholdOverrides: a list of {metric_id, type (lower_limit or upper_limit), value}."""
    if thresholds is None:
        return []
    if not isinstance(thresholds, list) or not all(isinstance(t, dict) for t in thresholds):
        raise ApiError(400, "thresholds must be a list of {metric_id, type, value}", "invalid_value", "thresholds")
    for n, t in enumerate(thresholds):
        if not isinstance(t.get("metric_id"), str) or t.get("type") not in ("lower_limit", "upper_limit") \
                or not finite(t.get("value")):
            raise ApiError(400, f"thresholds[{n}] needs metric_id, type (lower_limit or upper_limit) and a numeric "
                                f"value, got {t!r}"[:300], "invalid_value", f"thresholds[{n}]")
    return thresholds


MAX_RECORDS_SETTING = 10_000_000  # a minimum sample larger than this is a typing slip: the monitor would never run


def _number(params: dict[str, Any], key: str, default: Any, whole: bool = False) -> Any:
    value = params.get(key, default)
    if value is default:
        return default
    if not finite(value) or (whole and (value != int(value) or not 1 <= value <= MAX_RECORDS_SETTING)):
        kind = f"a whole number from 1 to {MAX_RECORDS_SETTING}" if whole else "a number"
        raise ApiError(400, f"parameters.{key} must be {kind}, got {value!r}", "invalid_value", f"parameters.{key}")
    return int(value) if whole else float(value)


def _only(thresholds: list[dict[str, Any]], allowed: dict[str, str], monitor: str) -> dict[str, float]:
    found = {}
    for n, t in enumerate(thresholds):
        if t["metric_id"] not in allowed or allowed[t["metric_id"]] != t["type"]:
            listed = ", ".join(f"{m} ({k})" for m, k in allowed.items())
            raise ApiError(400, f"thresholds[{n}]: the lab's {monitor} monitor alerts on {listed}, not on "
                                f"{t['metric_id']} ({t['type']})", "invalid_value", f"thresholds[{n}].metric_id")
        found[t["metric_id"]] = float(t["value"])
    return found


def quality_settings(params: dict[str, Any], thresholds: Any) -> dict[str, Any]:
    limits = _only(checked_thresholds(thresholds), {"area_under_roc": "lower_limit"}, "quality")
    return {"min_records": _number(params, "min_feedback_data_size", QUALITY_MIN_FEEDBACK, whole=True),
            "threshold": limits.get("area_under_roc", QUALITY_THRESHOLD)}


def _group(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, f"{where} must be a non-empty list of values or [low, high] ranges", "invalid_value",
                       where)
    return value


def fairness_settings(params: dict[str, Any], thresholds: Any) -> dict[str, Any]:
    features = params.get("features")
    if not isinstance(features, list) or not features:
        raise ApiError(400, "parameters.features must list the monitored features, each {feature, majority, "
                            "minority}", "missing_field", "parameters.features")
    fav, unfav = params.get("favourable_class"), params.get("unfavourable_class")
    for key, value in (("favourable_class", fav), ("unfavourable_class", unfav)):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"parameters.{key} must be a list of class labels", "missing_field",
                           f"parameters.{key}")
    limits = checked_thresholds(thresholds)
    default, per_feature = FAIRNESS_THRESHOLD / PERCENT, {}
    for n, t in enumerate(limits):
        if t["metric_id"] != "fairness_value" or t["type"] != "lower_limit":
            raise ApiError(400, f"thresholds[{n}]: the fairness monitor alerts on fairness_value (lower_limit)",
                           "invalid_value", f"thresholds[{n}].metric_id")
        default = float(t["value"]) / PERCENT
        specifics = t.get("specific_values") or []
        if not isinstance(specifics, list):
            raise ApiError(400, f"thresholds[{n}].specific_values must be a list", "invalid_value",
                           f"thresholds[{n}].specific_values")
        for i, specific in enumerate(specifics):
            where = f"thresholds[{n}].specific_values[{i}]"
            applies = specific.get("applies_to") if isinstance(specific, dict) else None
            tags = [a.get("value") for a in applies if isinstance(a, dict) and a.get("key") == "feature"] \
                if isinstance(applies, list) else []
            if not tags or not all(isinstance(tag, str) for tag in tags) or not finite(specific.get("value")):
                raise ApiError(400, f"{where} needs applies_to a feature tag and a numeric value", "invalid_value",
                               where)
            for tag in tags:
                per_feature[tag] = float(specific["value"]) / PERCENT
    lab_features = []
    for n, spec in enumerate(features):
        where = f"parameters.features[{n}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("feature"), str):
            raise ApiError(400, f"{where} needs a feature name", "missing_field", f"{where}.feature")
        item = {"feature": spec["feature"], "monitored": _group(spec.get("minority"), f"{where}.minority"),
                "reference": _group(spec.get("majority"), f"{where}.majority")}
        threshold = per_feature.get(spec["feature"], spec.get("threshold"))
        if threshold is not None:
            if not finite(threshold):
                raise ApiError(400, f"{where}.threshold must be a number (a ratio, as 0.95)", "invalid_value",
                               f"{where}.threshold")
            item["threshold"] = float(threshold)
        lab_features.append(item)
    return {"features": lab_features, "favourable_classes": fav, "unfavourable_classes": unfav,
            "threshold": default, "min_records": _number(params, "min_records", 200, whole=True)}


def drift_settings(params: dict[str, Any], thresholds: Any) -> dict[str, Any]:
    if params.get("train_drift_model") is False:
        raise ApiError(400, "the lab trains the drift detection model from the model's training data when the "
                            "monitor is created; uploading a drift archive is not emulated: leave "
                            "train_drift_model true", "not_supported", "parameters.train_drift_model")
    lab_names = {"drift_magnitude": "threshold", "data_drift_magnitude": "data_drift_threshold",
                 "output_drift": "output_drift_threshold", "feature_drift": "feature_drift_threshold"}
    limits = _only(checked_thresholds(thresholds), dict.fromkeys(lab_names, "upper_limit"), "drift")
    settings: dict[str, Any] = {"min_records": _number(params, "min_samples", DRIFT_MIN_SAMPLES, whole=True),
                                "threshold": _number(params, "drift_threshold", DRIFT_THRESHOLD)}
    settings.update({lab_names[metric]: value for metric, value in limits.items()})
    return settings


def lab_settings(definition_id: str, params: Any, thresholds: Any) -> dict[str, Any]:
    """The keyword arguments of the lab monitor's `enable` for an SDK monitor instance. Quality, fairness and drift
    read the last `min_records` records when their window holds fewer (`reach_back`), as OpenScale's do."""
    if not isinstance(params, dict):
        raise ApiError(400, "parameters must be an object", "invalid_value", "parameters")
    if definition_id == "quality":
        return {**quality_settings(params, thresholds), "reach_back": True}
    if definition_id == "fairness":
        return {**fairness_settings(params, thresholds), "reach_back": True}
    if definition_id == "drift":
        return {**drift_settings(params, thresholds), "reach_back": True}
    _only(checked_thresholds(thresholds), {}, BUILT_IN[definition_id].name.lower())
    return {}


def measurement_values(monitor: str, metrics: dict[str, float], thresholds: list[dict[str, Any]]) -> \
        list[dict[str, Any]]:
    """A lab measurement's metrics as OpenScale's measurement values (fairness: one value per feature, tagged,
    in percent)."""
    limits = {(t["metric"], t["type"]): t["value"] for t in thresholds}

    def metric(metric_id: str, value: float, lab_name: str, scale: float = 1.0) -> dict[str, Any]:
        item: dict[str, Any] = {"id": metric_id, "value": value * scale}
        item.update({kind: limits[(lab_name, kind)] * scale for kind in ("lower_limit", "upper_limit")
                     if (lab_name, kind) in limits})
        return item

    usable = {k: v for k, v in metrics.items() if finite(v)}
    if monitor != "fairness":
        return [{"metrics": [metric(k, v, k) for k, v in usable.items()], "tags": []}]
    features = [t["metric"] for t in thresholds]
    values, used = [], set()
    for f in features:
        found = []
        for lab_name, metric_id, scale in ((f, "fairness_value", PERCENT),
                                           (f"{f}_balanced", "balanced_fairness_value", PERCENT),
                                           (f"{f}_debiased", "debiased_fairness_value", PERCENT),
                                           (f"{f}_biased_transactions", "biased_transactions", 1.0),
                                           (f"{f}_equal_opportunity_difference", "equal_opportunity_difference", 1.0),
                                           (f"{f}_equalized_odds_difference", "equalized_odds_difference", 1.0)):
            if lab_name in usable:
                found.append(metric(metric_id, usable[lab_name], lab_name, scale))
                used.add(lab_name)
        values.append({"metrics": found, "tags": [{"id": "feature", "value": f}]})
    rest = [metric(k, v, k) for k, v in usable.items() if k not in used]
    if rest:
        values.append({"metrics": rest, "tags": []})
    return values
