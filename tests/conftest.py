"""Shared fixtures: one trained model and one deployment for the whole run, a PostgreSQL schema per test."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from openscale_lab.classroom.settings import CLASSROOM_JAVA_OPTIONS
from openscale_lab.deployments.artifacts import SERVE_MODULE
from openscale_lab.service.process import SERVICE_MODULE

os.environ.setdefault("OPENSCALE_LAB_CELL_TIMEOUT", "600")  # a hung notebook cell fails, it does not stall CI
# Spark's driver JVM with the classroom's profile (`openscale_lab.classroom.CLASSROOM_JAVA_OPTIONS`: the quick
# first-tier compiler only and the serial collector): the same results, about a third less CPU for the short jobs
# the tests run, and a suite that runs several notebooks at once (the nbval run, the classroom) fits on two cores
os.environ.setdefault("OPENSCALE_LAB_SPARK_JAVA_OPTIONS", CLASSROOM_JAVA_OPTIONS)
NBVAL_TEST = "test_the_notebooks_run_under_nbval_as_a_learner_opens_them"
POSTGRES_URL = os.environ.get("OPENSCALE_LAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with the install hint, when there is no Java for Spark."""
    from openscale_lab.errors import JavaNotFoundError
    from openscale_lab.models.spark import java_version

    try:
        java_version()
    except JavaNotFoundError as exc:
        pytest.exit(str(exc), returncode=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers that follow from what a test uses: `postgres` for the PostgreSQL server. The nbval test goes
    last: its run started with the suite (`nbval_run`), and the test waits for it."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = getattr(item, "fixturenames", ())
        if {"postgres_url", "postgres_server"} & set(fixtures) or params.get("datamart") == "postgresql":
            item.add_marker(pytest.mark.postgres)
    items.sort(key=lambda item: item.name == NBVAL_TEST)


def serve_processes(under: Path) -> list[psutil.Process]:
    """Deployment servers and OpenScale-compatible services whose folder lies under `under`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if (SERVE_MODULE in cmd or SERVICE_MODULE in cmd) and any(str(under) in part for part in cmd):
            found.append(proc)
    return found


@pytest.fixture(scope="session")
def suite_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Root of every workspace the suite makes; no server under it may outlive the suite."""
    root = tmp_path_factory.mktemp("lab")
    yield root
    left = serve_processes(root)
    for proc in left:
        proc.kill()
    assert not left, f"deployment servers left running by the tests: {[p.pid for p in left]}"


@pytest.fixture(scope="session", autouse=True)
def nbval_run(request: pytest.FixtureRequest, suite_root: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The notebooks under nbval in a learner's workspace, running in the background from the suite's start when
    its test is among those chosen (None otherwise); stopped at the end whatever happened."""
    if not any(item.name == NBVAL_TEST for item in request.session.items):
        yield None
        return
    from .test_nbval import start_nbval

    run = start_nbval(suite_root / "learner-workspace", tmp_path_factory.mktemp("nbval"))
    yield run
    run.stop()


@pytest.fixture(scope="session")
def history(suite_root: Path, tmp_path_factory: pytest.TempPathFactory, trained, deployment):  # type: ignore[no-untyped-def]
    """A fresh workspace with the default week of history, made by notebook 04 alone in a workspace as notebook 01
    leaves it (workspace, its records, the folder of the executed notebook)."""
    from openscale_lab.notebook_runner import notebooks_dir, read_records, run_notebook
    from openscale_lab.provisioning import stop_lab
    from openscale_lab.workspace import Workspace

    from .helpers import workspace_after_notebook_01

    path = suite_root / "history-workspace"
    workspace_after_notebook_01(path, trained[1], deployment)
    out = tmp_path_factory.mktemp("history-notebooks")
    executed = run_notebook(notebooks_dir() / "04_load_history.ipynb", out, {"WORKSPACE": str(path)})
    yield Workspace.open(path), read_records(executed), out
    stop_lab(path)


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    from openscale_lab.models.spark import get_spark

    session = get_spark("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def trained(suite_root: Path, spark):  # type: ignore[no-untyped-def]
    """A provisioned workspace with the tutorial's model trained and published."""
    import openscale_lab as lab
    from openscale_lab.models.training import train_model

    report = lab.provision(suite_root / "shared-workspace")
    result = train_model(spark)
    model = lab.publish_model(report.workspace, result)
    return report.workspace, model, result


@pytest.fixture(scope="session")
def deployment(trained, spark):  # type: ignore[no-untyped-def]
    """The model deployed and running for the session."""
    from openscale_lab.deployments.engine import MLEngine

    ws, model, _ = trained
    engine = MLEngine(ws)
    dep = engine.deploy(model, "test deployment", spark)
    yield dep
    engine.stop_all()


def postgres_engine():  # type: ignore[no-untyped-def]
    """An engine on the test server once it answers. Skips outside CI when no server answers."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable under CI at {POSTGRES_URL}: {exc.orig}")
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_URL}")
    return engine


@pytest.fixture
def postgres_server() -> str:
    """The test server's URL (a database, no schema of its own), once it answers."""
    postgres_engine().dispose()
    return POSTGRES_URL


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema, dropped afterwards. Skips outside CI when no server answers."""
    import sqlalchemy as sa

    engine = postgres_engine()
    schema = f"lab_test_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards. Skips outside CI when no server answers."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def datamart(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty data mart on SQLite, then on PostgreSQL (test modules may define their own)."""
    from openscale_lab.datamart.database import DataMart

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dm.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    dm = DataMart(url)
    yield dm
    dm.close()


def schemas_named(server: str, prefix: str) -> set[str]:
    """The PostgreSQL schemas on `server` whose names start with `prefix`."""
    import sqlalchemy as sa

    engine = sa.create_engine(server)
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.text(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"), {"p": f"{prefix}%"})}
    finally:
        engine.dispose()


@pytest.fixture
def class_root(tmp_path: Path, postgres_server: str) -> Iterator[Path]:
    """A folder for a classroom whose name no other run shares (its schemas are named after it); whatever the
    test left of the class is removed afterwards, schemas and servers included."""
    from openscale_lab.classroom import Classroom

    root = tmp_path / f"c{uuid.uuid4().hex[:8]}"  # within the 12 characters a schema prefix takes of it
    yield root
    if (root / "classroom.json").is_file():
        Classroom.open(root).remove(everyone=True)
    assert not schemas_named(postgres_server, f"lab_{root.name}_")
    left = serve_processes(root)
    for proc in left:
        proc.kill()
    assert not left, f"servers left running: {[p.pid for p in left]}"
