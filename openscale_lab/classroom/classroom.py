"""A classroom on one shared server: one folder per student (their notebooks and lab workspace), one PostgreSQL
schema per student on the class's database server, and one range of ports per student. `classroom.json` in the
class's folder says who has what; every command is safe to run again."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.clock import utcnow
from ..core.jsonfile import read_json, write_json_atomic
from ..models.spark import SPARK_CONF_ENV, SPARK_JAVA_OPTIONS_ENV, SPARK_MASTER_ENV, SPARK_MEMORY_ENV
from ..notebook_runner import lab_notebooks, notebooks_dir
from ..provisioning import provision, stop_lab
from ..workspace import CONFIG_FILE, DATAMART_ENV, WORKSPACE_ENV, Workspace
from . import schemas
from .page import PAGE, classroom_dir
from .roster import ClassroomError, check_name
from .settings import CLASSROOM_ENV, CLASSROOM_FILE, CLASSROOM_JAVA_OPTIONS, FIRST_PORT, PORTS_PER_STUDENT


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
        return self.home / "workspace"

    @property
    def notebooks(self) -> Path:
        return self.home / "notebooks"


class Classroom:
    """`Classroom.create(root, students, datamart_url)` or `Classroom.open(root)`; see `openscale-lab classroom`."""

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root, self.config = root, config

    # -- the class's file ---------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Classroom:
        """The classroom in `root` (or $OPENSCALE_LAB_CLASSROOM); ClassroomError if there is none."""
        chosen = root or os.environ.get(CLASSROOM_ENV)
        if not chosen:
            raise ClassroomError("no classroom folder given: pass --root DIR (or set $OPENSCALE_LAB_CLASSROOM)")
        path = Path(chosen).expanduser().resolve()
        if not (path / CLASSROOM_FILE).is_file():
            raise ClassroomError(f"no classroom at {path}: make one with openscale-lab classroom create --root {path}")
        return cls(path, read_json(path / CLASSROOM_FILE))

    def _save(self) -> None:
        write_json_atomic(self.root / CLASSROOM_FILE, self.config)

    @property
    def server_url(self) -> str:
        return str(self.config["datamart_url"])

    @property
    def names(self) -> list[str]:
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
        return [self.student(name) for name in self.names]

    # -- creating -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike[str], students: list[str], datamart_url: str, *,
               spark_master: str | None = None, spark_memory: str = "1g", executor_memory: str = "512m",
               first_port: int = FIRST_PORT, ports_per_student: int = PORTS_PER_STUDENT) -> Classroom:
        """Make (or complete) the classroom: each student's folder with the lab's notebooks, workspace, schema
        and port range. Students already there keep everything they have; new ones are added.

        `spark_master`: one shared Spark cluster for the class (each student's application takes one core and
        `executor_memory` of it); None gives each student a driver of their own on one core (`local[1]`).
        `spark_memory` caps each student's driver."""
        path = Path(root).expanduser().resolve()
        server_url = schemas.check_server_url(datamart_url)
        for name in students:
            check_name(name)
        if (path / CLASSROOM_FILE).is_file():
            room = cls.open(path)
            if room.server_url != server_url:
                raise ClassroomError(f"the classroom at {path} uses {schemas.redact(room.server_url)}, not "
                                     f"{schemas.redact(server_url)}: remove it first to move it")
        else:
            path.mkdir(parents=True, exist_ok=True)
            prefix = "lab_" + path.name.lower().translate({ord(c): "_" for c in "-. "})[:16]
            room = cls(path, {"created_at": utcnow().isoformat(), "datamart_url": server_url,
                              "schema_prefix": check_name(prefix, "classroom folder name as a schema prefix: "),
                              "first_port": first_port, "ports_per_student": ports_per_student,
                              "students": {}})
        room.config["spark"] = {"master": spark_master, "driver_memory": spark_memory,
                                "executor_memory": executor_memory}
        engine = schemas.connect(server_url)
        try:
            for name in students:
                room._add(name, engine)
        finally:
            engine.dispose()
        room._save()
        page = room.root / PAGE
        if not page.exists():  # the instructor's copy of the class page, beside the students' folders
            shutil.copy2(classroom_dir() / PAGE, page)
        return room

    def _add(self, name: str, engine: Any) -> None:
        """Add one student (or finish adding one an interrupted create left), and save the class's file."""
        entries = self.config["students"]
        if name not in entries:
            taken = [tuple(e["ports"]) for e in entries.values()]
            first = max((last for _, last in taken), default=self.config["first_port"] - 1) + 1
            if first + self.config["ports_per_student"] - 1 > 65535:
                raise ClassroomError(f"no ports left for {name!r} above {first}: pass a lower --first-port or "
                                     "fewer --ports-per-student when making the classroom")
            entries[name] = {"schema": f"{self.config['schema_prefix']}_{name}",
                             "ports": [first, first + self.config["ports_per_student"] - 1],
                             "added_at": utcnow().isoformat()}
            self._save()  # before anything is made: a rerun finishes it with the same schema and ports
        student = self.student(name)
        schemas.create_schema(engine, student.schema)
        self._provision(student)

    def _provision(self, student: Student) -> None:
        """The student's workspace on their schema and ports, and their own copy of the notebooks."""
        provision(student.workspace, datamart_url=student.datamart_url)
        Workspace(student.workspace).update_config(ports=list(student.ports))
        student.notebooks.mkdir(parents=True, exist_ok=True)
        for notebook in [*lab_notebooks(), *notebooks_dir().glob("appendix_*.ipynb")]:
            if not (student.notebooks / notebook.name).exists():  # a student's own edits are never replaced
                shutil.copy2(notebook, student.notebooks / notebook.name)

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
    def _chosen(self, names: list[str] | None) -> list[Student]:
        return self.students() if names is None else [self.student(n) for n in names]

    def reset(self, names: list[str] | None = None) -> list[str]:
        """Empty the students' data marts and remove their models and deployments (None: every student), after
        stopping what their workspaces run. Their notebooks stay. Nobody else's lab is touched."""
        engine = schemas.connect(self.server_url)
        try:
            for student in self._chosen(names):
                if (student.workspace / CONFIG_FILE).is_file():
                    stop_lab(student.workspace)
                schemas.drop_schema(engine, student.schema, recreate=True)
                shutil.rmtree(student.workspace, ignore_errors=True)  # models, deployments, reports: all theirs
                self._provision(student)
        finally:
            engine.dispose()
        return [s.name for s in self._chosen(names)]

    def remove(self, names: list[str] | None = None) -> list[str]:
        """Stop and delete the students' labs: folders and schemas (None: the whole classroom, its file too)."""
        chosen = self._chosen(names)
        engine = schemas.connect(self.server_url)
        try:
            for student in chosen:
                if (student.workspace / CONFIG_FILE).is_file():
                    stop_lab(student.workspace)
                schemas.drop_schema(engine, student.schema)
                shutil.rmtree(student.home, ignore_errors=True)
                del self.config["students"][student.name]
                self._save()
        finally:
            engine.dispose()
        if names is None:
            (self.root / CLASSROOM_FILE).unlink()
            shutil.rmtree(self.root / "students", ignore_errors=True)
        return [s.name for s in chosen]
