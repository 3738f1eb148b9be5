# Two commands: `make run` starts Pulseboard on http://localhost:8501, `make test` runs every check.
# Each target creates .venv and installs pinned dependencies on first use (and again when they change).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
PORT   ?= 8501
# localhost only by default; ADDRESS=0.0.0.0 serves other machines (login stays on there)
ADDRESS ?= 127.0.0.1

.PHONY: run test lint format typecheck pytest bench soak browser postgres prometheus pdf-libs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the project itself goes in editable (no copy: the venv runs this tree's code), for its console scripts
# (pyproject.toml [project.scripts], e.g. .venv/bin/pulseboard-stats)
$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml | $(BIN)/python
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt constraints.txt pyproject.toml | $(BIN)/python
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -e .
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run app.py --server.headless true --server.port $(PORT) --server.address $(ADDRESS)

browser:
	@scripts/ensure-chromium.sh

postgres:
	@scripts/ensure-postgres.sh

prometheus:
	@scripts/ensure-prometheus.sh

# PDF reports (WeasyPrint) load Debian's Pango
pdf-libs:
	@scripts/ensure-pdf-libs.sh

PY_SOURCES := core collectors pages tests bench scripts app.py

lint: $(VENV)/.dev
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/ruff check --output-format concise $(PY_SOURCES)

format: $(VENV)/.dev
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/ruff check --fix-only -q $(PY_SOURCES)

typecheck: $(VENV)/.dev
	$(BIN)/mypy core collectors

pytest: $(VENV)/.dev browser postgres prometheus pdf-libs
	$(BIN)/python -m pytest -q -rfEs -p no:cacheprovider

test: lint typecheck pytest

# every benchmark but the soak (an hour by design: `make soak`); common.py and report.py are helpers, not benchmarks
bench: $(VENV)/.dev browser postgres prometheus pdf-libs
	@started=$$(date +%s); for script in $(filter-out bench/common.py bench/report.py bench/soak.py,$(wildcard bench/*.py)); do \
		echo "== $$script"; at=$$(date +%s); $(BIN)/python $$script || exit 1; \
		echo "== $$script took $$(( $$(date +%s) - at )) s"; done; \
		echo "== make bench: every script in $$(( $$(date +%s) - started )) s"
	$(BIN)/python bench/report.py

soak: $(VENV)/.dev browser
	$(BIN)/python bench/soak.py --minutes 62
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
