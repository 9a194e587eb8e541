"""A monitor instance's metrics aggregated over a time range (the SDK's `get_metrics`), per combination of tags."""
from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request

from .context import ServiceContext, context
from .monitor_routes import instance, measurement_resource, measurement_rows
from .resources import ApiError, iso, parse_time

router = APIRouter()

AGGREGATIONS = ("last", "first", "sum", "avg", "min", "max", "median", "count", "stddev")


def _aggregations(agg: str) -> list[tuple[str, str]]:
    """OpenScale's `agg`: `last`, or `metric:function,...` with an empty metric for every metric."""
    pairs = []
    for part in (agg or "last").split(","):
        metric, _, function = part.rpartition(":")
        if function not in AGGREGATIONS:
            raise ApiError(400, f"agg: {function!r} is not one of {', '.join(AGGREGATIONS)}", "invalid_value", "agg")
        pairs.append((metric, function))
    return pairs


def _aggregate(function: str, points: list[tuple[float, str]]) -> dict[str, Any]:
    values = np.array([v for v, _ in points], dtype=float)
    if function in ("last", "first"):
        value, measurement_id = points[-1] if function == "last" else points[0]
        return {"value": value, "measurement_id": measurement_id}
    found = {"sum": values.sum, "avg": values.mean, "min": values.min, "max": values.max,
             "median": lambda: np.median(values), "count": lambda: len(values),
             "stddev": lambda: values.std(ddof=1) if len(values) > 1 else 0.0}[function]()
    return {"value": float(found)}


@router.get("/monitor_instances/{instance_id}/metrics")
def metrics(instance_id: str, request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    """Each metric's aggregations over the evaluated measurements of [start, end), per combination of tags."""
    found = instance(ctx, instance_id)
    q = request.query_params
    start, end = parse_time(q.get("start"), "start"), parse_time(q.get("end"), "end")
    if start is None or end is None:
        raise ApiError(400, "start and end are required (ISO 8601 times)", "missing_field", "start")
    if q.get("interval") or q.get("filter") or q.get("group"):
        raise ApiError(400, "aggregating by interval, filter or group is not emulated: aggregate over [start, end) "
                            "or read the measurements", "not_supported", "interval")
    pairs = _aggregations(q.get("agg", "last"))
    groups: dict[tuple[tuple[str, str], ...], dict[str, dict[str, Any]]] = {}
    for row in measurement_rows(found):  # oldest first
        if row["status"] != "evaluated" or not start <= row["timestamp"] < end:
            continue
        for value in measurement_resource(found, row)["entity"]["values"]:
            key = tuple((t["id"], str(t["value"])) for t in value["tags"])
            for m in value["metrics"]:
                item = groups.setdefault(key, {}).setdefault(m["id"], {"id": m["id"], "points": []})
                item["points"].append((m["value"], row["measurement_id"]))
                item.update({k: m[k] for k in ("lower_limit", "upper_limit") if k in m})
    out = []
    for key, items in groups.items():
        done = []
        for item in items.values():
            points = item.pop("points")
            for metric, function in pairs:
                if not metric or metric == item["id"]:
                    item[function] = _aggregate(function, points)
            done.append(item)
        out.append({"tags": [{"id": k, "value": v} for k, v in key], "metrics": done})
    return {"start": iso(start), "end": iso(end), "monitor_definition_id": found.definition_id, "groups": out}
