"""Checking scoring requests before anything is scored or logged; every message names the field or row."""
from __future__ import annotations

import math
from typing import Any

import orjson

from ..errors import ScoringInputError

MAX_RECORDS = 10_000
MAX_ERRORS_SHOWN = 10


def check_value(value: Any, kind: str) -> tuple[Any, str | None]:
    """The value converted to its column type, or an explanation of why it does not fit."""
    if value is None:
        return None, "a value is required, got null"
    if kind == "string":
        return (value, None) if isinstance(value, str) else (None, f"expected a string, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"expected a number, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"expected a finite number, got {value!r}"
    if kind == "integer":
        if isinstance(value, float):
            if not value.is_integer():
                return None, f"expected a whole number, got {value!r}"
            value = int(value)
        return value, None
    return float(value), None


def parse_scoring_request(body: bytes, schema: list[dict[str, str]],
                          max_records: int = MAX_RECORDS) -> tuple[list[str], list[list[Any]]]:
    """The request's rows in schema column order, typed; ScoringInputError (4xx) on anything wrong.

    Accepts `{"fields": [...], "values": [[...], ...]}`, and the same wrapped as `{"input_data": [{...}]}`.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ScoringInputError(f"request body is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and "input_data" in payload:
        inner = payload["input_data"]
        if not isinstance(inner, list) or len(inner) != 1:
            raise ScoringInputError("'input_data' must be a list holding exactly one {fields, values} object")
        payload = inner[0]
    if not isinstance(payload, dict):
        raise ScoringInputError("request body must be a JSON object with 'fields' and 'values'")
    for key in ("fields", "values"):
        if key not in payload:
            raise ScoringInputError(f"request body has no '{key}'")
    fields, values = payload["fields"], payload["values"]
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ScoringInputError("'fields' must be a list of column names")
    names = [c["name"] for c in schema]
    duplicated = sorted({f for f in fields if fields.count(f) > 1})
    if duplicated:
        raise ScoringInputError(f"field(s) given twice: {', '.join(duplicated)}", status=422)
    unknown = [f for f in fields if f not in names]
    missing = [n for n in names if n not in fields]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing field(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown field(s): {', '.join(unknown)}")
        raise ScoringInputError("; ".join(parts) + f". The model expects: {', '.join(names)}", status=422)
    if not isinstance(values, list):
        raise ScoringInputError("'values' must be a list of records (lists of values)")
    if not values:
        raise ScoringInputError("'values' is empty: send at least one record")
    if len(values) > max_records:
        raise ScoringInputError(f"batch of {len(values)} records is over the limit of {max_records} per request",
                                status=413)
    order = [fields.index(n) for n in names]
    kinds = [c["type"] for c in schema]
    rows: list[list[Any]] = []
    errors: list[str] = []
    width = len(fields)
    for r, record in enumerate(values):
        if not isinstance(record, list) or len(record) != width:
            got = f"{len(record)} values" if isinstance(record, list) else f"a {type(record).__name__}"
            errors.append(f"row {r}: expected a list of {width} values (one per field), got {got}")
        else:
            row = []
            for name, pos, kind in zip(names, order, kinds, strict=True):
                value, problem = check_value(record[pos], kind)
                if problem:
                    errors.append(f"row {r}, field '{name}': {problem}")
                row.append(value)
            rows.append(row)
        if len(errors) >= MAX_ERRORS_SHOWN:
            break
    if errors:
        more = " (first errors shown)" if len(errors) >= MAX_ERRORS_SHOWN else ""
        raise ScoringInputError("invalid records" + more + ": " + "; ".join(errors), status=422)
    return names, rows
