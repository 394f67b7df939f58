# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv

.PHONY: run test bench lint venv clean

run:            ## install, migrate, start Redis if needed, capture + web server on $PORT
	@scripts/run.sh

test:           ## the whole test suite (starts its own Redis and RTSP servers)
	@scripts/test.sh

bench:          ## benchmarks (see bench/README.md)
	@scripts/venv.sh dev && $(VENV)/bin/python -m bench all

lint:
	@scripts/venv.sh dev && $(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

venv:
	@scripts/venv.sh dev

clean:
	rm -rf $(VENV) staticfiles var .pytest_cache
