"""Settings for the test suite: the real settings, with a cheap password hasher.

Tests that measure the cost of the real hasher set it themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NVR_ALLOW_DEV_SECRET", "1")

from nvr.settings import *  # noqa: F403
from nvr.settings import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so servers started by the tests in other processes share it;
    # one per test run, so two runs on one machine never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")}

# A failed connection test answers after 3 s here, not 12 (tests/security/test_connection_test.py checks the rule).
NVR_CONNECTION_TEST_SECONDS = float(os.environ.get("NVR_CONNECTION_TEST_SECONDS", "3"))

if os.environ.get("NVR_TEST_REAL_HASHER"):
    # Servers started by the tests that measure what a real password check costs.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

# No collectstatic before tests: serve static files from the apps through whitenoise's finders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = BASE_DIR / "var" / "test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Recordings of one test run go to one folder of their own; servers started by the tests inherit it
# through the environment (tests/support/processes.child_env copies os.environ).
RECORDINGS_DIR = os.environ.setdefault("RECORDINGS_DIR", str(BASE_DIR / "var" / f"test-recordings-{os.getpid()}"))
try:  # the store the workers would make (a test may point RECORDINGS_DIR somewhere unwritable on purpose)
    Path(RECORDINGS_DIR).mkdir(parents=True, exist_ok=True)
except OSError:
    pass

# The VAPID key of one test run (Web Push): never the install's file beside the code.
NVR_PUSH_KEY_PATH = os.environ.setdefault("NVR_PUSH_KEY_PATH", str(BASE_DIR / "var" / f"test-vapid-{os.getpid()}.pem"))
