"""OpenScale Lab: an offline lab for learning AI model monitoring with a Spark credit-risk model.

Public names are loaded on first use, so that a deployment's server process imports only what it needs.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "provision": "lab", "open_workspace": "lab", "remove_earlier": "lab", "publish_model": "lab",
    "deploy_model": "lab", "ensure_model": "lab", "ensure_deployment": "lab", "stop_lab": "lab",
    "Workspace": "workspace", "ModelRepository": "repository", "StoredModel": "repository",
    "MLEngine": "engine", "Deployment": "engine", "DataMart": "datamart", "Subscription": "datamart",
    "CompiledPipeline": "scorer", "get_spark": "spark", "train_model": "training",
    "score": "client", "reply_frame": "client", "score_in_batches": "client",
    "record": "records", "read_records": "records", "dashboard_served": "dashboard",
    "LabError": "errors", "ScoringInputError": "errors", "DeploymentError": "errors",
    "ModelMismatchError": "errors", "UnsupportedModelError": "errors", "JavaNotFoundError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'openscale_lab' has no attribute {name!r}")
