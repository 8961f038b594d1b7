# The two commands of the README. Everything is installed into .venv by the targets themselves: Python packages
# from PyPI, Delta Lake's Spark jars from Maven Central (once, then offline).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAKE ?= .lake/demo

.PHONY: setup demo test lint bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[local,dev,deploy]"
	$(PY) -m stm.delta_jars
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/stm demo --lake-root $(LAKE)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) bench/bench_bronze.py
	$(PY) bench/bench_cost.py
	$(PY) bench/bench_soak.py
	$(PY) bench/bench_catchup.py
	$(PY) bench/bench_modes.py
	$(PY) bench/bench_anomalies.py
	$(PY) bench/bench_forecast.py

clean:
	rm -rf $(VENV) .lake build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
