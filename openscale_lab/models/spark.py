"""Starting Spark, with a clear message when no Java runtime is there."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import JavaNotFoundError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
JAVA_HELP = (
    "Spark needs a Java runtime, version {min}+ ({problem}). Install one, for example "
    "`sudo apt-get install openjdk-17-jre-headless` on Debian/Ubuntu, `brew install openjdk@17` on "
    "macOS, or `conda install -c conda-forge openjdk=17`, then set JAVA_HOME or put `java` on PATH."
)


JDBC_JAR_ENV = "OPENSCALE_LAB_JDBC_JAR"
DEBIAN_JDBC_JAR = Path("/usr/share/java/postgresql.jar")


def jdbc_jar() -> Path | None:
    """The PostgreSQL JDBC driver's jar (Debian's libpostgresql-jdbc-java, or the one $OPENSCALE_LAB_JDBC_JAR
    names), if installed: never downloaded."""
    chosen = os.environ.get(JDBC_JAR_ENV)
    path = Path(chosen) if chosen else DEBIAN_JDBC_JAR
    return path if path.is_file() else None


def java_executable() -> Path | None:
    """The `java` Spark will use: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return Path(home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


def java_version() -> int:
    """Major version of the Java runtime, or JavaNotFoundError saying how to install one."""
    java = java_executable()
    if java is None:
        raise JavaNotFoundError(JAVA_HELP.format(min=MIN_JAVA, problem="no `java` found"))
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaNotFoundError(JAVA_HELP.format(min=MIN_JAVA, problem=f"{java} does not run: {exc}")) from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise JavaNotFoundError(JAVA_HELP.format(min=MIN_JAVA, problem=f"{java} printed no version"))
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaNotFoundError(JAVA_HELP.format(min=MIN_JAVA, problem=f"found Java {major} at {java}"))
    return major


def get_spark(master: str = "local[*]", app_name: str = "openscale-lab") -> SparkSession:
    """A SparkSession on `master` (default `local[*]`), quiet and without the web UI."""
    java_version()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the lab is local: no lookups of the host name
    from pyspark.sql import SparkSession

    # executors run this Python (the lab's), also on a standalone cluster started from this installation
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")  # the data mart's times are naive UTC
        .config("spark.driver.memory", os.environ.get("OPENSCALE_LAB_SPARK_MEMORY", "2g"))
    )
    jar = jdbc_jar()
    if jar is not None:  # the monitors' Spark engine reads the data mart over JDBC
        builder = builder.config("spark.jars", str(jar))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
