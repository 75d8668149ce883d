# glidepath — the commands of the README and docs/. Everything installs into .venv from pinned versions.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint protos bench clean wheelhouse compose-test generic-model

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Start the three services locally, run the main job on the example household, stop.
run: install
	$(BIN)/python -m glidepath.demo

## The whole suite: static checks first (fast), then every test.
test: install lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Regenerate the gRPC stubs from protos/ (a test fails when they drift).
protos: install
	$(BIN)/python scripts/gen_protos.py

## Speed, memory and quality figures; prints tables, asserts nothing.
bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## Train, evaluate and write the shipped generic model of the default family into
## models/shipped (seeded; commit the result). GENERIC_EPISODES=N (a multiple of 256) for another budget.
GENERIC_EPISODES ?= 40960
generic-model: install
	$(BIN)/python scripts/make_generic_model.py --episodes $(GENERIC_EPISODES)

## The locked wheels for the docker image (torch's CPU build from the host's pip); cached
## until requirements.lock changes. setuptools: the image's editable install builds with it.
WHEELHOUSE := build/wheelhouse
wheelhouse: $(WHEELHOUSE)/.complete

$(WHEELHOUSE)/.complete: requirements.lock | $(STAMP)
	rm -rf $(WHEELHOUSE)
	$(BIN)/python -m pip download --quiet -d $(WHEELHOUSE) -r requirements.lock setuptools
	touch $@

## Build the image, run the three services with docker compose (host network, 127.0.0.1),
## smoke-test them, tear down. Installs docker from Debian's packages when missing (root).
compose-test: install
	scripts/compose_test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
