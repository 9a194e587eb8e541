"""Payload-logging and feedback data sets of each subscription, their records and their counts.

A subscription's payload log and feedback log are the lab's own tables; their data set ids are the subscription's
id with `-payload_logging` or `-feedback`. Records are stored at once: a storing request is finished (`active`)
when its reply is sent, and its status stays readable under `requests/{id}` as the SDK expects.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..core.clock import utcnow
from ..datamart.database import Subscription
from ..datamart.feedback import FeedbackError, as_records, feedback_table
from ..deployments.validation import parse_scoring_request
from ..errors import ScoringInputError
from .bodies import records_body
from .context import ServiceContext, context
from .resources import ApiError, finite, iso, page, parse_time, resource, whole

router = APIRouter()
TYPES = ("payload_logging", "feedback")
OUTPUTS = ("prediction", "predictedLabel", "probability")  # what the lab's model answers for each record
MAX_RECORDS_READ = 1000  # records one read returns at most, as OpenScale's records API
KEPT_REQUESTS = 500  # storing requests whose status stays readable (the newest)


def data_set_id(sub: Subscription, kind: str) -> str:
    return f"{sub.subscription_id}-{kind}"


def resolve(ctx: ServiceContext, data_set: str) -> tuple[Subscription, str]:
    subscription_id, _, kind = data_set.rpartition("-")
    if kind not in TYPES or not subscription_id:
        raise ApiError(404, f"no data set {data_set!r}: the lab's data sets are each subscription's payload logging "
                            "and feedback data sets (data_sets.list shows them)", "not_found", "data_set_id")
    return ctx.subscription(subscription_id, "data_set_id"), kind


def _schema(sub: Subscription, kind: str) -> dict[str, Any]:
    fields = [{"name": c["name"], "type": c["type"], "nullable": True, "metadata": {"modeling_role": "feature"}}
              for c in sub.input_schema]
    if kind == "feedback":
        fields.append({"name": sub.label_column, "type": "string", "nullable": False,
                       "metadata": {"modeling_role": "target"}})
    else:
        fields += [{"name": sub.prediction_column, "type": "double", "nullable": False, "metadata": {}},
                   {"name": sub.predicted_label_column, "type": "string", "nullable": False,
                    "metadata": {"modeling_role": "prediction"}},
                   {"name": sub.probability_column, "type": {"type": "array", "elementType": "double"},
                    "nullable": False, "metadata": {"modeling_role": "probability"}}]
    return {"type": "struct", "fields": fields}


def data_set(ctx: ServiceContext, sub: Subscription, kind: str) -> dict[str, Any]:
    ds_id = data_set_id(sub, kind)
    table = sub.payload_table if kind == "payload_logging" else feedback_table(sub).name
    entity = {"data_mart_id": ctx.instance_id, "name": f"{kind} of {sub.deployment_name}", "type": kind,
              "target": {"target_type": "subscription", "target_id": sub.subscription_id},
              "schema_update_mode": "none", "data_schema": _schema(sub, kind),
              "location": {"table_name": table}, "managed_by": "openscale-lab", "status": {"state": "active"}}
    return resource(ds_id, ctx.url(f"data_sets/{ds_id}"), entity, sub.created_at)


@router.get("/data_sets")
def list_data_sets(request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    q = request.query_params
    kind = q.get("type")
    if kind and kind not in TYPES:
        raise ApiError(400, f"data set type {kind!r} is not emulated; the lab's are {', '.join(TYPES)}",
                       "invalid_value", "type")
    target = q.get("target.target_id")
    subs = [s for s in ctx.datamart.active_subscriptions() if not target or s.subscription_id == target]
    found = [data_set(ctx, s, k) for s in subs for k in TYPES if not kind or k == kind]
    return page(found, "data_sets", q.get("limit"), q.get("offset"))


@router.get("/data_sets/{ds_id}")
def get_data_set(ds_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    sub, kind = resolve(ctx, ds_id)
    return data_set(ctx, sub, kind)


# -- storing records ----------------------------------------------------------------------------
def _payload_rows(sub: Subscription, records: list[Any], known: set[str]) -> tuple[list[dict[str, Any]], int]:
    """The payload log's rows of PayloadRecords (scoring request and response): records whose transaction is
    logged already (a deployment logs what it scores) are left out, so nothing is counted twice."""
    rows: list[dict[str, Any]] = []
    received = 0
    for n, rec in enumerate(records):
        where = f"request_body[{n}]"
        if not isinstance(rec, dict) or not isinstance(rec.get("request"), dict) or \
                not isinstance(rec.get("response"), dict):
            raise ApiError(400, f"{where} must be a payload record with a request and a response (fields, values)",
                           "invalid_value", where)
        try:
            fields, inputs = parse_scoring_request(json.dumps(rec["request"]).encode(), sub.input_schema)
        except ScoringInputError as exc:
            raise ApiError(400, f"{where}.request: {exc}", "invalid_value", f"{where}.request") from None
        response = rec["response"]
        out_fields, out_values = response.get("fields"), response.get("values")
        if not isinstance(out_fields, list) or not isinstance(out_values, list) or len(out_values) != len(inputs):
            raise ApiError(400, f"{where}.response must hold fields and one row of values per request row "
                                f"({len(inputs)})", "invalid_value", f"{where}.response")
        missing = [f for f in OUTPUTS if f not in out_fields]
        if missing:
            raise ApiError(400, f"{where}.response has no field(s) {', '.join(missing)} (the model's outputs)",
                           "missing_field", f"{where}.response.fields")
        received += len(inputs)
        response_time = rec.get("response_time") or 0
        if not finite(response_time) or response_time < 0:
            raise ApiError(400, f"{where}.response_time must be a number of milliseconds, got {response_time!r}"[:200],
                           "invalid_value", f"{where}.response_time")
        response_time = float(response_time)
        scoring_id = str(rec.get("scoring_id") or uuid.uuid4().hex)
        stamp = parse_time(rec.get("scoring_timestamp"), f"{where}.scoring_timestamp") or utcnow()
        for i, (row, out) in enumerate(zip(inputs, out_values, strict=True), start=1):
            value = dict(zip(out_fields, out, strict=False)) if isinstance(out, list) else {}
            prob = value.get("probability")
            if not isinstance(prob, list) or not prob or not all(isinstance(p, (int, float)) for p in prob) or \
                    not isinstance(value.get("predictedLabel"), str) or \
                    not isinstance(value.get("prediction"), (int, float)):
                raise ApiError(400, f"{where}.response.values[{i - 1}]: prediction (a number), predictedLabel (a "
                                    "text) and probability (a list of numbers) are needed", "invalid_value",
                               f"{where}.response.values")
            tid = value.get("transaction_id") if isinstance(value.get("transaction_id"), str) else \
                f"{scoring_id}-{i}" if len(inputs) > 1 else scoring_id
            if tid in known:
                continue
            known.add(tid)
            rows.append({"scoring_id": tid, "request_id": scoring_id, "scoring_timestamp": stamp,
                         **dict(zip(fields, row, strict=True)), sub.prediction_column: float(value["prediction"]),
                         sub.predicted_label_column: value["predictedLabel"], sub.probability_column: json.dumps(prob),
                         "prediction_probability": float(max(prob)),
                         "response_time_ms": response_time, "deployment_id": sub.deployment_id,
                         "model_version": str(rec.get("asset_revision") or sub.model_version)})
    return rows, received


def _store_payload(ctx: ServiceContext, sub: Subscription, records: list[Any]) -> tuple[int, int]:
    """Store PayloadRecords' rows in one transaction; (rows stored, rows received)."""
    table = ctx.datamart.payload_table(sub)
    ids = {str(r["scoring_id"]) for r in records if isinstance(r, dict) and r.get("scoring_id")}
    for rec in records:  # the transaction ids a lab deployment's reply carries
        response = rec.get("response") if isinstance(rec, dict) else None
        if isinstance(response, dict) and "transaction_id" in (response.get("fields") or []):
            at = response["fields"].index("transaction_id")
            ids |= {str(v[at]) for v in response.get("values") or [] if isinstance(v, list) and len(v) > at}
    known: set[str] = set()
    with ctx.datamart.engine.connect() as conn:
        chosen = sorted(ids)
        for start in range(0, len(chosen), 500):
            chunk = chosen[start:start + 500]
            known |= set(conn.execute(sa.select(table.c.scoring_id).where(
                table.c.scoring_id.in_(chunk) | table.c.request_id.in_(chunk))).scalars())
    rows, received = _payload_rows(sub, records, known)
    if rows:
        ctx.datamart.store_payload(table, rows)
    return len(rows), received


