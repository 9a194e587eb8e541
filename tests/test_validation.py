"""Scoring requests are checked before anything is scored; every message names the field or row."""
from __future__ import annotations

import json

import pytest

from openscale_lab.deployments.validation import parse_scoring_request
from openscale_lab.errors import ScoringInputError
from openscale_lab.tutorial import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, sample_payload

SCHEMA = [{"name": c, "type": "string" if c in CATEGORICAL_COLUMNS else "integer"} for c in FEATURE_COLUMNS]


def parse(payload: object, **kw: int) -> tuple[list[str], list[list[object]]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_scoring_request(body, SCHEMA, **kw)


def rejected(payload: object, **kw: int) -> ScoringInputError:
    with pytest.raises(ScoringInputError) as info:
        parse(payload, **kw)
    return info.value


def test_tutorial_payload_is_accepted_in_schema_order() -> None:
    payload = sample_payload()
    fields, rows = parse(payload)
    assert fields == FEATURE_COLUMNS
    assert rows == payload["values"]


def test_fields_in_another_order_are_reordered() -> None:
    payload = sample_payload()
    order = list(reversed(payload["fields"]))
    values = [list(reversed(v)) for v in payload["values"]]
    fields, rows = parse({"fields": order, "values": values})
    assert fields == FEATURE_COLUMNS and rows == payload["values"]


def test_wml_input_data_wrapper_is_accepted() -> None:
    assert parse({"input_data": [sample_payload()]})[1] == sample_payload()["values"]


def test_non_json_body() -> None:
    err = rejected(b"{not json")
    assert err.status == 400 and "not valid JSON" in str(err)


@pytest.mark.parametrize("body, words", [
    ([1, 2], "JSON object"), ({"values": [[1]]}, "no 'fields'"), ({"fields": FEATURE_COLUMNS}, "no 'values'"),
    ({"fields": "Age", "values": [[1]]}, "'fields' must be a list"),
])
def test_malformed_bodies(body: object, words: str) -> None:
    assert words in str(rejected(body))


def test_missing_and_unknown_fields_are_named() -> None:
    payload = sample_payload()
    payload["fields"] = ["Salary" if f == "Age" else f for f in payload["fields"]]
    err = rejected(payload)
    assert err.status == 422
    assert "missing field(s): Age" in str(err) and "unknown field(s): 'Salary'" in str(err)


def test_wrong_type_names_row_and_field() -> None:
    payload = sample_payload()
    payload["values"][3][FEATURE_COLUMNS.index("LoanAmount")] = "a lot"
    payload["values"][5][FEATURE_COLUMNS.index("Sex")] = 1
    err = str(rejected(payload))
    assert "row 3, field 'LoanAmount': expected a number, got 'a lot'" in err
    assert "row 5, field 'Sex': expected a string, got 1" in err


@pytest.mark.parametrize("value, problem", [
    (True, "expected a number"), (None, "a value is required"), (12.5, "expected a whole number"),
])
def test_integer_fields(value: object, problem: str) -> None:
    payload = sample_payload()
    payload["values"][0][FEATURE_COLUMNS.index("Age")] = value
    assert f"row 0, field 'Age': {problem}" in str(rejected(payload))


def test_whole_float_is_an_integer() -> None:
    payload = sample_payload()
    payload["values"][0][FEATURE_COLUMNS.index("Age")] = 46.0
    assert parse(payload)[1][0][FEATURE_COLUMNS.index("Age")] == 46


def test_short_row_is_named() -> None:
    payload = sample_payload()
    payload["values"][2] = payload["values"][2][:-1]
    assert "row 2: expected a list of 20 values (one per field), got 19 values" in str(rejected(payload))


def test_empty_batch() -> None:
    assert "'values' is empty" in str(rejected({"fields": FEATURE_COLUMNS, "values": []}))


def test_oversized_batch() -> None:
    payload = sample_payload()
    err = rejected(payload, max_records=5)
    assert err.status == 422 and "batch of 8 records is over the limit of 5" in str(err)


def test_duplicate_fields() -> None:
    payload = sample_payload()
    payload["fields"][1] = "CheckingStatus"
    assert "given twice: 'CheckingStatus'" in str(rejected(payload))
