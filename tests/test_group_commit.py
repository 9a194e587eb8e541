"""Group commit: concurrent scoring requests' records committed together before each reply, on SQLite and on
PostgreSQL; a batch the database refuses fails alone; a success reply still means the records are stored, under
load, through a shutdown and through SIGKILL."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart, Subscription
from openscale_lab.datamart.group_commit import WRITER_CLOSED, PayloadWriter
from openscale_lab.deployments.artifacts import MODEL_VERSION_HEADER, Deployment
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.errors import DataMartError
from openscale_lab.tutorial import FEATURE_COLUMNS, sample_payload

from .conftest import postgres_schema
from .helpers import T0, copy_deployment, make_subscription, payload_rows

REFUSED_AMOUNT = 987_654  # a valid LoanAmount that the tests' database refuses, as only the database would
UNAVAILABLE = "the data mart could not store the payload; nothing was stored"


# -- the writer on its own ----------------------------------------------------------------------------------------
def writer_for(dm: DataMart, **options: Any) -> tuple[PayloadWriter, Subscription]:
    sub = make_subscription(dm)
    table = dm.payload_table(sub)
    return PayloadWriter(dm.engine, table, [c.name for c in table.columns], **options), sub


def batch(writer: PayloadWriter, name: str, n: int = 2) -> list[tuple[Any, ...]]:
    """`n` payload records with ids `name-0` ... as tuples in the writer's column order."""
    rows = []
    for i, row in enumerate(payload_rows(n, T0, timedelta(seconds=1))):
        row.update(scoring_id=f"{name}-{i}", request_id=name, scoring_timestamp=writer.time_value(T0))
        rows.append(tuple(row[c] for c in writer.columns))
    return rows


def stored(dm: DataMart, sub: Subscription) -> list[Any]:
    """The payload log's rows, read back plainly."""
    with dm.engine.connect() as conn:
        return list(conn.execute(sa.select(dm.payload_table(sub))))


def stored_ids(dm: DataMart, sub: Subscription) -> set[str]:
    return {row.scoring_id for row in stored(dm, sub)}


def test_batches_stored_at_once_share_one_commit(datamart: DataMart) -> None:
    writer, sub = writer_for(datamart)

    async def scenario() -> None:
        await asyncio.gather(*(writer.store(batch(writer, f"r{k}")) for k in range(20)))
        await writer.close()

    asyncio.run(scenario())
    assert (writer.groups, writer.batches, writer.fallbacks) == (1, 20, 0)
    assert stored_ids(datamart, sub) == {f"r{k}-{i}" for k in range(20) for i in range(2)}
    rows = stored(datamart, sub)  # typed as SQLAlchemy reads them: the writer's values are the driver's own
    assert {row.scoring_timestamp for row in rows} == {T0} and {row.probability for row in rows} == {"[0.75, 0.25]"}
    assert {row.prediction_probability for row in rows} == {0.75}


def test_a_batch_the_database_refuses_fails_alone(datamart: DataMart) -> None:
    writer, sub = writer_for(datamart)

    async def scenario() -> list[Any]:
        await writer.store(batch(writer, "first", 1))
        clash = batch(writer, "bad") + batch(writer, "first", 1)  # a new record, then one already stored
        outcome = await asyncio.gather(writer.store(batch(writer, "good1")), writer.store(clash),
                                       writer.store(batch(writer, "good2")), return_exceptions=True)
        await writer.close()
        return outcome

    good1, bad, good2 = asyncio.run(scenario())
    assert good1 is None and good2 is None
    assert isinstance(bad, Exception) and not isinstance(bad, DataMartError)  # the database's own error
    assert writer.fallbacks == 1
    assert stored_ids(datamart, sub) == {"first-0", "good1-0", "good1-1", "good2-0", "good2-1"}  # no bad-0


def test_closing_commits_what_is_queued_then_refuses(datamart: DataMart) -> None:
    writer, sub = writer_for(datamart)

    async def scenario() -> None:
        queued = [asyncio.create_task(writer.store(batch(writer, f"q{k}"))) for k in range(5)]
        await asyncio.sleep(0)  # each has queued its batch
        await writer.close()
        assert all(t.done() and t.exception() is None for t in queued)
        with pytest.raises(DataMartError, match=WRITER_CLOSED):
            await writer.store(batch(writer, "late"))

    asyncio.run(scenario())
    assert len(stored_ids(datamart, sub)) == 10


def test_a_lost_postgresql_connection_fails_one_group_then_is_replaced(postgres_url: str) -> None:
    dm = DataMart(postgres_url)
    writer, sub = writer_for(dm, in_flight=1)

    async def scenario() -> None:
        await writer.store(batch(writer, "before"))
        pid = writer._connections[0].conn.info.backend_pid  # type: ignore[attr-defined]
        with dm.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(Exception) as lost:
            await writer.store(batch(writer, "lost"))
        assert not isinstance(lost.value, DataMartError)
        await writer.store(batch(writer, "after"))
        await writer.close()

    try:
        asyncio.run(scenario())
        assert stored_ids(dm, sub) == {"before-0", "before-1", "after-0", "after-1"}
    finally:
        dm.close()


