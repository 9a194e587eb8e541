"""Data marts, service providers (the lab's ML engine) and subscriptions, as OpenScale V2 serves them."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response

from ..datamart.database import Subscription, redact
from ..datamart.tables import bindings, subscriptions
from ..deployments.subscriptions import (
    ENGINE_TYPE,
    PREDICTION_FIELD,
    PROBABILITY_FIELDS,
    bind_ml_engine,
    subscribe,
)
from .bodies import object_body
from .context import ServiceContext, context
from .resources import ApiError, optional, page, parse_time, require, resource

router = APIRouter()
CUSTOM_ENGINE = "custom_machine_learning"  # OpenScale's service type for an engine it reaches over REST
ACTIVE = {"state": "active"}


# -- data marts ---------------------------------------------------------------------------------
def data_mart(ctx: ServiceContext) -> dict[str, Any]:
    """The workspace's one data mart; its id is the service instance id, as OpenScale's is."""
    noted = ctx.notes().get("data_mart", {}).get("settings", {})
    url = ctx.workspace.datamart_url
    entity: dict[str, Any] = {"name": noted.get("name", "OpenScale Lab data mart"),
                              "description": noted.get("description", ""),
                              "service_instance_crn": f"crn:v1:openscale-lab:local:::{ctx.instance_id}",
                              "internal_database": url.startswith("sqlite"), "status": ACTIVE}
    if not url.startswith("sqlite"):
        entity["database_configuration"] = {"database_type": "postgresql", "name": redact(url),
                                            "location": {"schema_name": "public"}}
    return resource(ctx.instance_id, ctx.url(f"data_marts/{ctx.instance_id}"), entity,
                    parse_time(noted.get("created_at"), "created_at"))


@router.get("/data_marts")
def list_data_marts(ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    return {"data_marts": [data_mart(ctx)]}


@router.post("/data_marts", status_code=201)
def add_data_mart(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> \
        dict[str, Any]:
    """Name the lab's data mart (it is the workspace's, made when the workspace was provisioned)."""
    name = optional(body, "name", str, "OpenScale Lab data mart")
    description = optional(body, "description", str, "")
    if body.get("database_configuration") and not body.get("internal_database"):
        raise ApiError(400, "the lab's data mart is the database the workspace was provisioned with "
                            f"({redact(ctx.workspace.datamart_url)}); choose another with "
                            "lab.provision(workspace, DATAMART_URL), not here", "invalid_value",
                       "database_configuration")
    before = ctx.notes().get("data_mart", {}).get("settings", {})
    ctx.note("data_mart", "settings", dict(before, name=name, description=description))
    return data_mart(ctx)


@router.get("/data_marts/{data_mart_id}")
def get_data_mart(data_mart_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    ctx.check_data_mart(data_mart_id)
    return data_mart(ctx)


# -- service providers: bindings of the lab's ML engine -----------------------------------------------
def provider(ctx: ServiceContext, row: dict[str, Any]) -> dict[str, Any]:
    noted = ctx.notes().get("service_providers", {}).get(row["binding_id"], {})
    entity = {"name": row["name"], "service_type": CUSTOM_ENGINE, "description": noted.get("description", ""),
              "credentials": {"secret_id": f"{row['binding_id']}-credentials"}, "status": ACTIVE,
              **{k: noted[k] for k in ("operational_space_id", "deployment_space_id") if k in noted}}
    return resource(row["binding_id"], ctx.url(f"service_providers/{row['binding_id']}"), entity,
                    row["created_at"])


def _bindings(ctx: ServiceContext) -> list[dict[str, Any]]:
    return ctx.datamart.list_bindings().to_dict("records")  # type: ignore[no-any-return]


def _binding(ctx: ServiceContext, binding_id: str, field: str = "service_provider_id") -> dict[str, Any]:
    for row in _bindings(ctx):
        if row["binding_id"] == binding_id:
            return row
    raise ApiError(404, f"no service provider {binding_id!r}", "not_found", field)


@router.get("/service_providers")
def list_providers(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    rows = [provider(ctx, r) for r in _bindings(ctx)]
    service_type = request.query_params.get("service_type")
    if service_type:
        rows = [r for r in rows if r["entity"]["service_type"] == service_type]
    return {"service_providers": rows}


@router.post("/service_providers", status_code=201)
def add_provider(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> \
        dict[str, Any]:
    """A binding of the lab's ML engine, under the name given (the one of that name if it exists)."""
    name = require(body, "name", str)
    if not name.strip() or len(name) > 200:
        raise ApiError(400, "name must be a non-blank text of at most 200 characters", "invalid_value", "name")
    service_type = require(body, "service_type", str)
    if service_type != CUSTOM_ENGINE:
        raise ApiError(400, f"service_type {service_type!r} is not emulated: the lab's ML engine (its local scoring "
                            f"servers) is a {CUSTOM_ENGINE!r} engine", "invalid_value", "service_type")
    binding_id = ctx.datamart.ensure_binding(name, ENGINE_TYPE, str(ctx.workspace.deployments_dir))
    notes = {k: body[k] for k in ("description", "operational_space_id", "deployment_space_id")
             if isinstance(body.get(k), str)}
    ctx.note("service_providers", binding_id, notes)
    return provider(ctx, _binding(ctx, binding_id))


