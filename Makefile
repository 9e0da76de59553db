# Toolgate: `make run` serves the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

export DJANGO_DEBUG ?= true

.PHONY: install run test lint migrate lock bench clean worker beat test-prod run-prod test-prod-env run-prod-env messages

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Toolgate needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# Recorded for commands run by hand later (README: `manage.py chat`, `shell`, `createsuperuser`),
# which do not get make's exported DJANGO_DEBUG; settings.py reads it (assistant/env.py).
DEV_ENV = $${TOOLGATE_VAR_DIR:-var}/development.env

run: migrate
	@mkdir -p "$${TOOLGATE_VAR_DIR:-var}" && printf '%s\n' \
	  '# Written by `make run`: manage.py in this checkout uses the same development settings.' \
	  '# The environment wins over this file (make run-prod sets DJANGO_DEBUG=false); delete it to stop.' \
	  'DJANGO_DEBUG=$(DJANGO_DEBUG)' > "$(DEV_ENV)"
	$(BIN)/python manage.py ensure_admin --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py recover_runs
	$(BIN)/daphne -b $(HOST) -p $(PORT) assistant.asgi:application

# --- Production (docs/deploy.md) ---------------------------------------------------------------
# One process of each kind: a Celery worker (runs approved tool calls), beat (expires stale
# requests, recovers interrupted runs). `make run-prod` starts them all with Daphne (Procfile).
worker: install
	$(BIN)/celery -A assistant worker --loglevel=INFO --pool=prefork --concurrency=$${CELERY_CONCURRENCY:-2}

beat: install
	$(BIN)/celery -A assistant beat --loglevel=INFO --schedule=$${TOOLGATE_VAR_DIR:-var}/celerybeat-schedule

define require_env
	@for name in $(2); do \
	  eval "value=\$${$$name:-}"; \
	  if [ -z "$$value" ]; then echo "make $(1) needs $$name to be set (see docs/deploy.md)" >&2; exit 2; fi; \
	done
endef

test-prod-env:
	$(call require_env,test-prod,DATABASE_URL REDIS_URL)

run-prod-env:
	$(call require_env,run-prod,DATABASE_URL REDIS_URL SECRET_KEY DJANGO_ALLOWED_HOSTS)

# Honcho sends SIGTERM, then SIGKILL after STOP_TIMEOUT seconds (honcho's own default is 5):
# long enough for a worker to finish the approved call and the run it resumes.
STOP_TIMEOUT ?= 60
HONCHO = $(BIN)/python -c 'import sys, honcho.command, honcho.manager; \
	honcho.manager.KILL_WAIT = int(sys.argv[1]); honcho.command.main(sys.argv[2:])' $(STOP_TIMEOUT)

run-prod: export DJANGO_DEBUG = false
run-prod: run-prod-env install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py recover_runs --lease
	HOST=$(HOST) $(HONCHO) start --procfile Procfile --port $(PORT) $${PROCESSES:+--concurrency $$PROCESSES}

# The whole suite against PostgreSQL + Redis, plus tests/prod (a real Celery worker and beat);
# TOOLGATE_REQUIRE_PROD turns their skips into failures. `.ci/services start` provides both.
test-prod: export DJANGO_DEBUG = false
# One pytest process for all of it: a test that points Celery at a broker goes through
# tests/celery_broker.py, which drops the pools Celery keeps for whichever broker came first.
test-prod: test-prod-env install lint
	TOOLGATE_REQUIRE_PROD=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest

# Translations (docs/ui.md): collect every marked string of the templates, Python and static/js
# into locale/<lang>/LC_MESSAGES/django.po and djangojs.po (new strings arrive empty, removed
# ones are dropped), then compile the .mo files, which are committed (tests/i18n checks both).
# Needs GNU gettext (xgettext, msgmerge, msgfmt: Debian's `gettext` package).
MESSAGES_FLAGS = --all --no-obsolete --add-location=file --ignore=tests --ignore=bench --ignore=var --ignore=build
messages: install
	$(BIN)/python manage.py makemessages $(MESSAGES_FLAGS) --domain django
	$(BIN)/python manage.py makemessages $(MESSAGES_FLAGS) --domain djangojs
	for po in locale/*/LC_MESSAGES/*.po; do msgfmt --check -o "$${po%.po}.mo" "$$po" || exit 1; done

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
