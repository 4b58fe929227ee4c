# Two commands matter: `make demo` and `make test`. Everything else is for developers.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m conveyor.commerce.demo

# One line per test file with a running count ("[ 412/1530]"), then the ten slowest tests.
test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -o console_output_style=count --durations=10 --durations-min=1

lint: $(STAMP)
	$(BIN)/ruff check conveyor tests bench
	$(BIN)/ruff format --check conveyor tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/throughput.py --backend sqlite --jobs 20000
	$(BIN)/python bench/throughput.py --backend postgres --jobs 20000

# Regenerates docs/screenshots/*.png from a sample app (needs /usr/bin/chromium).
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) .bench *.egg-info
