"""The online scoring service of one deployment (FastAPI): score, log every payload, then reply."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..core.clock import utcnow
from ..core.fairness_groups import debias_rows
from ..core.jsonfile import read_json
from ..datamart.database import DataMart, Subscription
from ..errors import ScoringInputError
from ..workspace import Workspace
from .artifacts import DEPLOYMENT_FILE, REPLAY_HEADER, REPLAY_PREFIX, load_verified_scorer
from .validation import MAX_RECORDS, parse_scoring_request

MAX_BODY_BYTES = 64 * 1024 * 1024
BINDING_NAME = "Local ML engine"
FAIRNESS_MONITOR = "fairness"  # whose stored configuration the debiased endpoint applies


def ensure_subscription(datamart: DataMart, deployment: dict[str, Any], workspace: Workspace) -> Subscription:
    """The deployment's active subscription, created (with its binding and payload table) if missing."""
    found = datamart.subscription_for_deployment(deployment["deployment_id"])
    if found is not None:
        if found.scoring_url != deployment["scoring_url"]:
            datamart.update_subscription(found.subscription_id, scoring_url=deployment["scoring_url"])
            found.scoring_url = deployment["scoring_url"]
        return found
    binding_id = datamart.ensure_binding(BINDING_NAME, "openscale_lab_local", str(workspace.deployments_dir))
    model = deployment["model"]
    subscription_id = uuid.uuid4().hex[:12]
    return datamart.add_subscription(Subscription(
        subscription_id=subscription_id, binding_id=binding_id, deployment_id=deployment["deployment_id"],
        deployment_name=deployment["name"], scoring_url=deployment["scoring_url"], model_id=model["model_id"],
        model_name=model["name"], model_version=model["version"], input_schema=model["input_schema"],
        feature_columns=model["feature_columns"], categorical_columns=model["categorical_columns"],
        label_column=model["label_column"], payload_table=f"payload_{subscription_id}"))


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": {"status": status, "message": message}}), status_code=status,
                    media_type="application/json")


REQUEST_SCHEMA = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["fields", "values"],
        "properties": {
            "fields": {"type": "array", "items": {"type": "string"}, "description": "the model's input columns"},
            "values": {"type": "array", "items": {"type": "array"}, "maxItems": MAX_RECORDS,
                       "description": "one list of values per record, in the order of `fields`"},
        }}}},
}


