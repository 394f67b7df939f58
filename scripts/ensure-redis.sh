#!/usr/bin/env bash
# Make sure a Redis server answers at $REDIS_URL. When none does and the URL points at this
# machine, start redis-server (installing Debian's package if allowed) and print its PID.
# Usage: scripts/ensure-redis.sh  -> prints "running" or "started PID"
set -euo pipefail
url=${REDIS_URL:-redis://127.0.0.1:6379/0}
hostport=${url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
host=${hostport%:*}; port=${hostport##*:}
[ "$host" = "$hostport" ] && port=6379
ping() { .venv/bin/python - "$url" <<'PY' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}
if ping; then echo running; exit 0; fi
case "$host" in
  127.0.0.1|localhost|::1|"[::1]") ;;
  *) echo "nvr: no Redis answers at $host:$port; start it there or set REDIS_URL in .env" >&2; exit 1 ;;
esac
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "nvr: installing Debian's redis-server" >&2
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server) >&2
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
    (sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server) >&2
  else
    echo "nvr: Redis is needed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL." >&2
    exit 1
  fi
fi
mkdir -p var
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$PWD/var" \
  --logfile "$PWD/var/redis.log" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do ping && { echo "started $pid"; exit 0; }; sleep 0.1; done
echo "nvr: redis-server did not start; see var/redis.log" >&2
exit 1
