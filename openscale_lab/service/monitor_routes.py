"""Monitor definitions, monitor instances, their runs and their measurements, mapped onto the lab's monitors.

A monitor instance is a lab monitor enabled for a subscription; its id is `{subscription_id}-{definition_id}`.
A run is one evaluation by the lab's monitor, and its id is the id of the measurement it stored (a run whose
window held too few records ends in `error`, with the monitor's reason). Custom monitors' measurements are added
by their owners, as in OpenScale.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ..datamart.database import Subscription
from ..monitors.base import Monitor
from ..monitors.custom import CustomMonitor, CustomMonitorDefinition, CustomMonitors
from ..monitors.results import Threshold
from .bodies import no_body, object_body, records_body
from .context import ServiceContext, context
from .definitions import BUILT_IN, checked_thresholds, lab_settings, measurement_values
from .resources import ApiError, finite, iso, optional, page, parse_time, require, resource

router = APIRouter()


# -- definitions --------------------------------------------------------------------------------
def _custom(ctx: ServiceContext) -> dict[str, CustomMonitorDefinition]:
    return {d.definition_id: d for d in CustomMonitors(ctx.datamart).definitions()}


def _custom_entity(d: CustomMonitorDefinition) -> dict[str, Any]:
    metrics = []
    for m in d.metrics:
        limits = [{"type": k, "default": m[k]} for k in ("lower_limit", "upper_limit") if m.get(k) is not None]
        metrics.append({"id": m["name"], "name": m["name"], **({"thresholds": limits} if limits else {})})
    return {"name": d.name, "metrics": metrics,
            "tags": [{"id": t["name"], "name": t["name"], "description": t.get("description", "")} for t in d.tags],
            "applies_to": {"input_data_type": ["structured"], "problem_type": ["binary"]}, "managed_by": "user"}


def definition_resources(ctx: ServiceContext) -> list[dict[str, Any]]:
    found = [resource(d.definition_id, ctx.url(f"monitor_definitions/{d.definition_id}"), d.resource_entity(), None)
             for d in BUILT_IN.values()]
    return found + [resource(i, ctx.url(f"monitor_definitions/{i}"), _custom_entity(d), None)
                    for i, d in _custom(ctx).items()]


@router.get("/monitor_definitions")
def list_definitions(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    found = definition_resources(ctx)
    name = request.query_params.get("name")
    if name:
        found = [d for d in found if d["entity"]["name"] == name]
    return {"monitor_definitions": found}


@router.get("/monitor_definitions/{definition_id}")
def get_definition(definition_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    for d in definition_resources(ctx):
        if d["metadata"]["id"] == definition_id:
            return d
    raise ApiError(404, f"no monitor definition {definition_id!r}", "not_found", "monitor_definition_id")


@router.post("/monitor_definitions", status_code=201)
def add_definition(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> \
        dict[str, Any]:
    """A custom monitor definition (the SDK's `monitor_definitions.add` with `MonitorMetricRequest`s)."""
    name = require(body, "name", str)
    metrics = []
    for n, m in enumerate(require(body, "metrics", list)):
        metric_name = require(m, "name", str, f"metrics[{n}].")
        spec: dict[str, Any] = {"name": metric_name}
        for t, limit in enumerate(optional(m, "thresholds", list, [], f"metrics[{n}].")):
            kind, value = limit.get("type") if isinstance(limit, dict) else None, \
                limit.get("default") if isinstance(limit, dict) else None
            if kind not in ("lower_limit", "upper_limit") or not finite(value):
                raise ApiError(400, f"metrics[{n}].thresholds[{t}] needs type lower_limit or upper_limit and a "
                                    "numeric default", "invalid_value", f"metrics[{n}].thresholds[{t}]")
            spec[kind] = float(value)
        metrics.append(spec)
    tags = [{"name": require(t, "name", str, f"tags[{n}]."), "description": str(t.get("description") or "")}
            for n, t in enumerate(optional(body, "tags", list, []))]
    definition = CustomMonitors(ctx.datamart).register(name, metrics=metrics, tags=tags)
    return resource(definition.definition_id, ctx.url(f"monitor_definitions/{definition.definition_id}"),
                    _custom_entity(definition), None)


# -- instances ----------------------------------------------------------------------------------
class Instance:
    """A monitor instance: a subscription and a definition, with the lab monitor behind it."""

    def __init__(self, ctx: ServiceContext, sub: Subscription, definition_id: str,
                 customs: dict[str, CustomMonitorDefinition] | None = None) -> None:
        self.ctx, self.sub, self.definition_id = ctx, sub, definition_id
        self.instance_id = f"{sub.subscription_id}-{definition_id}"
        built_in = BUILT_IN.get(definition_id)
        self.custom = None if built_in else (_custom(ctx) if customs is None else customs).get(definition_id)
        if built_in is None and self.custom is None:
            raise ApiError(404, f"no monitor definition {definition_id!r}", "not_found", "monitor_definition_id")
        self.lab_name = built_in.lab_monitor if built_in else self.custom.name  # type: ignore[union-attr]

    @property
    def monitor(self) -> Monitor[Any, Any]:
        if self.custom is not None:
            return CustomMonitors(self.ctx.datamart).monitor(self.sub, self.custom.name)
        if self.lab_name is None:
            raise ApiError(400, f"{self.definition_id} has no runs or measurements in the lab: ask for explanations "
                                "with explanation_tasks", "not_supported", "monitor_instance_id")
        return self.ctx.monitoring(self.sub).monitor(self.lab_name)

    @cached_property
    def noted(self) -> dict[str, Any] | None:
        """What the instance was created with through the service (read once per request)."""
        return self.ctx.notes().get("monitor_instances", {}).get(self.instance_id)  # type: ignore[no-any-return]

    def enabled(self) -> bool:
        if self.lab_name is None:
            return self.noted is not None
        enabled = bool(self.monitor.enabled)
        if self.definition_id == "model_health":  # the same lab monitor as performance: shown when asked for
            return enabled and self.noted is not None
        return enabled

    def entity(self) -> dict[str, Any]:
        noted = self.noted or {}
        config: dict[str, Any] = {}
        thresholds: list[dict[str, Any]] = []
        if self.lab_name is not None:
            monitor = self.monitor
            lab_config = monitor.config()
            config = lab_config.to_dict()
            thresholds = [{"metric_id": t.metric, "type": t.type, "value": t.value}
                          for t in monitor.thresholds(lab_config)]
        return {"data_mart_id": self.ctx.instance_id, "monitor_definition_id": self.definition_id,
                "target": {"target_type": "subscription", "target_id": self.sub.subscription_id},
                "parameters": noted.get("parameters", config), "thresholds": noted.get("thresholds", thresholds),
                "lab_configuration": config, "status": {"state": "active"}}

    def resource(self) -> dict[str, Any]:
        return resource(self.instance_id, self.ctx.url(f"monitor_instances/{self.instance_id}"), self.entity(),
                        parse_time((self.noted or {}).get("created_at"), "created_at"))


def instance(ctx: ServiceContext, instance_id: str) -> Instance:
    """The enabled monitor instance `instance_id` (404 otherwise)."""
    subscription_id, _, definition_id = instance_id.partition("-")
    found = Instance(ctx, ctx.subscription(subscription_id, "monitor_instance_id"), definition_id)
    if not found.enabled():
        raise ApiError(404, f"no monitor instance {instance_id!r}: {definition_id} is not enabled for "
                            f"subscription {subscription_id}", "not_found", "monitor_instance_id")
    return found


def _instances_of(ctx: ServiceContext, sub: Subscription) -> list[Instance]:
    customs = _custom(ctx)
    return [i for i in (Instance(ctx, sub, d, customs) for d in [*BUILT_IN, *customs]) if i.enabled()]


@router.get("/monitor_instances")
def list_instances(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    q = request.query_params
    subs = [s for s in ctx.datamart.active_subscriptions()
            if not q.get("target.target_id") or s.subscription_id == q["target.target_id"]]
    found = [i.resource() for s in subs for i in _instances_of(ctx, s)
             if not q.get("monitor_definition_id") or i.definition_id == q["monitor_definition_id"]]
    return page(found, "monitor_instances", q.get("limit"), q.get("offset"))


@router.post("/monitor_instances", status_code=201)
def add_instance(body: dict[str, Any] = Depends(object_body), ctx: ServiceContext = Depends(context)) -> \
        dict[str, Any]:
    """Enable a monitor for a subscription with the SDK's parameters and thresholds (the lab's own settings)."""
    ctx.check_data_mart(body.get("data_mart_id"))
    definition_id = require(body, "monitor_definition_id", str)
    target = require(body, "target", dict)
    if target.get("target_type") != "subscription":
        raise ApiError(400, "target.target_type must be subscription: the lab's monitors watch subscriptions",
                       "invalid_value", "target.target_type")
    sub = ctx.subscription(require(target, "target_id", str, "target."), "target.target_id")
    found = Instance(ctx, sub, definition_id)
    params, thresholds = body.get("parameters") or {}, body.get("thresholds")
    if found.custom is not None:
        limits: dict[str, dict[str, float]] = {}
        for t in checked_thresholds(thresholds):
            limits.setdefault(t["metric_id"], {})[t["type"]] = float(t["value"])
        found.monitor.enable(thresholds=limits)
    elif found.lab_name is not None:
        settings = lab_settings(definition_id, params, thresholds)
        monitor = found.monitor
        if settings or not monitor.enabled:  # SDK's own default instances leave a configured monitor alone
            monitor.enable(**settings)
    else:
        lab_settings(definition_id, params, thresholds)
    ctx.note("monitor_instances", found.instance_id, {"parameters": params, "thresholds": thresholds or [],
                                                      "created_at": iso(ctx.now())})
    return found.resource()


@router.get("/monitor_instances/{instance_id}")
def get_instance(instance_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    return instance(ctx, instance_id).resource()


@router.delete("/monitor_instances/{instance_id}", status_code=202)
def delete_instance(instance_id: str, ctx: ServiceContext = Depends(context)) -> Response:
    found = instance(ctx, instance_id)
    if found.lab_name is not None or found.custom is not None:
        found.monitor.disable()
    ctx.note("monitor_instances", instance_id, None)
    return Response(status_code=202)


# -- runs and measurements ----------------------------------------------------------------------
def measurement_rows(found: Instance) -> list[dict[str, Any]]:
    frame = found.monitor.measurements()
    return frame.to_dict("records")  # type: ignore[no-any-return]


def run_resource(found: Instance, row: dict[str, Any]) -> dict[str, Any]:
    evaluated = row["status"] == "evaluated"
    at = iso(row["timestamp"])
    status: dict[str, Any] = {"state": "finished" if evaluated else "error", "queued_at": at, "started_at": at,
                              "completed_at": at}
    if row["message"]:
        status["message"] = {"text": row["message"]}
    if not evaluated:
        status["failure"] = {"trace": row["measurement_id"],
                             "errors": [{"code": "not_evaluated", "message": row["message"]}]}
    entity = {"triggered_by": "user", "parameters": {}, "status": status,
              "monitor_instance_id": found.instance_id, "record_count": int(row["record_count"])}
    return resource(row["measurement_id"], found.ctx.url(
        f"monitor_instances/{found.instance_id}/runs/{row['measurement_id']}"), entity, row["timestamp"])


@router.post("/monitor_instances/{instance_id}/runs", status_code=201, dependencies=[Depends(no_body)])
def run(instance_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    """Evaluate the monitor now, over its configured window: one run, one stored measurement."""
    found = instance(ctx, instance_id)
    if found.custom is not None:
        raise ApiError(400, f"custom monitor {found.custom.name!r} is measured by its owner: add measurements "
                            "(monitor_instances.measurements.add)", "not_supported", "monitor_instance_id")
    measurement = found.monitor.run()
    row = {"measurement_id": measurement.measurement_id, "status": measurement.status,
           "message": measurement.message, "timestamp": measurement.timestamp,
           "record_count": measurement.record_count}
    return run_resource(found, row)


@router.get("/monitor_instances/{instance_id}/runs")
def list_runs(instance_id: str, request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    found = instance(ctx, instance_id)
    rows = [] if found.lab_name is None and found.custom is None else list(reversed(measurement_rows(found)))
    q = request.query_params
    return page([run_resource(found, r) for r in rows], "runs", q.get("limit"), q.get("offset"))


@router.get("/monitor_instances/{instance_id}/runs/{run_id}")
def get_run(instance_id: str, run_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    found = instance(ctx, instance_id)
    for row in measurement_rows(found):
        if row["measurement_id"] == run_id:
            return run_resource(found, row)
    raise ApiError(404, f"no run {run_id!r} of monitor instance {instance_id}", "not_found", "run_id")


def measurement_resource(found: Instance, row: dict[str, Any]) -> dict[str, Any]:
    values = measurement_values(found.lab_name or "", row["metrics"], row["thresholds"])
    if found.custom is not None:
        tags = [{"id": k, "value": v} for k, v in (row["details"] or {}).get("tags", {}).items()]
        values = [{"metrics": v["metrics"], "tags": tags} for v in values]
    issues = sum(Threshold(**t).broken_by(row["metrics"].get(t["metric"])) for t in row["thresholds"])
    entity = {"timestamp": iso(row["timestamp"]), "run_id": row["measurement_id"],
              "monitor_instance_id": found.instance_id, "monitor_definition_id": found.definition_id,
              "target": {"target_type": "subscription", "target_id": found.sub.subscription_id},
              "values": values, "issue_count": issues, "record_count": int(row["record_count"]),
              "window_start": iso(row["window_start"]),
              "window_end": iso(row["window_end"]),
              "sources": [{"id": "details", "type": found.lab_name or "custom", "data": row["details"]}]}
    return resource(row["measurement_id"], found.ctx.url(
        f"monitor_instances/{found.instance_id}/measurements/{row['measurement_id']}"), entity, row["timestamp"])


@router.get("/monitor_instances/{instance_id}/measurements")
def list_measurements(instance_id: str, request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    found = instance(ctx, instance_id)
    q = request.query_params
    start, end = parse_time(q.get("start"), "start"), parse_time(q.get("end"), "end")
    rows = [r for r in reversed(measurement_rows(found)) if r["status"] == "evaluated"
            and (start is None or r["timestamp"] >= start) and (end is None or r["timestamp"] < end)
            and (not q.get("run_id") or r["measurement_id"] == q["run_id"])]
    return page([measurement_resource(found, r) for r in rows], "measurements", q.get("limit"), q.get("offset"))


@router.get("/monitor_instances/{instance_id}/measurements/{measurement_id}")
def get_measurement(instance_id: str, measurement_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    found = instance(ctx, instance_id)
    for row in measurement_rows(found):
        if row["measurement_id"] == measurement_id and row["status"] == "evaluated":
            return measurement_resource(found, row)
    raise ApiError(404, f"no measurement {measurement_id!r} of monitor instance {instance_id}", "not_found",
                   "measurement_id")


@router.post("/monitor_instances/{instance_id}/measurements", status_code=202)
def add_measurements(instance_id: str, requests: list[Any] = Depends(records_body),
                     ctx: ServiceContext = Depends(context)) -> list[dict[str, Any]]:
    """A custom monitor's measurements: each request's metrics, its tag values told apart by the definition's
    tags. The lab's own monitors measure the payload and feedback logs themselves: run them instead."""
    found = instance(ctx, instance_id)
    if found.custom is None:
        raise ApiError(400, f"{found.definition_id} measures the lab's payload and feedback logs itself: run it "
                            "(monitor_instances.run); measurements are added to custom monitors only",
                       "not_supported", "monitor_instance_id")
    tag_names = {t["name"] for t in found.custom.tags}
    monitor, checked, stored = found.monitor, [], []
    assert isinstance(monitor, CustomMonitor)
    for n, item in enumerate(requests):  # all checked before any is stored: all or nothing
        metrics = require(item, "metrics", list, f"[{n}].")
        when = parse_time(item.get("timestamp"), f"[{n}].timestamp")
        for m, values in enumerate(metrics):
            if not isinstance(values, dict):
                raise ApiError(400, f"[{n}].metrics[{m}] must be an object of metric values", "invalid_value",
                               f"[{n}].metrics[{m}]")
            checked.append(monitor.check({k: v for k, v in values.items() if k not in tag_names},
                                         tags={k: v for k, v in values.items() if k in tag_names}, timestamp=when))
    for values, tags, when in checked:
        m = monitor.run(values, tags=tags, timestamp=when)
        stored.append({"measurement_id": m.measurement_id, "run_id": m.measurement_id,
                       "timestamp": iso(m.timestamp), "alerts": len(m.alerts)})
    return stored

