"""docker-compose.yml and the Dockerfile: valid, complete, and running the project's own commands.

No Docker engine runs here, so Debian's docker-compose validates and resolves the file
(`config`), and each service's command runs from the project the way the image runs it:
`python` from PATH, no .venv (the scripts' PY fallback), production settings.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import require
from tests.support.processes import ROOT, ManagedProcess, database_url, free_port

SERVICES = {"secrets", "redis", "db", "migrate", "web", "worker", "detector"}
COMMANDS = {  # service -> the command make run (scripts/run.sh) uses too
    "migrate": ["scripts/setup.sh"],
    "web": ["scripts/serve-web.sh"],
    "worker": ["python", "manage.py", "capture"],
    "detector": ["python", "manage.py", "detect"],
}
# Set by docker-compose.yml itself rather than passed through from .env.
SET_BY_COMPOSE = {
    "PORT", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD", "HOST", "RECORDINGS_DIR", "NVR_MEDIA_DIR",
    "NVR_EXPORTS_DIR", "NVR_EXPORT_KEY_FILE", "NVR_PUSH_KEY_PATH",
}  # fmt: skip
# Secrets: .env's value (or a generated one) goes to a file of the `secrets` service, read as VAR_FILE.
SECRETS = {"SECRET_KEY": "secret_key", "FIELD_ENCRYPTION_KEY": "field_encryption_key",
           "POSTGRES_PASSWORD": "db_password", "REDIS_PASSWORD": "redis_password"}  # fmt: skip
AS_FILES = {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_PASSWORD", "REDIS_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> str:
    path = shutil.which("docker-compose")
    require(path is not None, "docker-compose not installed (Debian: apt-get install docker-compose)")
    return path


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run in the project directory, capturing text output; the caller checks the return code."""
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def compose_config(compose: str, env_file: Path) -> dict:
    result = run([compose, "--env-file", str(env_file), "config"])
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def fresh_config(compose, tmp_path_factory) -> dict:
    """The stack on a fresh checkout: no .env at all."""
    empty = tmp_path_factory.mktemp("compose") / "empty.env"
    empty.write_text("")
    return compose_config(compose, empty)


def documented_variables() -> set[str]:
    """Every VAR= line of .env.example, commented out or not."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def python_on_path_env(**extra: str) -> dict[str, str]:
    """The image's situation: no .venv for the scripts (PY points nowhere), `python` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NVR_", "PYTEST_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PY="/nonexistent/python",
        DJANGO_SETTINGS_MODULE="nvr.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def test_config_is_valid_with_and_without_an_env_file(compose, fresh_config):
    for config in (fresh_config, compose_config(compose, ROOT / ".env.example")):
        assert set(config["services"]) == SERVICES


def test_services_start_in_order_and_report_health(fresh_config):
    services = fresh_config["services"]
    for name in ("redis", "db"):
        assert services[name]["healthcheck"]["test"], name
    assert any(volume.startswith("nvr-db:") for volume in services["db"]["volumes"])
    assert "nvr-db" in fresh_config["volumes"]
    assert services["secrets"]["restart"] == "no"
    for name in ("redis", "db"):
        assert services[name]["depends_on"] == {"secrets": {"condition": "service_completed_successfully"}}, name
    assert services["migrate"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["migrate"]["restart"] == "no"
    assert services["detector"]["restart"] == "unless-stopped"  # a detector that dies is started again
    for name in ("web", "worker", "detector"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    assert [(p["published"], p["target"]) for p in services["web"]["ports"]] == [(8000, 8000)]
    # --scale worker=N: nothing in the worker may be unique to one container.
    assert not {"ports", "container_name", "hostname"} & set(services["worker"])


def test_services_run_the_commands_make_run_runs(fresh_config):
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    for name, command in COMMANDS.items():
        assert fresh_config["services"][name]["command"] == command, name
        program = command[0] if command[0] != "python" else command[1]
        assert os.access(ROOT / program, os.X_OK if program.endswith(".sh") else os.R_OK), program
        assert " ".join(command[1:] if command[0] == "python" else command) in run_sh, name
    images = {fresh_config["services"][name]["image"] for name in COMMANDS}
    assert len(images) == 1  # one image, built once, for all of them


def test_containers_get_every_documented_variable(fresh_config):
    documented = documented_variables()
    environments = [fresh_config["services"][name]["environment"] for name in COMMANDS]
    assert all(env == environments[0] for env in environments)
    environment = environments[0]
    passed = documented - SET_BY_COMPOSE - set(SECRETS) - AS_FILES
    assert passed <= set(environment), passed - set(environment)
    as_files = {f"{name}_FILE" for name in AS_FILES}
    assert set(environment) - documented - as_files <= SET_BY_COMPOSE, set(environment) - documented
    assert as_files <= set(environment) and not set(SECRETS) & set(environment)  # no secret in the file itself
    assert set(fresh_config["services"]["secrets"]["environment"]) == set(SECRETS)
    assert environment["HOST"] == "0.0.0.0"
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["DATABASE_URL"] == "postgres://nvr@db:5432/nvr"  # the password comes from its file
    assert int(environment["WEB_CONCURRENCY"]) >= 2


def test_every_variable_the_code_reads_is_documented():
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "nvr" / "settings.py").read_text()))
    for path in [*ROOT.glob("nvr/*.py"), *ROOT.glob("cameras/**/*.py"), *ROOT.glob("streaming/**/*.py")]:
        if path.name == "test_settings.py":
            continue  # switches of the test suite, not configuration
        read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    for script in ("serve-web.sh", "setup.sh", "run.sh"):
        read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", (ROOT / "scripts" / script).read_text()))
    internal = {"NVR_ALLOW_DEV_SECRET", "STATIC_ROOT", "OPENCV_FFMPEG_CAPTURE_OPTIONS", "PY"}
    assert read - internal <= documented_variables(), read - internal - documented_variables()


