#!/usr/bin/env bash
# `make test`: the whole suite. Tests start their own Redis, RTSP server, web server and
# capture supervisor on free loopback ports; this script makes sure the programs exist.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for program in redis-server ffmpeg /usr/bin/python3 chromium chromedriver docker-compose; do
  command -v "$program" >/dev/null || missing+=("$program")
done
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null || missing+=(gst-rtsp-server)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
  echo "nvr: missing for the tests: ${missing[*]}; installing (scripts/install-system-deps.sh)"
  scripts/install-system-deps.sh
fi
scripts/venv.sh dev
mkdir -p var
exec .venv/bin/python -m pytest "$@"
