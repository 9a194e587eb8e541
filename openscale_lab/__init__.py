"""OpenScale Lab: an offline lab for learning AI model monitoring with a Spark credit-risk model.

The front door: `import openscale_lab as lab` gives everything a notebook uses (`dir(lab)` lists it).
Names are loaded on first use, so that a deployment's server process imports only what it serves.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> module (relative to the package) that defines it, in the lab's reading order
_EXPORTS: dict[str, str] = {
    # errors
    **dict.fromkeys(["LabError", "WorkspaceError", "ScoringInputError", "DeploymentError", "ModelMismatchError",
                     "UnsupportedModelError", "JavaNotFoundError", "DataMartError"], "errors"),
    # the tutorial's settings and data
    **dict.fromkeys(["sample_payload", "FEATURE_COLUMNS", "CATEGORICAL_COLUMNS", "NUMERIC_COLUMNS", "LABEL_COLUMN",
                     "FAVOURABLE_LABEL", "UNFAVOURABLE_LABEL",
                     "FAIRNESS_FEATURES", "FAIRNESS_THRESHOLD", "TUTORIAL_APPLICATION", "CREDIT_AMOUNT_FIELD",
                     "MODEL_NAME", "DEPLOYMENT_NAME"], "tutorial"),
    **dict.fromkeys(["data_path", "feed_sample", "load_training_data", "load_training_data_spark",
                     "load_scoring_feed", "load_feedback_data"], "data"),
    # workspace and provisioning
    "Workspace": "workspace",
    **dict.fromkeys(["provision", "open_workspace", "remove_earlier", "publish_model", "deploy_model",
                     "ensure_model", "ensure_deployment", "stop_lab"], "provisioning"),
    # models
    "get_spark": "models.spark", "java_version": "models.spark",
    **dict.fromkeys(["train_model", "build_pipeline", "split_training_data", "TrainingResult"], "models.training"),
    "ModelRepository": "models.repository", "StoredModel": "models.repository",
    "CompiledPipeline": "models.scorer",
    "plot_feature_importances": "models.plots", "plot_scored_probabilities": "models.plots",
    # data mart
    "DataMart": "datamart.database", "Subscription": "datamart.database",
    "payload_distribution": "datamart.analytics", "plot_distribution": "datamart.analytics",
    # deployments
    "MLEngine": "deployments.engine", "Deployment": "deployments.artifacts",
    **dict.fromkeys(["score", "reply_frame", "score_in_batches"], "deployments.client"),
    **dict.fromkeys(["bind_ml_engine", "list_assets", "subscribe"], "deployments.subscriptions"),
    # monitors
    **dict.fromkeys(["Monitoring", "Scheduler", "Monitor", "MONITORS", "Measurement", "Threshold", "CustomMonitors",
                     "BusinessApplications", "ExplanationService", "plot_lime", "plot_hourly"], "monitors"),
    "run_monitors": "monitors.report",
    # IBM's SDK against the lab: the OpenScale-compatible service
    **dict.fromkeys(["start_service", "stop_service", "service_status"], "service"),
    # continuous learning
    **dict.fromkeys(["LearningSystem", "LearningConfig", "LearningRun", "plot_quality_recovery"], "learning"),
    # history and Insights
    **dict.fromkeys(["HistoryReplay", "Scenario", "plot_history_traffic"], "history"),
    **dict.fromkeys(["InsightsDashboard", "InsightsData", "write_report", "dashboard_served"], "dashboard"),
    # classrooms: a lab per student on a shared server, and the class's view
    **dict.fromkeys(["Classroom", "ClassroomError", "class_progress", "class_table", "progress_chart"], "classroom"),
    # notebooks
    **dict.fromkeys(["record", "read_records", "run_notebook", "run_lab"], "notebook_runner"),
}

__all__ = [
    "BusinessApplications", "CATEGORICAL_COLUMNS", "CREDIT_AMOUNT_FIELD", "Classroom", "ClassroomError",
    "CompiledPipeline", "CustomMonitors", "DEPLOYMENT_NAME", "DataMart", "DataMartError", "Deployment",
    "DeploymentError", "ExplanationService", "FAIRNESS_FEATURES", "FAIRNESS_THRESHOLD", "FAVOURABLE_LABEL",
    "FEATURE_COLUMNS", "HistoryReplay", "InsightsDashboard", "InsightsData", "JavaNotFoundError", "LABEL_COLUMN",
    "LabError", "LearningConfig", "LearningRun", "LearningSystem", "MLEngine", "MODEL_NAME", "MONITORS",
    "Measurement", "ModelMismatchError", "ModelRepository", "Monitor", "Monitoring", "NUMERIC_COLUMNS", "Scenario",
    "Scheduler", "ScoringInputError", "StoredModel", "Subscription", "TUTORIAL_APPLICATION", "Threshold",
    "TrainingResult", "UNFAVOURABLE_LABEL", "UnsupportedModelError", "Workspace", "WorkspaceError",
    "bind_ml_engine", "build_pipeline", "class_progress", "class_table", "dashboard_served", "data_path",
    "deploy_model", "ensure_deployment", "ensure_model", "feed_sample", "get_spark", "java_version", "list_assets",
    "load_feedback_data", "load_scoring_feed", "load_training_data", "load_training_data_spark", "open_workspace",
    "payload_distribution", "plot_distribution", "plot_feature_importances", "plot_history_traffic", "plot_hourly",
    "plot_lime", "plot_quality_recovery", "plot_scored_probabilities", "progress_chart", "provision",
    "publish_model", "read_records", "record", "remove_earlier", "reply_frame", "run_lab", "run_monitors",
    "run_notebook", "sample_payload", "score", "score_in_batches", "service_status", "split_training_data",
    "start_service", "stop_lab", "stop_service", "subscribe", "train_model", "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "check":  # the exercises' self-checks: lab.check.exercise_02_1(answer)
        return import_module(".check", __name__)
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # loaded once
        return value
    raise AttributeError(f"module 'openscale_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__", "check"])
