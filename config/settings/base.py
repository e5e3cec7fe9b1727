"""Settings shared by every environment. Local, test and production only override."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import env, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env("MISSING_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# The public address staff reach the system at; links in texts and webhooks are built from it.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
COUNCIL_NAME = env("COUNCIL_NAME", "Demo Borough Council")
# This installation's council, by its ONS code (missing.Council, e.g. E09000033). When a child
# it looks after lives in another council's area, or another council's child lives in its
# area, the other council is told when the child goes missing (notifications.council_alerts).
# Empty: no council is told (the system cannot say which side it is on).
COUNCIL_ONS_CODE = env("COUNCIL_ONS_CODE", "")
# The councils this installation serves, by ONS code (comma-separated). Default: the single
# council above (or none), so a single-council installation behaves as before. Two or more: a
# regional installation, where each council's staff see only their own council's children,
# plus the out-of-area episodes shared between two of them (decision 0066).
COUNCIL_ONS_CODES = env_list("COUNCIL_ONS_CODES", COUNCIL_ONS_CODE)
# The front door's own out-of-hours number, given in the alerts to other councils.
COUNCIL_FFD_PHONE = env("COUNCIL_FFD_PHONE", "")
# Email: SMTP in production (EMAIL_HOST etc. from the environment, TLS); the console in the demo.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "587"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env("EMAIL_USE_TLS", "true").lower() == "true"
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "missing-children@localhost")
# An alert another council has not acknowledged within this many minutes is sent again (email
# and, for the grades below, a second text).
COUNCIL_ALERT_ESCALATE_AFTER_MINUTES = int(env("COUNCIL_ALERT_ESCALATE_AFTER_MINUTES", "60"))
# Police grades (RiskGrade codes) whose "missing" alert is also texted to the other council's
# out-of-hours phone, whether it is outside or on this installation (decision 0070).
COUNCIL_ALERT_TEXT_GRADES = env_list("COUNCIL_ALERT_TEXT_GRADES", "high")

INSTALLED_APPS = [
    # Before django.contrib.auth: its `changepassword` asks a head of service to approve.
    "missing.accounts.cli",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    # Change history at the database level (docs/decisions/0042-change-history.md); its
    # triggers, and the access log's append-only triggers, are installed on PostgreSQL only.
    "pgtrigger",
    "pghistory",
    "missing",
    "interviews",
    "notifications",
    "ssd",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Who, in which role, from where and on which route, for the access log and the change
    # history of this request (missing.audit.access_log). After authentication, before the views.
    "missing.audit.access_log.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication and messages: ends idle or too-old sessions (with a message on the
    # sign-in page), then refuses a signed-in session that has not passed the second factor.
    "missing.accounts.security.SessionTimeoutMiddleware",
    "missing.accounts.security.SecondFactorRequiredMiddleware",
    # A read over its limit, found by the access log inside a view: the 429 page.
    "missing.accounts.security.RateLimitMiddleware",
    # After both: keeps a form posted after the idle sign-out and offers it back to the same
    # person once signed in again (process_view: after the CSRF check).
    "missing.accounts.session_timeout.KeptFormMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "missing.web.middleware.NoStoreMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "missing.web.context_processors.site",
                "csp.context_processors.nonce",
            ],
            # The core keeps its template tags with the web pages (tests/test_architecture.py).
            "libraries": {"regional": "missing.web.regional_tags"},
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side cursors (QuerySet.iterator(): the national returns' downloads) are read to
    # the end. PostgreSQL plans a cursor for its first 10% (cursor_tuple_fraction), and for the
    # SSDA903 export that fast-start plan reads the whole year 2-3 times slower.
    # JIT off: the workload is short statements run often (the escalation sweep every minute,
    # intake, the board). PostgreSQL's JIT starts once a plan's estimated cost passes
    # jit_above_cost, and the sweep's resolving statement, a 3 ms statement, crossed it as open
    # escalations grew and then took ~200 ms to compile each minute (issue 15). The figures and
    # the returns, the only long statements, measured the same with and without it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        "-c cursor_tuple_fraction=1 -c jit=off"
    )
# Each view runs in one transaction: the access-log rows a request writes commit with it, or
# go with it when the view fails (docs/decisions/0041-access-log.md). on_commit hand-offs to
# Celery run once the request's transaction commits.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "missing.User"
# Menu entries for pages of the apps built on the core: (url name, label, roles).
EXTRA_NAVIGATION = [
    ("interviews:queue", "Your interviews", ("interviewer",)),
    ("interviews:list", "Return interviews", ("ffd", "manager", "head_of_service")),
    ("notifications:escalation_list", "Escalations", ("manager", "head_of_service")),
    ("interviews:figures", "Figures", ("manager", "head_of_service")),
    ("notifications:outbox", "SMS outbox", ("manager", "head_of_service", "admin")),
    ("notifications:alert_list", "SMS alerts", ("admin",)),
    ("interviews:returns", "National returns", ("manager", "head_of_service")),
    ("ssd:upload", "Import from the case system", ("manager", "head_of_service")),
]
# Links on the figures page to the national returns (SSDA903, Annex A): (url name, label).
FIGURES_NATIONAL_RETURNS: list[tuple[str, str]] = [
    ("interviews:returns", "National returns: SSDA903 Missing table and Annex A List 8"),
]
# Blocks the apps built on the core add to the episode and child pages (template names).
EPISODE_DETAIL_PANELS = [
    "interviews/episode_panel.html",
    "notifications/episode_panel.html",
    "missing/philomena_episode_panel.html",
]
CHILD_DETAIL_PANELS = ["interviews/child_panel.html", "missing/philomena_child_panel.html"]
# Blocks shown at the top of the episode page, under its status: the next step another app owns
# (the interview's sign-off, for the managers who may sign it off).
EPISODE_DETAIL_NEXT_STEPS = ["interviews/episode_next_step.html"]
# Pages of the apps built on the core that a session past the password alone may reach: the
# tablet's offline page, offline copy of the record form and service worker, which hold no case
# data (missing.accounts.security).
SECOND_FACTOR_EXEMPT_URL_NAMES = [
    "interviews:offline",
    "interviews:record_offline",
    "interviews:service_worker",
]
# Retention erasure (missing.audit.retention): what each app built on the core erases about a child.
RETENTION_ERASERS = [
    "interviews.retention.erase_child",
    "notifications.retention.erase_child",
    # The Philomena profile and its photograph file (missing.cases.philomena).
    "missing.cases.philomena.erase_child",
]
# The apps built on the core move their rows when two child records are merged (missing.cases.merge).
CHILD_MERGERS = ["interviews.merge.merge_child", "missing.cases.philomena.merge_child"]
# Where an interviewer lands after signing in (their queue, in the interviews app).
INTERVIEWER_HOME = "interviews:queue"
# Local protocol: who offers the return interview and assigns the interviewer. Managers and heads
# of service by default; add "ffd" where the Family Front Door arranges interviews.
INTERVIEW_ARRANGER_ROLES = ["manager", "head_of_service"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
# Stored in UTC (USE_TZ); shown in the council's local time.
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# GOV.UK Frontend is built into static_build/ by `make static` (from the npm package), never committed.
STATICFILES_DIRS = [BASE_DIR / "static", BASE_DIR / "static_build"]
# Uploaded files (Philomena photographs) go through the default storage under MEDIA_ROOT. Nothing
# serves MEDIA_URL: no URL pattern, no WhiteNoise root. A photograph reaches a person only through
# an authenticated, access-logged view (missing.web.philomena_views). Back this directory up with
# the database; keep it off any web server's document root.
MEDIA_ROOT = Path(env("MISSING_MEDIA_DIR", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Sign-in, second factor, sessions, lockout (docs/decisions/0040-sign-in-and-sessions.md).
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username-and-address pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The demo may let a password alone in (with a banner on every page); never with DEBUG off.
SECOND_FACTOR_RELAXED = env_bool("SECOND_FACTOR_RELAXED", False)
OTP_TOTP_ISSUER = "Missing children (" + COUNCIL_NAME + ")"
RECOVERY_CODE_COUNT = 10
# The admin lists devices (to see who has enrolled) but never shows a device's secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Exports ask for a fresh code when the last one is older than this (ASVS 7.5.3).
STEP_UP_MAX_AGE = timedelta(minutes=5)
# Personal API tokens (scope "full") end this long after they are made (issue 14 item 3).
API_TOKEN_MAX_AGE = timedelta(days=int(env("API_TOKEN_MAX_AGE_DAYS", "90")))
# A role grant, a password set by someone else or a second-factor reset that no head of service
# has decided within this long expires (missing.accounts.account_changes): ask again if still wanted.
ACCOUNT_CHANGE_MAX_AGE = timedelta(days=int(env("ACCOUNT_CHANGE_MAX_AGE_DAYS", "7")))
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
# Signed-in pages warn this long before the idle sign-out, with "Stay signed in" (WCAG 2.2.1).
SESSION_IDLE_WARNING = timedelta(minutes=2)
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=10)
# The cookie never outlives the absolute limit; the middleware enforces both limits server-side.
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
# How many proxies we trust to append to X-Forwarded-For (production: the TLS proxy). With 0
# the client address is the connection's own (REMOTE_ADDR) and the header is ignored.
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))

# django-axes: lock a username from one address only, so an attacker cannot lock the real user
# out everywhere (ASVS 6.3.1 without denial of service).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "missing.accounts.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "missing.accounts.security.client_ip"
AXES_VERBOSE = False  # its log lines would name the username and the form's fields

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own origin, plus inline ones carrying this response's nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Requests per user, per API token (per address when signed out) and window, on the web and
# the API alike, for every read of child data (missing.accounts.security; decision 0057). A busy FFD
# hour is 30-40 cases at about three pages each (child, episode, interview): "read" allows
# twice that; 40 name searches an hour is a search a call at the busiest; exports are a
# report or two, retried. Above these a person is copying, not working a case.
RATE_LIMITS = {
    "list": env("RATE_LIMIT_LIST", "120/minute"),
    "read": env("RATE_LIMIT_READ", "300/hour"),
    "search": env("RATE_LIMIT_SEARCH", "100/hour"),
    "export": env("RATE_LIMIT_EXPORT", "20/hour"),
}
# Where apps built on the core act on an insider-misuse alert (missing.audit.misuse): dotted paths
# of callables taking the alert, called in the alert's transaction.
MISUSE_ALERT_HANDLERS = ["notifications.services.misuse_alert_texts"]
# The limiter's counters live in the cache: production shares it across workers (Redis).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "missing.accounts.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["missing.accounts.permissions.IsStaffWithFullAccess"],
    # JSON only, at most 32 levels deep and DATA_UPLOAD_MAX_MEMORY_SIZE bytes (missing.api.input_limits).
    "DEFAULT_PARSER_CLASSES": ["missing.api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "missing.web.pagination.ApiPagination",
    "DEFAULT_THROTTLE_CLASSES": ["missing.accounts.security.ListRateThrottle"],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "missing.api.errors.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Missing children and return-home interviews API",
    "DESCRIPTION": (
        "Police notifications, missing episodes, manager oversight and transitions. "
        "Police systems authenticate with an intake-scoped token: `Authorization: Bearer <token>`. "
        "Request bodies are JSON, at most 32 levels deep and DATA_UPLOAD_MAX_MEMORY_SIZE bytes "
        "(2.5 MB by default); dates and date-times must fall in the years 1900–2999. "
        "Anything else is a 400 whose `detail` (and, for a date, the field) says what is wrong."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ManagerRiskEnum": "missing.models.ManagerRisk",
        "InterviewOutcomeEnum": "missing.models.InterviewOutcome",
        "ContactOutcomeEnum": "interviews.models.ContactOutcome",
        "FactorKindEnum": "interviews.models.FactorKind",
        "NotificationKindEnum": "missing.models.NotificationKind",
        "NotificationReviewDecisionEnum": "missing.models.PoliceNotification.ReviewDecision",
        "RiskMeetingStatusEnum": "missing.models.RiskMeetingTask.Status",
        "InterviewStatusEnum": "interviews.models.InterviewStatus",
        "LegalStatusEnum": "missing.models.LegalStatus",
    },
    # Swagger UI served from our own static files: no CDN (and a strict CSP later).
    # No deep links: with them each operation's summary (a button) holds a link to itself,
    # an interactive control inside another (axe nested-interactive, serious), 19px from the
    # next one (target-size). docs/decisions/0061-axe-on-every-page.md
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Manager-only fields are optional in every response (missing.models.may_see_restricted).
        "missing.api.serializers.schema_restricted_fields_optional",
    ],
}

# Celery: Redis in production; the filesystem broker on the embedded default (see local.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "missing.tasks.heartbeat", "schedule": crontab(minute="*")},
    # The escalation ladder: one sweep a minute catches up on everything that fell due, so no
    # deadline is ever a countdown task. `expires`: sweeps queued while no worker ran are
    # dropped rather than run one after another (the next one covers them).
    "escalation-sweep": {
        "task": "notifications.tasks.run_escalation_sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Alerts to other councils about children placed out of area (notifications.council_alerts).
    "council-alerts-sweep": {
        "task": "notifications.tasks.run_council_alert_sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Repeat-missing duration rules ("missing over 24 hours") for children still missing.
    "repeat-missing-sweep": {
        "task": "missing.tasks.raise_overdue_missing_tasks",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
}
# The nightly sync of the child's facts from the case system (docs/decisions/0048-ssd-import.md):
# the SSD changed-since extract the case system writes to SSD_SYNC_DIR, imported as
# SSD_SYNC_USER (an FFD or manager account). Off while SSD_SYNC_DIR is empty.
SSD_SYNC_DIR = env("SSD_SYNC_DIR", "")
SSD_SYNC_USER = env("SSD_SYNC_USER", "")
CELERY_BEAT_SCHEDULE["ssd-sync"] = {
    "task": "ssd.tasks.sync_from_case_system",
    "schedule": crontab(hour=2, minute=30),
    "options": {"expires": 3600},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# SMS escalations (notifications). Texts go to the outbox page until the three Twilio variables
# are set; SMS_BACKEND=outbox|twilio overrides that choice.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", "")
# Where the Twilio SDK sends API calls: tests and staging point it at a local server.
TWILIO_API_BASE = env("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/")
TWILIO_TIMEOUT_SECONDS = float(env("TWILIO_TIMEOUT_SECONDS", "10"))
SMS_BACKEND = env(
    "SMS_BACKEND",
    "twilio" if TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER else "outbox",
)
if SMS_BACKEND not in {"outbox", "twilio"}:
    raise ImproperlyConfigured("SMS_BACKEND must be 'outbox' or 'twilio'.")
if SMS_BACKEND == "twilio":
    # Refuse to start half-configured rather than lose texts at the first escalation.
    TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
    TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER")
# Attempts per text before it is marked failed, and the backoff between them.
SMS_MAX_ATTEMPTS = int(env("SMS_MAX_ATTEMPTS", "8"))
SMS_RETRY_BASE_SECONDS = int(env("SMS_RETRY_BASE_SECONDS", "30"))
SMS_RETRY_MAX_SECONDS = int(env("SMS_RETRY_MAX_SECONDS", "900"))
# A text still being sent after this long lost its worker; it must exceed two Twilio timeouts
# (the "did it go through" check and the send) so a live attempt is never taken over.
SMS_RECLAIM_AFTER_SECONDS = int(env("SMS_RECLAIM_AFTER_SECONDS", "300"))
# A text waiting this long past its due attempt lost its task: the sweep hands it over again.
SMS_REDISPATCH_AFTER_SECONDS = int(env("SMS_REDISPATCH_AFTER_SECONDS", "120"))
if SMS_RECLAIM_AFTER_SECONDS <= 2 * TWILIO_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "SMS_RECLAIM_AFTER_SECONDS must exceed twice TWILIO_TIMEOUT_SECONDS."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request bodies and query strings can hold a child's details: never log them.
        "django.request": {"level": "ERROR", "handlers": ["console"], "propagate": False},
        # The SDK logs every request's query string at INFO, phone numbers included.
        "twilio.http_client": {"level": "WARNING"},
    },
}

# The managers' SSD upload page (ssd.uploads): the most a whole upload (or a zip, unpacked) may
# hold, and the most files in it. 200 MB holds an extract of well over 100,000 children.
SSD_UPLOAD_MAX_BYTES = int(env("SSD_UPLOAD_MAX_MB", "200")) * 1_000_000
SSD_UPLOAD_MAX_FILES = 20
