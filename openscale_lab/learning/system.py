"""The learning system of one deployment: evaluate the model on new feedback, retrain it with Spark on the
training data and that feedback, compare champion and challenger, redeploy in place or keep the champion.

An iteration follows Watson Machine Learning's continuous learning (see `settings`): too little feedback
and nothing runs; `retrain` says whether a challenger is trained, `redeploy` whether it replaces the
champion. Every challenger is stored in the model repository with its lineage (parent, feedback window and
counts, training data, comparison, decision); one that is refused is kept for the record and never served.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.clock import check_window, utcnow
from ..data import load_training_reference
from ..datamart.database import DataMart
from ..datamart.feedback import FeedbackLog, feedback_table
from ..deployments.artifacts import Deployment, load_verified_scorer
from ..deployments.engine import MLEngine
from ..errors import LabError, LearningError
from ..models.repository import ModelRepository, StoredModel
from ..models.scorer import CompiledPipeline
from ..models.training import build_pipeline
from ..monitors.monitoring import Monitoring
from ..tutorial import AUC_THRESHOLD
from ..workspace import Workspace
from .comparison import Comparison, score_feedback
from .settings import LearningConfig
from .window import FeedbackWindow

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

DEPLOYED = "deployed"
KEPT = "kept the champion"
NOT_DEPLOYED = "not deployed"
NOT_RETRAINED = "not retrained"
TOO_LITTLE = "not enough feedback"


@dataclass
class LearningRun:
    """What one iteration of the learning system found and did."""

    deployment: str
    config: LearningConfig
    decision: str
    reason: str
    champion_version: str
    serving_version: str
    window: FeedbackWindow | None = None
    champion_metric: float | None = None  # on the whole window's feedback: what `retrain="conditionally"` reads
    challenger: StoredModel | None = None
    comparison: Comparison | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def deployed(self) -> bool:
        return self.decision == DEPLOYED

    def summary(self) -> dict[str, Any]:
        """The iteration as JSON-ready values (what `openscale-lab retrain` prints)."""
        return {"deployment": self.deployment, "decision": self.decision, "reason": self.reason,
                "deployed": self.deployed, "champion_version": self.champion_version,
                "serving_version": self.serving_version,
                "challenger_version": self.challenger.version if self.challenger else None,
                "challenger_model_id": self.challenger.model_id if self.challenger else None,
                "feedback": self.window.summary() if self.window is not None else None,
                "champion_metric_on_window": self.champion_metric,
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "config": self.config.to_dict(), "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}

    def plot(self) -> Axes:
        """Champion and challenger side by side (a challenger must have been trained)."""
        if self.comparison is None:
            raise LearningError(f"no challenger was trained ({self.decision}: {self.reason})")
        return self.comparison.plot(self.config.threshold)


class LearningSystem:
    """`configure(...)` once, then `run()`; or the steps one by one as notebook 06 does them:
    `feedback_window`, `training_frame` and the Spark pipeline, `evaluate`, `decide`, `apply`."""

    def __init__(self, workspace: Workspace, deployment: Deployment | str, spark_master: str | None = None) -> None:
        self.workspace = workspace
        self.engine = MLEngine(workspace)
        self.repository = ModelRepository(workspace)
        self.deployment_id = self.engine.get(deployment if isinstance(deployment, str)
                                             else deployment.deployment_id).deployment_id
        self.spark_master = spark_master

    # -- configuration ------------------------------------------------------------------------
    @property
    def deployment(self) -> Deployment:
        return self.engine.get(self.deployment_id)

    def _state(self) -> dict[str, Any]:
        return dict(self.workspace.config.get("learning", {}).get(self.deployment_id, {}))

    def _save_state(self, **changes: Any) -> None:
        everything = dict(self.workspace.config.get("learning", {}))
        everything[self.deployment_id] = {**self._state(), **changes}
        self.workspace.update_config(learning=everything)

    def configure(self, **settings: Any) -> LearningConfig:
        """Check and store the learning configuration (see `LearningConfig` for the settings and defaults)."""
        try:
            config = LearningConfig(**settings)
        except TypeError as exc:
            known = ", ".join(LearningConfig.__dataclass_fields__)
            raise LearningError(f"{exc.args[0].split('() ')[-1]}; the settings are {known}") from None
        self._save_state(config=config.to_dict())
        return config

    @property
    def config(self) -> LearningConfig:
        stored = self._state().get("config")
        if stored is None:
            raise LearningError(f"the learning system of deployment {self.deployment.name!r} is not configured: "
                                "call configure(...) first (or pass the settings to `openscale-lab retrain`)")
        return LearningConfig.from_dict(stored)

    @property
    def is_configured(self) -> bool:
        return "config" in self._state()

    # -- the steps ----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The served model's labels, in its order: a challenger learns them in the same order."""
        return list(self.deployment.config["model"]["labels"])

    def champion(self) -> StoredModel:
        """The model the deployment serves, from the repository."""
        return self.repository.get(self.deployment.model_id)

    def feedback_window(self, since: datetime | None = None, until: datetime | None = None) -> FeedbackWindow:
        """The configured source's feedback that arrived in [since, until): `since` defaults to the end of the
        last window a challenger was trained on (each record is learnt from once, as WML's `_training` mark
        does), `until` to now."""
        config = self.config
        since, until = check_window(since, until, LearningError)
        if since is None:
            last = self._state().get("trained_until", {}).get(config.source)
            since = datetime.fromisoformat(last) if last else None
        until = until or utcnow()
        if since is not None and not since < until:
            raise LearningError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
        dep = self.deployment
        datamart = DataMart(self.workspace.datamart_url)
        try:
            sub = datamart.subscription_for_deployment(dep.deployment_id)
            if sub is None:
                raise LearningError(f"deployment {dep.name!r} has no subscription yet: start it once")
            labels = list(dep.config["model"]["labels"])
            feedback = FeedbackLog(datamart, sub, labels)
            feedback_table(sub).create(datamart.engine, checkfirst=True)
            return FeedbackWindow.read(feedback, since, until, config.source, config.record_source, labels,
                                       sub.label_column, config.holdout, config.seed)
        finally:
            datamart.close()

    def training_frame(self, spark: SparkSession, window: FeedbackWindow) -> DataFrame:
        """The champion's training data and the window's training part of the feedback, as one Spark frame with
        the numeric `label` the pipeline learns (indexed in the champion's label order, so index i is still
        label i)."""
        from pyspark.ml.feature import StringIndexerModel

        data = self._training_rows(window)
        meta = self.champion().metadata
        label = meta["label_column"]
        frame = spark.createDataFrame(data, schema=_spark_schema(meta))
        indexer = StringIndexerModel.from_labels(list(meta["labels"]), inputCol=label, outputCol="label")
        return indexer.transform(frame)

    def _training_rows(self, window: FeedbackWindow) -> pd.DataFrame:
        """The champion's training data (unless `training_data` is "feedback") followed by the window's
        training feedback."""
        meta = self.champion().metadata
        columns = [*meta["feature_columns"], meta["label_column"]]
        feedback = window.train[columns].rename(columns=str)
        if self.config.training_data == "feedback":
            return feedback.reset_index(drop=True)
        base = load_training_reference(meta["training_data_reference"])[columns]
        return pd.concat([base, feedback], ignore_index=True)

    def should_retrain(self, window: FeedbackWindow) -> tuple[bool, str, float]:
        """(retrain?, why, the champion's metric on the whole window's feedback) by the `retrain` setting:
        conditionally, when that metric is below `threshold` (WML: the model's quality below its threshold)."""
        config, dep = self.config, self.deployment
        window.check_both_labels(window.records, "the window's feedback")
        positive, _ = self._monitor_settings()
        champion = score_feedback("champion", dep.model_version, load_verified_scorer(dep.path, dep.config),
                                  window.records, dep.config["model"]["label_column"], positive, None)
        value = champion.metrics[config.metric]
        said = f"the champion's {config.metric} on the window's {len(window.records)} feedback records is {value:.4f}"
        if config.retrain == "never":
            return False, f"retrain is never ({said})", value
        if config.retrain == "always":
            return True, f"retrain is always ({said})", value
        below = value < config.threshold
        return below, f"{said}, {'below' if below else 'not below'} the threshold {config.threshold:g}", value

    def train(self, spark: SparkSession, window: FeedbackWindow) -> PipelineModel:
        """The challenger: notebook 01's pipeline fitted on `training_frame` (the configured training data)."""
        config = self.config
        if len(window.records) < config.min_feedback:
            raise LearningError(f"{len(window.records)} feedback records in the window, fewer than min_feedback = "
                                f"{config.min_feedback}: no challenger is trained")
        pipeline = build_pipeline(list(self.champion().metadata["labels"]), config.num_trees, config.max_depth,
                                  config.seed)
        return pipeline.fit(self.training_frame(spark, window))

    def evaluate(self, challenger: PipelineModel, window: FeedbackWindow) -> tuple[StoredModel, Comparison]:
        """Store the challenger in the repository (lineage: parent, feedback window, training data) and compare
        it with the champion on the window's held-out feedback."""
        window.check_both_labels(window.holdout, "the held-out feedback")
        champion, dep, config = self.champion(), self.deployment, self.config
        meta = champion.metadata
        columns = [*meta["feature_columns"], meta["label_column"]]
        base = self._training_rows(window)
        built_from = pd.concat([base, window.holdout[columns].rename(columns=str)], ignore_index=True)
        lineage = {"parent_model_id": champion.model_id, "parent_version": champion.version,
                   "deployment_id": dep.deployment_id, "feedback": window.summary(),
                   "feedback_records": len(window.records), "decision": "pending", "config": config.to_dict()}
        metadata = {k: meta[k] for k in ("name", "framework", "problem_type", "label_column", "labels",
                                         "feature_columns", "categorical_columns", "input_schema")}
        metadata.update(
            parent_model_id=champion.model_id, learning=lineage,
            training_data_references=[
                *([meta["training_data_reference"]] if config.training_data != "feedback" else []),
                {"type": "datamart_feedback", "source": window.source, "start": lineage["feedback"]["start"],
                 "end": lineage["feedback"]["end"], "records": len(window.train)}],
            training={"train_count": len(base), "test_count": len(window.holdout), "seed": config.seed,
                      "num_trees": config.num_trees, "max_depth": config.max_depth,
                      "holdout": config.holdout, "feedback_train_count": len(window.train)},
            # the held-out feedback rows of the training data file: the drift monitor's base accuracy
            evaluation_rows=list(range(len(base), len(built_from))))
        stored = self.repository.store(challenger, metadata, window.holdout[columns].rename(columns=str),
                                       training_data=built_from)
        comparison = self.compare(stored, window)
        auc = comparison.challenger.metrics["area_under_roc"]
        self.repository.update(stored.model_id, evaluation={
            "method": "binary", "data": "held-out feedback",
            "metrics": [{"name": "areaUnderROC", "value": auc, "threshold": AUC_THRESHOLD}]})
        return self.repository.mark(stored.model_id, comparison=comparison.to_dict()), comparison

    def compare(self, challenger: StoredModel, window: FeedbackWindow) -> Comparison:
        """Champion (the deployment's verified scorer) and challenger (compiled from Spark) on the held-out
        feedback, with the quality monitor's positive class and the fairness monitor's groups."""
        dep = self.deployment
        positive, fairness = self._monitor_settings()
        label = dep.config["model"]["label_column"]
        champion = load_verified_scorer(dep.path, dep.config)
        compiled = CompiledPipeline.from_spark_model(challenger.spark_path, challenger.input_schema)
        data = window.holdout
        return Comparison(
            score_feedback("champion", dep.model_version, champion, data, label, positive, fairness),
            score_feedback("challenger", challenger.version, compiled, data, label, positive, fairness),
            self.config.metric, len(data), positive)

    def decide(self, comparison: Comparison) -> tuple[str, str]:
        """(decision, reason) by the `redeploy` setting: conditionally, the challenger must beat the champion by
        `margin` on `metric` (WML: redeploy when the retrained model's quality is better)."""
        config = self.config
        m, gain = config.metric, comparison.gain
        old, new = comparison.champion.metrics[m], comparison.challenger.metrics[m]
        said = f"challenger {m} {new:.4f} vs champion {old:.4f} on {comparison.records} held-out feedback records"
        if config.redeploy == "never":
            return NOT_DEPLOYED, f"redeploy is never ({said})"
        if config.redeploy == "always":
            return DEPLOYED, f"redeploy is always ({said})"
        if gain >= config.margin:
            return DEPLOYED, f"{said}: better by {gain:.4f} (margin {config.margin:g})"
        return KEPT, (f"{said}: {'worse' if gain < 0 else 'not better'} by {abs(gain):.4f}, under the margin "
                      f"{config.margin:g}; the champion keeps serving")

    def apply(self, challenger: StoredModel, decision: str, reason: str, spark: SparkSession) -> Deployment:
        """Carry out a decision: deploy the challenger in place (then rebuild the drift model and data
        constraints for it), or record why it was kept out."""
        learning = challenger.metadata.get("learning") or {}
        if decision != DEPLOYED:
            self.repository.mark(challenger.model_id, decision=decision, reason=reason, refused=decision == KEPT)
            self._learnt_from(learning)
            return self.deployment
        try:
            dep = self.engine.redeploy(self.deployment, challenger, spark, note={
                "learning": True, "parent_version": learning.get("parent_version"),
                "feedback_records": learning.get("feedback_records"), "feedback": learning.get("feedback")})
        except LabError as exc:  # e.g. the compiled scorer disagrees with Spark: the champion keeps serving
            self.repository.mark(challenger.model_id, decision="redeploy failed", reason=f"{reason}; {exc}",
                                 refused=True)
            raise
        self.repository.mark(challenger.model_id, decision=DEPLOYED, reason=reason, approved=True,
                             deployed_at=utcnow().isoformat())
        self._learnt_from(learning)
        self.refresh_monitors()
        return dep

    def _learnt_from(self, learning: dict[str, Any]) -> None:
        """The challenger's feedback is learnt from, whatever was decided: the next window starts after it
        (WML marks such records `_training`)."""
        source, end = (learning.get("feedback") or {}).get("source"), (learning.get("feedback") or {}).get("end")
        if source and end:
            self._save_state(trained_until={**self._state().get("trained_until", {}), source: end})

    def refresh_monitors(self) -> list[str]:
        """Rebuild what the monitors learnt from the served model: the drift model and the data constraints
        (with the stored settings and schedule; a drift run would rebuild them by itself, this does it now).
        Explanations are made by the served scorer each time monitoring opens; quality, fairness and every
        other configuration carry over unchanged."""
        monitoring = Monitoring.for_deployment(self.workspace, self.deployment)
        try:
            if "drift" not in monitoring.enabled():
                return []
            monitoring.drift.rebuild()
            return ["drift model", "data constraints"]
        finally:
            monitoring.close()

    def rollback(self) -> Deployment:
        """Serve again the model that served before the current one (in place, as a redeploy), then rebuild the
        drift model and data constraints for it."""
        dep = self.engine.rollback(self.deployment, note={"learning": True})
        self.refresh_monitors()
        return dep

    # -- one iteration --------------------------------------------------------------------------
    def run(self, since: datetime | None = None, until: datetime | None = None,
            spark: SparkSession | None = None, progress: bool = True) -> LearningRun:
        """One iteration: read the window's feedback, evaluate the champion on it, maybe retrain, compare on
        the held-out feedback, maybe redeploy. Refusals say why, and leave the champion serving."""
        from ..core.progress import progress as tqdm

        config, dep = self.config, self.deployment
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        window = self.feedback_window(since, until)
        run = LearningRun(dep.name, config, TOO_LITTLE, "", dep.model_version, dep.model_version, window,
                          seconds=seconds)
        if len(window.records) < config.min_feedback:
            run.reason = (f"{len(window.records)} {config.source} feedback records arrived in the window, fewer "
                          f"than min_feedback = {config.min_feedback}; the champion keeps serving")
            return run
        retrain, why, run.champion_metric = self.should_retrain(window)
        if not retrain:
            run.decision, run.reason = NOT_RETRAINED, f"{why}; the champion keeps serving"
            return run
        steps = tqdm(total=3, desc="learning system", unit="step", disable=not progress)
        try:
            spark = spark or _spark(self.spark_master)
            seconds["read"] = time.perf_counter() - t0
            t = time.perf_counter()
            steps.set_postfix_str("training the challenger with Spark")
            challenger_model = self.train(spark, window)
            seconds["train"] = time.perf_counter() - t
            steps.update()
            t = time.perf_counter()
            steps.set_postfix_str("comparing on held-out feedback")
            run.challenger, run.comparison = self.evaluate(challenger_model, window)
            run.decision, run.reason = self.decide(run.comparison)
            seconds["compare"] = time.perf_counter() - t
            steps.update()
            t = time.perf_counter()
            steps.set_postfix_str("verifying and redeploying" if run.deployed else "recording the decision")
            dep = self.apply(run.challenger, run.decision, run.reason, spark)
            run.challenger = self.repository.get(run.challenger.model_id)
            seconds["redeploy" if run.deployed else "record"] = time.perf_counter() - t
            steps.update()
        finally:
            steps.close()
        run.serving_version = dep.model_version
        seconds["total"] = time.perf_counter() - t0
        return run

    def _monitor_settings(self) -> tuple[str, dict[str, Any] | None]:
        """The quality monitor's positive class (default: the model's class 1) and the fairness monitor's
        configuration (None when it is not enabled): the comparison measures what the monitors measure."""
        dep = self.deployment
        datamart = DataMart(self.workspace.datamart_url)
        try:
            sub = datamart.subscription_for_deployment(dep.deployment_id)
            quality = datamart.monitor_config(sub.subscription_id, "quality") if sub else None
            fairness = datamart.monitor_config(sub.subscription_id, "fairness") if sub else None
        finally:
            datamart.close()
        return (quality or {}).get("positive_label") or dep.config["model"]["labels"][1], fairness


def _spark(master: str | None) -> SparkSession:
    from ..models.spark import get_spark

    return get_spark(master)


def _spark_schema(meta: dict[str, Any]) -> Any:
    """The Spark schema of a model's input fields and its label (the lab's type names)."""
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "integer": T.LongType(), "double": T.DoubleType()}
    fields = [T.StructField(c["name"], kinds[c["type"]]) for c in meta["input_schema"]]
    return T.StructType([*fields, T.StructField(meta["label_column"], T.StringType())])
