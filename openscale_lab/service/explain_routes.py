"""Explanation tasks: LIME and contrastive explanations of logged transactions, by the lab's ExplanationService.

OpenScale computes a task in the background and the SDK reads it back with `get_explanation_tasks`; the lab
computes it before it answers, so a task read back is `finished` (or `error`, with the reason).
"""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from ..datamart.database import Subscription
from ..errors import LabError
from .bodies import object_body
from .context import ServiceContext, context
from .resources import ApiError, iso, optional, page, require

router = APIRouter()
TYPES = ("lime", "contrastive")


def _has(ctx: ServiceContext, sub: Subscription, scoring_id: str) -> bool:
    table = ctx.datamart.payload_table(sub)
    with ctx.datamart.engine.connect() as conn:
        return conn.execute(sa.select(table.c.scoring_id).where(table.c.scoring_id == scoring_id)).first() is not None


def _subscription_of(ctx: ServiceContext, scoring_id: str, subscription_id: str | None) -> Subscription:
    """The subscription whose payload log holds the transaction (the one named, or any)."""
    subs = [ctx.subscription(subscription_id)] if subscription_id else ctx.datamart.active_subscriptions()
    for sub in subs:
        if _has(ctx, sub, scoring_id):
            return sub
    where = f"subscription {subscription_id}'s payload log" if subscription_id else "any subscription's payload log"
    raise ApiError(404, f"no transaction {scoring_id!r} in {where}: take a scoring_id from the payload data set (or "
                        "a scoring reply's transaction_id)", "not_found", "scoring_ids")


def _lime(result: dict[str, Any]) -> dict[str, Any]:
    return {"explanation_type": "lime", "predictions": [{
        "value": result["predicted_class"], "probability": result["confidence"],
        "explanation_features": [{"feature_name": f["feature"], "feature_value": f["value"], "weight": f["weight"],
                                  "condition": f["condition"]} for f in result["features"]]}],
        "intercept": result["intercept"], "local_prediction": result["local_prediction"],
        "num_samples": result["num_samples"]}


def _contrastive(result: dict[str, Any]) -> dict[str, Any]:
    negative, positive = result["pertinent_negative"], result["pertinent_positive"]
    return {"explanation_type": "contrastive",
            "predictions": [{"value": result["predicted_class"], "probability": result["confidence"]}],
            "pertinent_negative": negative, "pertinent_positive": positive,
            "pertinent_negative_features": [{"feature_name": c["feature"], "feature_value": c["from"],
                                             "pertinent_value": c["to"]} for c in negative.get("changes", [])],
            "pertinent_positive_features": [{"feature_name": f["feature"], "feature_value": f["value"]}
                                            for f in positive.get("features", [])]}


def _explained(ctx: ServiceContext, sub: Subscription, scoring_id: str, types: list[str]) -> dict[str, Any]:
    """The transaction's input features and its explanations of `types`, as the lab's ExplanationService stored
    them (the data mart's explanations table; LIME is seeded, so a task read again reads the same numbers)."""
    service = ctx.monitoring(sub).explanations
    features = [{"name": c, "value": v, "feature_type": "categorical" if c in sub.categorical_columns else "numerical"}
                for c, v in service.attributes(scoring_id).items()]
    stored = service.stored(scoring_id)
    convert = {"lime": _lime, "contrastive": _contrastive}
    return {"input_features": features, "explanations": [convert[t](stored[t]) for t in types if t in stored]}


def _compute(ctx: ServiceContext, sub: Subscription, scoring_id: str, types: list[str]) -> None:
    service = ctx.monitoring(sub).explanations
    if "lime" in types:
        service.lime(scoring_id)
    if "contrastive" in types:
        service.contrastive(scoring_id)


@router.post("/explanation_tasks", status_code=202)
def add_tasks(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    """One task per transaction, computed before the reply."""
    scoring_ids = require(body, "scoring_ids", list)
    if not scoring_ids or not all(isinstance(s, str) and s for s in scoring_ids):
        raise ApiError(400, "scoring_ids must be a non-empty list of transaction ids", "invalid_value", "scoring_ids")
    if body.get("input_rows"):
        raise ApiError(400, "explaining input_rows that were never scored is not emulated: explain logged "
                            "transactions by scoring_ids", "not_supported", "input_rows")
    types = optional(body, "explanation_types", list, list(TYPES))
    unknown = [t for t in types if t not in TYPES]
    if unknown or not types:
        raise ApiError(400, f"explanation_types must be among {', '.join(TYPES)}, got {types!r}", "invalid_value",
                       "explanation_types")
    subscription_id = optional(body, "subscription_id", str)
    subs = [_subscription_of(ctx, s, subscription_id) for s in scoring_ids]
    ids = []
    for scoring_id, sub in zip(scoring_ids, subs, strict=True):
        task_id = uuid.uuid4().hex
        created = iso(ctx.now())
        try:
            _compute(ctx, sub, scoring_id, types)
            task: dict[str, Any] = {"state": "finished"}
        except LabError as exc:
            task = {"state": "error", "errors": [{"code": "not_explained", "message": str(exc)}]}
        ctx.note("explanation_tasks", task_id, {"scoring_id": scoring_id, "subscription_id": sub.subscription_id,
                                                "types": types, "created_at": created, **task})
        ids.append(task_id)
    return {"metadata": {"explanation_task_ids": ids, "created_by": "openscale-lab", "created_at": iso(ctx.now())}}


def task_resource(ctx: ServiceContext, task_id: str, task: dict[str, Any]) -> dict[str, Any]:
    sub = ctx.subscription(task["subscription_id"], "explanation_task_id")
    entity: dict[str, Any] = {
        "status": {"state": task["state"]}, "scoring_id": task["scoring_id"], "perturbed": False,
        "asset": {"id": sub.model_id, "name": sub.model_name, "type": "model", "problem_type": sub.problem_type,
                  "input_data_type": sub.input_data_type, "deployment": {"id": sub.deployment_id,
                                                                         "name": sub.deployment_name}},
        "input_features": [], "explanations": []}
    if task["state"] == "finished":
        entity.update(_explained(ctx, sub, task["scoring_id"], task["types"]))
    if task.get("errors"):
        entity["errors"] = task["errors"]
    return {"metadata": {"explanation_task_id": task_id, "created_by": "openscale-lab",
                         "created_at": task["created_at"], "updated_at": task["created_at"]}, "entity": entity}


@router.get("/explanation_tasks/{task_id}")
def get_task(task_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    task = ctx.notes().get("explanation_tasks", {}).get(task_id)
    if task is None:
        raise ApiError(404, f"no explanation task {task_id!r}", "not_found", "explanation_task_id")
    return task_resource(ctx, task_id, task)


@router.get("/explanation_tasks")
def list_tasks(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    """Explanation tasks as OpenScale lists them: a table of `explanation_fields` and `explanation_values`."""
    q = request.query_params
    rows = [[i, t["scoring_id"], t["subscription_id"], t["state"], ",".join(t["types"]), t["created_at"]]
            for i, t in ctx.notes().get("explanation_tasks", {}).items()
            if (not q.get("scoring_id") or t["scoring_id"] == q["scoring_id"])
            and (not q.get("subscription_id") or t["subscription_id"] == q["subscription_id"])
            and (not q.get("status") or t["state"] == q["status"])]
    found = page(rows, "explanation_values", q.get("limit"), q.get("offset"))
    return {**found, "explanation_fields": ["explanation_task_id", "scoring_id", "subscription_id", "status",
                                            "explanation_types", "created_at"]}
