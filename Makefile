# KD Lens: `make run` starts the app on the demo, `make test` runs the whole suite headless.
# Both create .venv and install the pinned set (constraints.txt) when it is missing or stale.

# Python 3.12 (or 3.13): build_scripts/find_python.sh finds it, on PATH or in pyenv.
PYTHON ?= $(shell bash build_scripts/find_python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench bundle clean-venv

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "make: no Python 3.12 found (see the message above)"; exit 2; }
	@# a .venv of an older Python (3.11 before) is rebuilt, not patched
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || \
		{ rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@bash build_scripts/ensure_qt_libs.sh
	$(BIN)/kdlens --demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	@# one worker per core (at most 4): most tests wait on imports, subprocesses and files
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n auto --maxprocesses=4

bench: $(STAMP)
	$(BIN)/python bench/bench_stats.py
	$(BIN)/python bench/bench_unicam.py
	$(BIN)/python bench/bench_road.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_distributed.py
	$(BIN)/python bench/bench_gui.py

bundle: $(STAMP)
	bash build_scripts/build_bundle.sh

clean-venv:
	rm -rf $(VENV)