@router.get("/service_providers/{provider_id}")
def get_provider(provider_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    return provider(ctx, _binding(ctx, provider_id))


@router.delete("/service_providers/{provider_id}", status_code=202)
def delete_provider(provider_id: str, ctx: ServiceContext = Depends(context)) -> Response:
    """Remove a service provider. A deployment is never left without its subscription: subscriptions bound to
    the provider go back to the lab's own binding of its ML engine (which cannot be removed while in use)."""
    _binding(ctx, provider_id)
    default_id = bind_ml_engine(ctx.datamart, ctx.workspace)
    with ctx.datamart.engine.begin() as conn:
        used = conn.execute(sa.select(subscriptions.c.subscription_id).where(
            subscriptions.c.binding_id == provider_id)).scalars().all()
        if used and provider_id == default_id:
            raise ApiError(400, f"service provider {provider_id} is the lab's own binding of its ML engine, used by "
                                f"subscription(s) {', '.join(used)}", "in_use", "service_provider_id")
        conn.execute(subscriptions.update().where(subscriptions.c.binding_id == provider_id)
                     .values(binding_id=default_id))
        conn.execute(bindings.delete().where(bindings.c.binding_id == provider_id))
    ctx.note("service_providers", provider_id, None)
    return Response(status_code=202)


# -- subscriptions ------------------------------------------------------------------------------
def subscription_resource(ctx: ServiceContext, sub: Subscription) -> dict[str, Any]:
    schema = {"type": "struct", "fields": [
        {"name": c["name"], "type": c["type"], "nullable": True,
         "metadata": {"modeling_role": "feature", **({"measure": "discrete"}
                                                     if c["name"] in sub.categorical_columns else {})}}
        for c in sub.input_schema]}
    entity = {
        "data_mart_id": ctx.instance_id, "service_provider_id": sub.binding_id,
        "asset": {"asset_id": sub.model_id, "name": sub.model_name, "asset_type": "model",
                  "url": f"lab://models/{sub.model_id}", "problem_type": sub.problem_type,
                  "input_data_type": sub.input_data_type},
        "asset_properties": {"label_column": sub.label_column, "prediction_field": sub.predicted_label_column,
                             "probability_fields": [sub.probability_column], "feature_fields": sub.feature_columns,
                             "categorical_fields": sub.categorical_columns, "input_data_schema": schema,
                             "model_type": "spark-ml", "runtime_environment": "openscale-lab"},
        "deployment": {"deployment_id": sub.deployment_id, "name": sub.deployment_name, "deployment_type": "online",
                       "url": sub.scoring_url, "scoring_endpoint": {"url": sub.scoring_url}},
        "status": ACTIVE}
    return resource(sub.subscription_id, ctx.url(f"subscriptions/{sub.subscription_id}"), entity, sub.created_at)


@router.get("/subscriptions")
def list_subscriptions(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    subs = ctx.datamart.active_subscriptions()
    q = request.query_params
    if q.get("service_provider_id"):
        subs = [s for s in subs if s.binding_id == q["service_provider_id"]]
    if q.get("asset.asset_id"):
        subs = [s for s in subs if s.model_id == q["asset.asset_id"]]
    if q.get("deployment.deployment_id"):
        subs = [s for s in subs if s.deployment_id == q["deployment.deployment_id"]]
    return page([subscription_resource(ctx, s) for s in subs], "subscriptions", q.get("limit"), q.get("offset"))


@router.post("/subscriptions", status_code=201)
def add_subscription(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> \
        dict[str, Any]:
    """Subscribe one of the lab's deployments. The lab watches a deployment through one subscription, which its
    server makes when it starts (so no payload is missed): this checks the asset properties against it and binds
    it to the service provider named, as OpenScale's subscriptions.add would make it."""
    from ..deployments.engine import MLEngine

    ctx.check_data_mart(body.get("data_mart_id"))
    provider_id = require(body, "service_provider_id", str)
    _binding(ctx, provider_id)
    deployment = require(body, "deployment", dict)
    deployment_id = require(deployment, "deployment_id", str, "deployment.")
    engine = MLEngine(ctx.workspace)
    known = {d.deployment_id: d for d in engine.list()}
    if deployment_id not in known:
        raise ApiError(400, f"no deployment {deployment_id!r} in the lab's ML engine; its deployments: "
                            f"{', '.join(f'{d.deployment_id} ({d.name})' for d in known.values()) or 'none'}",
                       "invalid_value", "deployment.deployment_id")
    model = known[deployment_id].config["model"]
    asset = optional(body, "asset", dict, {})
    if asset.get("asset_id") not in (None, model["model_id"]):
        raise ApiError(400, f"asset.asset_id {asset['asset_id']!r} is not the model deployment {deployment_id} "
                            f"serves ({model['model_id']})", "invalid_value", "asset.asset_id")
    props = require(body, "asset_properties", dict)
    label = optional(props, "label_column", str, model["label_column"], "asset_properties.")
    prediction = optional(props, "prediction_field", str, PREDICTION_FIELD, "asset_properties.")
    probability = optional(props, "probability_fields", list, PROBABILITY_FIELDS, "asset_properties.")
    features = optional(props, "feature_fields", list, model["feature_columns"], "asset_properties.")
    categorical = optional(props, "categorical_fields", list, model["categorical_columns"], "asset_properties.")
    sub = subscribe(ctx.datamart, ctx.workspace, deployment_id, binding_id=provider_id, label_column=label,
                    prediction_field=prediction, probability_fields=probability, feature_fields=features,
                    categorical_fields=categorical, rebind=True)
    return subscription_resource(ctx, sub)


@router.get("/subscriptions/{subscription_id}")
def get_subscription(subscription_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    return subscription_resource(ctx, ctx.subscription(subscription_id))


@router.delete("/subscriptions/{subscription_id}")
def delete_subscription(subscription_id: str, ctx: ServiceContext = Depends(context)) -> Response:
    sub = ctx.subscription(subscription_id)
    raise ApiError(400, f"the lab keeps subscription {subscription_id} while deployment {sub.deployment_id} exists "
                        "(its server logs every payload through it); delete the deployment with "
                        "lab.MLEngine(ws).delete(deployment_id) and its subscription goes with it", "not_supported",
                   "subscription_id")
