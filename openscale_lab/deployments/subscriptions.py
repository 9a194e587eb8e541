"""Binding the lab's ML engine to the data mart and subscribing its deployments, as OpenScale does.

OpenScale's steps (the tutorial's `service_providers.add`, `list_assets`, `subscriptions.add` with an
`AssetPropertiesRequest`) become `bind_ml_engine`, `list_assets` and `subscribe`. A subscription tells the data
mart what a deployment's payload holds: the label column of the training data, the prediction field, the
probability fields, the feature fields and which of them are categorical. The lab's payload log is laid out by
the deployed model's own outputs, so `subscribe` checks each property against the deployment and names the one
that does not fit, where OpenScale would store it and fail later when a monitor reads the payload.
"""
from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

from ..datamart.database import DataMart, Subscription
from ..errors import LabError
from ..workspace import Workspace

BINDING_NAME = "Local ML engine"
ENGINE_TYPE = "openscale_lab_local"
PREDICTION_FIELD = "predictedLabel"  # the label the deployment predicts (OpenScale's prediction_field)
PROBABILITY_FIELDS = ["probability"]  # the class probabilities it returns


def bind_ml_engine(datamart: DataMart, workspace: Workspace, name: str = BINDING_NAME) -> str:
    """The id of the binding of the workspace's ML engine (its deployments folder), added if missing."""
    return datamart.ensure_binding(name, ENGINE_TYPE, str(workspace.deployments_dir))


def list_assets(workspace: Workspace) -> pd.DataFrame:
    """The deployments the bound ML engine serves, with what a subscription needs to know of each."""
    from .engine import MLEngine

    rows = []
    for dep in MLEngine(workspace).list():
        model = dep.config["model"]
        rows.append({"deployment_id": dep.deployment_id, "deployment_name": dep.name, "scoring_url": dep.scoring_url,
                     "model_id": model["model_id"], "model_name": model["name"], "model_version": model["version"],
                     "label_column": model["label_column"], "feature_fields": list(model["feature_columns"]),
                     "categorical_fields": list(model["categorical_columns"]),
                     "outputs": ["prediction", PREDICTION_FIELD, *PROBABILITY_FIELDS]})
    return pd.DataFrame(rows, columns=["deployment_id", "deployment_name", "scoring_url", "model_id", "model_name",
                                       "model_version", "label_column", "feature_fields", "categorical_fields",
                                       "outputs"])


def _new_subscription(deployment: dict[str, Any], binding_id: str) -> Subscription:
    model = deployment["model"]
    subscription_id = uuid.uuid4().hex[:12]
    return Subscription(
        subscription_id=subscription_id, binding_id=binding_id, deployment_id=deployment["deployment_id"],
        deployment_name=deployment["name"], scoring_url=deployment["scoring_url"], model_id=model["model_id"],
        model_name=model["name"], model_version=model["version"], input_schema=model["input_schema"],
        feature_columns=model["feature_columns"], categorical_columns=model["categorical_columns"],
        label_column=model["label_column"], payload_table=f"payload_{subscription_id}")


def ensure_subscription(datamart: DataMart, deployment: dict[str, Any], workspace: Workspace) -> Subscription:
    """The deployment's active subscription, created with the model's own asset properties if missing (a
    deployment server subscribes itself when it starts, so its payloads are logged from the first request)."""
    found = datamart.subscription_for_deployment(deployment["deployment_id"])
    if found is not None:
        # the deployment's folder is the truth: a moved port, or a model switched while this server was down
        now = {"scoring_url": deployment["scoring_url"], "model_id": deployment["model"]["model_id"],
               "model_version": deployment["model"]["version"]}
        changed = {k: v for k, v in now.items() if getattr(found, k) != v}
        if changed:
            datamart.update_subscription(found.subscription_id, **changed)
            for key, value in changed.items():
                setattr(found, key, value)
        return found
    return datamart.add_subscription(_new_subscription(deployment, bind_ml_engine(datamart, workspace)))


def _check_property(name: str, given: Any, expected: Any, where: str, as_set: bool = False) -> None:
    if as_set and not (isinstance(given, (list, tuple)) and all(isinstance(v, str) for v in given)):
        raise LabError(f"subscription asset property {name} must be a list of field names (texts), got "
                       f"{given!r}"[:300])
    same = set(given) == set(expected) if as_set else given == expected
    if not same:
        extra = sorted(set(given) - set(expected)) if as_set else None
        missing = sorted(set(expected) - set(given)) if as_set else None
        detail = (f"not in it: {extra}; missing: {missing}" if as_set else f"it is {expected!r}")
        raise LabError(f"subscription asset property {name}={given!r} does not fit the deployment: {where} "
                       f"({detail})")


def subscribe(datamart: DataMart, workspace: Workspace, deployment: Any, *, binding_id: str, label_column: str,
              prediction_field: str, probability_fields: list[str], feature_fields: list[str],
              categorical_fields: list[str], rebind: bool = False) -> Subscription:
    """Subscribe `deployment` (a Deployment or its id) with OpenScale's asset properties; idempotent.

    Each property is checked against the deployed model: the label column of its training data, the prediction
    and probability fields it returns, its feature fields and, of those, the categorical ones. A property that
    does not fit is named in a LabError. Subscribing a deployment that is subscribed already returns its
    subscription (a deployment server subscribes itself when it starts); one subscribed through another binding
    is refused, or with `rebind` moved to `binding_id` (as a second OpenScale provider of the same engine takes
    over its deployment).
    """
    from .engine import MLEngine

    dep = MLEngine(workspace).get(deployment if isinstance(deployment, str) else deployment.deployment_id)
    model = dep.config["model"]
    binding_ids = set(datamart.list_bindings()["binding_id"])
    if binding_id not in binding_ids:
        raise LabError(f"no binding {binding_id!r} in the data mart: bind the ML engine first (bind_ml_engine)")
    _check_property("label_column", label_column, model["label_column"], "the label column of its training data")
    _check_property("prediction_field", prediction_field, PREDICTION_FIELD, "the predicted label it returns")
    _check_property("probability_fields", list(probability_fields), PROBABILITY_FIELDS,
                    "the probability field it returns")
    _check_property("feature_fields", list(feature_fields), model["feature_columns"], "the model's input fields",
                    as_set=True)
    _check_property("categorical_fields", list(categorical_fields), model["categorical_columns"],
                    "the model's string-valued input fields", as_set=True)
    found = datamart.subscription_for_deployment(dep.deployment_id)
    if found is not None and found.binding_id != binding_id:
        if not rebind:
            raise LabError(f"deployment {dep.name!r} is subscribed already, through binding {found.binding_id!r}, "
                           f"not {binding_id!r}")
        datamart.update_subscription(found.subscription_id, binding_id=binding_id)
        found.binding_id = binding_id
    if found is not None:
        return found
    return datamart.add_subscription(_new_subscription(dep.config, binding_id))
