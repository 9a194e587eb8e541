"""The data mart on SQLite and on the real PostgreSQL server, through one code path."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from openscale_lab.datamart.database import DataMart
from openscale_lab.tutorial import FEATURE_COLUMNS, SAMPLE_APPLICANTS

from .helpers import CATEGORICAL_COLUMNS, SCHEMA, T0, make_subscription, payload_rows


def test_binding_is_created_once(datamart: DataMart) -> None:
    first = datamart.ensure_binding("engine", "local", "/x")
    assert datamart.ensure_binding("engine", "local", "/x") == first
    assert len(datamart.list_bindings()) == 1


def test_subscription_round_trip(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    again = datamart.subscription_for_deployment("dep1")
    assert again is not None and again.subscription_id == sub.subscription_id
    assert again.input_schema == SCHEMA and again.categorical_columns == CATEGORICAL_COLUMNS
    assert again.label_column == "Risk" and again.transaction_id_column == "transaction_id"
    assert datamart.subscription_for_deployment("other") is None


def test_payload_counts_and_reads_by_time_window(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    datamart.store_payload(datamart.payload_table(sub), payload_rows(10, T0, timedelta(minutes=10)))
    assert datamart.payload_count(sub) == 10
    assert datamart.payload_count(sub, T0 + timedelta(minutes=30), T0 + timedelta(minutes=60)) == 3
    frame = datamart.get_payload(sub, start=T0 + timedelta(minutes=85))
    assert list(frame["scoring_id"]) == ["req-9"]
    assert frame["probability"].iloc[0] == [0.75, 0.25]
    assert frame["Age"].iloc[0] == SAMPLE_APPLICANTS[1][FEATURE_COLUMNS.index("Age")]


def test_a_failing_batch_leaves_nothing(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    rows = payload_rows(3, T0, timedelta(seconds=1))
    rows[2]["scoring_id"] = rows[0]["scoring_id"]  # duplicate key: the whole batch must fail
    with pytest.raises(sa.exc.IntegrityError):
        datamart.store_payload(datamart.payload_table(sub), rows)
    assert datamart.payload_count(sub) == 0


def test_retired_deployment_keeps_its_payload(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    datamart.store_payload(datamart.payload_table(sub), payload_rows(4, T0, timedelta(seconds=1)))
    assert datamart.retire_deployment("dep1") == 1
    assert datamart.subscription_for_deployment("dep1") is None
    assert datamart.payload_count(sub.subscription_id) == 4


def test_reset_drops_only_the_lab_tables(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    with datamart.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE learner_notes (note VARCHAR(20))"))
    dropped = datamart.reset()
    from openscale_lab.datamart.tables import metadata

    assert set(dropped) == set(metadata.tables) | {sub.payload_table}
    names = sa.inspect(datamart.engine).get_table_names()
    assert "learner_notes" in names and sub.payload_table not in names
    assert not datamart.has_data()


@pytest.mark.parametrize("texts", [
    ["[0.5, 0.5]", "[1e-05, 0.99999]"], ["[1, 0]", "[0.25,0.75]"], ["[-0.0, 2.5E+3]"], ["[ 1 , 2 ]"], ["[1]"],
    ["[0.1, 0.9]", "[NaN, 1]"], ["[0.1, 0.9]", "[Infinity, -Infinity]"], ["[1,2] ", "[3,4]"], ["[null, 1]", "[1, 0]"],
    [" [0.5,0.5]", "[0.5,0.5]"]])
def test_probability_texts_parse_as_json_parses_them(texts: list[str]) -> None:
    """The drift monitor reads a window's probabilities at once (orjson, or the JSON module for what orjson
    refuses): the JSON module's numbers, whatever the texts."""
    import json

    import numpy as np

    from openscale_lab.datamart.window import probability_matrix

    expected = np.array(json.loads("[" + ",".join(texts) + "]"), dtype=float)
    assert np.array_equal(probability_matrix(texts), expected, equal_nan=True)
    assert np.array_equal(probability_matrix([json.loads(t) for t in texts]), expected, equal_nan=True)
    assert probability_matrix([]).shape == (0, 0)


@pytest.mark.parametrize("texts", [["[1,2]", "[3,4,5]"], ["[[1],2]"], ["[0.1,0.9]", '["a",1]'], ["[1,2]", "[3 4,5]"],
                                   ['["1,2"]']])
def test_probability_texts_that_are_not_rows_of_numbers_are_refused(texts: list[str]) -> None:
    from openscale_lab.datamart.window import probability_matrix

    with pytest.raises(ValueError):  # JSONDecodeError is a ValueError too
        probability_matrix(texts)


def test_a_million_probabilities_parse_exactly() -> None:
    import json

    import numpy as np

    from openscale_lab.datamart.window import probability_matrix

    p = np.random.default_rng(3).random(200_000)
    texts = [json.dumps([float(a), float(1 - a)]) for a in p]
    assert np.array_equal(probability_matrix(texts), np.column_stack([p, 1 - p]))
