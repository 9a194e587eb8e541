"""Checking scoring requests before anything is scored or logged; every message names the field or row.

The rules for each value come from the model's input schema (`core.input_schema`); this module checks the
shape of a request around them: a JSON object with `fields` and `values` (or the same wrapped as
`{"input_data": [{...}]}`, as Watson Machine Learning takes it), each field once, one value per field.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import orjson

from ..core.input_schema import INT_MAX, INT_MIN, InputSchema
from ..errors import ScoringInputError

MAX_RECORDS = 10_000
MAX_ERRORS_SHOWN = 10
BODY_KEYS = {"fields", "values"}
WHOLE_COLUMNS_FROM = 16  # records from which checking column by column beats checking value by value


def request_object(body: bytes, keys: set[str] = BODY_KEYS, wrapper: str | None = "input_data") -> dict[str, Any]:
    """The JSON object of a request body with exactly `keys` (unwrapped from `wrapper` when given so)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ScoringInputError(f"request body is not valid JSON: {exc}") from None
    if wrapper and isinstance(payload, dict) and wrapper in payload:
        if len(payload) != 1:
            extra = sorted(repr(k)[:60] for k in payload if k != wrapper)
            raise ScoringInputError(f"unknown key(s) beside '{wrapper}': {', '.join(extra)}", status=422)
        inner = payload[wrapper]
        if not isinstance(inner, list) or len(inner) != 1:
            raise ScoringInputError(f"'{wrapper}' must be a list holding exactly one {{fields, values}} object")
        payload = inner[0]
    if not isinstance(payload, dict):
        raise ScoringInputError("request body must be a JSON object with 'fields' and 'values'")
    for key in sorted(keys):
        if key not in payload:
            raise ScoringInputError(f"request body has no '{key}'")
    unknown = sorted(repr(k)[:60] for k in payload if k not in keys)
    if unknown:
        raise ScoringInputError(f"unknown key(s) in the request body: {', '.join(unknown)}; "
                                f"expected {', '.join(sorted(keys))}", status=422)
    return payload


def check_fields(fields: Any, names: list[str], optional: tuple[str, ...] = ()) -> None:
    """Every expected field once, no unknown one (`optional` ones may be left out)."""
    if fields == names:  # the usual request, settled in one comparison
        return
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ScoringInputError("'fields' must be a list of column names")
    if len(fields) > len(names) + len(optional):  # checked first: the checks below grow with the list
        raise ScoringInputError(f"{len(fields)} fields given; the model expects {len(names)}: {', '.join(names)}",
                                status=422)
    duplicated = sorted(f for f, n in Counter(fields).items() if n > 1)
    if duplicated:
        raise ScoringInputError(f"field(s) given twice: {', '.join(map(repr, duplicated))}", status=422)
    unknown = [f for f in fields if f not in names and f not in optional]
    missing = [n for n in names if n not in fields]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing field(s): {', '.join(missing)}")
        if unknown:
            shown = [repr(f) if len(f) <= 60 else f"{f[:40]!r}..." for f in unknown[:MAX_ERRORS_SHOWN]]
            parts.append(f"unknown field(s): {', '.join(shown)}")
        raise ScoringInputError("; ".join(parts) + f". The model expects: {', '.join(names)}", status=422)


def check_values(values: Any, max_records: int) -> list[Any]:
    """The list of records, neither empty nor over the limit."""
    if not isinstance(values, list):
        raise ScoringInputError("'values' must be a list of records (lists of values)")
    if not values:
        raise ScoringInputError("'values' is empty: send at least one record")
    if len(values) > max_records:
        raise ScoringInputError(f"batch of {len(values)} records is over the limit of {max_records} per request",
                                status=422)
    return values


def parse_scoring_request(body: bytes, schema: InputSchema | list[dict[str, Any]],
                          max_records: int = MAX_RECORDS) -> tuple[list[str], list[list[Any]]]:
    """The request's rows in schema column order, typed; ScoringInputError (4xx) on anything wrong."""
    schema = schema if isinstance(schema, InputSchema) else InputSchema(schema)
    payload = request_object(body)
    fields = payload["fields"]
    names = schema.names
    check_fields(fields, names)
    values = check_values(payload["values"], max_records)
    in_order = fields == names
    order = list(range(len(names))) if in_order else [fields.index(n) for n in names]
    if len(values) >= WHOLE_COLUMNS_FROM:
        accepted = _accepted_whole(values, schema, order, in_order)
        if accepted is not None:
            return names, accepted
    rows: list[list[Any]] = []
    errors: list[str] = []
    width = len(fields)
    for r, record in enumerate(values):
        if not isinstance(record, list) or len(record) != width:
            got = f"{len(record)} values" if isinstance(record, list) else f"a {type(record).__name__}"
            errors.append(f"row {r}: expected a list of {width} values (one per field), got {got}")
        else:
            row, problems = schema.check_row(record if in_order else [record[p] for p in order], r)
            errors.extend(problems)
            rows.append(row)
        if len(errors) >= MAX_ERRORS_SHOWN:
            break
    if errors:
        more = " (first errors shown)" if len(errors) >= MAX_ERRORS_SHOWN else ""
        raise ScoringInputError("invalid records" + more + ": " + "; ".join(errors[:MAX_ERRORS_SHOWN]), status=422)
    return names, rows


def _accepted_whole(values: list[Any], schema: InputSchema, order: list[int], in_order: bool) -> list[list[Any]] | None:
    """The rows in the model's order when every value is one the row-by-row check keeps as it is (a printable
    text within its length, a plain int or a finite float within its column's bounds), else None. Decided
    column by column with builtins that loop in C: several times faster than value by value for a batch.
    Anything else (a value to convert or to refuse) is left to the row-by-row check, which names every problem."""
    if set(map(type, values)) != {list} or set(map(len, values)) != {len(order)}:
        return None
    columns = list(zip(*values))
    for column, position in zip(schema.columns, order, strict=True):
        got = columns[position]
        if column.type == "string":
            if (set(map(type, got)) != {str} or max(map(len, got)) > column.max_length
                    or not all(map(str.isprintable, got))):
                return None
            continue
        if column.type == "integer":
            if set(map(type, got)) != {int}:  # a bool (a type of its own) or a float goes value by value
                return None
            low, high = min(got), max(got)
            if low < INT_MIN or high > INT_MAX:
                return None
        else:
            if set(map(type, got)) != {float} or not all(map(math.isfinite, got)):
                return None
            low, high = min(got), max(got)
        if (column.minimum is not None and low < column.minimum) or (
                column.maximum is not None and high > column.maximum):
            return None
    if in_order:
        return values
    return [list(row) for row in zip(*(columns[p] for p in order))]