def _store_feedback(ctx: ServiceContext, sub: Subscription, records: list[Any]) -> tuple[int, int]:
    """Store feedback records (dicts, or `{fields, values}` blocks) in one call: all of them or none.
    (rows stored, rows received)."""
    try:
        rows = [r for rec in records
                for r in (as_records(rec) if isinstance(rec, dict) and "fields" in rec else [rec])]
        return ctx.monitoring(sub).feedback.log(rows), len(rows)
    except FeedbackError as exc:
        raise ApiError(400, str(exc), "invalid_value", "request_body") from None


def json_only(request: Request) -> None:
    if "json" not in request.headers.get("content-type", "application/json"):
        raise ApiError(415, "the lab stores records sent as JSON (a list of records); CSV is not emulated",
                       "unsupported_media_type")


@router.post("/data_sets/{ds_id}/records", status_code=202, dependencies=[Depends(json_only)])
def store_records(ds_id: str, records: list[Any] = Depends(records_body),
                  ctx: ServiceContext = Depends(context)) -> JSONResponse:
    """Payload records (scoring request and response) or feedback records, stored at once, all or none."""
    sub, kind = resolve(ctx, ds_id)
    if not records:
        raise ApiError(400, "no records given", "invalid_value", "request_body")
    stored, received = (_store_payload if kind == "payload_logging" else _store_feedback)(ctx, sub, records)
    request_id = uuid.uuid4().hex
    status = {"state": "active", "stored_records": stored, "received_records": received,
              "created_at": iso(ctx.now())}
    ctx.note("record_requests", request_id, status, keep=KEPT_REQUESTS)
    return JSONResponse(status, status_code=202,
                        headers={"Location": ctx.url(f"data_sets/{ds_id}/requests/{request_id}")})


