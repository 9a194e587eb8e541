# OpenScale Lab: `make lab` runs the whole lab, `make test` runs the tests. Both set up .venv first.
# Python 3.11 or 3.12 (pyproject.toml's requires-python): the first of python3.11, python3.12, python3 that is one.
PYTHON_OK := import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else \
	"OpenScale Lab needs Python 3.11 or 3.12, found %d.%d at %s: set PYTHON=/path/to/python3.11" \
	% (*sys.version_info[:2], sys.executable))
PYTHON ?= $(or $(shell for p in python3.11 python3.12 python3; do \
	$$p -c '$(PYTHON_OK)' >/dev/null 2>&1 && { command -v $$p; break; }; done),python3)
VENV := .venv
BIN := $(VENV)/bin
OUTPUT ?= output
# The lab's workspace: ./workspace, or `make TARGET WORKSPACE=/some/folder`. A WORKSPACE variable that only comes
# from the environment is not taken (CI servers such as Jenkins set one to their checkout).
ifeq ($(origin WORKSPACE),environment)
$(info note: WORKSPACE=$(WORKSPACE) in the environment is not used; pass it on the command line: make ... WORKSPACE=...)
override WORKSPACE := $(CURDIR)/workspace
endif
WORKSPACE ?= $(CURDIR)/workspace
# `make jupyter NO_BROWSER=1` on a machine without a display: open the URL it prints instead
NO_BROWSER ?=

.PHONY: browser jdbc classroom hub setup lab jupyter test test-quick bench bench-monitors bench-history bench-learning bench-classroom bench-concurrency bench-scale bench-sdk dashboard scheduler deployment-start deployment-stop clean reset

setup: $(VENV)/.installed

# -qq: errors only (setuptools' notice about editable installs is not for learners)
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c '$(PYTHON_OK)'
	@echo "setting up $(VENV) with $$($(PYTHON) --version) (a few minutes the first time) ..."
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test,postgres,ibm-sdk]'
	@touch $@

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

# JupyterLab on notebooks/, with the workspace `make lab` filled (installed into .venv the first time)
jupyter: setup
	@$(BIN)/python -c 'import jupyterlab' 2>/dev/null || { echo "installing JupyterLab into $(VENV) ..."; \
		$(BIN)/python -m pip install -qq 'jupyterlab>=4.1'; }
	OPENSCALE_LAB_WORKSPACE="$(WORKSPACE)" $(BIN)/jupyter lab --notebook-dir=notebooks \
		$(if $(NO_BROWSER),--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root)

# Classrooms: JupyterHub and JupyterLab into .venv (the `classroom` extra) and JupyterHub's proxy
# (configurable-http-proxy, from the npm registry) into .venv/proxy; Node.js and npm from Debian when run as root.
PROXY := $(VENV)/proxy/node_modules/.bin/configurable-http-proxy
classroom: setup
	@$(BIN)/python -c 'import jupyterhub, jupyterlab' 2>/dev/null || $(BIN)/python -m pip install -qq -e '.[classroom]'
	@if [ -x $(PROXY) ]; then :; \
	else if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
		else echo "JupyterHub's proxy needs Node.js and npm (sudo apt-get install nodejs npm)"; exit 1; fi; fi; \
		npm install --silent --no-fund --no-audit --prefix $(VENV)/proxy 'configurable-http-proxy@^4.6'; fi

# JupyterHub for the classroom in CLASSROOM (made with `openscale-lab classroom create`), on HUB_IP:HUB_PORT
CLASSROOM ?=
HUB_IP ?= 127.0.0.1
HUB_PORT ?= 8000
hub: classroom
	@test -n "$(CLASSROOM)" || { echo "make hub CLASSROOM=/path/to/class (see README, Classrooms)"; exit 1; }
	OPENSCALE_LAB_CLASSROOM="$(abspath $(CLASSROOM))" OPENSCALE_LAB_HUB_IP=$(HUB_IP) OPENSCALE_LAB_HUB_PORT=$(HUB_PORT) \
		$(BIN)/jupyterhub -f classroom/jupyterhub_config.py

# the classroom's JupyterHub for its test; without Node.js and npm (and not root) that test is skipped, with a note
test: setup browser jdbc
	@$(MAKE) --no-print-directory classroom || echo "note: the JupyterHub classroom test will be skipped"
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

# STUDENTS (5), REPEAT (3) and PROFILES ("classroom,lab defaults,shared cluster") from the command line
bench-classroom: setup
	$(BIN)/python benchmarks/bench_classroom.py

bench-concurrency: setup
	$(BIN)/python benchmarks/bench_concurrency.py

# IBM's SDK against the lab's OpenScale-compatible service beside the lab's own calls, same run
bench-sdk: setup
	$(BIN)/python benchmarks/bench_sdk.py

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

# The workspace's deployments run on .venv's Python: they are stopped before it goes.
clean:
	@if [ -x $(BIN)/openscale-lab ] && [ -n "$$(ls -A "$(WORKSPACE)/deployments" 2>/dev/null)" ]; then \
		$(BIN)/openscale-lab --workspace "$(WORKSPACE)" deployment stop || true; fi
	@echo "removing $(VENV)/ $(OUTPUT)/ test-artifacts/ .pytest_cache/ (keeping $(WORKSPACE): make reset empties it)"
	@rm -rf $(VENV) $(OUTPUT) test-artifacts .pytest_cache

# Stops the workspace's deployments, then empties it (only a lab workspace: one with lab.json, or an empty folder).
# A PostgreSQL data mart the workspace names is left as it is.
reset:
	@if [ -x $(BIN)/openscale-lab ] && [ -n "$$(ls -A "$(WORKSPACE)/deployments" 2>/dev/null)" ]; then \
		$(BIN)/openscale-lab --workspace "$(WORKSPACE)" deployment stop || true; fi
	@if [ ! -d "$(WORKSPACE)" ] || [ -z "$$(ls -A "$(WORKSPACE)")" ]; then echo "$(WORKSPACE) is already empty"; \
	elif [ ! -f "$(WORKSPACE)/lab.json" ]; then echo "$(WORKSPACE) is not a lab workspace (no lab.json): left as it is"; exit 1; \
	elif [ -e "$(WORKSPACE)/.git" ] || [ -e "$(WORKSPACE)/pyproject.toml" ] || [ -e "$(WORKSPACE)/Makefile" ]; then \
		echo "$(WORKSPACE) holds a project (.git, pyproject.toml or Makefile): left as it is"; exit 1; \
	else echo "removing from $(WORKSPACE):" $$(ls -A "$(WORKSPACE)"); \
		find "$(WORKSPACE)" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; fi
