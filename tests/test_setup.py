"""First run: settings refuse the development key in production; nvr_setup creates admin and demo cameras once."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cameras.models import Camera
from tests.support.processes import ROOT


def test_production_refuses_the_development_secret_key():
    if (ROOT / ".env").exists():
        pytest.skip("this checkout has a .env (from make run) that sets SECRET_KEY; a clean clone runs this test")
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "NVR_ALLOW_DEV_SECRET", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="nvr.settings", DEBUG="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY is the development default" in result.stderr


@pytest.mark.django_db
def test_nvr_setup_creates_admin_and_demo_cameras_once(monkeypatch):
    monkeypatch.setenv("NVR_ADMIN_USER", "chief")
    monkeypatch.delenv("NVR_ADMIN_PASSWORD", raising=False)
    out = StringIO()
    call_command("nvr_setup", stdout=out)
    text = out.getvalue()
    assert "Created admin user 'chief' with password: " in text
    password = text.split("password: ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="chief").check_password(password)
    assert Camera.objects.filter(kind="test_pattern").count() == 4
    again = StringIO()
    call_command("nvr_setup", stdout=again)
    assert again.getvalue() == ""
    assert get_user_model().objects.count() == 1 and Camera.objects.count() == 4


@pytest.mark.django_db
def test_nvr_setup_uses_the_given_password(monkeypatch):
    monkeypatch.setenv("NVR_ADMIN_USER", "chief")
    monkeypatch.setenv("NVR_ADMIN_PASSWORD", "given-pass-123")
    out = StringIO()
    call_command("nvr_setup", "--no-demo", stdout=out)
    assert "given-pass-123" not in out.getvalue()
    assert get_user_model().objects.get(username="chief").check_password("given-pass-123")
    assert not Camera.objects.exists()
