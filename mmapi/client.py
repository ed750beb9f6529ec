"""`MMClient`: the async client of 360dialog's MM API (`/marketing_messages`) and Cloud API.

Each call is one HTTP request; throughput control (rate, in-flight limit, slowdown on rate
limits) is applied to the send calls by a `Throttle`. Retrying is the caller's decision,
made by exception class (see `mmapi.errors`); `BatchSender` is the caller that does it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .errors import (
    APIError,
    MMAPIError,
    OutcomeUnknownError,
    RateLimitError,
    TransportError,
    classify,
)
from .models import CloudMessageRequest, MarketingMessageRequest, SendResponse, parse_error_body
from .settings import (
    API_KEY_HEADER,
    CLOUD_MESSAGES_PATH,
    DEFAULT_ARRIVAL_JITTER_SECONDS,
    DEFAULT_BASE_URL,
    DEFAULT_BURST_FRACTION,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MESSAGES_PER_SECOND,
    DEFAULT_TIMEOUT_SECONDS,
    MARKETING_MESSAGES_PATH,
    MAX_MESSAGES_PER_SECOND,
    TEMPLATES_PATH,
)
from .templates import TemplateInfo, validate_marketing_ttl
from .throttle import Throttle
from .transport import DEPART_EXTENSION, AiohttpTransport

__all__ = ["ClientConfig", "Endpoint", "MMClient"]

Endpoint = Literal["marketing_messages", "messages"]
_SEND_PATHS: dict[str, str] = {
    "marketing_messages": MARKETING_MESSAGES_PATH,
    "messages": CLOUD_MESSAGES_PATH,
}

logger = logging.getLogger("mmapi.client")


class ClientConfig(BaseModel):
    """Everything `MMClient` needs to reach the API.

    Attributes:
        api_key: The 360dialog API key (`D360-API-KEY`); it picks the sending number.
        base_url: The API host; 360dialog's by default, the sandbox's in tests.
        messages_per_second: The account's throughput cap for sends.
        max_in_flight: The most send requests awaiting an answer at once.
        timeout_seconds: Read timeout of one request; past it the outcome is unknown.
        burst_fraction: The token bucket's burst as a share of the rate.
        arrival_jitter_seconds: Bunching on the way to the API that pacing leaves room for:
            at most `messages_per_second` leave in any 1 s + this (see `Throttle`).

    Example:
        >>> config = ClientConfig(api_key="k", base_url="http://127.0.0.1:8000")
        >>> "k" in repr(config)
        False
    """

    model_config = ConfigDict(frozen=True)
    api_key: SecretStr = Field(description="The 360dialog API key (D360-API-KEY).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="The API host.")
    messages_per_second: float = Field(
        default=DEFAULT_MESSAGES_PER_SECOND,
        gt=0,
        le=MAX_MESSAGES_PER_SECOND,
        description="The account's throughput cap for sends.",
    )
    max_in_flight: int = Field(
        default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=2000, description="Most sends awaiting an answer."
    )
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, gt=0, description="Read timeout of one request."
    )
    burst_fraction: float = Field(
        default=DEFAULT_BURST_FRACTION, ge=0, le=0.1, description="Token bucket burst share."
    )
    arrival_jitter_seconds: float = Field(
        default=DEFAULT_ARRIVAL_JITTER_SECONDS,
        ge=0,
        le=1,
        description="Bunching on the way to the API that pacing leaves room for.",
    )

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the API key is empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")


class MMClient:
    """Async client for the send and template endpoints.

    Use it as an async context manager so its connection pool is closed.

    Args:
        config: Where and how to connect (see `ClientConfig`).
        transport: An httpx transport; by default an aiohttp-backed pool. Tests pass
            `httpx.MockTransport` or `httpx.ASGITransport(app=sandbox)`.
        throttle: Pacing for sends; by default one built from the config.

    Example:
        >>> async def main():
        ...     config = ClientConfig(api_key="...", base_url="http://127.0.0.1:8000")
        ...     async with MMClient(config) as client:
        ...         answer = await client.send_marketing_message(MarketingMessageRequest(
        ...             to="4915112345678",
        ...             template={"name": "spring_sale", "language": {"code": "en"}}))
        ...         print(answer.wamid)
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        throttle: Throttle | None = None,
    ):
        self.config = config
        self.throttle = throttle or Throttle(
            rate=config.messages_per_second,
            max_in_flight=config.max_in_flight,
            burst_fraction=config.burst_fraction,
            arrival_jitter=config.arrival_jitter_seconds,
        )
        timeout = httpx.Timeout(config.timeout_seconds, connect=10.0, pool=None)
        headers = {
            # The key is unwrapped only here, into a header httpx never logs.
            API_KEY_HEADER: config.api_key.get_secret_value(),
            "Content-Type": "application/json",
        }
        self._transport = transport or AiohttpTransport(max_connections=config.max_in_flight)
        self._http = httpx.AsyncClient(
            base_url=config.base_url, transport=self._transport, timeout=timeout, headers=headers
        )
        self._send_headers = httpx.Headers(headers)
        self._send_urls = {path: httpx.URL(config.base_url + path) for path in _SEND_PATHS.values()}
        self._timeout_extension = timeout.as_dict()

    def __repr__(self) -> str:
        return f"MMClient(base_url={self.config.base_url!r})"

    async def __aenter__(self) -> MMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def send_marketing_message(self, request: MarketingMessageRequest) -> SendResponse:
        """Send one template through the MM API (`POST /marketing_messages`).

        Raises:
            APIError: a subclass chosen by the error's action (see `mmapi.errors`).
            TransportError: the request never reached the API.
            OutcomeUnknownError: the request left but no answer came.
        """
        return await self._send(MARKETING_MESSAGES_PATH, request.to_json())

    async def send_message(self, request: CloudMessageRequest) -> SendResponse:
        """Send one template through the Cloud API (`POST /messages`), the comparison arm."""
        return await self._send(CLOUD_MESSAGES_PATH, request.to_json())

    async def send_body(
        self,
        endpoint: Endpoint,
        body: bytes,
        *,
        before_send: Callable[[], Awaitable[bool]] | None = None,
    ) -> SendResponse | None:
        """Send a request body that was validated when it was built (see `OutgoingMessage.of`).

        Same answers and errors as `send_marketing_message`; this is the batch sender's path.

        Args:
            endpoint: `marketing_messages` or `messages`.
            body: The JSON request body.
            before_send: Awaited once the throttle has given the request its turn, just before
                it leaves; if it returns False the request is not sent and None is returned.
                The batch sender commits its ledger claim here, so a crash can leave only
                requests that were about to leave (not ones still queued) in doubt.
        """
        path = _SEND_PATHS[endpoint]
        request = self._send_request(path, body)
        async with self.throttle.slot():
            if before_send is not None and not await before_send():
                return None
            response = await self._exchange_departing(request)
        return self._send_answer(response, path)

    async def _send(self, path: str, body: bytes) -> SendResponse:
        request = self._send_request(path, body)
        async with self.throttle.slot():
            response = await self._exchange_departing(request)
        return self._send_answer(response, path)

    async def _exchange_departing(self, request: httpx.Request) -> httpx.Response:
        """`_exchange`, once the throttle lets the request depart (see `Throttle.depart`)."""
        if getattr(self._transport, "awaits_departure", False):
            # As close to the write as the transport gets: after the connection is ready.
            request.extensions[DEPART_EXTENSION] = self.throttle.depart
        else:
            await self.throttle.depart()
        return await self._exchange(request)

    def _send_request(self, path: str, body: bytes) -> httpx.Request:
        # Sends skip httpx.AsyncClient's per-request work (URL merging, cookies, auth, hooks):
        # at 1,000 requests/s it cost more CPU than the request itself. The request is still an
        # httpx.Request through the same transport, so mock and ASGI transports work as ever.
        return httpx.Request(
            "POST",
            self._send_urls[path],
            headers=self._send_headers,
            content=body,
            extensions={"timeout": self._timeout_extension},
        )

    def _send_answer(self, response: httpx.Response, path: str) -> SendResponse:
        if response.status_code == 200:
            try:
                return SendResponse.model_validate_json(response.content)
            except ValueError as exc:
                # Accepted or not, we cannot tell without a wamid: never send it again blindly.
                raise OutcomeUnknownError(
                    f"200 answer without a readable wamid: {exc}", method="POST", path=path
                ) from exc
        error = self._error(response, "POST", path)
        if isinstance(error, RateLimitError):
            self.throttle.rate_limited()
        raise error

    async def list_templates(self) -> list[TemplateInfo]:
        """All templates of the account, as the template API lists them."""
        response = await self._request("GET", TEMPLATES_PATH)
        if response.status_code != 200:
            raise self._error(response, "GET", TEMPLATES_PATH)
        body = orjson.loads(response.content)
        rows = body.get("waba_templates", body.get("data", [])) if isinstance(body, dict) else body
        return [TemplateInfo.model_validate(row) for row in rows]

    async def get_template(self, name: str, language: str) -> TemplateInfo:
        """The template with this name and language.

        Raises:
            LookupError: no such template on the account.
        """
        for template in await self.list_templates():
            if template.name == name and template.language == language:
                return template
        raise LookupError(f"template {name!r} ({language}) does not exist on this account")

    async def set_template_ttl(self, template: TemplateInfo, ttl_seconds: int) -> None:
        """Set `message_send_ttl_seconds` on a marketing template.

        The value is checked against the documented range before any call. The new TTL
        applies to messages sent after the change; a changed template goes through ad sync
        (134101 on sends for about 10 minutes).

        Raises:
            TTLValidationError: the value is outside 43,200..2,592,000 s.
            ValueError: the template is not a marketing template.
        """
        if template.category.upper() != "MARKETING":
            raise ValueError(
                f"template {template.name!r} is {template.category}; only marketing templates "
                "take a TTL through the MM API"
            )
        payload: dict[str, Any] = {
            "name": template.name,
            "language": template.language,
            "category": "MARKETING",
            "message_send_ttl_seconds": validate_marketing_ttl(ttl_seconds),
        }
        response = await self._request("POST", TEMPLATES_PATH, content=orjson.dumps(payload))
        if response.status_code != 200:
            raise self._error(response, "POST", TEMPLATES_PATH)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """One request straight through the transport, errors mapped as in `_request`."""
        try:
            response = await self._transport.handle_async_request(request)
            await response.aread()
            return response
        except httpx.TransportError as exc:
            raise self._transport_error(exc, request.method, request.url.path) from exc

    async def _request(
        self, method: str, path: str, content: bytes | None = None
    ) -> httpx.Response:
        try:
            return await self._http.request(method, path, content=content)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, method, path) from exc

    @staticmethod
    def _transport_error(exc: httpx.TransportError, method: str, path: str) -> MMAPIError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransportError(
                f"{method} {path}: could not reach the API ({type(exc).__name__})",
                method=method,
                path=path,
            )
        return OutcomeUnknownError(
            f"{method} {path}: sent, but no answer ({type(exc).__name__}); "
            "the message may have been accepted",
            method=method,
            path=path,
        )

    @staticmethod
    def _error(response: httpx.Response, method: str, path: str) -> MMAPIError:
        parsed = parse_error_body(response.content)
        cls = classify(response.status_code, parsed.code, parsed.title)
        code = f" ({parsed.code})" if parsed.code is not None else ""
        error: APIError = cls(
            f"{method} {path}: HTTP {response.status_code}{code} {parsed.title}",
            http_status=response.status_code,
            code=parsed.code,
            title=parsed.title,
            details=parsed.details,
            body=parsed.raw,
            method=method,
            path=path,
        )
        return error
