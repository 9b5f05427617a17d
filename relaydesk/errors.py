"""One error hierarchy for the whole application, rendered as one error model."""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """A setting is missing or invalid; start-up stops with this one-line message."""


class AppError(Exception):
    status_code = 500
    code = "internal_error"
    message = "Internal error"
    #: keep the unit of work's changes even though the request fails (e.g. failed-login records)
    keep_changes = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "Bad request"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "Request validation failed"

    @classmethod
    def from_pydantic(cls, exc: Any, prefix: tuple[str | int, ...] = ("body",)) -> ValidationFailed:
        """A pydantic ``ValidationError`` as one 422: every error located under ``prefix``,
        the message naming the first one (``body.user.phone: ...``)."""
        details = [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                   for e in exc.errors()]  # fmt: skip
        where = ".".join(str(p) for p in details[0]["loc"])
        return cls(f"{where}: {details[0]['msg']}", details=details)


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class LoginFailed(Unauthorized):
    code = "invalid_credentials"
    message = "Invalid tenant, e-mail or password"
    keep_changes = True


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You do not have permission to do this"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Request body too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "Unsupported media type"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.details = {"retry_after": max(1, retry_after)}


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"
    message = "Service unavailable"
