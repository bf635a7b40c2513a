# One entry point for people and CI: `make test` and (with the service) `make serve`.
# Everything installs into .venv with Python 3.12; nothing is assumed to be installed by hand.

VENV := .venv
BIN := $(VENV)/bin
# python3.12 may be a pyenv shim that only works with PYENV_VERSION set: try both.
PYTHON ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.12') \
	python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null)
STAMP := $(VENV)/.installed
PACKAGES := app models
# The dashboard's tooling (ESLint), from the npm registry into the repository's own
# node_modules, exactly as package-lock.json pins it; Node.js itself is the machine's.
NODE_STAMP := node_modules/.installed
# Machines like this one (and the Dockerfile) set PYTHONDONTWRITEBYTECODE: then every process
# compiles the repository's modules afresh and pytest rewrites every test module again (about
# 2 s of each pytest process's 6.7 s of collection). Here the caches are worth keeping
# (__pycache__ is ignored by git).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install system-packages test test-fast lint pytest jstest fit bench serve clean

install: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.12 not found: install Python 3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# PostgreSQL and Chromium for the tests, from Debian (a no-op once they are there).
system-packages:
	.ci/system-packages

test: install system-packages lint pytest jstest

# The inner loop: every test but those that sample (`slow`) or run the service in processes of
# its own, a browser or a fuzzer (`system`), on the synthetic artifact, on both cores.
test-fast: install system-packages jstest
	$(BIN)/pytest -m "not slow and not system" -q -n 2

lint: install $(NODE_STAMP)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench
	$(BIN)/mypy $(PACKAGES)
	node_modules/.bin/eslint app/static tests/js eslint.config.js

# The dashboard's pure modules (formatting, the time axis), in Node's own test runner.
jstest:
	node --test tests/js/

# On both cores, as test-fast: 8.5 min where one process took 11.6 (4 December 2026).
pytest: install
	$(BIN)/pytest -n 2

fit: install
	$(BIN)/forecast fit

bench: install
	$(BIN)/python -m bench.bench_predict
	$(BIN)/python -m bench.bench_fit
	$(BIN)/python -m bench.bench_service
	$(BIN)/python -m bench.bench_whatif
	$(BIN)/python -m bench.bench_timeline
	$(BIN)/python -m bench.bench_alerts
	$(BIN)/python -m bench.bench_cli
	$(BIN)/python -m bench.bench_pages
	$(BIN)/python -m bench.bench_scale

serve: install
	$(BIN)/python -m app.serve

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
