"""The ``soap`` kind: WSDL-described services through zeep, over OUR SSRF-safe client.

zeep's :class:`~zeep.transports.AsyncTransport` takes an ``httpx.AsyncClient`` for
operations but a *sync* ``httpx.Client`` for loading the WSDL, and it overwrites the headers of
the clients it is given. We have only the instance's async SSRF-safe client, so
:class:`SafeSoapTransport` subclasses it without calling its ``__init__``:

* the WSDL (and any imported WSDL/XSD) is fetched by the async client, with the instance's
  auth and a size cap. zeep parses documents synchronously, so the client is built in a worker
  thread whose loads hop back to the event loop (``run_coroutine_threadsafe``); only
  ``http``/``https`` locations are loaded (zeep would otherwise open ``file://`` and local
  paths), DTDs are refused;
* operations are POSTed through the same client with the instance's auth applied to the
  final request, and the answer read with a size cap.

The WSDL is loaded once per executor (the first call; a failed load is retried by the next).
Results become plain JSON-safe data (:func:`zeep.helpers.serialize_object`, then decimals as
strings, dates ISO 8601). A SOAP Fault is an :class:`ExecutorError` that is not retried, with
``code`` the fault code, ``message`` the fault string and ``details["detail"]`` the fault's
detail element as a dict (detectable personal data masked in both).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from lxml import etree
from requests.structures import CaseInsensitiveDict
from zeep import AsyncClient, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.exceptions import ValidationError as ZeepValidationError
from zeep.helpers import serialize_object
from zeep.transports import AsyncTransport
from zeep.wsdl.utils import etree_to_string

from relaydesk.integrations.auth import AuthHandler
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import (
    MAX_RESPONSE_BYTES,
    CallContext,
    ExecutorError,
    RawResult,
    json_safe,
    render_config_template,
    result_zone,
    template_context,
)
from relaydesk.integrations.spec import ConnectorSpec
from relaydesk.integrations.templating import TemplateError, render, to_text
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.safehttp import read_capped

__all__ = ["SafeSoapTransport", "SoapExecutor", "plain"]

_LOG = logging.getLogger(__name__)


class SafeSoapTransport(AsyncTransport):
    """zeep's async transport over the instance's SSRF-safe client (see the module doc)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: AuthHandler,
        *,
        loop: asyncio.AbstractEventLoop,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        # Deliberately not AsyncTransport.__init__: it would build its own clients (no SSRF
        # policy) and replace the headers of the client it is given.
        self.cache = None
        self.logger = _LOG
        self.load_timeout = self.operation_timeout = timeout
        self._close_session = False
        self.http, self.auth, self.loop = http, auth, loop
        self.headers = dict(headers or {})
        self.max_bytes = max_bytes

    # -- documents (called by zeep in a worker thread) ---------------------------------

    def load(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ExecutorError(
                ErrorKind.config, "WSDL and schema documents load over http(s) only",
                "invalid_wsdl_location",
            )  # fmt: skip
        return self._load_remote_data(url)

    def _load_remote_data(self, url: str) -> bytes:
        future = asyncio.run_coroutine_threadsafe(self._fetch(url), self.loop)
        return future.result()

    async def _fetch(self, url: str) -> bytes:
        request = self.http.build_request(
            "GET", url, headers=self.headers, timeout=self.load_timeout
        )
        response = await self.http.send(await self.auth.apply(request), stream=True)
        body = await read_capped(response, self.max_bytes)
        if response.status_code >= 400:
            kind = ErrorKind.transient if response.status_code >= 500 else ErrorKind.config
            raise ExecutorError(
                kind, f"loading the WSDL failed: HTTP {response.status_code}", "wsdl_unavailable"
            )
        return body

    # -- operations ---------------------------------------------------------------------

    async def _send(self, request: httpx.Request) -> requests.Response:
        response = await self.http.send(await self.auth.apply(request), stream=True)
        body = await read_capped(response, self.max_bytes)
        converted = requests.Response()
        converted._content = body
        converted.status_code = response.status_code
        converted.headers = CaseInsensitiveDict(response.headers)
        converted.encoding = response.encoding
        converted.url = str(response.url)
        return converted

    async def post(self, address: str, message: Any, headers: Mapping[str, str]) -> Any:
        request = self.http.build_request(
            "POST", address, content=message, headers={**self.headers, **headers},
            timeout=self.operation_timeout,
        )  # fmt: skip
        return await self._send(request)

    async def post_xml(self, address: str, envelope: Any, headers: Mapping[str, str]) -> Any:
        message = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        return await self.post(address, message, headers)

    async def get(self, address: str, params: Any, headers: Mapping[str, str]) -> Any:
        request = self.http.build_request(
            "GET", address, params=params, headers={**self.headers, **headers},
            timeout=self.operation_timeout,
        )  # fmt: skip
        return await self._send(request)

    async def aclose(self) -> None:
        """The client is the instance's: it is closed by its owner, not here."""


def plain(value: Any) -> Any:
    """zeep results as plain dicts/lists (raw XML elements as their XML text)."""
    value = serialize_object(value, target_cls=dict)  # type: ignore[no-untyped-call]
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="unicode")
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if type(value).__name__ == "AnyObject":
        return plain(value.value)
    return value


