"""Checks for an app's page URL and its allowed origins (``scheme://host[:port]``)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TOKEN_PARAM", "normalise_origin", "origin_of", "page_url", "with_token"]

TOKEN_PARAM = "rd_token"  # noqa: S105 - the name of a query parameter
_SCHEMES = ("https", "http")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(scheme: str, host: str, port: int | None) -> str:
    host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def page_url(value: str) -> str:
    """An app page URL: http(s), a host, no credentials, no fragment, not the token param."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    if parts.fragment:
        raise ValueError("must not contain a #fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if any(k == TOKEN_PARAM for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise ValueError(f"must not contain the {TOKEN_PARAM} parameter (Relaydesk adds it)")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return _origin(parts.scheme.lower(), parts.hostname or "", parts.port)


def normalise_origin(value: str) -> str:
    """``https://ERP.example.com:443/`` → ``https://erp.example.com``; paths are refused."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.hostname:
        raise ValueError("must be an origin such as https://erp.example.com")
    if "*" in value:
        raise ValueError("wildcards are not allowed: list each origin")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("must be an origin only (scheme://host[:port]), without a path")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return _origin(scheme, parts.hostname, port)


def with_token(url: str, token: str) -> str:
    """The page URL with the context token as the ``rd_token`` query parameter."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (TOKEN_PARAM, token)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
