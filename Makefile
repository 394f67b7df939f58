# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv

.PHONY: run test check bench lint venv clean screenshots

run:            ## install, migrate, start Redis if needed, capture + web server on $PORT
	@scripts/run.sh

test:           ## the whole test suite (starts its own Redis and RTSP servers)
	@scripts/test.sh

bench:          ## benchmarks (see bench/README.md)
	@scripts/venv.sh dev && $(VENV)/bin/python -m bench all

screenshots:    ## docs/screenshots/: the pages at 1440 x 900 and 390 px (starts what it needs; Chromium)
	@scripts/venv.sh dev && $(VENV)/bin/python scripts/screenshots.py

lint:           ## ruff (rules and format) and mypy (types, django-stubs); CI runs it before the tests
	@scripts/venv.sh dev && $(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

check: lint     ## the inner loop: lint, then the tests not marked slow (a few minutes)
	@scripts/test.sh -m "not slow" -q

venv:
	@scripts/venv.sh dev

clean:
	rm -rf $(VENV) staticfiles var .pytest_cache
