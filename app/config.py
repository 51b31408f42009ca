"""All settings come from environment variables, with defaults that work on one machine."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

INSECURE_DEFAULT_KEY = "dev-only-not-secret"

# Plans: what each subscription tier includes. Levels of image models are ordered
# draft < standard < advanced < premium (see app/pipeline/images for the catalogue).
PLANS = {
    "free": {"label": "Free", "video_generator": False, "monthly_credits": 0,
             "max_image_level": "draft", "max_concurrent_jobs": 1},
    "starter": {"label": "Starter", "video_generator": True, "monthly_credits": 100,
                "max_image_level": "standard", "max_concurrent_jobs": 2},
    "pro": {"label": "Pro", "video_generator": True, "monthly_credits": 500,
            "max_image_level": "advanced", "max_concurrent_jobs": 4},
    "agency": {"label": "Agency", "video_generator": True, "monthly_credits": 2000,
               "max_image_level": "premium", "max_concurrent_jobs": 8},
}
IMAGE_LEVELS = ["draft", "standard", "advanced", "premium"]


def _database_url(raw: str | None, instance: Path) -> str:
    if not raw:
        return f"sqlite:///{instance / 'scriptreel.db'}"
    # Heroku-style platforms still hand out postgres://, which SQLAlchemy no longer accepts.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _credit_costs(raw: str) -> dict[str, int]:
    """IMAGE_CREDIT_COSTS="draft=1,core=3" overrides the catalogue's default prices."""
    costs = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        model, _, price = item.partition("=")
        costs[model.strip()] = int(price)
    return costs


