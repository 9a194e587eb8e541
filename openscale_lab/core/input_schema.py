"""The model's input schema as one set of rules: what a value of each column may be, and its JSON Schema.

A column is `{"name", "type"}` with `type` one of string, integer, double, and optionally the domain the
model declares for it (`minimum`, `maximum`: e.g. an age of 0–130, an amount of at least 0). The tutorial
declares its domains in `tutorial.INPUT_DOMAINS`; training writes them into the model's metadata, so the
scoring service, the feedback log and the OpenAPI document all read the same rules.

Every value must also fit where the data mart stores it: integers exactly (±2**53 - 1), numbers finite.
Strings are capped in length and may hold no control characters (PostgreSQL refuses NUL in text; a
category is a short printable name). A category the model never saw is *not* refused: it is scored, and
the drift monitor's data consistency check counts it.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Integers within ±(2**53 - 1): they fit the data mart's BIGINT and every JSON client's numbers exactly
# (JavaScript's Number.MAX_SAFE_INTEGER); beyond, a double rounds them and a limit check could be fooled.
INT_MIN, INT_MAX = -(2 ** 53 - 1), 2 ** 53 - 1
MAX_STRING_LENGTH = 200
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
KINDS = ("string", "integer", "double")


@dataclass(frozen=True)
class Column:
    """One input column and the values it accepts."""

    name: str
    type: str
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = MAX_STRING_LENGTH

    @classmethod
    def of(cls, spec: dict[str, Any]) -> Column:
        if spec.get("type") not in KINDS:
            raise ValueError(f"column {spec.get('name')!r}: type must be one of {', '.join(KINDS)}")
        return cls(spec["name"], spec["type"], spec.get("minimum"), spec.get("maximum"))

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value converted to the column's type, or why it does not fit."""
        if value is None:
            return None, "a value is required, got null"
        if self.type == "string":
            if not isinstance(value, str):
                return None, f"expected a string, got {_shown(value)}"
            if len(value) > self.max_length:
                return None, f"a text of {len(value)} characters is longer than the limit of {self.max_length}"
            if not value.isprintable() and (found := CONTROL_CHARACTERS.search(value)):
                return None, f"control character {found.group()!r} at position {found.start()} is not allowed"
            return value, None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"expected a number, got {_shown(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return None, f"expected a finite number, got {value!r}"
        if self.type == "integer":
            if isinstance(value, float) and not value.is_integer():
                return None, f"expected a whole number, got {value!r}"
            if not INT_MIN <= value <= INT_MAX:
                return None, f"{_shown(value)} is beyond the integers the lab stores exactly (±2**53 - 1)"
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            return None, f"{_shown(value)} is below the model's minimum of {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return None, f"{_shown(value)} is above the model's maximum of {self.maximum:g}"
        return value, None

    def json_schema(self, categories: Iterable[str] = ()) -> dict[str, Any]:
        """The JSON Schema of one value of this column (known categories as examples, not as an enum)."""
        if self.type == "string":
            schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length,
                                      "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*$"}
            known = list(categories)
            if known:
                schema["examples"] = known
                schema["description"] = f"{self.name}: known categories {', '.join(known)}; others are scored too"
            return schema
        low = self.minimum if self.minimum is not None else (INT_MIN if self.type == "integer" else None)
        high = self.maximum if self.maximum is not None else (INT_MAX if self.type == "integer" else None)
        schema = {"type": "integer" if self.type == "integer" else "number", "description": self.name}
        if low is not None:
            schema["minimum"] = int(low) if self.type == "integer" else low
        if high is not None:
            schema["maximum"] = int(high) if self.type == "integer" else high
        return schema


def _shown(value: Any) -> str:
    """A value for a message, shortened: a careless client may send megabytes."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


class InputSchema:
    """The columns a model takes, in the model's order."""

    def __init__(self, columns: list[dict[str, Any]]) -> None:
        self.columns = [Column.of(c) for c in columns]
        self.names = [c.name for c in self.columns]
        self.by_name = {c.name: c for c in self.columns}
        # the common case decided at once (a scoring request checks every value): a plain int within the
        # column's bounds, a printable text within its length; anything else takes `Column.check`
        self._quick = [(str, c.max_length, 0, 0) if c.type == "string" else
                       (int if c.type == "integer" else None, 0,
                        max(INT_MIN, c.minimum if c.minimum is not None else INT_MIN),
                        min(INT_MAX, c.maximum if c.maximum is not None else INT_MAX)) for c in self.columns]

    def check_row(self, values: list[Any], row: int) -> tuple[list[Any], list[str]]:
        """The values (in the model's order) converted, and a message per value that does not fit."""
        out: list[Any] = []
        problems: list[str] = []
        for column, (kind, length, low, high), value in zip(self.columns, self._quick, values, strict=True):
            if type(value) is kind and (value.isprintable() and len(value) <= length if kind is str
                                        else low <= value <= high):
                out.append(value)
                continue
            checked, problem = column.check(value)
            if problem:
                problems.append(f"row {row}, field '{column.name}': {problem}")
            out.append(checked)
        return out, problems

    def row_schema(self, categories: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """JSON Schema of one record as a list of values in the model's order."""
        items = [c.json_schema((categories or {}).get(c.name, ())) for c in self.columns]
        return {"type": "array", "prefixItems": items, "items": False,
                "minItems": len(items), "maxItems": len(items)}
