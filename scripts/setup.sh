#!/usr/bin/env bash
# Prepare the database and static files: what docker compose's `migrate` service runs too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py collectstatic --noinput -v0
"$PY" manage.py nvr_setup
