"""A classroom's fixed settings: its file, the environment variables it sets, its ports and JVM profile, and
where its JupyterHub configuration and class page are."""
from __future__ import annotations

from pathlib import Path

CLASSROOM_FILE = "classroom.json"
CLASSROOM_ENV = "OPENSCALE_LAB_CLASSROOM"  # the class's folder, for the JupyterHub configuration and class page
HUB_URL_ENV = "OPENSCALE_LAB_HUB_URL"  # the hub's address, for the class page's links into students' dashboards
# Spark's driver JVM for many students on one machine: the quick first-tier compiler only (C2's compilations
# cost more CPU than the lab's short jobs win back) and the serial collector (no GC threads per JVM). Measured on
# notebooks 00-02: about a third less CPU per student (docs/classroom.md)
CLASSROOM_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
FIRST_PORT = 20000  # below Linux's ephemeral ports (32768-60999), which the system hands out to anyone
PORTS_PER_STUDENT = 20
PAGE = "class_insights.ipynb"  # the class Insights page


def classroom_dir() -> Path:
    """The `classroom/` folder of the source tree: the JupyterHub configuration and the class page."""
    return Path(__file__).resolve().parents[2] / "classroom"