@router.get("/data_sets/{ds_id}/requests/{request_id}")
def record_request(ds_id: str, request_id: str, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    resolve(ctx, ds_id)
    found = ctx.notes().get("record_requests", {}).get(request_id)
    if found is None:
        raise ApiError(404, f"no records request {request_id!r}", "not_found", "request_id")
    return found  # type: ignore[no-any-return]


# -- reading records ----------------------------------------------------------------------------
@router.get("/data_sets/{ds_id}/records")
def list_records(ds_id: str, request: Request, ctx: ServiceContext = Depends(context)) -> dict[str, Any]:
    sub, kind = resolve(ctx, ds_id)
    q = request.query_params
    limit = min(whole(q.get("limit"), "limit", 100), MAX_RECORDS_READ)
    offset = whole(q.get("offset"), "offset", 0)
    start, end = parse_time(q.get("start"), "start"), parse_time(q.get("end"), "end")
    if kind == "payload_logging":
        table, stamp, key = ctx.datamart.payload_table(sub), "scoring_timestamp", "scoring_id"
    else:
        table, stamp, key = feedback_table(sub), "timestamp", "feedback_id"
    where = [c for c in ((table.c[stamp] >= start) if start else None,
                         (table.c[stamp] < end) if end else None) if c is not None]
    with ctx.datamart.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(sa.select(table).where(*where).order_by(table.c[stamp].desc(), table.c[key])
                            .limit(limit).offset(offset)).mappings().all() if limit else []
    records = [_record(dict(r), sub, kind, q.get("format")) for r in rows]
    return {"records": records, "total_count": int(total), "limit": limit, "offset": offset}


def _record(row: dict[str, Any], sub: Subscription, kind: str, fmt: str | None) -> dict[str, Any]:
    values = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in row.items()}
    if kind == "payload_logging":
        values[sub.probability_column] = json.loads(values[sub.probability_column])
    if fmt == "list":
        return {"fields": list(values), "values": list(values.values())}
    record_id = values.get("scoring_id") or values.get("feedback_id")
    return {"metadata": {"id": record_id, "created_at": values.get("scoring_timestamp") or values.get("timestamp")},
            "entity": {"values": values}}
