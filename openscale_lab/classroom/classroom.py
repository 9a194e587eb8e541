"""A classroom on one shared server: one folder per student (their notebooks and lab workspace), one PostgreSQL
schema per student on the class's database server, and one range of ports per student. `classroom.json` in the
class's folder says who has what; every command is safe to run again."""
from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.jsonfile import read_json, write_json_atomic
from ..dashboard.serve import served_notebook
from ..models.spark import SPARK_CONF_ENV, SPARK_JAVA_OPTIONS_ENV, SPARK_MASTER_ENV, SPARK_MEMORY_ENV
from ..notebook_runner import lab_notebooks, notebooks_dir
from ..provisioning import provision, stop_lab
from ..workspace import CONFIG_FILE, DATAMART_ENV, WORKSPACE_ENV, Workspace
from . import schemas
from .roster import ClassroomError, check_name
from .settings import (
    CLASSROOM_ENV,
    CLASSROOM_FILE,
    CLASSROOM_JAVA_OPTIONS,
    FIRST_PORT,
    PAGE,
    PORTS_PER_STUDENT,
    classroom_dir,
)


@dataclass(frozen=True)
class Student:
    """One student of the class: their folder (home in JupyterHub), lab workspace, schema and ports."""

    name: str
    home: Path
    schema: str
    ports: tuple[int, int]
    datamart_url: str

    @property
    def workspace(self) -> Path:
        """Their lab workspace."""
        return self.home / "workspace"

    @property
    def notebooks(self) -> Path:
        """Their own copy of the lab's notebooks."""
        return self.home / "notebooks"


