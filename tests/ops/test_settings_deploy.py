"""Production settings, checked the way an operator meets them: in a fresh process with a production env."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from tests.support.processes import ROOT

# Keeps a developer's .env out of the picture: these tests describe the documented defaults.
NO_DOT_ENV = "import environ; environ.Env.read_env = lambda *a, **k: None\n"


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NVR_", "SECURE_", "PYTEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="nvr.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
        ALLOWED_HOSTS="nvr.example.org",
        CSRF_TRUSTED_ORIGINS="https://nvr.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SESSION_COOKIE_SECURE="1",
        CSRF_COOKIE_SECURE="1",
        BEHIND_TLS_PROXY="1",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_DOT_ENV + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import sys; from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    )
    return run_python(code, env)


def test_check_deploy_passes_with_the_production_env(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_catches_what_the_env_left_out(tmp_path):
    result = check_deploy(production_env(tmp_path, SESSION_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W012" in result.stderr and "security.W004" in result.stderr


def test_production_defaults(tmp_path):
    """Only SECRET_KEY set: DEBUG off, hashed static files from the web process, probes not redirected."""
    env = production_env(tmp_path)
    for name in list(env):
        if name.startswith(("DEBUG", "SECURE_", "SESSION_", "CSRF_", "BEHIND_", "ALLOWED_")):
            del env[name]
    code = (
        "import json; from django.conf import settings\n"
        "print(json.dumps({'debug': settings.DEBUG, 'static': settings.STORAGES['staticfiles']['BACKEND'],\n"
        "  'middleware': settings.MIDDLEWARE, 'exempt': settings.SECURE_REDIRECT_EXEMPT,\n"
        "  'networks': [str(n) for n in settings.NVR_METRICS_NETWORKS], 'hosts': settings.ALLOWED_HOSTS}))"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["middleware"][:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    assert values["exempt"] == [r"^healthz$", r"^metrics$"]
    assert values["networks"] == ["127.0.0.0/8", "::1/128"]
    assert "localhost" in values["hosts"]


def test_production_refuses_the_development_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run_python("from django.conf import settings; settings.DEBUG", env)
    assert result.returncode != 0
    assert "SECRET_KEY is the development default" in result.stderr


def test_a_wrong_metrics_network_fails_at_startup(tmp_path):
    result = run_python(
        "from django.conf import settings; settings.DEBUG", production_env(tmp_path, NVR_METRICS_NETWORKS="10.0.0/8")
    )
    assert result.returncode != 0
    assert "10.0.0/8" in result.stderr


LOG_SOME_EVENTS = """
import django, logging
django.setup()
logging.getLogger("cameras.workers").warning("camera %s: %s", "front", "rtsp://admin:cam-pw-1@10.0.0.5/stream lost")
logging.getLogger("django.request").warning("GET %s", "/cameras/front/stream.mjpg?fps=5&token=tok-secret-1")
logging.getLogger("streaming").info("auth header %s", "Authorization: Bearer tok-secret-2")
logging.getLogger("nvr").info("one event", extra={"camera": "front"})
try:
    raise ValueError("connect to postgres://nvr:db-pw-1@db/nvr failed\\nsecond line")
except ValueError:
    logging.getLogger("nvr").exception("database down")
"""


def test_logs_are_one_line_per_event_on_stdout_without_credentials(tmp_path):
    result = run_python(LOG_SOME_EVENTS, production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5, result.stdout
    assert all(line.startswith("time=") and " level=" in line and " logger=" in line for line in lines)
    assert "camera front: rtsp://admin:***@10.0.0.5/stream lost" in lines[0]
    assert "token=***" in lines[1] and "fps=5" in lines[1]
    assert "camera=front" in lines[3]
    assert 'exc="Traceback' in lines[4]
    for secret in ("cam-pw-1", "tok-secret-1", "tok-secret-2", "db-pw-1"):
        assert secret not in result.stdout + result.stderr


def test_json_logs(tmp_path):
    result = run_python(LOG_SOME_EVENTS, production_env(tmp_path, LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["level"] for e in events] == ["warning", "warning", "info", "info", "error"]
    assert events[3]["camera"] == "front"
    assert "ValueError" in events[4]["exc"]
    assert "db-pw-1" not in result.stdout
