"""Starting Spark, quietly, with a clear message when no Java runtime is there.

Spark's JVM logs errors only (`log4j2.properties` beside this module), and the one notice the JVM itself prints
on every start (`WARNING: Using incubator modules: jdk.incubator.vector`: Spark 4 uses Java's Vector API, still an
incubator module in Java 17-21; harmless) is left out of its stderr, which is otherwise passed on unchanged.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import JavaNotFoundError, LabError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
JAVA_HELP = (
    "Spark needs a Java runtime, version {min}+ ({problem}). Install one, for example "
    "`sudo apt-get install openjdk-17-jre-headless` on Debian/Ubuntu, `brew install openjdk@17` on "
    "macOS, or `conda install -c conda-forge openjdk=17`, then set JAVA_HOME or put `java` on PATH."
)


LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
# lines of the JVM's stderr not passed on: its own start-up notice, printed whatever the logging configuration
JVM_NOTICES = (b"WARNING: Using incubator modules:",)

JDBC_JAR_ENV = "OPENSCALE_LAB_JDBC_JAR"
SPARK_MASTER_ENV = "OPENSCALE_LAB_SPARK_MASTER"
SPARK_CONF_ENV = "OPENSCALE_LAB_SPARK_CONF"
SPARK_JAVA_OPTIONS_ENV = "OPENSCALE_LAB_SPARK_JAVA_OPTIONS"
SPARK_MEMORY_ENV = "OPENSCALE_LAB_SPARK_MEMORY"
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


def _pass_on_stderr(read_fd: int) -> None:
    """Copy the JVM's stderr to this process's (file descriptor 2, as the JVM itself would), without its notices.
    Whatever happens, the pipe is read to its end, so the JVM never blocks on a full pipe."""
    with os.fdopen(read_fd, "rb") as stream:
        try:
            for line in iter(stream.readline, b""):
                if line.startswith(JVM_NOTICES):
                    continue
                view = memoryview(line)
                while view:
                    view = view[os.write(2, view):]
        except Exception:  # noqa: BLE001 - no stderr left to write to: drain the pipe from here on
            while stream.read(65536):
                pass


def _start_jvm(options: dict[str, str]) -> None:
    """Start this process's Spark JVM with `options`, its stderr passed on by a thread, unless one runs already."""
    from pyspark import SparkConf, SparkContext

    try:
        from pyspark.java_gateway import launch_gateway
    except ImportError:
        return
    # these are pyspark's internals (stable since Spark 1): without them Spark starts as usual, notice and all
    if not all(hasattr(SparkContext, name) for name in ("_lock", "_gateway", "_ensure_initialized")):
        return
    with SparkContext._lock:
        if SparkContext._gateway is not None:
            return
        conf = SparkConf(loadDefaults=False).setAll(list(options.items()))
        # the reader runs before the JVM starts: a JVM that fails at start says why, and a chatty one never blocks
        read_fd, write_fd = os.pipe()
        threading.Thread(target=_pass_on_stderr, args=(read_fd,), name="spark-jvm-stderr", daemon=True).start()
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stderr": write_fd})
        finally:
            os.close(write_fd)  # the JVM (and its Python workers) hold their own copies
        SparkContext._ensure_initialized(gateway=gateway)


def spark_settings(master: str | None = None) -> tuple[str, dict[str, str]]:
    """The master and extra settings a session starts with: `master`, else $OPENSCALE_LAB_SPARK_MASTER, else
    `local[*]`; $OPENSCALE_LAB_SPARK_CONF adds settings ("spark.cores.max=1 spark.executor.memory=512m": how much
    of a shared cluster one learner's application takes) and $OPENSCALE_LAB_SPARK_JAVA_OPTIONS options of the
    driver's JVM. A classroom sets these for every student (see `openscale_lab.classroom`)."""
    chosen = master or os.environ.get(SPARK_MASTER_ENV) or "local[*]"
    extra: dict[str, str] = {}
    for item in os.environ.get(SPARK_CONF_ENV, "").split():
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("spark."):
            raise LabError(f"${SPARK_CONF_ENV}: {item!r} is not a spark.<name>=<value> setting")
        extra[key] = value
    return chosen, extra


def get_spark(master: str | None = None, app_name: str = "openscale-lab") -> SparkSession:
    """A SparkSession on `master` (default: $OPENSCALE_LAB_SPARK_MASTER, else `local[*]`; see `spark_settings`),
    quiet (errors only) and without the web UI."""
    master, extra = spark_settings(master)
    java_version()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the lab is local: no lookups of the host name
    from pyspark.sql import SparkSession

    # executors run this Python (the lab's), also on a standalone cluster started from this installation
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    options = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",  # the data mart's times are naive UTC
        "spark.driver.memory": os.environ.get(SPARK_MEMORY_ENV, "2g"),
        # the JVM's logging: errors only (read when the JVM starts, so it is given to spark-submit)
        "spark.driver.extraJavaOptions": " ".join([f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}",
                                                   os.environ.get(SPARK_JAVA_OPTIONS_ENV, "")]).strip(),
        **extra,
    }
    jar = jdbc_jar()
    if jar is not None:  # the monitors' Spark engine reads the data mart over JDBC
        options["spark.jars"] = str(jar)
    _start_jvm(options)
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
