"""Settings for nvr: every value comes from the environment (see .env.example).

Defaults are safe for development on one machine (SQLite, local Redis); production
(DEBUG off) refuses to start with the development secret key.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from framebus.names import NAMESPACE, Names, install_namespace
from nvr.service_urls import with_password
from recordings.sizes import SizeError, parse_duration, parse_floor, parse_size

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-insecure-change-me"

# Every variable may also come from a file named by VAR_FILE (docker compose: SECRET_KEY_FILE and the
# other generated secrets), read verbatim, so `docker compose exec web python manage.py ...` sees them.
env = environ.FileAwareEnv()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Core -------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY and not env.bool("NVR_ALLOW_DEV_SECRET", default=False):
    raise ImproperlyConfigured(
        "SECRET_KEY is the development default while DEBUG is off. "
        "Set SECRET_KEY in the environment or .env (see .env.example)."
    )
# Keys encrypting camera passwords at rest (encryption/fields.py): the first encrypts, all decrypt.
# Empty: SECRET_KEY is used. Keep it out of the database's backups.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PORT = env.int("PORT", default=8000)

# Applications -----------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",  # ASGI runserver for development; production uses uvicorn (see docs/facts.md)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's passkey list (mfa/webauthn/list.html)
    "channels",
    # Sign-in (accounts/): allauth's accounts, second factors (TOTP, recovery codes, passkeys) and OIDC.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "audit",
    "cameras",
    "recordings",
    "streaming",
    "review",
    "events",
    "detection",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "audit.middleware.RequestActor",  # who made a change (audit.tracking)
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.require_second_factor",  # NVR_REQUIRE_MFA: no page without a second factor
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "nvr.urls"
ASGI_APPLICATION = "nvr.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Data -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if env("DATABASE_PASSWORD", default=""):  # a password kept apart from the URL (compose: a generated file)
    DATABASES["default"]["PASSWORD"] = env("DATABASE_PASSWORD")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, capture) and the audit writer's thread share the file: wait for locks instead of
    # failing. IMMEDIATE: a transaction takes the write lock when it begins, so two that read then write wait
    # for each other; deferred ones deadlock and one fails at once with "database is locked" (docs/facts.md).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
if env("REDIS_PASSWORD", default=""):  # likewise for Redis (compose gives its Redis a generated password)
    REDIS_URL = with_password(REDIS_URL, env("REDIS_PASSWORD"))
# Every Redis key and channel of this install starts with nvr:<namespace>: (framebus/names.py): installs that
# share a Redis server never see each other's frames, status or leases. Default: derived from SECRET_KEY.
NVR_REDIS_NAMESPACE = env("NVR_REDIS_NAMESPACE", default="") or install_namespace(SECRET_KEY)
if not NAMESPACE.fullmatch(NVR_REDIS_NAMESPACE):
    raise ImproperlyConfigured("NVR_REDIS_NAMESPACE: 1-40 letters, digits, '-' or '_'")
# Django's cache is Redis, shared by every web process: login throttle counts (accounts/throttle.py)
# must not multiply with WEB_CONCURRENCY or reset on a restart. Short timeouts: a hung Redis
# fails the cache call (the throttle then lets logins through) instead of hanging logins.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": Names(NVR_REDIS_NAMESPACE).cache_prefix,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
# No CHANNEL_LAYERS: the status WebSocket reads one Redis subscription per web process
# (streaming.consumers.StatusRelay); a channel layer would subscribe once more per open socket.

# Auth -------------------------------------------------------------------------
LOGIN_URL = "/accounts/login/"
# Messages in the session, never in a cookie the browser can read: a new token is shown once through one.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Django's ModelBackend, refusing an account after repeated failed logins (accounts/throttle.py).
AUTHENTICATION_BACKENDS = ["accounts.throttle.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Who must have a second factor (off | staff | all) and whether local accounts sign in (on | off: only the
# identity provider, and the first superuser as a break-glass account). accounts/policy.py says how.
NVR_REQUIRE_MFA = env("NVR_REQUIRE_MFA", default="off")
NVR_LOCAL_LOGIN = env("NVR_LOCAL_LOGIN", default="on")
for _name, _value, _choices in [
    ("NVR_REQUIRE_MFA", NVR_REQUIRE_MFA, ("off", "staff", "all")),
    ("NVR_LOCAL_LOGIN", NVR_LOCAL_LOGIN, ("on", "off")),
]:
    if _value not in _choices:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(_choices)} (it is {_value!r})")

# allauth: usernames, no e-mail (nvr sends none), no self-service sign-up (accounts/adapters.py).
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_REDIRECT_URL = LOGOUT_REDIRECT_URL
# nvr's throttle (accounts/throttle.py) counts password failures and caps login POSTs per address on
# every way in; allauth's own limits stay for second-factor codes (5 wrong per 5 minutes per account).
ACCOUNT_RATE_LIMITS = {"login": None}
# Second factors: an authenticator app (TOTP) with recovery codes, and passkeys or security keys
# (WebAuthn), which also sign in without a password. Browsers allow WebAuthn on https, or on localhost.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = env("NVR_MFA_ISSUER", default="nvr")
# Single sign-on (OpenID Connect): set the issuer, client id and secret, and the identity provider signs
# people in; their groups (NVR_OIDC_GROUPS_CLAIM) become Django groups, which decide their cameras.
# The provider's redirect URI: <site>/accounts/oidc/sso/login/callback/ (accounts/sso/).
NVR_OIDC_ISSUER = env("NVR_OIDC_ISSUER", default="")
NVR_OIDC_GROUPS_CLAIM = env("NVR_OIDC_GROUPS_CLAIM", default="")
SOCIALACCOUNT_PROVIDERS: dict = {
    "openid_connect": {
        "provider_class": "accounts.sso.provider.VerifiedOIDCProvider",  # signature and issuer always checked
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [],
    }
}
if NVR_OIDC_ISSUER and not env("NVR_OIDC_CLIENT_ID", default=""):
    raise ImproperlyConfigured("NVR_OIDC_ISSUER is set: set NVR_OIDC_CLIENT_ID (and its secret) too (see .env.example)")
if NVR_OIDC_ISSUER:
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": "sso",
            "name": env("NVR_OIDC_NAME", default="single sign-on"),
            "client_id": env("NVR_OIDC_CLIENT_ID"),
            "secret": env("NVR_OIDC_CLIENT_SECRET", default=""),
            "settings": {"server_url": NVR_OIDC_ISSUER, "oauth_pkce_enabled": True},
        }
    )
if NVR_LOCAL_LOGIN == "off" and not NVR_OIDC_ISSUER:
    raise ImproperlyConfigured("NVR_LOCAL_LOGIN=off needs single sign-on: set NVR_OIDC_ISSUER (see .env.example)")
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never attach a provider's user to a local account by e-mail
SOCIALACCOUNT_STORE_TOKENS = False

# Audit trail (audit/): entries older than this are removed (hourly, and `manage.py audit prune`).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)

# Internationalisation -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Static files -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security: plain HTTP works out of the box (closed networks); behind TLS turn these on in .env
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]  # probes and Prometheus scrape the web port directly
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and everything else from the site itself only,
# no inline script or style, so injected markup cannot run. blob: is hls.js's MediaSource and worker;
# data: is the admin's connection-test frame. tests/browser/test_csp.py loads every page under it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Logging: one line per event on stdout, credentials redacted (nvr/logging.py) ---------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="logfmt")  # or "json"
LOGGING_CONFIG = "nvr.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "nvr.logging.RedactSecrets"}},
    "formatters": {"line": {"()": "nvr.logging.LineFormatter", "json": LOG_FORMAT == "json"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # uvicorn configured its own handlers before loading Django: route them through ours
        # (its access log too, when on: see nvr.logging.configure).
        "uvicorn": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}

# nvr --------------------------------------------------------------------------
NVR_STREAM_WRITE_DEADLINE = env.float("NVR_STREAM_WRITE_DEADLINE", default=8.0)
# Every other response (clips, segments, pages): seconds one write may make no progress (streaming/deadline.py).
NVR_DOWNLOAD_WRITE_DEADLINE = env.float("NVR_DOWNLOAD_WRITE_DEADLINE", default=30.0)
NVR_STREAM_ACCESS_RECHECK = env.float("NVR_STREAM_ACCESS_RECHECK", default=15.0)
NVR_SUPERVISOR_POLL_SECONDS = env.float("NVR_SUPERVISOR_POLL_SECONDS", default=2.0)
NVR_LEASE_SECONDS = env.float("NVR_LEASE_SECONDS", default=8.0)
NVR_METRICS_TOKEN = env("NVR_METRICS_TOKEN", default="")
# Who may read /metrics without the token; a typo fails at startup, not at the first scrape.
NVR_METRICS_NETWORKS = [
    ipaddress.ip_network(net, strict=False)
    for net in env.list("NVR_METRICS_NETWORKS", default=["127.0.0.0/8", "::1/128"])
]

# Outbound connections to addresses typed in (webhooks, cameras, MQTT): private LAN and loopback allowed
# (cameras and Home Assistant live there); 0 for hosted installs. Link-local, multicast and metadata never.
NVR_OUTBOUND_ALLOW_PRIVATE = env.bool("NVR_OUTBOUND_ALLOW_PRIVATE", default=True)
# The admin's "Test connection": every failure answers after this long (no timing tells a closed port from
# an open one), and a user may test this many cameras per window.
NVR_CONNECTION_TEST_SECONDS = env.float("NVR_CONNECTION_TEST_SECONDS", default=12.0)
NVR_CONNECTION_TEST_LIMIT = env.int("NVR_CONNECTION_TEST_LIMIT", default=20)
NVR_CONNECTION_TEST_WINDOW = 600.0

# Video files (cameras of kind "file") are read only from this folder.
NVR_MEDIA_DIR = env("NVR_MEDIA_DIR", default=str(BASE_DIR / "var" / "media"))

# Recording and review --------------------------------------------------------------
RECORDINGS_DIR = env("RECORDINGS_DIR", default=str(BASE_DIR / "var" / "recordings"))
# The store never fills the disk: the oldest segments go when either limit is crossed (README "Recording").
try:
    RECORDINGS_MAX_SIZE = parse_size(
        env("RECORDINGS_MAX_SIZE", default="0"), name="RECORDINGS_MAX_SIZE"
    )  # 0: no budget
    RECORDINGS_MIN_FREE = parse_floor(env("RECORDINGS_MIN_FREE", default="5%"), name="RECORDINGS_MIN_FREE")
except SizeError as error:
    raise ImproperlyConfigured(str(error)) from None
RECORDINGS_SEGMENT_SECONDS = env.float("RECORDINGS_SEGMENT_SECONDS", default=10.0)
# The bucket tier (README "Footage beyond one disk"): s3://bucket/prefix?endpoint=http://host:9000&region=...;
# empty: footage stays on RECORDINGS_DIR. Segments older than RECORDINGS_TIER_AFTER move there, and the
# bucket keeps at most RECORDINGS_S3_MAX_SIZE (0: no budget). Credentials: these two, or the usual AWS
# variables and files (boto3's chain); never logged.
RECORDINGS_S3_URL = env("RECORDINGS_S3_URL", default="")
RECORDINGS_S3_ACCESS_KEY_ID = env("RECORDINGS_S3_ACCESS_KEY_ID", default="")
RECORDINGS_S3_SECRET_ACCESS_KEY = env("RECORDINGS_S3_SECRET_ACCESS_KEY", default="")
try:
    RECORDINGS_TIER_AFTER = parse_duration(env("RECORDINGS_TIER_AFTER", default="2d"), name="RECORDINGS_TIER_AFTER")
    RECORDINGS_S3_MAX_SIZE = parse_size(env("RECORDINGS_S3_MAX_SIZE", default="0"), name="RECORDINGS_S3_MAX_SIZE")
except SizeError as error:
    raise ImproperlyConfigured(str(error)) from None
if RECORDINGS_S3_URL and not RECORDINGS_S3_URL.startswith("s3://"):
    raise ImproperlyConfigured(
        "RECORDINGS_S3_URL must start with s3:// (e.g. s3://bucket/prefix?endpoint=http://minio:9000)"
    )
# Events (events/): seconds of video before and after an event when it is played or exported, and MQTT.
NVR_EVENT_PRE_ROLL = env.float("NVR_EVENT_PRE_ROLL", default=5.0)
NVR_EVENT_POST_ROLL = env.float("NVR_EVENT_POST_ROLL", default=5.0)
# Health events (events/health.py): a camera not live this many seconds is offline (a reconnect pages nobody).
NVR_HEALTH_OFFLINE_GRACE = env.float("NVR_HEALTH_OFFLINE_GRACE", default=30.0)
# Web Push (events/push.py): the VAPID private key's file (made at first use, 0600) and the contact push
# services are given (a mailto: or https: URL; Apple's refuses a missing one).
NVR_PUSH_KEY_PATH = env("NVR_PUSH_KEY_PATH", default=str(BASE_DIR / "vapid_private.pem"))
NVR_PUSH_CONTACT = env("NVR_PUSH_CONTACT", default="mailto:nvr@localhost")
MQTT_URL = env("MQTT_URL", default="")  # e.g. mqtt://user:password@broker:1883; empty: no MQTT
if MQTT_URL and not MQTT_URL.startswith(("mqtt://", "mqtts://")):
    raise ImproperlyConfigured("MQTT_URL must start with mqtt:// or mqtts:// (e.g. mqtt://user:pw@broker:1883)")
# Object detection (detection/, `manage.py detect`): an ONNX model of the user's choice; empty: detection off.
DETECTOR_MODEL = env("DETECTOR_MODEL", default="")
DETECTOR_LABELS = env("DETECTOR_LABELS", default="") or str(BASE_DIR / "detection" / "coco-labels.txt")
DETECTOR_DEVICE = env("DETECTOR_DEVICE", default="cpu")  # cpu, cuda or openvino (ONNX Runtime's provider)
DETECTOR_THREADS = env.int("DETECTOR_THREADS", default=0)  # ONNX Runtime's threads; 0: its own choice
DETECTOR_CROPS_PER_SECOND = env.float("DETECTOR_CROPS_PER_SECOND", default=2.0)  # per moving camera
NVR_CLIP_MAX_SECONDS = env.int("NVR_CLIP_MAX_SECONDS", default=24 * 3600)  # longest clip.mp4 span
# Signed exports (README "Signed exports"): where their ZIPs are built (0600 files), the Ed25519 key that signs
# them (generated once, 0600, kept apart from the database), and the recorder's name in their manifests.
NVR_EXPORTS_DIR = env("NVR_EXPORTS_DIR", default=str(BASE_DIR / "var" / "exports"))
NVR_EXPORT_KEY_FILE = env("NVR_EXPORT_KEY_FILE", default=str(BASE_DIR / "var" / "keys" / "export-signing.key"))
NVR_RECORDER_NAME = env("NVR_RECORDER_NAME", default="")  # empty: the host's name
NVR_EXPORT_MAX_SECONDS = env.int("NVR_EXPORT_MAX_SECONDS", default=7 * 24 * 3600)  # longest span an export holds
NVR_EXPORT_KEEP_DAYS = env.float("NVR_EXPORT_KEEP_DAYS", default=7.0)  # then an export's ZIP is deleted
