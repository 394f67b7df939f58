#!/usr/bin/env bash
# The production web server (uvicorn: its writes wait for the socket, so a stalled viewer
# cannot grow memory; see docs/facts.md). make run and docker compose both start it this way.
# WebSockets are not compressed: the live H.264 socket carries video that deflate cannot shrink,
# and compressing it for each viewer was 38 % of the web process's CPU (py-spy, docs/facts.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
exec "$PY" -m uvicorn nvr.asgi:application --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-1}" --loop uvloop --http nvr.server:HttpProtocol --proxy-headers \
  --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" --timeout-graceful-shutdown 3 --no-access-log \
  --limit-concurrency "${NVR_MAX_CONNECTIONS:-4096}" --ws-per-message-deflate false
