"""A batch is checked column by column when every value can be kept as it is: the same rows, and for anything
else the same refusal, word for word, as the check value by value."""
from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from openscale_lab.deployments import validation
from openscale_lab.deployments.validation import WHOLE_COLUMNS_FROM, parse_scoring_request
from openscale_lab.errors import ScoringInputError
from openscale_lab.tutorial import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, INPUT_DOMAINS, SAMPLE_APPLICANTS

SCHEMA = [{"name": c, "type": "string" if c in CATEGORICAL_COLUMNS else "integer", **INPUT_DOMAINS.get(c, {})}
          for c in FEATURE_COLUMNS]
DOUBLES = [{"name": "rate", "type": "double", "minimum": 0.0, "maximum": 1.0}, {"name": "note", "type": "string"}]
ROWS = 2 * WHOLE_COLUMNS_FROM
AT = ROWS - 3  # where a batch's one odd value sits


def outcome(body: dict[str, Any], schema: list[dict[str, Any]]) -> Any:
    """The parsed rows with each value's type (3 and 3.0 are equal, and must not pass for each other), or the
    refusal's status and message."""
    try:
        fields, rows = parse_scoring_request(orjson.dumps(body), schema)
    except ScoringInputError as exc:
        return exc.status, str(exc)
    return fields, [[(type(v), v) for v in row] for row in rows]


def both_ways(body: dict[str, Any], schema: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """What a batch gives as checked now, and value by value only."""
    whole = outcome(body, schema)
    with monkeypatch.context() as patch:
        patch.setattr(validation, "WHOLE_COLUMNS_FROM", math.inf)
        one_by_one = outcome(body, schema)
    return whole, one_by_one


def tutorial_batch(field: str | None = None, value: Any = None) -> dict[str, Any]:
    rows = [list(SAMPLE_APPLICANTS[i % 8]) for i in range(ROWS)]
    if field is not None:
        rows[AT][FEATURE_COLUMNS.index(field)] = value
    return {"fields": FEATURE_COLUMNS, "values": rows}


ODD_VALUES = [
    ("Age", True), ("Age", 30.0), ("Age", 30.5), ("Age", -1), ("Age", 131), ("Age", 2 ** 60), ("Age", None),
    ("Age", "30"), ("LoanAmount", 1e308), ("Job", 5), ("Job", "skilled\x00"), ("Job", "x" * 201), ("Job", None),
    ("Job", "qualifié"), ("Job", "\u00a0skilled"),
]


@pytest.mark.parametrize(("field", "value"), ODD_VALUES, ids=lambda v: repr(v)[:20])
def test_an_odd_value_gives_what_the_value_by_value_check_gives(field: str, value: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    whole, one_by_one = both_ways(tutorial_batch(field, value), SCHEMA, monkeypatch)
    assert whole == one_by_one


def test_a_valid_batch_is_kept_as_sent_in_any_field_order(monkeypatch: pytest.MonkeyPatch) -> None:
    body = tutorial_batch()
    whole, one_by_one = both_ways(body, SCHEMA, monkeypatch)
    assert whole == one_by_one and [[v for _, v in row] for row in whole[1]] == body["values"]
    order = list(reversed(FEATURE_COLUMNS))
    reordered = {"fields": order, "values": [list(reversed(r)) for r in body["values"]]}
    assert both_ways(reordered, SCHEMA, monkeypatch) == (whole, whole)


@pytest.mark.parametrize("odd", [[1, "x"], ["no", "x"], [1.5, "x"], [-0.5, "x"], [None, "x"]],
                         ids=["an int", "a text", "above", "below", "null"])
def test_double_columns_convert_and_refuse_as_before(odd: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [[0.25, "a"] for _ in range(ROWS)]
    assert both_ways({"fields": ["rate", "note"], "values": rows}, DOUBLES, monkeypatch)[0][1][0] == [
        (float, 0.25), (str, "a")]
    rows[AT] = odd
    whole, one_by_one = both_ways({"fields": ["rate", "note"], "values": rows}, DOUBLES, monkeypatch)
    assert whole == one_by_one


def test_rows_of_the_wrong_shape_are_named_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    body = tutorial_batch()
    body["values"][AT] = body["values"][AT][:-1]
    body["values"][AT + 1] = {"Age": 30}
    whole, one_by_one = both_ways(body, SCHEMA, monkeypatch)
    assert whole == one_by_one and whole[0] == 422 and f"row {AT}: expected a list of 20 values" in whole[1]
