# OpenScale Lab: `make lab` runs the whole lab, `make test` runs the tests. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
OUTPUT ?= output
WORKSPACE ?= $(CURDIR)/workspace

.PHONY: browser jdbc setup lab test test-quick bench bench-monitors bench-history bench-learning bench-concurrency bench-scale dashboard scheduler deployment-start deployment-stop clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "OpenScale Lab needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@

# The browser test drives Debian's chromium and chromedriver (never a downloaded browser).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else echo "note: the browser test needs Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"; fi

# The monitors' Spark engine reads the data mart over JDBC with Debian's PostgreSQL driver (never downloaded).
jdbc:
	@if [ -f /usr/share/java/postgresql.jar ] || [ -n "$$OPENSCALE_LAB_JDBC_JAR" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpostgresql-jdbc-java; \
	else echo "note: the Spark engine needs the PostgreSQL JDBC driver (sudo apt-get install libpostgresql-jdbc-java)"; fi

lab: setup
	$(BIN)/openscale-lab --workspace "$(WORKSPACE)" run-lab --output "$(OUTPUT)"

test: setup browser jdbc
	$(BIN)/python -m pytest

test-quick: setup
	$(BIN)/python -m pytest -m "not notebooks"

bench: setup
	$(BIN)/python benchmarks/bench_scoring.py

bench-monitors: setup
	$(BIN)/python benchmarks/bench_monitors.py

bench-history: setup
	$(BIN)/python benchmarks/bench_history.py

bench-learning: setup
	$(BIN)/python benchmarks/bench_learning.py

bench-concurrency: setup
	$(BIN)/python benchmarks/bench_concurrency.py

# SIZES="100000 1000000 10000000" adds the 10 M-record point (minutes to write); the Spark engine runs on a
# standalone cluster of two workers on the largest PostgreSQL size
SIZES ?= 100000 1000000
bench-scale: setup jdbc
	$(BIN)/python benchmarks/bench_scale.py --sizes $(SIZES)

dashboard: setup
	$(BIN)/openscale-lab --workspace "$(WORKSPACE)" dashboard

scheduler: setup
	$(BIN)/openscale-lab --workspace "$(WORKSPACE)" scheduler

deployment-start: setup
	$(BIN)/openscale-lab --workspace "$(WORKSPACE)" deployment start

deployment-stop: setup
	$(BIN)/openscale-lab --workspace "$(WORKSPACE)" deployment stop

clean:
	rm -rf $(VENV) $(OUTPUT) .pytest_cache