# -- the scoring service ------------------------------------------------------------------------------------------
@dataclass
class Served:
    """A running copy of the suite's deployment in a workspace of its own, on one data mart."""

    engine: MLEngine
    deployment: Deployment
    datamart: DataMart
    subscription: Subscription

    def payload_ids(self) -> set[str]:
        table = self.datamart.payload_table(self.subscription)
        with self.datamart.engine.connect() as conn:
            return set(conn.execute(sa.select(table.c.scoring_id)).scalars())

    def restart(self) -> None:
        self.deployment = self.engine.start(self.deployment)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, trained, deployment, suite_root: Path) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    """No new compile or Spark check: the verified deployment folder and its model are copied."""
    _, model, _ = trained
    cleanup = ExitStack()
    url = cleanup.enter_context(postgres_schema()) if request.param == "postgresql" else None
    ws = lab.provision(suite_root / f"group-commit-{request.param}", url).workspace
    engine = MLEngine(ws)
    dep = engine.start(copy_deployment(model, deployment, ws))
    dm = DataMart(ws.datamart_url)
    try:
        yield Served(engine, dep, dm, dm.subscription_for_deployment(dep.deployment_id))
    finally:
        engine.stop(dep)
        dm.close()
        cleanup.close()


def one_record(k: int, amount: int | None = None) -> dict[str, Any]:
    values = list(sample_payload()["values"][k % 8])
    if amount is not None:
        values[FEATURE_COLUMNS.index("LoanAmount")] = amount
    return {"fields": FEATURE_COLUMNS, "values": [values]}


def clients(url: str, count: int, requests_each: int, amount: int | None = None,
            stop: threading.Event | None = None) -> tuple[list[threading.Thread], list[requests.Response]]:
    """`count` threads, each sending single-record requests on its own connection (started; join them)."""
    replies: list[requests.Response] = []

    def client(c: int) -> None:
        with requests.Session() as session:
            for i in range(requests_each):
                if stop is not None and stop.is_set():
                    return
                try:
                    replies.append(session.post(url, json=one_record(c + i, amount), timeout=10))
                except requests.RequestException:  # the server went away: what it replied before counts
                    return

    threads = [threading.Thread(target=client, args=(c,)) for c in range(count)]
    for t in threads:
        t.start()
    return threads, replies


def acknowledged(replies: list[requests.Response]) -> list[str]:
    return [v[-1] for r in replies if r.status_code == 200 for v in r.json()["values"]]


def test_concurrent_clients_every_acknowledged_record_is_stored(served: Served) -> None:
    before = served.payload_ids()
    threads, replies = clients(served.deployment.scoring_url, 16, 20)
    for t in threads:
        t.join()
    assert [r.status_code for r in replies] == [200] * 320
    assert {r.headers[MODEL_VERSION_HEADER] for r in replies} == {served.deployment.model_version}
    ids = acknowledged(replies)
    assert len(set(ids)) == 320
    assert served.payload_ids() - before == set(ids)  # rows == acknowledged


@pytest.fixture
def refusing_database(served: Served) -> Iterator[None]:
    """The payload table refuses LoanAmount REFUSED_AMOUNT, as a constraint only the database knows."""
    table = served.subscription.payload_table
    postgres = served.datamart.engine.dialect.name == "postgresql"
    install, remove = (
        (f'ALTER TABLE "{table}" ADD CONSTRAINT refused_amount CHECK ("LoanAmount" <> {REFUSED_AMOUNT})',
         f'ALTER TABLE "{table}" DROP CONSTRAINT refused_amount') if postgres else
        (f'CREATE TRIGGER refused_amount BEFORE INSERT ON "{table}" WHEN NEW."LoanAmount" = {REFUSED_AMOUNT} '
         "BEGIN SELECT RAISE(ABORT, 'refused amount'); END", "DROP TRIGGER refused_amount"))
    with served.datamart.engine.begin() as conn:
        conn.execute(sa.text(install))
    try:
        yield
    finally:
        with served.datamart.engine.begin() as conn:
            conn.execute(sa.text(remove))


def test_a_request_the_database_refuses_gets_503_and_the_others_are_stored(served: Served,
                                                                           refusing_database: None) -> None:
    before = served.payload_ids()
    url = served.deployment.scoring_url
    good_threads, good = clients(url, 8, 15)
    bad_threads, bad = clients(url, 2, 10, amount=REFUSED_AMOUNT)
    for t in good_threads + bad_threads:
        t.join()
    assert [r.status_code for r in bad] == [503] * 20
    assert all(UNAVAILABLE in r.json()["error"]["message"] for r in bad)
    assert [r.status_code for r in good] == [200] * 120
    assert served.payload_ids() - before == set(acknowledged(good))
    table = served.datamart.payload_table(served.subscription)
    with served.datamart.engine.connect() as conn:
        refused = conn.execute(sa.select(sa.func.count()).select_from(table)
                               .where(table.c.LoanAmount == REFUSED_AMOUNT)).scalar_one()
    assert refused == 0


def test_stopping_under_load_commits_every_acknowledged_record(served: Served) -> None:
    before = served.payload_ids()
    stop = threading.Event()
    threads, replies = clients(served.deployment.scoring_url, 16, 10_000, stop=stop)
    time.sleep(0.5)
    assert served.engine.stop(served.deployment)  # SIGTERM: the server drains, then its writer
    stop.set()
    for t in threads:
        t.join()
    ids = acknowledged(replies)
    assert len(ids) > 50
    assert set(ids) <= served.payload_ids() - before
    log = served.engine.log_tail(served.deployment, 200)
    assert "Traceback" not in log and "warming the scorer up failed" not in log
    served.restart()


def test_nothing_acknowledged_is_lost_when_killed_under_load(served: Served) -> None:
    before = served.payload_ids()
    stop = threading.Event()
    pid = served.engine.pid(served.deployment)
    threads, replies = clients(served.deployment.scoring_url, 16, 10_000, stop=stop)
    time.sleep(0.7)
    os.kill(pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    ids = acknowledged(replies)
    assert len(ids) > 50
    missing = set(ids) - (served.payload_ids() - before)
    assert not missing, f"{len(missing)} acknowledged records are not in the data mart"
    served.restart()
    assert requests.post(served.deployment.scoring_url, json=one_record(0), timeout=10).status_code == 200
