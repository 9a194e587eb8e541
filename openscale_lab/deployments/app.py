"""The online scoring service of one deployment (FastAPI): score, log every payload, then reply."""
from __future__ import annotations

import gc
import hmac
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.clock import naive_utc, utcnow
from ..core.fairness_groups import debias_rows
from ..core.input_schema import InputSchema
from ..core.jsonfile import read_json
from ..datamart.database import DataMart, Subscription
from ..datamart.feedback import TRANSACTION_ID, FeedbackError, FeedbackLog
from ..datamart.group_commit import PayloadWriter
from ..datamart.tables import REPLAY_PREFIX
from ..errors import LabError, ScoringInputError
from ..models.scorer import CompiledPipeline
from ..workspace import Workspace
from .artifacts import (
    DEPLOYMENT_FILE,
    MODEL_VERSION_HEADER,
    REPLAY_HEADER,
    REPLAY_SECRET_HEADER,
    Deployment,
    fields_of,
    load_verified_scorer,
    replay_secret,
)
from .openapi import FEEDBACK_REPLY, SCORING_REPLY, feedback_request, responses, scoring_request
from .subscriptions import ensure_subscription
from .validation import MAX_RECORDS, check_fields, check_values, parse_scoring_request, request_object

# 10 000 records (the batch limit) of the tutorial's model take about 3 MB; the limit leaves room for long texts
MAX_BODY_BYTES = 32 * 1024 * 1024
EARLIEST_REPLAY = datetime(1970, 1, 1)
FAIRNESS_MONITOR = "fairness"  # whose stored configuration the debiased endpoint applies


