#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (idempotent).
#
# The tests run real programs, not mocks: redis-server, a GStreamer RTSP server under
# Debian's /usr/bin/python3 (python3-gi + GstRtspServer typelib: not installable into a
# venv), ffmpeg, headless Chromium + chromedriver, docker-compose for the deployment test.
# Uses sudo only when not root; `apt-get update` runs once, and only if something is missing.
set -euo pipefail

packages=(
  redis-server
  python3-gi
  gstreamer1.0-rtsp
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base   # videotestsrc
  gstreamer1.0-plugins-good   # rtph264pay
  gstreamer1.0-plugins-ugly   # x264enc
  gstreamer1.0-libav          # avenc_aac: the test camera's AAC sound (tests/recordings/test_audio.py)
  gstreamer1.0-plugins-bad    # x265enc: the H.265 test camera (tests/support/clock_camera.py --h265)
  gstreamer1.0-tools          # gst-inspect-1.0, gst-launch-1.0 for debugging
  ffmpeg
  chromium
  chromium-driver
  docker-compose
  mosquitto                   # MQTT broker for the events tests (each test run starts its own)
  faketime                    # libfaketime: a test RTSP camera whose clock is off (health events)
)

missing=()
for package in "${packages[@]}"; do
  # `dpkg -s` also succeeds for removed-but-not-purged packages: check the Status line.
  # (Not `dpkg -s | grep -q`: with pipefail, grep's early exit SIGPIPEs dpkg and fails the test.)
  if [[ "$(dpkg -s "$package" 2>/dev/null || true)" != *$'\nStatus: install ok installed\n'* ]]; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-system-deps: missing packages, and neither root nor sudo available to install them." >&2
  echo "Install as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