class Classroom:
    """`Classroom.create(root, students, datamart_url)` or `Classroom.open(root)`; see `openscale-lab classroom`."""

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root, self.config = root, config

    # -- the class's file ---------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Classroom:
        """The classroom in `root` (or $OPENSCALE_LAB_CLASSROOM); ClassroomError if there is none."""
        path = resolve_root(root)
        if not (path / CLASSROOM_FILE).is_file():
            raise ClassroomError(f"no classroom at {path}: make one with openscale-lab classroom create --root {path}")
        return cls(path, read_json(path / CLASSROOM_FILE))

    def _save(self) -> None:
        write_json_atomic(self.root / CLASSROOM_FILE, self.config)

    @property
    def server_url(self) -> str:
        """The class's PostgreSQL database (no schema)."""
        return str(self.config["datamart_url"])

    @property
    def class_id(self) -> str:
        """The id its schemas are stamped with."""
        return str(self.config["class_id"])

    @property
    def names(self) -> list[str]:
        """The students, in the order they were added."""
        return list(self.config["students"])

    def student(self, name: str) -> Student:
        """The student called `name`; ClassroomError listing the class if there is none."""
        entry = self.config["students"].get(name)
        if entry is None:
            raise ClassroomError(f"no student {name!r} in the classroom at {self.root} (it has: "
                                 f"{', '.join(self.names) or 'nobody'})")
        return Student(name, self.root / "students" / name, entry["schema"], tuple(entry["ports"]),  # type: ignore[arg-type]
                       schemas.student_url(self.server_url, entry["schema"]))

    def students(self) -> list[Student]:
        """Every student, in the order they were added."""
        return [self.student(name) for name in self.names]

    # -- creating -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike[str] | None, students: list[str], datamart_url: str, *,
               spark_master: str | None = None, spark_memory: str | None = None, executor_memory: str | None = None,
               first_port: int | None = None, ports_per_student: int | None = None) -> Classroom:
        """Make (or complete) the classroom: each student's folder with the lab's notebooks, workspace, schema
        and port range. Students already there keep everything they have; new ones are added.

        `spark_master`: one shared Spark cluster for the class (each student's application takes one core and
        `executor_memory` of it, 512m by default); none gives each student a driver of their own on one core
        (`local[1]`). `spark_memory` caps each student's driver (1g). Settings not given keep what the classroom
        has; ports (from `first_port`, 20000, `ports_per_student`, 20, each) are fixed when the class is made."""
        path = resolve_root(root)
        server_url = schemas.check_server_url(datamart_url)
        for name in students:
            check_name(name)
        engine = schemas.connect(server_url)  # reachable before anything is made
        try:
            if (path / CLASSROOM_FILE).is_file():
                room = cls.open(path)
                room._check_same(server_url, first_port, ports_per_student)
            else:
                room = cls(path, _new_config(path, server_url, first_port, ports_per_student))
                path.mkdir(parents=True, exist_ok=True)
            spark = room.config.setdefault("spark", {"master": None, "driver_memory": "1g",
                                                     "executor_memory": "512m"})
            for key, value in (("master", spark_master), ("driver_memory", spark_memory),
                               ("executor_memory", executor_memory)):
                if value is not None:
                    spark[key] = value or None
            room._save()
            for name in students:
                room._add(name, engine)
        finally:
            engine.dispose()
        page = room.root / PAGE
        if not page.exists():  # the instructor's copy of the class page, beside the students' folders
            _copy(classroom_dir() / PAGE, page)
        return room

    def _check_same(self, server_url: str, first_port: int | None, ports_per_student: int | None) -> None:
        """ClassroomError when `create` is asked to change what the class was made with."""
        if self.server_url != server_url:
            raise ClassroomError(f"the classroom at {self.root} uses {schemas.redact(self.server_url)}, not "
                                 f"{schemas.redact(server_url)}: remove it first to move it")
        for option, value, key in (("--first-port", first_port, "first_port"),
                                   ("--ports-per-student", ports_per_student, "ports_per_student")):
            if value is not None and value != self.config[key]:
                raise ClassroomError(f"{option} {value}: the classroom at {self.root} was made with "
                                     f"{self.config[key]}; its students' ports stay as they are")

    def _add(self, name: str, engine: sa.Engine) -> None:
        """Add one student (or finish adding one an interrupted create left), and save the class's file."""
        entries = self.config["students"]
        new = name not in entries
        if new:
            taken = [tuple(e["ports"]) for e in entries.values()]
            first = max((last for _, last in taken), default=self.config["first_port"] - 1) + 1
            if first + self.config["ports_per_student"] - 1 > 65535:
                raise ClassroomError(f"no ports left for {name!r} above {first}: make the classroom with a lower "
                                     "--first-port or fewer --ports-per-student")
            entries[name] = {"schema": f"{self.config['schema_prefix']}_{name}",
                             "ports": [first, first + self.config["ports_per_student"] - 1],
                             "added_at": utcnow().isoformat()}
            self._save()  # before anything is made: a rerun finishes it with the same schema and ports
        student = self.student(name)
        try:
            schemas.create_schema(engine, student.schema, self.class_id)
        except ClassroomError:
            if new:  # nothing of the student was made: they are not in the class
                del entries[name]
                self._save()
            raise
        self._provision(student)

    def _provision(self, student: Student) -> None:
        """The student's workspace on their schema and ports, and their own copy of the notebooks."""
        provision(student.workspace, datamart_url=student.datamart_url)
        Workspace(student.workspace).update_config(ports=list(student.ports))
        served_notebook(Workspace(student.workspace))  # the Insights dashboard page, as Voilà serves it
        student.notebooks.mkdir(parents=True, exist_ok=True)
        for notebook in [*lab_notebooks(), *notebooks_dir().glob("appendix_*.ipynb")]:
            if not (student.notebooks / notebook.name).exists():  # a student's own edits are never replaced
                _copy(notebook, student.notebooks / notebook.name)

    # -- a student's environment --------------------------------------------------------------------------
    def environment(self, name: str) -> dict[str, str]:
        """What a student's Jupyter server runs with, so the notebooks' defaults are their own lab."""
        student, spark = self.student(name), self.config.get("spark", {})
        env = {WORKSPACE_ENV: str(student.workspace), DATAMART_ENV: student.datamart_url,
               CLASSROOM_ENV: str(self.root), SPARK_MEMORY_ENV: spark.get("driver_memory", "1g"),
               SPARK_JAVA_OPTIONS_ENV: CLASSROOM_JAVA_OPTIONS,
               SPARK_MASTER_ENV: spark.get("master") or "local[1]"}
        if spark.get("master"):  # one core of the shared cluster each, so that every student's job gets going
            env[SPARK_CONF_ENV] = f"spark.cores.max=1 spark.executor.memory={spark.get('executor_memory', '512m')}"
        return env

    # -- resetting and removing ----------------------------------------------------------------------------
    def _chosen(self, names: list[str] | None, everyone: bool) -> list[Student]:
        if everyone == bool(names):
            raise ClassroomError("name the students, or say everyone (--all)")
        return self.students() if everyone else [self.student(n) for n in dict.fromkeys(names or [])]

    def _each_stopped(self, chosen: list[Student], act: Callable[[Student, sa.Engine], None]) -> list[str]:
        """Stop what each chosen student's workspace runs, then `act` on them, one student at a time."""
        engine = schemas.connect(self.server_url)
        try:
            for student in chosen:
                if (student.workspace / CONFIG_FILE).is_file():
                    stop_lab(student.workspace)
                act(student, engine)
        finally:
            engine.dispose()
        return [s.name for s in chosen]

    def reset(self, names: list[str] | None = None, *, everyone: bool = False) -> list[str]:
        """Empty the named students' data marts and remove their models and deployments (or `everyone`'s), after
        stopping what their workspaces run. Their notebooks stay. Nobody else's lab is touched."""
        def empty(student: Student, engine: sa.Engine) -> None:
            schemas.drop_schema(engine, student.schema, self.class_id, recreate=True)
            shutil.rmtree(student.workspace, ignore_errors=True)  # models, deployments, reports: all theirs
            self._provision(student)

        return self._each_stopped(self._chosen(names, everyone), empty)

    def remove(self, names: list[str] | None = None, *, everyone: bool = False) -> list[str]:
        """Stop and delete the named students' labs: folders and schemas (`everyone`: the whole classroom, its
        file and its hub's state too; stop the hub first)."""
        def delete(student: Student, engine: sa.Engine) -> None:
            schemas.drop_schema(engine, student.schema, self.class_id)
            shutil.rmtree(student.home, ignore_errors=True)
            del self.config["students"][student.name]
            self._save()

        removed = self._each_stopped(self._chosen(names, everyone), delete)
        if everyone:
            (self.root / CLASSROOM_FILE).unlink()
            for folder in ("students", "hub"):  # the hub's users go with the class
                shutil.rmtree(self.root / folder, ignore_errors=True)
        return removed


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    """The class's folder: `root`, else $OPENSCALE_LAB_CLASSROOM; ClassroomError when neither is given."""
    chosen = root or os.environ.get(CLASSROOM_ENV)
    if not chosen:
        raise ClassroomError("no classroom folder given: pass --root DIR (or set $OPENSCALE_LAB_CLASSROOM)")
    return Path(chosen).expanduser().resolve()