def test_compose_defaults_are_the_settings_defaults(fresh_config):
    """A fresh `docker compose up` configures nvr exactly like an empty .env does for make run."""
    environment = {k: v for k, v in fresh_config["services"]["web"]["environment"].items() if k not in SET_BY_COMPOSE}
    environment = {k: v for k, v in environment.items() if k not in {"WEB_CONCURRENCY"} and not k.endswith("_FILE")}
    probe = (
        "import json, environ; environ.Env.read_env = lambda *a, **k: None\n"  # ignore a developer's .env
        "from django.conf import settings; import nvr.server\n"
        f"names = {sorted(environment)!r}\n"
        "values = {n: repr(getattr(settings, n)) for n in names if hasattr(settings, n)}\n"
        "values['NVR_STREAM_SNDBUF'] = nvr.server.SEND_BUFFER_BYTES\n"
        "values['NVR_STREAM_WRITE_BUFFER'] = nvr.server.WRITE_BUFFER_HIGH\n"
        "values['BEHIND_TLS_PROXY'] = repr(settings.SECURE_PROXY_SSL_HEADER)\n"
        "print(json.dumps(values))"
    )

    key = secrets.token_urlsafe(50)  # one install: settings derived from the key (the Redis namespace) agree

    def settings_with(extra: dict[str, str]) -> dict:
        env = python_on_path_env(**{"SECRET_KEY": key, **extra})
        for name in environment:
            if name not in extra:
                env.pop(name, None)
        result = run([sys.executable, "-c", probe], env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    from_compose, from_defaults = settings_with(environment), settings_with({})
    assert len(from_compose) >= 15
    assert from_compose == from_defaults
    serve_web = (ROOT / "scripts" / "serve-web.sh").read_text()
    assert f"${{FORWARDED_ALLOW_IPS:-{environment['FORWARDED_ALLOW_IPS']}}}" in serve_web


def test_dockerfile_builds_from_project_files_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a runtime stage"
    runtime = stages[-1]
    assert re.match(r"python:\$\{PYTHON_VERSION\}-slim", runtime)
    assert "build-essential" in stages[0] and not re.search(r"build-essential|gcc|apt-get install", runtime)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    user = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", dockerfile, re.MULTILINE):
        assert (ROOT / source).exists(), source
    command = json.loads(re.findall(r"^CMD (.+)$", runtime, re.MULTILINE)[-1])
    assert command in COMMANDS.values()
    assert "ENTRYPOINT" not in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    for private in (".env", ".venv", "db.sqlite3", ".git", "var/"):
        assert private in ignored, private


def test_secrets_are_generated_once_kept_and_read_from_files_by_settings(fresh_config, tmp_path):
    """scripts/compose-secrets.sh as the `secrets` service runs it, then settings as the services read them."""
    assert fresh_config["services"]["secrets"]["command"] == ["scripts/compose-secrets.sh"]

    def make(folder: Path = tmp_path, **given: str) -> dict[str, str]:
        env = {k: v for k, v in python_on_path_env().items() if k not in SECRETS}
        result = run(["scripts/compose-secrets.sh"], env={**env, "NVR_SECRETS_DIR": str(folder), **given})
        assert result.returncode == 0, result.stderr
        return {name: (folder / file).read_text() for name, file in SECRETS.items()}

    upgraded = tmp_path / "upgraded"
    upgraded.mkdir()
    (upgraded / "secret_key").write_text("made-by-an-earlier-version-" + "k" * 30 + "\n")  # print() wrote a newline
    assert make(upgraded)["SECRET_KEY"] == "made-by-an-earlier-version-" + "k" * 30  # kept, without the newline
    first = make(SECRET_KEY="", POSTGRES_PASSWORD="", REDIS_PASSWORD="", FIELD_ENCRYPTION_KEY="")
    assert all(len(value) >= 50 and "\n" not in value for value in first.values()), first
    assert len(set(first.values())) == 4
    vapid = (tmp_path / "vapid_private.pem").read_text()
    assert make() == first  # kept across restarts
    assert (tmp_path / "vapid_private.pem").read_text() == vapid and "PRIVATE KEY" in vapid  # Web Push's, kept too
    assert stat.S_IMODE((tmp_path / "vapid_private.pem").stat().st_mode) == 0o600
    assert make(POSTGRES_PASSWORD="from-dot-env")["POSTGRES_PASSWORD"] == "from-dot-env"  # .env wins
    modes = {file: stat.S_IMODE((tmp_path / file).stat().st_mode) for file in SECRETS.values()}
    assert modes == {"secret_key": 0o600, "field_encryption_key": 0o600, "db_password": 0o644,
                     "redis_password": 0o644}  # fmt: skip

    # What the services' settings make of them (SECRET_KEY_FILE ... as docker-compose.yml sets them).
    environment = fresh_config["services"]["web"]["environment"]
    files = {k: v.replace("/var/lib/nvr", str(tmp_path)) for k, v in environment.items() if k.endswith("_FILE")}
    probe = (
        "import json; from django.conf import settings as s\n"
        "print(json.dumps([s.SECRET_KEY, s.FIELD_ENCRYPTION_KEY, s.DATABASES['default']['PASSWORD'], s.REDIS_URL]))"
    )
    env = python_on_path_env(**files, DATABASE_URL=environment["DATABASE_URL"], REDIS_URL=environment["REDIS_URL"])
    env.pop("SECRET_KEY")
    result = run([sys.executable, "-c", probe], env=env)
    assert result.returncode == 0, result.stderr
    key, field_keys, db_password, redis_url = json.loads(result.stdout)
    assert key == first["SECRET_KEY"] and field_keys == [first["FIELD_ENCRYPTION_KEY"]]
    assert db_password == "from-dot-env"
    assert redis_url == f"redis://:{(tmp_path / 'redis_password').read_text()}@redis:6379/0"
    # Signing works under `docker compose exec`, where no entrypoint ran: check --deploy finds the key.
    check = run([sys.executable, "manage.py", "check", "--deploy"], env=env)
    assert check.returncode == 0 and "System check identified" in check.stdout + check.stderr, check.stderr
    assert "W009" not in check.stdout + check.stderr and "SECRET_KEY" not in check.stdout + check.stderr


def test_every_service_runs_without_privileges_it_does_not_need(fresh_config):
    services = fresh_config["services"]
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
    for name in ("secrets", *COMMANDS):
        assert not services[name].get("cap_add"), name  # the image's unprivileged user needs none
    for name in ("redis", "db"):  # they start as root to take their data folder, then drop to their user
        assert set(services[name]["cap_add"]) <= {"CHOWN", "FOWNER", "SETGID", "SETUID", "DAC_OVERRIDE"}, name
    # Redis takes a password; the nvr services are the only ones given it.
    assert "--requirepass" in " ".join(services["redis"]["entrypoint"])
    for name in COMMANDS:
        mounts = services[name]["volumes"]
        assert any(m.endswith(":/var/lib/nvr:ro") or m == "nvr-secret:/var/lib/nvr:ro" for m in mounts), mounts


def test_migrate_command_prepares_an_empty_database(tmp_path):
    """scripts/setup.sh as the migrate service runs it; twice, as every upgrade does."""
    env = python_on_path_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        NVR_ADMIN_USER="chief",
        NVR_ADMIN_PASSWORD="pw-chief-12345",
    )
    for _ in range(2):
        result = run(["scripts/setup.sh"], env=env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert any(re.search(r"\.[0-9a-f]{12}\.css$", name) for name in manifest["paths"].values())  # hashed names
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("select username from auth_user where is_superuser").fetchall() == [("chief",)]
        assert db.execute("select count(*) from cameras_camera").fetchone()[0] >= 1  # the demo cameras


@pytest.mark.django_db(transaction=True)
def test_web_command_serves_with_several_workers(redis_url):
    port = free_port()
    env = python_on_path_env(
        DATABASE_URL=database_url(), REDIS_URL=redis_url, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2"
    )
    with ManagedProcess("serve-web", ["scripts/serve-web.sh"], env, port) as web:
        response = httpx.get(f"{web.url}/healthz", timeout=10)
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 15
        while web.log().count("Started server process") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.log().count("Started server process") == 2, web.log()
        assert "GET /healthz" not in web.log()  # --no-access-log holds with our LOGGING


def test_worker_and_status_commands_exist():
    env = python_on_path_env()
    for command in (COMMANDS["worker"], ["python", "manage.py", "nvr_status"]):
        result = run([*command, "--help"], env=env)
        assert result.returncode == 0, result.stderr
        assert "usage: manage.py" in result.stdout
