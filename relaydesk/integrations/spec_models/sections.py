"""Connector-level sections: config form, transport settings, resilience, error rules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from relaydesk.integrations.spec_models.base import JmesPath, SpecModel

ConfigType = Literal["string", "integer", "number", "boolean"]
ErrorVerdict = Literal["success", "ignore", "retry", "rate_limited", "refresh_token", "fail"]
ErrorKindName = Literal["config", "transient", "system"]


class ConfigField(SpecModel):
    """One setting a connector instance must (or may) provide; rendered as a form field."""

    type: ConfigType = "string"
    required: bool = False
    secret: bool = Field(False, description="Never returned by any API, never logged")
    default: Any = None
    title: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _default_matches_type(self) -> ConfigField:
        if self.default is None:
            return self
        expected: dict[str, tuple[type, ...]] = {
            "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
        }
        ok = isinstance(self.default, expected[self.type]) and (
            self.type == "boolean" or not isinstance(self.default, bool)
        )
        if not ok:
            raise ValueError(f"default {self.default!r} is not a {self.type}")
        if self.secret:
            raise ValueError("a secret setting cannot have a default")
        return self


class HttpSettings(SpecModel):
    base_url: str = Field(description='Usually "{{ config.base_url }}"')
    timeout_seconds: float | None = Field(None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class SqlSettings(SpecModel):
    url: str = Field(description="A SQLAlchemy URL; async drivers: aiosqlite, asyncpg, aiomysql")


class SoapSettings(SpecModel):
    wsdl: str
    service: str | None = None
    port: str | None = None


class PluginSettings(SpecModel):
    entry_point: str = Field(
        min_length=1, description="Entry point name in the group relaydesk.connectors"
    )


class RetryPolicy(SpecModel):
    max_attempts: int = Field(3, ge=1, le=10)
    initial_backoff_seconds: float = Field(0.2, ge=0)
    max_backoff_seconds: float = Field(5, ge=0)
    jitter: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_backoff_seconds < self.initial_backoff_seconds:
            raise ValueError("max_backoff_seconds is below initial_backoff_seconds")
        return self


class RateLimitPolicy(SpecModel):
    per_second: float = Field(20, gt=0)
    burst: int = Field(40, ge=1)
    background_share: float = Field(
        0.5, gt=0, le=1, description="Share of the bucket background work may use"
    )


class CircuitBreakerPolicy(SpecModel):
    failure_threshold: int = Field(5, ge=1)
    reset_seconds: float = Field(30, gt=0)


class CachePolicy(SpecModel):
    ttl_seconds: float = Field(60, ge=0)
    stale_seconds: float = Field(3600, ge=0, description="How long a stale value may be served")


class ResilienceSpec(SpecModel):
    timeout_seconds: float = Field(5, gt=0)
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    rate_limit: RateLimitPolicy = Field(default_factory=RateLimitPolicy)
    circuit_breaker: CircuitBreakerPolicy = Field(default_factory=CircuitBreakerPolicy)
    cache: CachePolicy = Field(default_factory=CachePolicy)
    retry_after_floor_seconds: float = Field(1, ge=0)


class ErrorMatch(SpecModel):
    status: list[int] | None = Field(None, min_length=1)
    body: JmesPath | None = Field(None, description="JMESPath over the JSON body; truthy matches")

    @model_validator(mode="after")
    def _something(self) -> ErrorMatch:
        if self.status is None and self.body is None:
            raise ValueError("give status, body or both")
        for code in self.status or []:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code")
        return self


class ErrorRule(SpecModel):
    """Classifies a response; the first matching rule wins, default rules come after."""

    when: ErrorMatch
    then: ErrorVerdict
    message: str | None = None
    code: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    kind: ErrorKindName | None = None
