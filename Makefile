# tickerlake — the two front-door commands are `make run` and `make test`; each does its own setup.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.8

.PHONY: setup lock run test test-fast lint format bench clean

# Idempotent: reinstalls only when the lock or pyproject changed.
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --python $(BIN)/python -q requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e ".[pipeline,bot,dev]"
	@touch $(STAMP)

# Regenerate the lock after changing dependencies in pyproject.toml: one lock for the core and every extra
# (pins preferred from the current lock), resolved for Python 3.11 (here) and usable for the Lambda's 3.12.
# The copy in report_app/ ships in the package: `tickerlake deploy package-deps` reads it when installed.
lock:
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 -o requirements.lock
	cp requirements.lock src/report_app/requirements.lock

# The main job on the embedded default: the sample source, the bundled universe, into ./lake, recorded in
# ./.dagster_home (what `tickerlake ui` shows). DEMO_DAYS=730: the last two years (one run over 25 months).
DEMO_DAYS ?= 730
run: setup
	$(BIN)/tickerlake init
	$(BIN)/tickerlake run --start $$($(BIN)/python -c "import datetime as d; print((d.datetime.now(d.UTC).date() - d.timedelta(days=$(DEMO_DAYS))).isoformat())")
	$(BIN)/tickerlake sql "SELECT ticker, date, close, rsi_14, macd FROM indicators WHERE date = (SELECT max(date) FROM indicators) ORDER BY rsi_14 DESC LIMIT 10"

# The whole suite (moto server, Dagster UI and browser tests included), as CI runs it.
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The quick loop: everything but the slow end-to-end tests.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmarks (docs/benchmarks.md): 50-500 synthetic tickers × 10 years against their floors, ~45 minutes on
# 2 cores; `make bench BENCH_ARGS=--quick` is the same at 10-40 tickers (~5 minutes).
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .dagster_home
