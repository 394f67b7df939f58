#!/usr/bin/env bash
# Create .venv and install requirements (dev ones too with `dev`), only when they changed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-runtime}
req=requirements.txt
[ "$kind" = dev ] && req=requirements-dev.txt
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "nvr: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv || { echo "nvr: could not create a virtualenv: install python3-venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
  .venv/bin/python -m pip install -q --upgrade pip 2> >(grep -v "WARNING: Location" >&2)
fi
stamp=.venv/.installed-$kind
sum=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  echo "nvr: installing $req"
  # (pip's notes about find-links folders this machine lacks are noise: filtered)
  .venv/bin/python -m pip install -q -r "$req" 2> >(grep -v "WARNING: Location" >&2)
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt 2> >(grep -v "WARNING: Location" >&2)
  echo "$sum" > "$stamp"
fi
