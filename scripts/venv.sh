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
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.installed-$kind
sum=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  echo "nvr: installing $req"
  .venv/bin/python -m pip install -q -r "$req"
  echo "$sum" > "$stamp"
fi
