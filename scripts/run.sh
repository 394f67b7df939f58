#!/usr/bin/env bash
# `make run`: everything a newcomer needs, then the capture supervisor and the web server (and the object
# detector when DETECTOR_MODEL names a model).
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every file this run makes is its user's alone (0600): .env holds SECRET_KEY and FIELD_ENCRYPTION_KEY, the
# SQLite database holds password hashes and webhook secrets, and the recordings are private footage.
umask 077
scripts/venv.sh
if [ -f .env ] && [ -n "$(find .env -perm /077)" ]; then
  chmod 600 .env
  echo "nvr: .env was readable by other users; made it private (mode 600): it holds the secret keys"
fi
if [ ! -f .env ]; then
  key=$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))")
  field_key=$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))")
  sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$key|" -e "s|^FIELD_ENCRYPTION_KEY=.*|FIELD_ENCRYPTION_KEY=$field_key|" \
    .env.example > .env
  echo "nvr: wrote .env with a new SECRET_KEY and FIELD_ENCRYPTION_KEY (edit it to configure nvr)"
fi
# Variables from .env, unless the environment already sets them (PORT=8001 make run).
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
  name=${BASH_REMATCH[1]}
  [ -n "${!name+set}" ] || export "$name=${BASH_REMATCH[2]}"
done < .env
pids=()
cleanup() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "nvr: stopped"
}
trap cleanup INT TERM EXIT
redis=$(scripts/ensure-redis.sh)
case "$redis" in started*) pids+=("${redis#started }"); echo "nvr: started redis-server for $REDIS_URL";; esac
scripts/setup.sh
.venv/bin/python manage.py capture &
pids+=($!)
if [ -n "${DETECTOR_MODEL:-}" ]; then  # object detection (README "Object detection"): one detector process
  .venv/bin/python manage.py detect &
  pids+=($!)
fi
scripts/serve-web.sh &
pids+=($!)
echo "nvr: open http://${HOST:-127.0.0.1}:${PORT:-8000}/  (admin: http://${HOST:-127.0.0.1}:${PORT:-8000}/admin/)  Ctrl-C stops"
wait -n "${pids[@]}" || true
