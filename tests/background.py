"""Long runs that live in processes of their own (notebook kernels, Spark, deployments) start in the background
when the suite starts; their tests, ordered last, wait for them. The rest of the suite goes on meanwhile."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from openscale_lab.provisioning import stop_lab
from openscale_lab.workspace import CONFIG_FILE


class BackgroundRun:
    """A command running in a process group of its own, what it prints in `log`; `workspace` is the lab workspace
    it works in (its deployments are stopped when it is done)."""

    def __init__(self, command: list[str], log: Path, workspace: Path, env: dict[str, str] | None = None) -> None:
        self.workspace, self.log = workspace, log
        with log.open("w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)

    def wait(self, timeout: float) -> tuple[int, str]:
        """Its exit code and output, once it is done (killed after `timeout` seconds)."""
        try:
            return self.process.wait(timeout), self.log.read_text()
        finally:
            self.stop()

    def stop(self) -> None:
        """Ends the run if it still goes on (its whole process group), and stops the workspace's deployments."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if (self.workspace / CONFIG_FILE).is_file():
            stop_lab(self.workspace)