def _element_dict(element: Any) -> Any:
    """A fault's detail element as {localname: text or nested dict}, personal data masked."""
    if element is None:
        return None
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return detect_and_mask_text((element.text or "").strip())
    out: dict[str, Any] = {}
    for child in children:
        name = etree.QName(child).localname
        value = _element_dict(child)
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


def _fault(fault: Fault) -> ExecutorError:
    code = str(fault.code) if fault.code else "soap_fault"
    kind = ErrorKind.system if "server" in code.lower() else ErrorKind.config
    message = detect_and_mask_text(str(fault.message or "SOAP fault"))[:500]
    return ExecutorError(
        kind, message, code, retryable=False, details={"detail": _element_dict(fault.detail)}
    )


class SoapExecutor:
    """Executor of ``kind: soap`` connectors: one zeep client per executor (instance)."""

    def __init__(self, spec: ConnectorSpec, config: Mapping[str, Any]) -> None:
        if spec.soap is None:
            raise ExecutorError(ErrorKind.config, "the spec has no soap section", "invalid_spec")
        self.spec = spec
        self.wsdl = str(render_config_template(spec.soap.wsdl, config, "soap.wsdl") or "")
        if urlsplit(self.wsdl).scheme not in ("http", "https"):
            raise ExecutorError(
                ErrorKind.config, "soap.wsdl must be an http:// or https:// URL",
                "invalid_wsdl_location",
            )  # fmt: skip
        headers = spec.http.headers if spec.http is not None else {}
        rendered = render_config_template(headers, config, "http.headers")
        self.headers = {k: to_text(v) for k, v in rendered.items() if v not in (None, "")}
        self._client: Any = None
        self._service: Any = None
        self._transport: SafeSoapTransport | None = None
        self._lock = asyncio.Lock()

    async def _service_for(self, ctx: CallContext) -> Any:
        if self._service is not None:
            assert self._transport is not None
            self._transport.http, self._transport.auth = ctx.http, ctx.auth
            return self._service
        async with self._lock:
            if self._service is None:
                transport = SafeSoapTransport(
                    ctx.http, ctx.auth, loop=asyncio.get_running_loop(), timeout=ctx.timeout,
                    headers=self.headers,
                )  # fmt: skip
                settings = Settings(strict=True, forbid_dtd=True, forbid_entities=True)
                try:
                    client = await asyncio.to_thread(
                        AsyncClient, self.wsdl, transport=transport, settings=settings
                    )
                except (XMLSyntaxError, ZeepError, etree.XMLSyntaxError) as exc:
                    raise ExecutorError(
                        ErrorKind.config, f"the WSDL could not be read: {exc}", "invalid_wsdl"
                    ) from None
                soap = self.spec.soap
                assert soap is not None
                try:
                    service = client.bind(soap.service, soap.port)
                except (ValueError, ZeepError) as exc:
                    raise ExecutorError(ErrorKind.config, str(exc), "invalid_wsdl") from None
                if service is None:
                    raise ExecutorError(
                        ErrorKind.config, "the WSDL declares no service", "invalid_wsdl"
                    )
                self._client, self._transport, self._service = client, transport, service
        return self._service

    async def execute(self, action: str, params: Mapping[str, Any], ctx: CallContext) -> RawResult:
        act = ctx.spec.action(action)
        if act.soap is None:
            raise ExecutorError(ErrorKind.config, "the action has no soap section", "invalid_spec")
        try:
            args = render(act.soap.args, template_context(ctx.config, params))
        except TemplateError as exc:
            raise ExecutorError(ErrorKind.config, str(exc), "template_error") from None
        service = await self._service_for(ctx)
        try:
            operation = service[act.soap.operation]
        except (AttributeError, KeyError, ValueError):
            names = ", ".join(sorted(self._operation_names()))
            raise ExecutorError(
                ErrorKind.config,
                f"the WSDL has no operation {act.soap.operation!r} (it has: {names})",
                "unknown_operation",
            ) from None
        try:
            async with asyncio.timeout(ctx.timeout):
                result = await operation(**args)
        except TimeoutError:
            raise ExecutorError(
                ErrorKind.transient, f"no answer within {ctx.timeout:g}s", "timeout"
            ) from None
        except Fault as fault:
            raise _fault(fault) from None
        except TransportError as exc:
            status = exc.status_code or 0
            kind = ErrorKind.transient if status >= 500 or status == 0 else ErrorKind.config
            message = f"SOAP transport error: HTTP {status}"
            raise ExecutorError(kind, message, "http_error") from None
        except (TypeError, ZeepValidationError) as exc:
            reason = detect_and_mask_text(str(exc))[:300]
            message = f"invalid arguments: {reason}"
            raise ExecutorError(ErrorKind.config, message, "invalid_args") from None
        except (XMLSyntaxError, etree.XMLSyntaxError, ZeepError) as exc:
            reason = detect_and_mask_text(str(exc))[:300]
            raise ExecutorError(
                ErrorKind.system, f"the service answered garbage: {reason}", "invalid_response"
            ) from None
        data = json_safe(plain(result), result_zone(act))
        return RawResult(
            status=None, headers={}, data=data, body_json=data,
            request_line=f"SOAP {act.soap.operation}",
        )  # fmt: skip

    def _operation_names(self) -> list[str]:
        binding = getattr(self._service, "_binding", None)
        return list(getattr(binding, "_operations", {}) or {})

    async def aclose(self) -> None:
        """Drop the parsed WSDL; the HTTP client is the instance's."""
        self._client = self._service = self._transport = None
