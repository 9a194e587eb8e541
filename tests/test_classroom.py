"""Classrooms: a lab per student on one PostgreSQL server (own schema, folder and ports), reset and removal that
touch nobody else, the instructor's commands and the class's progress read from the students' labs."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import openscale_lab as lab
from openscale_lab.classroom import Classroom, ClassroomError, numbered, read_roster
from openscale_lab.core.ports import free_port
from openscale_lab.datamart.database import DataMart
from openscale_lab.workspace import Workspace

from .conftest import schemas_named
from .helpers import make_subscription


def test_a_roster_is_read_and_bad_names_are_refused_with_their_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("# spring class\nalice\n\nbob_2\n")
    assert read_roster(plain) == ["alice", "bob_2"]
    table = tmp_path / "class.csv"
    table.write_text("name,student,email\nAlice A,alice,a@x\nBob B,bob,b@x\n")
    assert read_roster(table) == ["alice", "bob"]
    assert numbered(3) == ["student001", "student002", "student003"]
    assert numbered(120)[:2] == numbered(30)[:2]  # a class made again with more students keeps its names
    (tmp_path / "bom.csv").write_bytes("\ufeffstudent\nalice\n".encode())  # a spreadsheet's CSV
    assert read_roster(tmp_path / "bom.csv") == ["alice"]
    for text, says in [("alice\nAlice Smith\n", "line 2: student name 'Alice Smith'"),
                       ("alice\nalice\n", "line 2: student 'alice' is named twice"),
                       ("# nobody\n", "no student names")]:
        plain.write_text(text)
        with pytest.raises(ClassroomError, match=says):
            read_roster(plain)
    with pytest.raises(ClassroomError, match="1 to 999"):
        numbered(0)


def test_a_port_range_gives_its_first_free_port_and_says_when_it_is_full() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _free(port + 1), "the port after a free port the system gave is taken: run again"
        assert free_port("127.0.0.1", (port, port + 1)) == port + 1
        assert free_port("127.0.0.1", (port + 1, port + 2)) == port + 1  # the first free one, not any
        assert free_port("127.0.0.1", (port + 1, port + 2), avoid={port + 1}) == port + 2
        with pytest.raises(lab.LabError, match=f"range {port}-{port}.*in use"):
            free_port("127.0.0.1", (port, port))


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_create_gives_each_student_a_schema_a_folder_and_ports_of_their_own(class_root: Path,
                                                                            postgres_server: str) -> None:
    room = Classroom.create(class_root, ["alice", "bob", "carol"], postgres_server)
    students = room.students()
    assert schemas_named(postgres_server, f"lab_{class_root.name}_") == {s.schema for s in students}
    assert all(s.schema == f"lab_{class_root.name}_{room.class_id[:6]}_{s.name}" for s in students)
    ranges = sorted(s.ports for s in students)
    assert ranges == [(20000, 20019), (20020, 20039), (20040, 20059)]  # next to each other, never overlapping
    for s in students:
        ws = Workspace.open(s.workspace)
        assert ws.datamart_url == s.datamart_url and f"search_path%3D{s.schema}" in ws.datamart_url
        assert ws.ports == s.ports
        assert (s.notebooks / "01_train_and_deploy_model.ipynb").is_file()
        env = room.environment(s.name)
        assert env["OPENSCALE_LAB_WORKSPACE"] == str(s.workspace)
        assert env["OPENSCALE_LAB_DATAMART_URL"] == s.datamart_url
        assert env["OPENSCALE_LAB_SPARK_MASTER"] == "local[1]" and "OPENSCALE_LAB_SPARK_CONF" not in env
    assert (class_root / "class_insights.ipynb").is_file()
    # the class page links each name into that student's dashboard page, which their workspace holds
    rows = lab.class_progress(room)
    page = lab.class_table(rows, "http://hub.example:8000/")
    for s in students:
        link = f"http://hub.example:8000/user/{s.name}/voila/render/workspace/dashboard/05_insights_dashboard.ipynb"
        assert f"href='{link}'" in page
        assert (s.workspace / "dashboard" / "05_insights_dashboard.ipynb").is_file()
    # the tables of one student's data mart are in their schema only
    dm = DataMart(students[0].datamart_url)
    make_subscription(dm)
    dm.close()
    engine = sa.create_engine(postgres_server)
    with engine.connect() as conn:
        where = conn.execute(sa.text("SELECT table_schema FROM information_schema.tables WHERE table_name = "
                                     "'payload_subdep1' AND table_schema LIKE :p"),
                             {"p": f"lab_{class_root.name}_%"}).scalars().all()
    engine.dispose()
    assert where == [students[0].schema]

    # again, with one more student and a student's edited notebook: nothing of anyone's is replaced
    edited = students[1].notebooks / "00_provision_services.ipynb"
    edited.write_text(edited.read_text().replace("Parameters", "My parameters"))
    again = Classroom.create(class_root, ["alice", "bob", "carol", "dave"], postgres_server,
                             spark_master="spark://127.0.0.1:7077")
    with pytest.raises(ClassroomError, match="--first-port 21000: the classroom .* was made with 20000"):
        Classroom.create(class_root, ["erin"], postgres_server, first_port=21000)
    assert Classroom.create(class_root, ["dave"], postgres_server).config["spark"]["master"] == \
        "spark://127.0.0.1:7077"  # a setting not given again stays as it was
    assert [s.ports for s in again.students()][:3] == [s.ports for s in students]
    assert again.student("dave").ports == (20060, 20079)
    assert "My parameters" in edited.read_text()
    dm = DataMart(students[0].datamart_url)
    assert len(dm.active_subscriptions()) == 1
    dm.close()
    env = again.environment("dave")
    assert env["OPENSCALE_LAB_SPARK_MASTER"] == "spark://127.0.0.1:7077"
    assert env["OPENSCALE_LAB_SPARK_CONF"] == "spark.cores.max=1 spark.executor.memory=512m"


def test_reset_and_remove_touch_only_the_students_named(class_root: Path, postgres_server: str) -> None:
    room = Classroom.create(class_root, numbered(3), postgres_server)
    first, second, third = room.students()
    with pytest.raises(ClassroomError, match="name the students, or say everyone"):
        room.reset()
    for s in (first, second):
        dm = DataMart(s.datamart_url)
        make_subscription(dm)
        dm.close()
    (first.workspace / "models" / "a-model").mkdir(parents=True)
    assert room.reset(["student001"]) == ["student001"]
    dm = DataMart(first.datamart_url)
    assert dm.active_subscriptions() == [] and not dm.has_data()
    dm.close()
    assert not (first.workspace / "models" / "a-model").exists()
    assert Workspace.open(first.workspace).ports == first.ports  # provisioned again, as create left it
    dm = DataMart(second.datamart_url)
    assert len(dm.active_subscriptions()) == 1  # untouched
    dm.close()
    with pytest.raises(ClassroomError, match="no student 'nobody'.*student001, student002, student003"):
        room.reset(["nobody"])
    assert room.remove(["student003"]) == ["student003"]
    assert not third.home.exists()
    assert schemas_named(postgres_server, f"lab_{class_root.name}_") == {first.schema, second.schema}
    assert Classroom.open(class_root).names == ["student001", "student002"]
    # a schema this classroom did not make is never dropped, nor taken for a new student
    engine = sa.create_engine(postgres_server)
    with engine.begin() as conn:
        conn.execute(sa.text(f"COMMENT ON SCHEMA \"{second.schema}\" IS 'somebody else''s'"))
        conn.execute(sa.text(f'CREATE SCHEMA "{room.config["schema_prefix"]}_zoe"'))
    try:
        with pytest.raises(ClassroomError, match=f"schema {second.schema} is not this classroom's"):
            room.reset(["student002"])
        with pytest.raises(ClassroomError, match="exists already on the class's database and is not this"):
            Classroom.create(class_root, ["zoe"], postgres_server)
        dm = DataMart(second.datamart_url)
        assert len(dm.active_subscriptions()) == 1
        dm.close()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"COMMENT ON SCHEMA \"{second.schema}\" IS "
                                 f"'openscale-lab classroom {room.class_id}'"))
            conn.execute(sa.text(f'DROP SCHEMA "{room.config["schema_prefix"]}_zoe"'))
        engine.dispose()
    assert Classroom.open(class_root).names == ["student001", "student002"]  # zoe was not added


def test_a_classroom_needs_a_reachable_postgresql_database(tmp_path: Path) -> None:
    with pytest.raises(ClassroomError, match="must be a PostgreSQL URL"):
        Classroom.create(tmp_path / "c", ["alice"], f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(ClassroomError, match="cannot reach the class's database at .*127.0.0.1:1/test"):
        Classroom.create(tmp_path / "c", ["alice"], "postgresql+psycopg://postgres@127.0.0.1:1/test")
    with pytest.raises(ClassroomError, match="leave out options"):
        Classroom.create(tmp_path / "c", ["alice"], "postgresql://postgres@127.0.0.1/test?options=-csearch_path%3Dx")
    assert not (tmp_path / "c" / "classroom.json").exists()
    with pytest.raises(ClassroomError, match="no classroom at"):
        Classroom.open(tmp_path / "c")


def test_the_classroom_command(class_root: Path, postgres_server: str, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "openscale_lab", "classroom", *args], capture_output=True,
                              text=True, timeout=120)

    roster = tmp_path / "roster.txt"
    roster.write_text("alice\nbob\n")
    made = cli("create", "--roster", str(roster), "--datamart-url", postgres_server, "--root", str(class_root))
    assert made.returncode == 0, made.stderr
    assert "alice:" in made.stdout and "(schema lab_" in made.stdout and "2 students in" in made.stdout
    status = cli("status", "--root", str(class_root), "--json")
    rows = json.loads(status.stdout)
    assert [(r["student"], r["reached"], r["provisioned"], r["deployed"]) for r in rows] == [
        ("alice", "00", True, False), ("bob", "00", True, False)]
    table = cli("status", "--root", str(class_root))
    assert table.returncode == 0 and "alice" in table.stdout and "reached" in table.stdout
    env = cli("env", "bob", "--root", str(class_root))
    assert "export OPENSCALE_LAB_WORKSPACE=" in env.stdout and "students/bob/workspace" in env.stdout
    refused = cli("reset", "--root", str(class_root))
    assert refused.returncode == 1 and "name the students, or say everyone (--all)" in refused.stderr
    assert cli("reset", "--all", "--root", str(class_root)).stdout.strip() == "reset: alice, bob"
    missing = cli("status", "--root", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no classroom at" in missing.stderr and "Traceback" not in missing.stderr
    gone = cli("remove", "--all", "--root", str(class_root))
    assert gone.returncode == 0 and gone.stdout.strip() == "removed: alice, bob"
    assert not (class_root / "classroom.json").exists()


def test_spark_settings_come_from_the_classroom_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from openscale_lab.models.spark import spark_settings

    monkeypatch.delenv("OPENSCALE_LAB_SPARK_MASTER", raising=False)
    monkeypatch.delenv("OPENSCALE_LAB_SPARK_CONF", raising=False)
    assert spark_settings() == ("local[*]", {})
    monkeypatch.setenv("OPENSCALE_LAB_SPARK_MASTER", "spark://127.0.0.1:7077")
    monkeypatch.setenv("OPENSCALE_LAB_SPARK_CONF", "spark.cores.max=1  spark.executor.memory=512m")
    assert spark_settings() == ("spark://127.0.0.1:7077", {"spark.cores.max": "1", "spark.executor.memory": "512m"})
    assert spark_settings("local[2]")[0] == "local[2]"  # a notebook's own SPARK_MASTER wins
    monkeypatch.setenv("OPENSCALE_LAB_SPARK_CONF", "cores=1")
    with pytest.raises(lab.LabError, match="'cores=1' is not a spark.<name>=<value> setting"):
        spark_settings()


def test_the_dashboard_knows_a_voila_rendering_it_inside_a_students_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from openscale_lab.dashboard.serve import served

    monkeypatch.delenv("OPENSCALE_LAB_DASHBOARD_SERVED", raising=False)
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    assert not served()  # a learner's kernel in JupyterLab
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.8")
    assert served()


def test_a_kernel_that_dies_starting_is_started_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Many kernels starting at once (a class) can race for ports: one that dies before replying ran nothing, so
    the notebook runs in a new one; any other failure, or a third death, is the notebook's error."""
    import papermill

    from openscale_lab.notebook_runner import KERNEL_DIED, run_notebook

    calls: list[str] = []

    def execute(*args: object, **kwargs: object) -> None:
        calls.append(str(args[0]))
        if len(calls) < failures:
            raise RuntimeError(why)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    notebook = tmp_path / "n.ipynb"
    failures, why = 3, KERNEL_DIED
    assert run_notebook(notebook, tmp_path / "out") == tmp_path / "out" / "n.ipynb" and len(calls) == 3
    calls.clear()
    failures = 4
    with pytest.raises(RuntimeError, match=KERNEL_DIED):
        run_notebook(notebook, tmp_path / "out")
    assert len(calls) == 3
    calls.clear()
    why = "a cell failed"
    with pytest.raises(RuntimeError, match="a cell failed"):
        run_notebook(notebook, tmp_path / "out")
    assert len(calls) == 1
