# The two commands of the quick start: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PIN := -c requirements/constraints.txt

# The tests use PostgreSQL and Redis at their default local addresses unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/digest
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install install-dev lint format serve clean screenshots

$(VENV)/.base: requirements/base.in requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/base.in $(PIN)
	touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.in
	$(PIP) install -q -r requirements/dev.in $(PIN)
	touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py fetch_papers --offline-fallback
	$(PY) manage.py embed_papers
	bin/serve

test: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

# The README's two pictures, from the recordings, with the browser tests' headless Chromium.
screenshots: install-dev
	$(PY) scripts/screenshots.py --out docs

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles
