"""A Spark standalone cluster on this machine, started from the pyspark installation (`bin/spark-class`: a
master and N workers as child processes) and stopped with everything it started: for the monitors' Spark engine
when one driver is not enough, for benchmarks and for tests. The pip installation of pyspark has no `sbin/`
start scripts; spark-class runs the same master and worker classes they run."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import psutil

from ..core.ports import free_port
from ..errors import LabError


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


class StandaloneCluster:
    """`with StandaloneCluster(workers=2) as master:` a `spark://127.0.0.1:<port>` URL while it runs.

    Each worker offers `cores` cores and `memory` (e.g. "1g") to executors; logs go to `log_dir`.
    """

    def __init__(self, log_dir: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                 timeout: float = 90.0) -> None:
        self.log_dir = Path(log_dir)
        self.workers, self.cores, self.memory, self.timeout = workers, cores, memory, timeout
        self.port = free_port()
        self.master = f"spark://127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    def _start(self, name: str, args: list[str]) -> None:
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(self.log_dir),
                   SPARK_WORKER_DIR=str(self.log_dir / "work"))
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop)
        self._logs.append(log)
        self._procs.append(subprocess.Popen([str(spark_class()), *args, "--host", "127.0.0.1",
                                             "--webui-port", str(free_port())],
                                            env=env, stdout=subprocess.DEVNULL, stderr=log))

    def start(self) -> str:
        """Start the master, then the workers; return once every worker has registered."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._start("master", ["org.apache.spark.deploy.master.Master", "--port", str(self.port)])
        try:
            self._wait(lambda: self._listening(), "the master to listen")
            for i in range(self.workers):
                self._start(f"worker{i}", ["org.apache.spark.deploy.worker.Worker", self.master,
                                           "--cores", str(self.cores), "--memory", self.memory])
            self._wait(lambda: self._registered() >= self.workers, f"{self.workers} workers to register")
        except BaseException:
            self.stop()
            raise
        return self.master

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _registered(self) -> int:
        return (self.log_dir / "master.log").read_text(errors="replace").count("Registering worker")

    def _wait(self, done: object, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not done():  # type: ignore[operator]
            if any(p.poll() is not None for p in self._procs):
                raise LabError(f"the Spark cluster stopped while waiting for {what}: see {self.log_dir}")
            if time.monotonic() > deadline:
                raise LabError(f"timed out waiting for {what}: see {self.log_dir}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the workers (and their executors), then the master."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
                proc.kill()
            proc.wait(10)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]
        self._procs, self._logs = [], []

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