def payload_columns(subscription: Subscription, fields: list[str]) -> list[str]:
    """The payload log's columns in the order the scoring service builds a record: ids and time, the model's
    fields, its outputs, then the request's facts."""
    return ["scoring_id", "request_id", "scoring_timestamp", *fields, subscription.prediction_column,
            subscription.predicted_label_column, subscription.probability_column, "prediction_probability",
            "response_time_ms", "deployment_id", "model_version"]


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": {"status": status, "message": message}}), status_code=status,
                    media_type="application/json")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused unless it is JSON and within `limit` bytes: counted while it arrives, so a
    chunked body (no Content-Length) is stopped at the limit too, never held whole."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise ScoringInputError(f"the body must be sent as Content-Type: application/json, got "
                                f"{media or 'no content type'!r}", status=415)
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise ScoringInputError(f"request body of {length} bytes is over the limit of {limit}", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ScoringInputError(f"request body is over the limit of {limit} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def has_secret(request: Request, secret: str) -> bool:
    """Whether the request carries the deployment's secret (compared in constant time)."""
    sent = request.headers.get(REPLAY_SECRET_HEADER, "")
    return bool(secret and sent and hmac.compare_digest(sent.encode(), secret.encode()))


def replay_time(request: Request, secret: str) -> datetime | None:
    """The time a replayed record is logged at (naive UTC), or None for now; refused without the secret."""
    given = request.headers.get(REPLAY_HEADER)
    if given is None:
        return None
    if not has_secret(request, secret):
        raise ScoringInputError(f"header {REPLAY_HEADER} is only honoured with the deployment's replay secret "
                                f"({REPLAY_SECRET_HEADER}); send the request without it to score now", status=403)
    try:
        when = naive_utc(datetime.fromisoformat(given), f"header {REPLAY_HEADER}", ScoringInputError)
    except ValueError:
        raise ScoringInputError(f"header {REPLAY_HEADER} must be an ISO 8601 time, got {given[:60]!r}") from None
    if not EARLIEST_REPLAY <= when <= utcnow() + timedelta(days=1):
        raise ScoringInputError(f"header {REPLAY_HEADER}: {given[:60]} is outside {EARLIEST_REPLAY:%Y-%m-%d} to "
                                "tomorrow", status=422)
    return when


@dataclass(frozen=True)
class Served:
    """What the deployment serves at one moment: one model version's verified scorer and what derives from it.
    Replaced whole on a redeploy, so a request that picked one up scores and logs with it to the end."""

    deployment: Deployment  # its settings as they named this model
    scorer: CompiledPipeline
    schema: InputSchema
    labels: list[str]

    @classmethod
    def load(cls, deployment_dir: Path) -> Served:
        config = read_json(deployment_dir / DEPLOYMENT_FILE)
        scorer = load_verified_scorer(deployment_dir, config)
        return cls(Deployment(deployment_dir, config), scorer, InputSchema(scorer.input_schema),
                   list(config["model"].get("labels") or scorer.labels))

    @property
    def config(self) -> dict[str, Any]:
        return self.deployment.config

    @property
    def model_id(self) -> str:
        return self.deployment.model_id

    @property
    def model_version(self) -> str:
        return self.deployment.model_version


def warm_up(served: Served, categories: dict[str, list[str]]) -> None:
    """Score a record, then a batch, made of each field's first known category or smallest allowed number: what
    the scorer loads on first use is loaded before the first request, not during it. Best effort: a failure is
    only logged, requests then find it out themselves."""
    record: list[Any] = []
    for column in served.schema.columns:
        if column.type == "string":
            record.append(next(iter(categories.get(column.name, [])), "unknown"))
        else:
            low = column.minimum if column.minimum is not None else 0
            record.append(float(low) if column.type == "double" else int(low))
    try:
        for count in (1, 100):
            served.scorer.score([record] * count, served.schema.names)
    except Exception as exc:
        print(f"warming the scorer up failed: {exc!r}", file=sys.stderr, flush=True)


def create_app(deployment_dir: Path) -> FastAPI:
    """The scoring app of the deployment in `deployment_dir` (its workspace is two folders up)."""
    deployment_dir = Path(deployment_dir).resolve()
    first = Served.load(deployment_dir)
    deployment = first.config
    workspace = Workspace.open(deployment_dir.parent.parent)
    secret = replay_secret(deployment_dir)
    datamart = DataMart(workspace.datamart_url)
    subscription = ensure_subscription(datamart, deployment, workspace)
    table = datamart.payload_table(subscription)
    categories = {i.input: list(i.labels) for i in first.scorer.indexers}
    # every model this deployment serves has the first one's fields and labels (a switch is refused otherwise):
    # one feedback log serves them all
    feedback = FeedbackLog(datamart, subscription, first.labels, first.schema)
    deployment_id = deployment["deployment_id"]
    serving = {"now": first}  # one reference, swapped whole by a redeploy: requests never see half of one
    started = time.time()
    # every model served has the first one's fields (a switch is refused otherwise): one column order for all
    writer = PayloadWriter(datamart.engine, table, payload_columns(subscription, first.schema.names))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warm_up(first, categories)
        # what the server holds by now lives as long as the process: kept out of the garbage collector's full
        # collections, which otherwise walk it all (some 120 000 objects, about 90 ms on a 2-core machine) every
        # few thousand requests, stalling every request in flight
        gc.collect()
        gc.freeze()
        yield
        # the server has stopped taking requests: what is queued is committed before the process ends
        await writer.close()

    app = FastAPI(title=f"OpenScale Lab deployment: {deployment['name']}", version=first.model_version,
                  description="Online scoring of the lab's credit-risk model. Every scored record is logged "
                              "to the data mart's payload log before the reply is sent; every refused request "
                              "is counted in model health.", lifespan=lifespan)

    def refuse(exc: ScoringInputError) -> Response:
        datamart.log_rejected(deployment_id, exc.status, str(exc))
        return _error(exc.status, str(exc))

    def unavailable(what: str, exc: Exception) -> Response:
        """503 for a data mart failure: the detail goes to the server log, never to the client."""
        print(f"data mart error while storing {what}: {exc!r}", file=sys.stderr, flush=True)
        message = f"the data mart could not store the {what}; nothing was stored (see the deployment's server log)"
        datamart.log_rejected(deployment_id, 503, message)
        return _error(503, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        traceback.print_exception(exc, file=sys.stderr)
        message = "internal error of the deployment (see its server log)"
        datamart.log_rejected(deployment_id, 500, message)
        return _error(500, message)

    @app.exception_handler(StarletteHTTPException)
    async def not_served(request: Request, exc: StarletteHTTPException) -> Response:
        """404 and 405 in the lab's error format; counted when they were meant for this deployment."""
        message = f"{request.method} {request.url.path[:200]}: {exc.detail}"
        if request.url.path.startswith(f"/v1/deployments/{deployment_id}/"):
            datamart.log_rejected(deployment_id, exc.status_code, message)
        reply = _error(exc.status_code, message)
        reply.headers.update(exc.headers or {})
        return reply

    @app.get("/health", summary="Is the deployment up, and what does it serve")
    async def health() -> dict[str, Any]:
        now = serving["now"]
        return {"status": "ok", "deployment_id": deployment_id, "name": deployment["name"],
                "model_id": now.model_id, "model_version": now.model_version,
                "subscription_id": subscription.subscription_id, "uptime_s": round(time.time() - started, 3)}

    @app.post(f"/v1/deployments/{deployment_id}/model", include_in_schema=False)
    async def switch_model(request: Request) -> Response:
        """Serve the model the deployment's folder now names (after a redeploy or a rollback): its verified
        scorer is loaded beside the one serving, then swapped in whole. Only the deployment's owner may ask
        (the secret the replay uses, kept owner-only in the deployment's folder)."""
        if not has_secret(request, secret):  # not a scoring request: model health does not count it
            return _error(403, "switching the served model needs the deployment's secret")
        try:
            new = await run_in_threadpool(Served.load, deployment_dir)
        except LabError as exc:  # an unverified scorer never serves: the current model stays
            return _error(409, f"the model was not switched: {exc}")
        if fields_of(new.config["model"]) != fields_of(first.config["model"]):
            return _error(409, "the model was not switched: its input schema differs from the payload log's")
        await run_in_threadpool(datamart.update_subscription, subscription.subscription_id,
                                model_id=new.model_id, model_version=new.model_version)
        previous, serving["now"] = serving["now"], new
        return Response(orjson.dumps({"model_id": new.model_id, "model_version": new.model_version,
                                      "previous_model_id": previous.model_id,
                                      "previous_model_version": previous.model_version}),
                        media_type="application/json")

    async def read_and_score(request: Request, now: Served) -> tuple[list[str], list[list[Any]], list[Any]]:
        fields, rows = parse_scoring_request(await read_body(request), now.schema)
        return fields, rows, now.scorer.score(rows, fields)

    scoring_body = scoring_request(first.schema, categories, MAX_RECORDS)

    @app.post(f"/v1/deployments/{deployment_id}/predictions", summary="Score records",
              openapi_extra={"requestBody": scoring_body},
              responses=responses(SCORING_REPLY, [400, 403, 413, 415, 422, 503]))
    async def predictions(request: Request) -> Response:
        t0 = time.perf_counter()
        # one model version scores and logs this request, whatever happens; its time is taken in the same step,
        # so records of an older version never carry a later time than the first of a newer one
        now_serving, received = serving["now"], utcnow()
        try:
            replayed_at = replay_time(request, secret)
            fields, rows, results = await read_and_score(request, now_serving)
        except ScoringInputError as exc:
            return refuse(exc)
        request_id = uuid.uuid4().hex
        now = received if replayed_at is None else replayed_at
        if replayed_at is not None:  # history replay: the record is logged at the time it is replayed for
            request_id = f"{REPLAY_PREFIX}{request_id}"
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        # records as tuples in the payload writer's column order (payload_columns): no dict per record
        stamp, version, dumps = writer.time_value(now), now_serving.model_version, orjson.dumps
        ids = [f"{request_id}-{i}" for i in range(1, len(rows) + 1)]
        scored = list(zip(rows, results, ids, strict=True))
        out_values = [[*row, pred, label, prob, tid] for row, (pred, label, prob), tid in scored]
        records = [(tid, request_id, stamp, *row, pred, label, dumps(prob).decode(), max(prob), elapsed_ms,
                    deployment_id, version) for row, (pred, label, prob), tid in scored]
        try:  # committed with whatever other requests queued meanwhile (group commit), before this reply
            await writer.store(records)
        except Exception as exc:  # nothing is replied as a success unless it is in the data mart
            return unavailable("payload", exc)
        reply = {"fields": [*fields, "prediction", "predictedLabel", "probability", "transaction_id"],
                 "values": out_values}
        return Response(orjson.dumps(reply), media_type="application/json",
                        headers={MODEL_VERSION_HEADER: now_serving.model_version})

    @app.post(f"/v1/deployments/{deployment_id}/predictions/debiased", summary="Score records, debiased",
              description="The model's outcome and the debiased outcome of the fairness monitor: a record of a "
                          "monitored group that the model refuses, but grants once only its protected value is "
                          "moved to a value of the reference group, gets the favourable outcome; no other "
                          "outcome changes.",
              openapi_extra={"requestBody": scoring_body},
              responses=responses(SCORING_REPLY, [400, 409, 413, 415, 422, 503]))
    async def debiased(request: Request) -> Response:
        try:
            config = datamart.monitor_config(subscription.subscription_id, FAIRNESS_MONITOR)
        except sa.exc.SQLAlchemyError as exc:
            return unavailable("request", exc)
        now_serving = serving["now"]
        try:
            if config is None:
                raise ScoringInputError("debiasing needs the fairness monitor's configuration: enable the fairness "
                                        "monitor first", status=409)
            fields, rows, results = await read_and_score(request, now_serving)
        except ScoringInputError as exc:
            return refuse(exc)
        labels = [label for _, label, _ in results]
        fair = debias_rows(now_serving.scorer, config, fields, rows, labels)
        request_id, now = uuid.uuid4().hex, utcnow()
        ids = [f"{request_id}-{i + 1}" for i in range(len(rows))]
        try:
            datamart.store_debiased([
                {"scoring_id": tid, "request_id": request_id, "deployment_id": deployment_id, "timestamp": now,
                 "record": orjson.dumps(dict(zip(fields, row, strict=True))).decode(), "predicted_label": label,
                 "debiased_label": d} for tid, row, label, d in zip(ids, rows, labels, fair, strict=True)])
        except Exception as exc:
            return unavailable("request", exc)
        reply = {"fields": [*fields, "prediction", "predictedLabel", "probability", "debiased_predictedLabel",
                            "transaction_id"],
                 "values": [[*row, p, label, prob, d, tid]
                            for row, (p, label, prob), d, tid in zip(rows, results, fair, ids, strict=True)]}
        return Response(orjson.dumps(reply), media_type="application/json",
                        headers={MODEL_VERSION_HEADER: now_serving.model_version})

    label_spec = {"name": subscription.label_column, "schema": {"type": "string", "enum": first.labels}}
    tx_spec = {"name": subscription.transaction_id_column,
               "schema": {"type": "string", "pattern": TRANSACTION_ID.pattern}}

    @app.post(f"/v1/deployments/{deployment_id}/feedback", summary="Log labelled records (feedback)",
              description="Labelled records for the quality monitor, as OpenScale's feedback logging takes them: "
                          "the model's fields and the label column, optionally the transaction id a record labels. "
                          "Idempotent: a record (or transaction) sent again is not stored twice.",
              openapi_extra={"requestBody": feedback_request(first.schema, categories, label_spec, tx_spec,
                                                              MAX_RECORDS)},
              responses=responses(FEEDBACK_REPLY, [400, 413, 415, 422, 503]))
    async def log_feedback(request: Request) -> Response:
        try:
            payload = request_object(await read_body(request), wrapper=None)
            received = len(check_values(payload["values"], MAX_RECORDS))
            check_fields(payload["fields"], feedback.fields, optional=(subscription.transaction_id_column,))
            stored = feedback.log(payload)
            total = feedback.count()
        except ScoringInputError as exc:
            return refuse(exc)
        except FeedbackError as exc:
            return refuse(ScoringInputError(str(exc), status=422))
        except sa.exc.SQLAlchemyError as exc:
            return unavailable("feedback", exc)
        return Response(orjson.dumps({"received": received, "stored": stored, "feedback_records": total}),
                        media_type="application/json")

    app.state.datamart = datamart
    app.state.payload_writer = writer
    app.state.subscription = subscription
    return app
