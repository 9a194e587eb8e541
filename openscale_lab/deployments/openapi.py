"""The OpenAPI description of a deployment's endpoints: request bodies from the model's input schema, and
every status code each endpoint answers with.

A client (or a schema-based fuzzer) reads here what a valid request is: the model's fields, each value's
type and range, the known categories as examples, the batch limit.
"""
from __future__ import annotations

from typing import Any

from ..core.input_schema import InputSchema

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {
        "status": {"type": "integer"}, "message": {"type": "string"}}}},
}
REFUSALS = {
    400: "malformed request: not JSON, not a {fields, values} object, an empty batch",
    403: "a timestamp header without the deployment's replay secret (only the history replay may backdate)",
    409: "the fairness monitor is not enabled (the debiased endpoint needs its configuration)",
    413: "request body over the size limit",
    415: "the body is not sent as application/json",
    422: "a field or value does not fit the model's input schema, or a batch over the record limit; the message "
         "names the field and row",
    503: "the data mart could not store the request: nothing was scored or stored",
}


def _fields_values(fields: list[str], row: dict[str, Any], max_records: int, what: str) -> dict[str, Any]:
    return {
        "type": "object", "required": ["fields", "values"], "additionalProperties": False,
        "properties": {
            "fields": {"type": "array", "items": {"type": "string"}, "const": fields,
                       "description": f"the {what}, each once; any order is accepted (values follow it), "
                                      "the schema shows the model's order"},
            "values": {"type": "array", "minItems": 1, "maxItems": max_records, "items": row,
                       "description": "one list of values per record, in the order of `fields`"},
        },
    }


def scoring_request(schema: InputSchema, categories: dict[str, list[str]], max_records: int) -> dict[str, Any]:
    """The scoring request body: `{fields, values}`, or the same wrapped as `{"input_data": [{...}]}`."""
    direct = _fields_values(schema.names, schema.row_schema(categories), max_records, "model's input columns")
    wrapped = {"type": "object", "required": ["input_data"], "additionalProperties": False,
               "properties": {"input_data": {"type": "array", "minItems": 1, "maxItems": 1, "items": direct}}}
    return {"required": True, "content": {"application/json": {"schema": {"anyOf": [direct, wrapped]}}}}


def feedback_request(schema: InputSchema, categories: dict[str, list[str]], label: dict[str, Any],
                     transaction: dict[str, Any], max_records: int) -> dict[str, Any]:
    """The feedback request body: the model's fields and the label, optionally the transaction labelled."""
    row = schema.row_schema(categories)
    fields = [*schema.names, label["name"]]
    plain = dict(row, prefixItems=[*row["prefixItems"], label["schema"]], minItems=len(fields),
                 maxItems=len(fields))
    with_tx = dict(row, prefixItems=[*plain["prefixItems"], transaction["schema"]], minItems=len(fields) + 1,
                   maxItems=len(fields) + 1)
    variants = [_fields_values(fields, plain, max_records, "model's input columns and the label"),
                _fields_values([*fields, transaction["name"]], with_tx, max_records,
                               "model's input columns, the label and the transaction labelled")]
    return {"required": True, "content": {"application/json": {"schema": {"anyOf": variants}}}}


def responses(reply: dict[str, Any], codes: list[int]) -> dict[int | str, dict[str, Any]]:
    """The documented replies of an endpoint: 200 with `reply`, and the refusals it can answer with."""
    out: dict[int | str, dict[str, Any]] = {200: {"description": "success",
                                                  "content": {"application/json": {"schema": reply}}}}
    for code in codes:
        out[code] = {"description": REFUSALS[code], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    return out


SCORING_REPLY = {
    "type": "object", "required": ["fields", "values"],
    "properties": {"fields": {"type": "array", "items": {"type": "string"}},
                   "values": {"type": "array", "items": {"type": "array"}}},
    "description": "the input fields plus prediction, predictedLabel, probability (one per class) and "
                   "transaction_id (debiased: debiased_predictedLabel before it)",
}
FEEDBACK_REPLY = {
    "type": "object", "required": ["received", "stored", "feedback_records"],
    "properties": {"received": {"type": "integer"}, "stored": {"type": "integer"},
                   "feedback_records": {"type": "integer"}},
    "description": "records received, newly stored (a record sent before is not stored twice), and stored in all",
}
