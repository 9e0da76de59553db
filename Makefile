# Toolgate: `make run` serves the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

export DJANGO_DEBUG ?= true

.PHONY: install run test lint migrate lock bench clean worker beat

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Toolgate needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py recover_runs
	$(BIN)/daphne -b $(HOST) -p $(PORT) assistant.asgi:application

# Production: a Celery worker (runs approved tool calls) and beat (expires stale requests).
worker: install
	$(BIN)/celery -A assistant worker --loglevel=INFO --concurrency=$${CELERY_CONCURRENCY:-2}

beat: install
	$(BIN)/celery -A assistant beat --loglevel=INFO --schedule=var/celerybeat-schedule

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

# Re-pin every dependency after changing pyproject.toml: a fresh venv, resolve, freeze.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet ".[dev]"
	build/lock-venv/bin/pip freeze --exclude toolgate | grep -v '^-e' > constraints.txt
	rm -rf build/lock-venv

bench: install
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
