"""The OpenScale-compatible service's FastAPI app: the V2 routes, the bearer token, the platform's errors.

The SDK calls `{service_url}/openscale/{service_instance_id}/v2/...` with `Authorization: Bearer <token>`; only the
heartbeat it probes first (`{service_url}/v2/fairness/heartbeat`) answers without a token, as it carries none.
"""
from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import LabError
from ..workspace import Workspace
from . import data_set_routes, explain_routes, metric_routes, monitor_routes, setup_routes
from .context import ServiceContext
from .resources import ApiError, error_body

log = logging.getLogger(__name__)

# what the lab does not emulate, by the first part of the path after /v2/ (named in the 404)
NOT_EMULATED = {
    "ml_instances": "Watson Machine Learning", "deployments": "Watson Machine Learning",
    "integrated_systems": "integrated systems (OpenPages, external databases)",
    "monitoring_services": "monitoring service archives (drift, explainability) and model risk management",
    "gen_ai_apps": "generative AI", "prompt_setup": "generative AI", "prompt_batch_setup": "generative AI",
    "operational_spaces": "operational spaces (model risk management)",
    "ai_decision_coordinations": "AI decision coordination", "user_preferences": "user preferences",
    "business_applications": "business applications (the lab's own API: lab.BusinessApplications)",
    "spark_schemas": "Spark schema inference", "measurements": "cross-instance measurement search",
}


def _error(status: int, message: str, code: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, field), status_code=status)


def create_app(workspace: Workspace) -> FastAPI:
    """The service for `workspace` (its data mart must be reachable)."""
    ctx = ServiceContext(workspace)
    app = FastAPI(title="OpenScale Lab: OpenScale V2-compatible API", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.ctx = ctx

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.code, exc.field)

    @app.exception_handler(LabError)
    async def lab_error(_: Request, exc: LabError) -> JSONResponse:  # the lab's own check said no to the request
        return _error(400, str(exc), "invalid_request")

    @app.exception_handler(DBAPIError)
    async def database_down(_: Request, exc: DBAPIError) -> JSONResponse:  # the database, not the request
        return _error(503, f"the data mart is unavailable, try again: {type(exc.orig).__name__}: {exc.orig}"[:400],
                      "service_unavailable")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, f"invalid request: {where or 'body'}: {first.get('msg', 'not valid')}", "invalid_value",
                      where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _not_emulated(request)
        if exc.status_code == 405:
            return _error(405, f"{request.method} is not served on {request.url.path}", "method_not_allowed")
        return _error(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"the lab's service failed on {request.method} {request.url.path}: "
                           f"{type(exc).__name__}: {exc}"[:500], "internal_error")

    @app.get("/v2/fairness/heartbeat")
    async def heartbeat() -> dict[str, Any]:
        # is_cloud: the SDK takes a service that is not "cloud" for Cloud Pak for Data and turns TLS checks off
        return {"status": "ok", "service": "openscale-lab", "instance_id": ctx.instance_id, "is_cloud": True}

    def authorised(request: Request, service_instance_id: str) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "a bearer token is required (Authorization: Bearer <token>); the lab's token is in "
                                "the workspace's openscale_service/token", "unauthorized")
        if not hmac.compare_digest(token.strip().encode(), ctx.token.encode()):
            raise ApiError(401, "the bearer token is not this workspace's: take it from the workspace's "
                                "openscale_service/token (lab.start_service(ws).token)", "unauthorized")
        if service_instance_id != ctx.instance_id:
            raise ApiError(404, f"no service instance {service_instance_id!r} here (this lab's service_instance_id is "
                                f"{ctx.instance_id})", "not_found", "service_instance_id")

    v2 = APIRouter(prefix="/openscale/{service_instance_id}/v2", dependencies=[Depends(authorised)])
    for module in (setup_routes, data_set_routes, monitor_routes, metric_routes, explain_routes):
        v2.include_router(module.router)
    app.include_router(v2)

    @app.api_route("/openscale/{service_instance_id}/v2/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def not_served(request: Request, service_instance_id: str, rest: str) -> JSONResponse:
        authorised(request, service_instance_id)
        return _not_emulated(request)

    def _not_emulated(request: Request) -> JSONResponse:
        path = request.url.path
        part = path.split("/v2/", 1)[1].split("/", 1)[0] if "/v2/" in path else ""
        what = NOT_EMULATED.get(part)
        message = (f"{request.method} {path}: the lab does not emulate {what}" if what else
                   f"{request.method} {path}: not an endpoint the lab's OpenScale service emulates "
                   "(docs/openscale-api.md lists those it serves)")
        return _error(404, message, "not_emulated")

    return app
