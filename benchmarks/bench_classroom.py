"""Classroom benchmark: N students at once on one PostgreSQL server, each running notebooks 00-02 with papermill
in their own lab (as `openscale-lab classroom create` makes them), as a class starts. Per profile, in the same run:

- `classroom`: what `classroom create` gives each student: a Spark driver of their own on one core, 1 GB, with
  the classroom's JVM profile (`CLASSROOM_JAVA_OPTIONS`);
- `lab defaults`: the same students with the lab's own Spark settings (`local[*]`, 2 GB, the JVM's defaults),
  the baseline;
- `shared cluster`: the classroom with one Spark standalone cluster for everyone (two workers, one core each).

Reported: wall time until the last student is through, CPU seconds per student, and each student's peak memory:
the summed RSS of every process running their lab (kernels, Spark driver, deployment server: the processes whose
environment names their workspace), sampled every 0.5 s; the cluster's own processes beside. From these: the
class that fits in this machine's memory. Medians of REPEAT runs (default 3). Run with `make bench-classroom`
(STUDENTS=5, REPEAT=3, PROFILES=...). Writes benchmarks/results/classroom.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from results_file import save_results

from openscale_lab.classroom import Classroom, numbered
from openscale_lab.models.spark_cluster import StandaloneCluster

SERVER = os.environ.get("OPENSCALE_LAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GB = 2**30


def cpu_seconds() -> float:
    """CPU time the whole machine has spent, all cores (user + nice + system)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(v) for v in fields[:3]) / os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    """Peak summed RSS of each student's processes, and of the processes in `others` (pids), every 0.5 s."""

    def __init__(self, workspaces: dict[str, str], others: list[int]) -> None:
        super().__init__(daemon=True)
        self.workspaces, self.others = workspaces, others
        self.peak = dict.fromkeys(workspaces, 0)
        self.peak_total = self.peak_others = 0
        self.stop = threading.Event()

    def run(self) -> None:
        by_path = {v: k for k, v in self.workspaces.items()}
        while not self.stop.wait(0.5):
            now = dict.fromkeys(self.workspaces, 0)
            others = 0
            for proc in psutil.process_iter():
                try:
                    if proc.pid in self.others or any(p.pid in self.others for p in proc.parents()):
                        others += proc.memory_info().rss
                        continue
                    name = by_path.get(proc.environ().get("OPENSCALE_LAB_WORKSPACE", ""))
                    if name is not None:
                        now[name] += proc.memory_info().rss
                except psutil.Error:
                    continue
            for name, rss in now.items():
                self.peak[name] = max(self.peak[name], rss)
            self.peak_others = max(self.peak_others, others)
            self.peak_total = max(self.peak_total, sum(now.values()) + others)


def run_class(root: Path, students: int, profile: str, master: str | None, cluster_pids: list[int]) -> dict[str, Any]:
    """The class through notebooks 00-02, all at once; its figures."""
    room = Classroom.create(root / f"class_{uuid.uuid4().hex[:6]}", numbered(students), SERVER, spark_master=master)
    try:
        envs = {}
        for s in room.students():
            env = dict(os.environ, **room.environment(s.name))
            if profile == "lab defaults":
                for key in ("OPENSCALE_LAB_SPARK_MASTER", "OPENSCALE_LAB_SPARK_MEMORY",
                            "OPENSCALE_LAB_SPARK_JAVA_OPTIONS", "OPENSCALE_LAB_SPARK_CONF"):
                    env.pop(key, None)
            envs[s.name] = env
        sampler = Sampler({s.name: str(s.workspace) for s in room.students()}, cluster_pids)
        sampler.start()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        logs = {s.name: root / f"{room.root.name}-{s.name}.log" for s in room.students()}
        procs = {}
        for s in room.students():
            with logs[s.name].open("wb") as log:  # a file: a chatty student never blocks on a full pipe
                procs[s.name] = subprocess.Popen(
                    [sys.executable, "-m", "openscale_lab", "run-lab", "--workspace", str(s.workspace), "--output",
                     str(root / "out" / s.name), "--only", "00", "01", "02"], env=envs[s.name],
                    stdout=log, stderr=subprocess.STDOUT)
        failed = {n: logs[n].read_text(errors="replace")[-500:] for n, p in procs.items() if p.wait() != 0}
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        sampler.stop.set()
        sampler.join()
        if failed:
            raise SystemExit(f"{profile}: students failed: {failed}")
    finally:
        room.remove(everyone=True)
    peaks = sorted(sampler.peak.values())
    return {"profile": profile, "students": students, "wall_s": round(wall, 1),
            "cpu_s_per_student": round(cpu / students, 1),
            "peak_rss_per_student_gb": {"median": round(peaks[len(peaks) // 2] / GB, 2),
                                        "max": round(peaks[-1] / GB, 2)},
            "peak_rss_cluster_gb": round(sampler.peak_others / GB, 2),
            "peak_rss_class_gb": round(sampler.peak_total / GB, 2)}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' figures, each the median over the runs (the run count beside them)."""
    def median(values: list[float]) -> float:
        return statistics.median(values)

    found = dict(runs[0], runs=len(runs))
    for key in ("wall_s", "cpu_s_per_student", "peak_rss_cluster_gb", "peak_rss_class_gb"):
        found[key] = round(median([r[key] for r in runs]), 2)
    found["peak_rss_per_student_gb"] = {k: round(median([r["peak_rss_per_student_gb"][k] for r in runs]), 2)
                                        for k in ("median", "max")}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=int(os.environ.get("STUDENTS", "5")))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT", "3")),
                        help="runs per profile; the figures are their medians")
    parser.add_argument("--profiles", nargs="*", default=os.environ.get(
        "PROFILES", "classroom,lab defaults,shared cluster").split(","))
    args = parser.parse_args()
    total_gb = psutil.virtual_memory().total / GB
    results: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "memory_gb": round(total_gb, 1)}, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for profile in args.profiles:
            print(f"{profile}: {args.students} students through notebooks 00-02 at once ...", flush=True)
            runs = []
            for _ in range(args.repeat):
                if profile == "shared cluster":
                    with StandaloneCluster(root / "cluster", workers=2, cores=1, memory="1g") as master:
                        pids = [p.pid for p in psutil.Process().children(recursive=True)]
                        runs.append(run_class(root, args.students, profile, master, pids))
                else:
                    runs.append(run_class(root, args.students, profile, None, []))
            found = median_run(runs)
            # what fits: the machine's memory less 2 GB for the system, the database and the hub, over what one
            # student takes at their peak (their share of a shared cluster's executors included)
            per_student = found["peak_rss_per_student_gb"]["max"] + found["peak_rss_cluster_gb"] / args.students
            found["class_that_fits_in_memory"] = int((total_gb - 2) // per_student)
            print(f"  {found}", flush=True)
            results["runs"].append(found)
    base = next((r for r in results["runs"] if r["profile"] == "lab defaults"), None)
    for r in results["runs"]:
        if base is not None:
            r["cpu_vs_lab_defaults"] = round(r["cpu_s_per_student"] / base["cpu_s_per_student"], 2)
            r["wall_vs_lab_defaults"] = round(r["wall_s"] / base["wall_s"], 2)
    save_results("classroom", results)


if __name__ == "__main__":
    main()
