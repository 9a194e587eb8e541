"""Five students at once on one PostgreSQL server, as a class starts: each runs notebooks 00-02 with papermill in
their own lab. Every payload record is in its own student's data mart and nowhere else, their servers take
ports from their own ranges, a reset of one student leaves the others' labs as they were, the class page reads
each lab, and nothing keeps running afterwards."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from openscale_lab.classroom import Classroom, class_progress, numbered
from openscale_lab.classroom.settings import PAGE, classroom_dir
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.notebook_runner import read_records, run_notebook
from openscale_lab.workspace import Workspace

from .conftest import serve_processes

pytestmark = [pytest.mark.notebooks, pytest.mark.spark, pytest.mark.slow]
STUDENTS = 5


def payload(url: str) -> tuple[int, set[str]]:
    """How many payload records a student's data mart holds, and their transaction ids."""
    dm = DataMart(url)
    try:
        subs = dm.active_subscriptions()
        ids = {str(i) for s in subs for i in dm.get_payload(s)["scoring_id"]}
        return sum(dm.payload_count(s) for s in subs), ids
    finally:
        dm.close()


def test_five_students_run_notebooks_00_to_02_at_once_each_in_their_own_lab(tmp_path: Path, class_root: Path,
                                                                           postgres_server: str) -> None:
    root = class_root
    room = Classroom.create(root, numbered(STUDENTS), postgres_server)
    try:
        runs: dict[str, subprocess.Popen[bytes]] = {}
        # a different number of applicants each, so that a record in the wrong data mart shows in the counts
        sent = {s.name: 200 + 10 * i for i, s in enumerate(room.students())}
        try:
            for student in room.students():
                out = tmp_path / "out" / student.name
                out.mkdir(parents=True)
                with (out / "run-lab.log").open("wb") as log:  # a file: no student waits on a full pipe
                    runs[student.name] = subprocess.Popen(
                        [sys.executable, "-m", "openscale_lab", "run-lab", "--workspace", str(student.workspace),
                         "--output", str(out), "--only", "00", "01", "02",
                         "-p", f"SCORE_RECORDS={sent[student.name]}"],
                        env=dict(os.environ, **room.environment(student.name)), stdout=log,
                        stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 900
            for name, proc in runs.items():
                proc.wait(max(1.0, deadline - time.monotonic()))
        finally:  # a student still running (a failure elsewhere, a timeout) is stopped with all it started
            for proc in runs.values():
                if proc.poll() is None:
                    family = psutil.Process(proc.pid).children(recursive=True)
                    for p in [psutil.Process(proc.pid), *family]:
                        with contextlib.suppress(psutil.Error):
                            p.kill()
                    proc.wait(30)
        for name, proc in runs.items():
            log = (tmp_path / "out" / name / "run-lab.log").read_text(errors="replace")
            assert proc.returncode == 0, f"{name}: {log[-3000:]}"

        counts, ports = {}, {}
        for student in room.students():
            out = tmp_path / "out" / student.name
            nb01 = read_records(out / "01_train_and_deploy_model.ipynb")
            nb02 = read_records(out / "02_configure_monitors.ipynb")
            count, ids = payload(student.datamart_url)
            # the eight applicants in notebook 01 and again in 02, 02's applicants from the feed, then its shifted
            # population (200), which fairness has not seen
            assert count == 16 + sent[student.name] + 200 == nb02["health_records"]
            assert nb02["fairness_records"] == 16 + sent[student.name]
            assert set(nb01["transaction_ids"]) <= ids and nb01["payload_count"] == 8
            counts[student.name] = (count, ids)
            [dep] = MLEngine(Workspace(student.workspace)).list()
            ports[student.name] = int(dep.config["port"])
            assert student.ports[0] <= ports[student.name] <= student.ports[1]
        assert len(set(ports.values())) == STUDENTS
        every = [i for _, ids in counts.values() for i in ids]
        assert len(every) == len(set(every))  # no record is in two students' data marts

        # the class page: every student reached notebook 02, with their own payload
        page = read_records(run_notebook(classroom_dir() / PAGE, tmp_path / "page", {"CLASSROOM": str(root)}))
        assert page["students"] == room.names
        assert set(page["reached"].values()) == {"02"}
        assert page["payload_records"] == {name: c for name, (c, _) in counts.items()}
        assert not any(page["problems"].values())

        # a reset of one student empties their lab only
        victim = room.names[2]
        room.reset([victim])
        for student in room.students():
            count, ids = payload(student.datamart_url)
            assert (count, ids) == ((0, set()) if student.name == victim else counts[student.name])
        rows = {r["student"]: r for r in class_progress(room)}
        assert rows[victim]["reached"] == "00" and not rows[victim]["deployed"]
        assert all(rows[n]["reached"] == "02" and rows[n]["deployed"] for n in room.names if n != victim)
    finally:
        room.remove(everyone=True)
    assert not serve_processes(root)
