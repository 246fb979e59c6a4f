# Two commands do all set-up on a fresh machine with only Python 3.11+: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench bench-fleet clean

# The package itself is installed too (editable), so `.venv/bin/reception-worker …` and
# `.venv/bin/python -m automation …` work from any folder, as the README and the demo print them.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reception-worker demo --dir demo

# Tests run on up to 4 cores (pytest-xdist); `make test PYTEST_ARGS=-n0` runs them in one process.
PYTEST_ARGS ?= -n auto --maxprocesses=4
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP) $(VENV)/.bench-installed
	$(PY) -m bench.run
	$(PY) -m bench.fleet

# One `serve` over 1,000 centers of 2,000 rows (SPEC 7): requests per minute, CPU per sweep, memory.
bench-fleet: $(STAMP)
	$(PY) -m bench.fleet

# The benchmark's own requirements (a peer it compares with), apart from the worker's.
$(VENV)/.bench-installed: bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

clean:
	rm -rf $(VENV) demo .pytest_cache *.egg-info