def _limits_storage(redis_url: str) -> str:
    """Rate-limit counters live in Redis, shared by every web process (limits' own URI form)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url or "memory://"


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise RuntimeError(f"{name} must be one of {', '.join(choices)} (it is {value!r}).")
    return value


def _plans(name: str) -> list[str]:
    """A comma-separated list of plan names (every plan when unset)."""
    names = [n.strip() for n in os.environ.get(name, ",".join(PLANS)).split(",") if n.strip()]
    if unknown := [n for n in names if n not in PLANS]:
        raise RuntimeError(f"{name} names unknown plans: {', '.join(unknown)} (plans: {', '.join(PLANS)}).")
    return names


def _within(name: str, default: float, low: float, high: float, unit: str, kind=float):
    value = kind(os.environ.get(name, default))
    if not low <= value <= high:
        raise RuntimeError(f"{name} must be between {low:g} and {high:g} {unit} (it is {value:g}).")
    return value


def _local_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so local sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance: Path, overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment (and test overrides)."""
    env = os.environ.get("SCRIPTREEL_ENV", "development")
    production = env == "production"
    secret = os.environ.get("SECRET_KEY")
    if production and (not secret or secret == INSECURE_DEFAULT_KEY or len(secret) < 32):
        raise RuntimeError("SECRET_KEY must be set to a random value of at least 32 characters "
                           "when SCRIPTREEL_ENV=production (for example: python -c "
                           "'import secrets; print(secrets.token_urlsafe(48))').")
    config = {
        "ENV_NAME": env,
        "DEBUG": False,
        "SECRET_KEY": secret or _local_secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(os.environ.get("DATABASE_URL"), instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "REDIS_SSL_CERT_REQS": os.environ.get("REDIS_SSL_CERT_REQS", "required"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_TIME_LIMIT": None,  # tokens live as long as the session
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_MB", "60")) * 1024 * 1024,
        # Media storage (see app/platform/storage.py).
        "STORAGE_BACKEND": os.environ.get("STORAGE_BACKEND", "local"),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(instance / "media")),
        "S3_BUCKET": os.environ.get("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": os.environ.get("S3_REGION", ""),
        "S3_ACCESS_KEY_ID": os.environ.get("S3_ACCESS_KEY_ID", ""),
        "S3_SECRET_ACCESS_KEY": os.environ.get("S3_SECRET_ACCESS_KEY", ""),
        "S3_PATH_STYLE": os.environ.get("S3_PATH_STYLE", ""),
        "S3_PRESIGN_SECONDS": os.environ.get("S3_PRESIGN_SECONDS", "300"),
        # Address browsers use for download links when it differs from the servers' (Compose).
        "S3_PUBLIC_ENDPOINT_URL": os.environ.get("S3_PUBLIC_ENDPOINT_URL", ""),
        # Plans and credits.
        "PLANS": PLANS,
        "DEFAULT_PLAN": os.environ.get("DEFAULT_PLAN", "starter"),
        "IMAGE_CREDIT_COSTS": _credit_costs(os.environ.get("IMAGE_CREDIT_COSTS", "")),
        "INVITE_TTL_HOURS": int(os.environ.get("INVITE_TTL_HOURS", "72")),
        # Running the instance for several clients. Operators can change these four in the
        # operator area; the environment gives the defaults (app/operator/settings.py).
        "SIGNUP_MODE": _choice("SIGNUP_MODE", ("open", "invite", "closed"),
                               "invite" if production else "open"),
        "MAX_WORKSPACES_PER_ACCOUNT": int(os.environ.get("MAX_WORKSPACES_PER_ACCOUNT", "1")),
        "SELF_SERVICE": _flag("SELF_SERVICE"),  # owners switch plans, admins grant credits
        "DEFAULT_STORAGE_QUOTA_MB": int(os.environ.get("DEFAULT_STORAGE_QUOTA_MB", "10240")),
        # Reverse proxies in front of the web process whose X-Forwarded-* headers are believed
        # (Heroku's router: 1; the Compose file's Caddy: 1). 0 trusts none: the peer's address counts.
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES", "0")),
        # Providers: keys only from the environment (or workspace settings, for admins).
        "STABILITY_API_KEY": os.environ.get("STABILITY_API_KEY", ""),
        "STABILITY_BASE_URL": os.environ.get("STABILITY_BASE_URL", "https://api.stability.ai"),
        # Your own GPU server for images, the "self-hosted" tier (README: "Your own GPU for images").
        # Its price and the plans that may use it are operator settings; these are their defaults.
        "SELFHOSTED_IMAGE_BACKEND": _choice("SELFHOSTED_IMAGE_BACKEND", ("a1111", "comfyui", "openai"), "")
        if os.environ.get("SELFHOSTED_IMAGE_BACKEND", "").strip() else "",
        "SELFHOSTED_IMAGE_URL": os.environ.get("SELFHOSTED_IMAGE_URL", ""),
        "SELFHOSTED_IMAGE_API_KEY": os.environ.get("SELFHOSTED_IMAGE_API_KEY", ""),
        "SELFHOSTED_IMAGE_MODEL": os.environ.get("SELFHOSTED_IMAGE_MODEL", ""),
        # One image's budget; an image job is stopped after 300 s, so it must end well before.
        "SELFHOSTED_IMAGE_TIMEOUT": _within("SELFHOSTED_IMAGE_TIMEOUT", 120, 5, 270, "seconds"),
        "SELFHOSTED_IMAGE_SIZE": _within("SELFHOSTED_IMAGE_SIZE", 1024, 256, 2048, "pixels", int),
        "SELFHOSTED_IMAGE_STEPS": int(os.environ.get("SELFHOSTED_IMAGE_STEPS", "30")),
        "SELFHOSTED_IMAGE_CFG": float(os.environ.get("SELFHOSTED_IMAGE_CFG", "7")),
        "SELFHOSTED_IMAGE_SAMPLER": os.environ.get("SELFHOSTED_IMAGE_SAMPLER", ""),
        "SELFHOSTED_IMAGE_MAX_QUEUE": int(os.environ.get("SELFHOSTED_IMAGE_MAX_QUEUE", "8")),
        # Empty: the workflows shipped in app/pipeline/images/selfhosted/workflows/ ("none": no reference).
        "SELFHOSTED_COMFYUI_WORKFLOW": os.environ.get("SELFHOSTED_COMFYUI_WORKFLOW", ""),
        "SELFHOSTED_COMFYUI_REFERENCE_WORKFLOW": os.environ.get("SELFHOSTED_COMFYUI_REFERENCE_WORKFLOW", ""),
        "SELFHOSTED_IMAGE_CREDITS": int(os.environ.get("SELFHOSTED_IMAGE_CREDITS", "1")),
        "SELFHOSTED_IMAGE_PLANS": _plans("SELFHOSTED_IMAGE_PLANS"),
        # Piper voices (.onnx with its .onnx.json) the operator adds to the one installed with Scriptreel.
        "VOICES_DIR": os.environ.get("VOICES_DIR", str(instance / "voices")),
        "AZURE_SPEECH_KEY": os.environ.get("AZURE_SPEECH_KEY", ""),
        "AZURE_SPEECH_REGION": os.environ.get("AZURE_SPEECH_REGION", ""),
        # Only for sovereign clouds or private endpoints; normally derived from the region.
        "AZURE_SPEECH_BASE_URL": os.environ.get("AZURE_SPEECH_BASE_URL", ""),
        "LLM_BASE_URL": os.environ.get("LLM_BASE_URL", ""),
        "LLM_API_KEY": os.environ.get("LLM_API_KEY", ""),
        "LLM_MODEL": os.environ.get("LLM_MODEL", ""),
        # Script limits.
        "MAX_SCRIPT_CHARS": int(os.environ.get("MAX_SCRIPT_CHARS", "200000")),
        "MAX_SCRIPT_FILE_BYTES": int(os.environ.get("MAX_SCRIPT_FILE_MB", "2")) * 1024 * 1024,
        "RATELIMIT_ENABLED": _flag("RATELIMIT_ENABLED", True),
        "SIGNUP_RATE_LIMIT": os.environ.get("SIGNUP_RATE_LIMIT", "5 per minute;30 per hour"),
        "RATELIMIT_STORAGE_URI": _limits_storage(os.environ.get("REDIS_URL", "")),
        # Jobs: how often running jobs prove they are alive, when silence means the worker died,
        # and a factor on retry back-off (0 retries at once; tests use it).
        "JOB_HEARTBEAT_SECONDS": float(os.environ.get("JOB_HEARTBEAT_SECONDS", "10")),
        "JOB_ABANDONED_SECONDS": float(os.environ.get("JOB_ABANDONED_SECONDS", "45")),
        "JOB_RETRY_SCALE": float(os.environ.get("JOB_RETRY_SCALE", "1")),
        # Each worker machine's cache of rendered scene pieces: least recently used files go beyond this.
        "PIECE_CACHE_MB": int(os.environ.get("PIECE_CACHE_MB", "2048")),
        # Scene pieces one compile job renders at once (each an ffmpeg using about one core and ~120 MB
        # at 1080p); other worker processes and machines add theirs through helper jobs.
        "COMPILE_THREADS": max(1, int(os.environ.get("COMPILE_THREADS", "2"))),
        # Longest recordings accepted: one scene's voiceover, and the background music.
        "MAX_VOICEOVER_MINUTES": float(os.environ.get("MAX_VOICEOVER_MINUTES", "10")),
        "MAX_MUSIC_MINUTES": float(os.environ.get("MAX_MUSIC_MINUTES", "30")),
        # Fair use: longer scripts are cut by a worker, not in the request; one "voice all" or
        # "generate all missing" handles at most this many scenes.
        "CUT_IN_REQUEST_MAX_CHARS": int(os.environ.get("CUT_IN_REQUEST_MAX_CHARS", "20000")),
        "MAX_BATCH_SCENES": int(os.environ.get("MAX_BATCH_SCENES", "500")),
    }
    if overrides:
        config.update(overrides)
    return config