def _new_config(path: Path, server_url: str, first_port: int | None, ports_per_student: int | None) -> dict[str, Any]:
    """A new classroom's settings: its id, its schemas' prefix (the folder's name and the id, so that no two
    classrooms on a server share a schema), its ports."""
    first = FIRST_PORT if first_port is None else first_port
    count = PORTS_PER_STUDENT if ports_per_student is None else ports_per_student
    if not 1024 <= first <= 65535:
        raise ClassroomError(f"--first-port {first}: use a port from 1024 to 65535 (below 32768, the ports the "
                             "system hands out, is best)")
    if not 2 <= count <= 1000:
        raise ClassroomError(f"--ports-per-student {count}: give each student 2 to 1000 ports")
    class_id = secrets.token_hex(4)
    slug = re.sub(r"[^a-z0-9]+", "_", path.name.lower()).strip("_")[:12] or "class"
    return {"created_at": utcnow().isoformat(), "class_id": class_id, "datamart_url": server_url,
            "schema_prefix": f"lab_{slug}_{class_id[:6]}", "first_port": first, "ports_per_student": count,
            "students": {}}


def _copy(source: Path, target: Path) -> None:
    """Copy a file whole or not at all (an interrupted copy never leaves half a notebook that reruns keep)."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copy2(source, partial)
    partial.replace(target)
