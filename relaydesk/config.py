"""Settings, read from the environment (prefix ``RELAYDESK_``, nested with ``__``).

Nothing here runs at import time: call :func:`get_settings`. The embedded default needs no
settings at all; every value below has a default that works on a laptop.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relaydesk.errors import ConfigError

ENV_PREFIX = "RELAYDESK_"


class DatabaseSettings(BaseModel):
    model_config = {"extra": "forbid"}

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file under the data directory.",
    )
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=500)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        allowed = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        if not value.startswith(allowed):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]!r})"
            )
        return value


class RedisSettings(BaseModel):
    model_config = {"extra": "forbid"}

    url: str | None = Field(default=None, description="redis://host:port/db; unset = in-process")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class SecuritySettings(BaseModel):
    model_config = {"extra": "forbid"}

    secret_key: SecretStr | None = Field(
        default=None, description="Signs tokens; default: generated once under the data dir."
    )
    access_token_ttl_seconds: int = Field(default=600, ge=30, le=86_400)
    idle_timeout_seconds: int = Field(default=1_800, ge=60)
    absolute_timeout_seconds: int = Field(default=43_200, ge=300)
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_seconds: int = Field(default=900, ge=1)
    password_min_length: int = Field(default=10, ge=8, le=128)
    principal_cache_seconds: float = Field(
        default=5.0, ge=0, le=60,
        description="How long a resolved credential is reused within one process; a change "
        "of rights or a logout clears it at once in that process, within this time elsewhere.",
    )
    encryption_keys: list[SecretStr] = Field(
        default_factory=list,
        description="AES-256-GCM keys for config at rest: base64 of 32 random bytes each, newest "
        "first (the first encrypts, all decrypt). Default: one derived from the secret key "
        "(HKDF-SHA256), which stays readable after keys are added.",
    )

    @field_validator("encryption_keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        from relaydesk.kit.crypto import parse_key

        for i, key in enumerate(value):
            parse_key(key.get_secret_value(), name=f"encryption_keys[{i}]")
        return value


class HttpSettings(BaseModel):
    model_config = {"extra": "forbid"}

    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    max_upload_bytes: int = Field(
        default=104_857_600,
        ge=1_024,
        description="Largest body of the file upload routes (web chat uploads): they take up to "
        "this, each below its inbox's max_attachment_bytes (at most 100 MiB); every other route "
        "stays at max_body_bytes",
    )
    rate_limit_ip_per_minute: int = Field(default=1_200, ge=1)
    rate_limit_api_key_per_minute: int = Field(default=600, ge=1)
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client IP from X-Forwarded-For (behind a proxy)."
    )
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)


class StorageSettings(BaseModel):
    """Where attachments live: files under data_dir (default) or an S3-compatible store."""

    backend: Literal["local", "s3"] = "local"
    s3_endpoint: str | None = Field(default=None, description="https://minio.intranet:9000")
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_prefix: str = "relaydesk/"


class EventsSettings(BaseModel):
    backend: Literal["auto", "inprocess", "redis"] = Field(
        default="auto",
        description="Event bus: auto = Redis Streams when redis.url is set, else in-process",
    )
    run_in_api: bool = Field(
        default=True,
        description="Run the relay, consumers and job runner inside the API process; set "
        "false when dedicated `relaydesk worker` processes do it",
    )
    max_attempts: int = Field(default=8, ge=1, le=100, description="Failures before dead letter")
    partitions: int = Field(default=16, ge=1, le=1024, description="Redis stream partitions")
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    batch_window_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="After a commit wakes the relay, wait this long so that events committed "
        "close together reach the consumers as one batch (the realtime push does not wait)",
    )
    job_concurrency: int = Field(default=8, ge=1, le=256)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default=Path("var"), description="Where the embedded default lives.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    security: SecuritySettings = SecuritySettings()
    http: HttpSettings = HttpSettings()
    events: EventsSettings = EventsSettings()
    storage: StorageSettings = StorageSettings()

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'relaydesk.db').resolve()}"

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_key(self) -> str:
        """The configured secret, or one generated once and kept under the data dir."""
        if self.security.secret_key is not None:
            return self.security.secret_key.get_secret_value()
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def _setting_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def _check_unknown_env() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name in os.environ:
        upper = name.upper()
        if upper.startswith(ENV_PREFIX):
            top = upper[len(ENV_PREFIX) :].split("__", 1)[0]
            if top not in known:
                raise ConfigError(f"unknown setting {name}: not one of Relaydesk's settings")


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation error into one line that names the setting."""
    _check_unknown_env()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _setting_name(tuple(first["loc"]))
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
