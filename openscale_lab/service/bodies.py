"""Reading a request's JSON body, with the platform's 400 for anything that is not JSON.

The body is read on the event loop by a dependency (`object_body`, `records_body`, `no_body`); the routes that use
them are plain functions, which FastAPI runs in its thread pool, so a slow call (training a drift model, storing
records) never holds up the others, the heartbeat included."""
from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from .resources import ApiError

MAX_BODY_BYTES = 32 * 1024 * 1024


async def json_body(request: Request, kinds: tuple[type, ...] = (dict,)) -> Any:
    """The request's JSON body, which must be one of `kinds` (an object, by default)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB", "too_large")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB", "too_large")
    if not raw.strip():
        raise ApiError(400, "the request needs a JSON body", "missing_body")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not JSON: {exc}", "invalid_json") from None
    if not isinstance(body, kinds):
        wanted = " or ".join("a JSON object" if k is dict else "a JSON list" for k in kinds)
        raise ApiError(400, f"the request body must be {wanted}, got {type(body).__name__}", "invalid_value")
    return body


async def object_body(request: Request) -> dict[str, Any]:
    """A body that is one JSON object."""
    return await json_body(request)  # type: ignore[no-any-return]


async def records_body(request: Request) -> list[Any]:
    """A body that is a list (or one JSON object, taken as a list of one)."""
    body = await json_body(request, (list, dict))
    return body if isinstance(body, list) else [body]


async def no_body(request: Request) -> None:
    """A body that may be left out; one that is sent must be a JSON object."""
    if (await request.body()).strip():
        await json_body(request)
