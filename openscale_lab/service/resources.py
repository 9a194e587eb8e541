"""The platform's JSON shapes: resources as metadata + entity, lists with pagination, errors as a list.

OpenScale V2 answers every resource as `{"metadata": {"id", "url", "created_at", ...}, "entity": {...}}` and every
error as `{"trace": ..., "errors": [{"code", "message"}]}` (the shapes of the `ibm-watson-openscale` 3.x models,
e.g. `DataMartDatabaseResponse`, and of the IBM Cloud API error format).
"""
from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

import pandas as pd

from ..core.clock import naive_utc


class ApiError(Exception):
    """An error the service answers in the platform's format, with an HTTP status and a code."""

    def __init__(self, status: int, message: str, code: str = "bad_request", field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.field = status, message, code, field


def error_body(status: int, message: str, code: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["target"] = {"type": "field", "name": field}
    return {"trace": uuid.uuid4().hex, "errors": [error], "status_code": status}


def iso(moment: datetime | None) -> str | None:
    """A lab time as the platform writes times (ISO 8601, UTC, with a Z); None (or pandas' NaT) stays None."""
    if moment is None or pd.isna(moment):
        return None
    return naive_utc(moment, "time").isoformat(timespec="milliseconds") + "Z"


def resource(resource_id: str, url: str, entity: dict[str, Any], created_at: datetime | None,
             **metadata: Any) -> dict[str, Any]:
    """One resource: its metadata (id, url, times) and its entity."""
    meta = {"id": resource_id, "url": url, "crn": f"crn:v1:openscale-lab:local:::{resource_id}",
            "created_at": iso(created_at), "created_by": "openscale-lab", **metadata}
    return {"metadata": {k: v for k, v in meta.items() if v is not None}, "entity": entity}


def page(items: list[Any], key: str, limit: Any = None, offset: Any = None) -> dict[str, Any]:
    """A list answer: `key` holding the items from `offset`, at most `limit` of them, and the total count."""
    start = whole(offset, "offset", 0)
    count = whole(limit, "limit", len(items))
    return {key: items[start:start + count], "total_count": len(items), "offset": start, "limit": count}


def whole(value: Any, name: str, default: int) -> int:
    """A query parameter that must be a whole number ≥ 0."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"query parameter {name} must be a whole number, got {value!r}", "invalid_value",
                       name) from None
    if not 0 <= number <= 10**9:
        raise ApiError(400, f"query parameter {name} must be from 0 to 1000000000, got {number}", "invalid_value",
                       name)
    return number


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require(body: Any, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """`body[key]`, which must be there and of `kind`: otherwise a 400 naming the field."""
    name = f"{where}{key}"
    if not isinstance(body, dict):
        raise ApiError(400, f"{where.rstrip('.') or 'the request body'} must be a JSON object", "invalid_value",
                       where.rstrip(".") or None)
    if key not in body or body[key] is None:
        raise ApiError(400, f"missing field {name}", "missing_field", name)
    value = body[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is no number here
        names = " or ".join(k.__name__ for k in kinds)
        raise ApiError(400, f"field {name} must be {_article(names)}, got {value!r}"[:300], "invalid_value", name)
    return value


def optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None,
             where: str = "") -> Any:
    if body.get(key) is None:
        return default
    return require(body, key, kind, where)


def _article(names: str) -> str:
    plain = {"str": "text", "dict": "an object", "list": "a list", "int": "a whole number", "float": "a number",
             "bool": "true or false"}
    return " or ".join(plain.get(n, n) for n in names.split(" or "))


def parse_time(value: Any, name: str) -> datetime | None:
    """An ISO 8601 time from a request (a Z or an offset, or none for UTC) as the lab keeps times: naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return naive_utc(value, name)
    text = str(value).strip()
    if "T" in text:  # a "+" of an offset left unescaped in a query string arrives as a space
        text = text.replace(" ", "+", 1)
    try:
        return naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")), name)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {value!r}"[:300],
                       "invalid_value", name) from None