def create_app(deployment_dir: Path) -> FastAPI:
    """The scoring app of the deployment in `deployment_dir` (its workspace is two folders up)."""
    deployment_dir = Path(deployment_dir).resolve()
    deployment = read_json(deployment_dir / DEPLOYMENT_FILE)
    workspace = Workspace.open(deployment_dir.parent.parent)
    scorer = load_verified_scorer(deployment_dir)
    datamart = DataMart(workspace.datamart_url)
    subscription = ensure_subscription(datamart, deployment, workspace)
    table = datamart.payload_table(subscription)
    schema = scorer.input_schema
    deployment_id, model_version = deployment["deployment_id"], deployment["model"]["version"]
    started = time.time()

    app = FastAPI(title=f"OpenScale Lab deployment: {deployment['name']}", version=model_version,
                  description="Online scoring of the lab's credit-risk model. Every scored record is logged "
                              "to the data mart's payload log before the reply is sent.")

    @app.get("/health", summary="Is the deployment up, and what does it serve")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "deployment_id": deployment_id, "name": deployment["name"],
                "model_id": deployment["model"]["model_id"], "model_version": model_version,
                "subscription_id": subscription.subscription_id, "uptime_s": round(time.time() - started, 3)}

    async def read_and_score(request: Request) -> tuple[list[str], list[list[Any]], list[Any]] | Response:
        """The request's rows and their scores, or the 4xx reply (remembered for model health)."""
        length = request.headers.get("content-length")
        try:
            if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
                raise ScoringInputError(f"request body of {length} bytes is over the limit of {MAX_BODY_BYTES}",
                                        status=413)
            fields, rows = parse_scoring_request(await request.body(), schema)
            return fields, rows, scorer.score(rows, fields)
        except ScoringInputError as exc:
            datamart.log_rejected(deployment_id, exc.status, str(exc))
            return _error(exc.status, str(exc))

    @app.post(f"/v1/deployments/{deployment_id}/predictions", summary="Score records",
              openapi_extra={"requestBody": REQUEST_SCHEMA},
              responses={400: {"description": "malformed request"}, 413: {"description": "batch too large"},
                         422: {"description": "a field or row does not fit the model's schema"}})
    async def predictions(request: Request) -> Response:
        t0 = time.perf_counter()
        scored = await read_and_score(request)
        if isinstance(scored, Response):
            return scored
        fields, rows, results = scored
        request_id = uuid.uuid4().hex
        now = utcnow()
        replayed_at = request.headers.get(REPLAY_HEADER)
        if replayed_at is not None:  # history replay: the record is logged at the time it is replayed for
            try:
                now = datetime.fromisoformat(replayed_at).replace(tzinfo=None)
            except ValueError:
                message = f"header {REPLAY_HEADER} must be an ISO 8601 time, got {replayed_at!r}"
                datamart.log_rejected(deployment_id, 400, message)
                return _error(400, message)
            request_id = f"{REPLAY_PREFIX}{request_id}"
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        out_values, records = [], []
        for i, (row, (pred, label, prob)) in enumerate(zip(rows, results, strict=True)):
            tid = f"{request_id}-{i + 1}"
            out_values.append([*row, pred, label, prob, tid])
            record = dict(zip(fields, row, strict=True))
            record.update(scoring_id=tid, request_id=request_id, scoring_timestamp=now, prediction=pred,
                          predictedLabel=label, probability=orjson.dumps(prob).decode(),
                          prediction_probability=max(prob), response_time_ms=elapsed_ms,
                          deployment_id=deployment_id, model_version=model_version)
            records.append(record)
        try:
            datamart.store_payload(table, records)
        except Exception as exc:  # nothing is replied as a success unless it is in the data mart
            return _error(503, f"the payload could not be logged to the data mart, nothing was scored: {exc}")
        reply = {"fields": [*fields, "prediction", "predictedLabel", "probability", "transaction_id"],
                 "values": out_values}
        return Response(orjson.dumps(reply), media_type="application/json")

    @app.post(f"/v1/deployments/{deployment_id}/predictions/debiased", summary="Score records, debiased",
              description="The model's outcome and the debiased outcome of the fairness monitor: a record of a "
                          "monitored group that the model refuses, but grants once only its protected value is "
                          "moved to a value of the reference group, gets the favourable outcome; no other "
                          "outcome changes.",
              openapi_extra={"requestBody": REQUEST_SCHEMA},
              responses={409: {"description": "the fairness monitor is not enabled"}})
    async def debiased(request: Request) -> Response:
        config = datamart.monitor_config(subscription.subscription_id, FAIRNESS_MONITOR)
        if config is None:
            message = "debiasing needs the fairness monitor's configuration: enable the fairness monitor first"
            datamart.log_rejected(deployment_id, 409, message)
            return _error(409, message)
        scored = await read_and_score(request)
        if isinstance(scored, Response):
            return scored
        fields, rows, results = scored
        labels = [label for _, label, _ in results]
        fair = debias_rows(scorer, config, fields, rows, labels)
        request_id, now = uuid.uuid4().hex, utcnow()
        ids = [f"{request_id}-{i + 1}" for i in range(len(rows))]
        try:
            datamart.store_debiased([
                {"scoring_id": tid, "request_id": request_id, "deployment_id": deployment_id, "timestamp": now,
                 "record": orjson.dumps(dict(zip(fields, row, strict=True))).decode(), "predicted_label": label,
                 "debiased_label": d} for tid, row, label, d in zip(ids, rows, labels, fair, strict=True)])
        except Exception as exc:
            return _error(503, f"the request could not be logged to the data mart, nothing was scored: {exc}")
        reply = {"fields": [*fields, "prediction", "predictedLabel", "probability", "debiased_predictedLabel",
                            "transaction_id"],
                 "values": [[*row, p, label, prob, d, tid]
                            for row, (p, label, prob), d, tid in zip(rows, results, fair, ids, strict=True)]}
        return Response(orjson.dumps(reply), media_type="application/json")

    app.state.datamart = datamart
    app.state.subscription = subscription
    return app
