# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU wheel first, pinned, so that no extra can pull a CUDA build.
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[plot,dev,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/regionlab demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not ray" tests
	$(PY) -m pytest -q -m ray tests

bench: $(STAMP)
	$(PY) benchmarks/partition_2d.py
	$(PY) benchmarks/partition_1d.py
	$(PY) benchmarks/partition_nd.py
	$(PY) benchmarks/local_counts.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
