"""The sandbox's state and its answer to each request, free of any HTTP framework.

`SandboxRuntime` owns the clock, templates, fates, emitter, ground truth and counters. The
send path is synchronous and small on purpose: parse with orjson, validate with the
pydantic request model, a few dict lookups and random draws, and the answer as bytes; the
app adds latency and faults around it with `asyncio.sleep`.
"""

from __future__ import annotations

import hmac
import random
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
from pydantic import ValidationError

from ..errors import TTLValidationError
from ..models import CloudMessageRequest, MarketingMessageRequest, ProductPolicy
from ..settings import MARKETING_TTL_DEFAULT_SECONDS
from ..templates import validate_marketing_ttl
from .answers import D360_RATE_LIMIT_BODY, INVALID_TOKEN_BODY, ErrorAnswer, validation_details
from .catalog import CatalogEntry, SandboxTemplate, TemplateCatalog
from .clock import SimClock
from .config import SandboxConfig
from .emitter import Emitter
from .fates import FateEngine
from .groundtruth import GroundTruth
from .limits import SlidingWindowLimit
from .sinks import FileSink, HttpSink, NullSink, WebhookSink
from .stats import SendStats

__all__ = ["Fault", "SandboxRuntime", "SendOutcome"]

_CATEGORY_INDEX = {"MARKETING": 1, "UTILITY": 2, "AUTHENTICATION": 3}
_INVALID_TOKEN = orjson.dumps(INVALID_TOKEN_BODY)
_D360_RATE_LIMIT = orjson.dumps(D360_RATE_LIMIT_BODY)


