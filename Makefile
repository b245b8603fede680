# LabelHub: `make run` serves the app, `make test` runs lint and the whole test suite.
# Both set everything up on a fresh clone (Python 3.11+; Node.js/npm and Chromium are installed
# with apt-get when missing and you are root).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint install install-dev static migrate worker web browser clean bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed static
install-dev: $(VENV)/.installed-dev static

# Front-end packages come from the npm registry (package-lock.json) and are copied into static/vendor/.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } || { echo "npm is needed: install Node.js"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/sortablejs/Sortable.min.js static/vendor/sortable.min.js
	cp node_modules/axe-core/axe.min.js static/vendor/axe.min.js

migrate: install
	$(PY) manage.py migrate --noinput -v0

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { echo "Chromium is needed for the browser tests: apt-get install chromium"; exit 1; }

run: migrate
	$(PY) manage.py load_demo
	@echo "LabelHub on http://$(HOST):$(PORT)/ (Ctrl-C stops the server and the worker)"
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A labelhub worker --loglevel=INFO --concurrency=2 & \
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev browser lint
	$(PY) manage.py makemigrations --check --dry-run -v0
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: install-dev
	@echo "see bench/README.md"

clean:
	rm -rf $(VENV) node_modules static/vendor var