class Fault(IntEnum):
    """What the app does with an answer besides sending it."""

    NONE = 0
    HANG = 1
    DROP = 2


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The answer to a send request.

    Attributes:
        status: HTTP status.
        body: JSON body.
        fault: Hang before answering, or drop the connection instead.
    """

    status: int
    body: bytes
    fault: Fault = Fault.NONE


def _default_sink(config: SandboxConfig) -> WebhookSink:
    if config.webhook_url is not None:
        return HttpSink(
            config.webhook_url,
            timeout_seconds=config.webhook_timeout_seconds,
            max_connections=config.webhook_concurrency,
        )
    if config.webhook_dir is not None:
        return FileSink(config.webhook_dir, max_lines=config.webhook_file_max_lines)
    return NullSink()


def _bucket(rate: float | None, burst_fraction: float) -> SlidingWindowLimit | None:
    return None if rate is None else SlidingWindowLimit(rate, burst_fraction)


class SandboxRuntime:
    """Everything the sandbox knows and does, behind the HTTP endpoints.

    Attributes:
        config: The current configuration (runtime fields change with `update_config`).
        clock: The simulated clock.
        catalog: The templates.
        truth: The ground truth.
        fates: Fate decisions.
        emitter: Webhook scheduling and delivery.
        stats: Send counters.

    Example:
        >>> runtime = SandboxRuntime(SandboxConfig())
        >>> runtime.handle_send(mm=True, api_key=b"wrong", raw=b"{}").status
        401
    """

    def __init__(self, config: SandboxConfig, *, sink: WebhookSink | None = None) -> None:
        self.config = config
        self.clock = SimClock(config.time_compression)
        self.catalog = TemplateCatalog(config.templates)
        self.truth = GroundTruth(self.catalog, path=config.ground_truth_path)
        self.fates = FateEngine(config)
        self.emitter = Emitter(
            config, self.clock, self.truth, self.catalog, sink or _default_sink(config)
        )
        self.stats = SendStats(config.stats_seconds_kept)
        self.rng = random.Random(config.seed + 2)
        self._key = config.api_key.get_secret_value().encode()
        self._set_buckets()

    def _set_buckets(self) -> None:
        config = self.config
        self._meta_bucket = _bucket(config.rate_limit_mps, config.rate_burst_fraction)
        self._d360_bucket = _bucket(config.d360_rate_limit_mps, config.rate_burst_fraction)

    def update_config(self, changes: dict[str, Any]) -> SandboxConfig:
        """Change runtime fields (faults, latency, limits, routing) while running.

        Raises:
            ValueError: a field cannot change at run time, or a value is invalid.
        """
        old = self.config
        self.config = old.with_runtime_changes(changes)
        self.fates.set_config(self.config)
        self.emitter.set_config(self.config)
        if (old.rate_limit_mps, old.d360_rate_limit_mps) != (
            self.config.rate_limit_mps,
            self.config.d360_rate_limit_mps,
        ):
            self._set_buckets()
        return self.config

    def key_ok(self, api_key: bytes | None) -> bool:
        """Whether a `D360-API-KEY` value is the configured key (constant-time)."""
        return api_key is not None and hmac.compare_digest(api_key, self._key)

    # Send endpoints.

    def _error(self, code: int, details: str, *, mm: bool) -> SendOutcome:
        self.stats.reject(code)
        answer = ErrorAnswer(code, details)
        return SendOutcome(answer.http_status, orjson.dumps(answer.body(wrapped=mm)))

    def handle_send(self, *, mm: bool, api_key: bytes | None, raw: bytes) -> SendOutcome:
        """Answer one send request.

        Args:
            mm: True for `/marketing_messages`, False for `/messages`.
            api_key: The `D360-API-KEY` header, if any.
            raw: The request body.

        Returns:
            Status, body and the fault to play.
        """
        stats = self.stats
        config = self.config
        now = stats.arrival()
        if not self.key_ok(api_key):
            stats.unauthorized += 1
            return SendOutcome(401, _INVALID_TOKEN)
        if self._d360_bucket is not None and not self._d360_bucket.try_take(now):
            stats.d360_rate_limited += 1
            return SendOutcome(400, _D360_RATE_LIMIT)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._error(100, "(body): the request body is not valid JSON", mm=mm)
        if not isinstance(data, dict):
            return self._error(100, "(body): the request body must be a JSON object", mm=mm)
        try:
            request = (MarketingMessageRequest if mm else CloudMessageRequest).model_validate(data)
        except ValidationError as exc:
            return self._error(100, validation_details(exc), mm=mm)

        template = request.template
        entry = self.catalog.get(template.name, template.language.code)
        if entry is None:
            details = f"template name ({template.name}) does not exist in {template.language.code}"
            return self._error(132001, details, mm=mm)
        if mm and not entry.is_marketing:
            details = (
                f"template {template.name} is {entry.template.category}: the Marketing "
                "Messages API sends MARKETING templates only"
            )
            return self._error(134100, details, mm=mm)
        given = sum(len(c.parameters) for c in template.components or () if c.type == "body")
        if given != entry.body_parameter_count:
            details = (
                f"body: number of localizable_params ({given}) does not match the expected "
                f"number of params ({entry.body_parameter_count})"
            )
            return self._error(132000, details, mm=mm)
        if mm and entry.in_ad_sync(now):
            details = f"template {template.name} is being synced with the ads system; retry later"
            return self._error(134101, details, mm=mm)

        if mm:
            route_mm = config.onboarded
            if not route_mm and request.product_policy == ProductPolicy.STRICT:
                details = "product_policy STRICT: the WABA has not accepted the MM terms"
                return self._error(134102, details, mm=mm)
        else:
            # 360dialog's default routing (DOMAIN.md "Trap"): marketing on /messages uses MM.
            route_mm = (
                entry.is_marketing
                and config.route_marketing_via_mm_on_messages
                and config.onboarded
            )
        if self._meta_bucket is not None and not self._meta_bucket.try_take(now):
            return self._error(130429, "Message throughput has been reached.", mm=mm)
        if config.p_130429 and self.rng.random() < config.p_130429:
            stats.faults["storm_130429"] += 1
            return self._error(130429, "Message throughput has been reached.", mm=mm)

        fault = Fault.NONE
        draw = self.rng.random()
        if draw < config.p_500:
            stats.faults["http_500"] += 1
            return self._error(131000, "Something went wrong. Please retry.", mm=mm)
        draw -= config.p_500
        if draw < config.p_hang:
            fault = Fault.HANG
            stats.faults["hang"] += 1
        elif draw - config.p_hang < config.p_accept_then_drop:
            fault = Fault.DROP
            stats.faults["accept_then_drop"] += 1
        return self._accept(mm, request, entry, route_mm, now, fault)

    def _accept(
        self,
        mm: bool,
        request: MarketingMessageRequest | CloudMessageRequest,
        entry: CatalogEntry,
        route_mm: bool,
        now: float,
        fault: Fault,
    ) -> SendOutcome:
        config = self.config
        held = mm and route_mm and config.p_held > 0 and self.rng.random() < config.p_held
        sharing = config.waba_activity_sharing
        if (
            isinstance(request, MarketingMessageRequest)
            and request.message_activity_sharing is not None
        ):
            sharing = request.message_activity_sharing
        # TTL is a property of MM sends; a marketing message on Cloud keeps Meta's default.
        ttl = (
            entry.ttl_seconds
            if route_mm or not entry.is_marketing
            else MARKETING_TTL_DEFAULT_SECONDS
        )
        plan = self.fates.plan(
            to=request.to,
            route_mm=route_mm,
            marketing=entry.is_marketing,
            ttl_seconds=ttl,
            activity_sharing=sharing,
            held=held,
            now=self.clock.now(),
        )
        if plan.error_code == 131000:
            self.stats.faults["webhook_131000"] += 1
        index = self.truth.add_message(
            to=request.to,
            endpoint=0 if mm else 1,
            route=0 if route_mm else 1,
            category=0 if route_mm else _CATEGORY_INDEX[entry.template.category],
            template_index=entry.index,
            accepted_at=time.time(),
            fate=plan.fate,
            error_code=plan.error_code,
            ttl_seconds=ttl,
            activity_sharing=sharing,
            held=held,
            biz_opaque_callback_data=(
                request.biz_opaque_callback_data
                if isinstance(request, CloudMessageRequest)
                else None
            ),
        )
        self.emitter.schedule(index, plan.events)
        self.stats.accept(now, held=held)
        body = orjson.dumps(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": request.to, "wa_id": request.to.lstrip("+")}],
                "messages": [
                    {
                        "id": self.truth.wamid(index),
                        "message_status": "held_for_quality_assessment" if held else "accepted",
                    }
                ],
            }
        )
        return SendOutcome(200, body, fault)

    # Template endpoints.

    def list_templates(self) -> dict[str, Any]:
        """The `GET /v1/configs/templates` answer."""
        return self.catalog.listing()

    def edit_template(self, data: Any) -> tuple[int, dict[str, Any]]:
        """Create a template or change its TTL (`POST /v1/configs/templates`); starts ad sync.

        Returns:
            HTTP status and JSON body.
        """
        if not isinstance(data, dict):
            return 400, ErrorAnswer(100, "(body): must be a JSON object").body(wrapped=False)
        name, language = data.get("name"), data.get("language")
        if not isinstance(name, str) or not isinstance(language, str):
            details = "name, language: both are required strings"
            return 400, ErrorAnswer(100, details).body(wrapped=False)
        ad_sync = self.config.ad_sync_seconds
        entry = self.catalog.get(name, language)
        if entry is None:
            if "components" not in data:
                details = f"template name ({name}) does not exist in {language}"
                return 404, ErrorAnswer(132001, details).body(wrapped=False)
            try:
                template = SandboxTemplate.model_validate(data)
            except ValidationError as exc:
                return 400, ErrorAnswer(100, validation_details(exc)).body(wrapped=False)
            entry = self.catalog.add(template, ad_sync_seconds=ad_sync)
        elif "message_send_ttl_seconds" in data:
            ttl = data["message_send_ttl_seconds"]
            try:
                if entry.is_marketing:
                    validate_marketing_ttl(ttl)
                elif isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
                    raise TTLValidationError(f"ttl_seconds must be a positive integer ({ttl!r})")
            except TTLValidationError as exc:
                details = f"message_send_ttl_seconds: {exc}"
                return 400, ErrorAnswer(100, details).body(wrapped=False)
            self.catalog.set_ttl(entry, ttl, ad_sync_seconds=ad_sync)
        template = entry.template
        return 200, {"id": template.id, "status": template.status, "category": template.category}

    # Control.

    def stats_snapshot(self) -> dict[str, Any]:
        """The `GET /sandbox/stats` answer."""
        return {
            **self.stats.snapshot(),
            "messages": self.truth.message_count,
            "fates": self.truth.fate_counts(),
            "webhooks": self.emitter.counters(),
        }

    async def start(self) -> None:
        """Start the emitter loop (the app's lifespan calls this)."""
        self.emitter.start()

    async def stop(self) -> None:
        """Stop the emitter, close the sink and the ground truth file."""
        await self.emitter.stop()
