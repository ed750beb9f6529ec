"""Configuration of the sandbox: its account, templates, faults and simulated recipients.

Every knob has a `DEFAULT_*` constant and a `Field(description=...)`. Delays are in
*simulated* seconds (see `time_compression`), except `latency_ms`, `hang_seconds`,
`ad_sync_seconds` and the webhook retry settings, which are real time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from .catalog import SandboxTemplate, default_templates

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_DISPLAY_PHONE_NUMBER",
    "DEFAULT_HANG_SECONDS",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_P_CLICK",
    "DEFAULT_P_DELIVERED_CLOUD",
    "DEFAULT_P_DELIVERED_MM",
    "DEFAULT_P_READ_CLOUD",
    "DEFAULT_P_READ_MM",
    "DEFAULT_RATE_BURST_FRACTION",
    "DEFAULT_TIME_COMPRESSION",
    "DEFAULT_WABA_ID",
    "DEFAULT_WEBHOOK_SECRET",
    "RUNTIME_FIELDS",
    "SandboxConfig",
]

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - a local test secret
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_PHONE_NUMBER = "15550783881"
DEFAULT_SEED = 0
# One simulated hour per real second: a day of webhooks plays out in 24 s.
DEFAULT_TIME_COMPRESSION = 3600.0
DEFAULT_HANG_SECONDS = 60.0
# A server-side burst of 10% of the rate: any one-second window stays within 110% of it.
DEFAULT_RATE_BURST_FRACTION = 0.1
# MM delivers somewhat more than Cloud (Meta claims up to +9%, DOMAIN.md section 5).
DEFAULT_P_DELIVERED_MM = 0.92
DEFAULT_P_DELIVERED_CLOUD = 0.86
DEFAULT_P_READ_MM = 0.55
DEFAULT_P_READ_CLOUD = 0.50
DEFAULT_P_CLICK = 0.15
DEFAULT_MAX_STATUSES_PER_BODY = 10
DEFAULT_WEBHOOK_FILE_MAX_LINES = 100_000
DEFAULT_WEBHOOK_CONCURRENCY = 16
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 8

# Fields that `POST /sandbox/config` may change while the sandbox runs (chaos tests).
RUNTIME_FIELDS = frozenset(
    {
        "latency_ms",
        "rate_limit_mps",
        "d360_rate_limit_mps",
        "p_500",
        "p_hang",
        "hang_seconds",
        "p_accept_then_drop",
        "p_131000",
        "p_held",
        "p_held_dropped",
        "onboarded",
        "route_marketing_via_mm_on_messages",
        "ad_sync_seconds",
        "p_duplicate",
        "p_late",
        "p_130429",
        "p_redeliver",
    }
)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(gt=0.0)]


class SandboxConfig(BaseModel):
    """Everything the sandbox simulates, passed keyword-only; secrets are `SecretStr`.

    Attributes:
        seed: Seed of every random choice; recipients behave by a hash of (seed, number).
        api_key: The `D360-API-KEY` the sandbox accepts.
        waba_id: WABA id put in webhook entries.
        phone_number_id: Phone number id put in webhook metadata.
        display_phone_number: Display number put in webhook metadata.
        templates: The WABA's templates.
        onboarded: Whether the WABA accepted the MM terms.
        route_marketing_via_mm_on_messages: 360dialog's default routing of marketing
            templates sent to /messages through MM.
        waba_activity_sharing: The WABA's activity sharing, used when a send omits
            message_activity_sharing.
        ad_sync_seconds: Real seconds a template stays in ad sync after creation or a TTL
            change (0 = never).

    Example:
        >>> config = SandboxConfig(seed=7, p_500=0.1, latency_ms=100)
        >>> config.api_key
        SecretStr('**********')
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Identity and account.
    seed: int = Field(default=DEFAULT_SEED, description="Seed of every random choice.")
    api_key: SecretStr = Field(
        default=SecretStr(DEFAULT_API_KEY), description="The D360-API-KEY the sandbox accepts."
    )
    waba_id: str = Field(default=DEFAULT_WABA_ID, description="WABA id put in webhook entries.")
    phone_number_id: str = Field(
        default=DEFAULT_PHONE_NUMBER_ID, description="Phone number id put in webhook metadata."
    )
    display_phone_number: str = Field(
        default=DEFAULT_DISPLAY_PHONE_NUMBER, description="Display number in webhook metadata."
    )
    templates: list[SandboxTemplate] = Field(
        default_factory=default_templates, description="The WABA's templates."
    )
    onboarded: bool = Field(default=True, description="Whether the WABA accepted the MM terms.")
    route_marketing_via_mm_on_messages: bool = Field(
        default=True,
        description="360dialog's default: marketing templates sent to /messages go through MM.",
    )
    waba_activity_sharing: bool = Field(
        default=True, description="Activity sharing used when a send omits the field."
    )
    ad_sync_seconds: float = Field(
        default=0.0, ge=0.0, description="Real seconds of ad sync after a template change."
    )

    # Throughput (real time).
    latency_ms: float = Field(default=0.0, ge=0.0, description="Added to every send answer.")
    rate_limit_mps: float | None = Field(
        default=None, gt=0.0, description="Meta's throughput cap (130429); None = off."
    )
    d360_rate_limit_mps: float | None = Field(
        default=None, gt=0.0, description="360dialog's own endpoint limit; None = off."
    )
    rate_burst_fraction: float = Field(
        default=DEFAULT_RATE_BURST_FRACTION,
        ge=0.0,
        description="Extra share of the rate in any 1 s.",
    )

    # Faults, per send request (real time).
    p_500: Probability = Field(default=0.0, description="HTTP 500 with code 131000, not sent.")
    p_hang: Probability = Field(
        default=0.0, description="Accepted, but the answer waits hang_seconds."
    )
    hang_seconds: float = Field(
        default=DEFAULT_HANG_SECONDS, ge=0.0, description="How long a hung answer waits."
    )
    p_accept_then_drop: Probability = Field(
        default=0.0, description="Accepted, then the connection closes without an answer."
    )
    p_130429: Probability = Field(
        default=0.0,
        description="Answered 130429 whatever the rate: raised for a while, a throughput storm.",
    )
    p_131000: Probability = Field(
        default=0.0, description="Accepted, then a failed webhook with code 131000."
    )
    p_held: Probability = Field(default=0.0, description="MM answers held_for_quality_assessment.")
    p_held_dropped: Probability = Field(
        default=0.5, description="Share of held messages later dropped with 132015."
    )

    # Recipients, by a hash of (seed, number).
    p_invalid_number: Probability = Field(default=0.01, description="Failed webhook 131026.")
    p_opted_out: Probability = Field(default=0.005, description="Failed webhook 131050.")
    p_user_limit: Probability = Field(default=0.01, description="Failed webhook 131049.")
    invalid_numbers: set[str] = Field(default_factory=set, description="Always 131026.")
    opted_out_numbers: set[str] = Field(default_factory=set, description="Always 131050.")
    user_limit_numbers: set[str] = Field(default_factory=set, description="Always 131049.")
    p_stop_after_read: Probability = Field(
        default=0.01, description="A reader sends stop (user_preferences) after reading."
    )
    p_resume_after_stop: Probability = Field(
        default=0.1, description="A user who stopped later sends resume."
    )

    # Fates, per route taken.
    p_delivered_mm: Probability = Field(default=DEFAULT_P_DELIVERED_MM, description="MM route.")
    p_delivered_cloud: Probability = Field(
        default=DEFAULT_P_DELIVERED_CLOUD, description="Cloud route (incl. fallback)."
    )
    p_read_mm: Probability = Field(default=DEFAULT_P_READ_MM, description="Read given delivered.")
    p_read_cloud: Probability = Field(
        default=DEFAULT_P_READ_CLOUD, description="Read given delivered."
    )
    p_click: Probability = Field(
        default=DEFAULT_P_CLICK, description="Click given read, MM with activity sharing."
    )
    p_undelivered_failed: Probability = Field(
        default=0.3, description="Share of undelivered messages failing 131026 (else expired)."
    )
    p_skip_delivered: Probability = Field(
        default=0.02, description="A read status comes without a delivered one."
    )

    # Delays, simulated seconds (lognormal: median and sigma).
    sent_median_seconds: Seconds = Field(default=2.0, description="Acceptance to sent.")
    delivery_median_seconds: Seconds = Field(default=60.0, description="Sent to delivered.")
    delivery_sigma: float = Field(default=1.0, ge=0.0, description="Spread of delivery delay.")
    p_offline: Probability = Field(
        default=0.08, description="Phones offline for a while: the long delivery tail."
    )
    offline_median_seconds: Seconds = Field(default=6 * 3600.0, description="Offline delay.")
    offline_sigma: float = Field(default=1.5, ge=0.0, description="Spread of offline delay.")
    read_median_seconds: Seconds = Field(default=2 * 3600.0, description="Delivered to read.")
    read_sigma: float = Field(default=1.5, ge=0.0, description="Spread of read delay.")
    click_median_seconds: Seconds = Field(default=60.0, description="Read to click.")
    stop_median_seconds: Seconds = Field(default=600.0, description="Read to stop.")
    resume_median_seconds: Seconds = Field(default=3 * 86400.0, description="Stop to resume.")
    held_median_seconds: Seconds = Field(default=3600.0, description="Held to sent or dropped.")

    # Webhook disorder.
    p_duplicate: Probability = Field(default=0.01, description="An event is delivered twice.")
    duplicate_max_delay_seconds: Seconds = Field(
        default=300.0, description="Simulated delay of a duplicate after the original."
    )
    p_late: Probability = Field(
        default=0.05, description="An event is held back, so it may overtake or be overtaken."
    )
    p_redeliver: Probability = Field(
        default=0.0,
        description="A body the receiver took is POSTed again, byte for byte (at-least-once).",
    )
    late_max_seconds: Seconds = Field(
        default=1800.0, description="Largest simulated hold-back of a late event."
    )
    max_statuses_per_body: int = Field(
        default=DEFAULT_MAX_STATUSES_PER_BODY, ge=1, description="Events batched per body."
    )
    p_multi_entry: Probability = Field(
        default=0.1, description="A batched body is split into several entries."
    )
    include_conversation: bool = Field(
        default=False, description="Add the legacy `conversation` object on Cloud statuses."
    )

    # Clock.
    time_compression: float = Field(
        default=DEFAULT_TIME_COMPRESSION, gt=0.0, description="Simulated seconds per real one."
    )

    # Webhook sink.
    webhook_url: str | None = Field(
        default=None, pattern=r"^https?://", description="POST each body here."
    )
    webhook_secret: SecretStr | None = Field(
        default=SecretStr(DEFAULT_WEBHOOK_SECRET), description="HMAC key of X-Hub-Signature-256."
    )
    webhook_dir: Path | None = Field(
        default=None, description="Append each body to webhooks-<n>.ndjson here."
    )
    webhook_file_max_lines: int = Field(
        default=DEFAULT_WEBHOOK_FILE_MAX_LINES, ge=1, description="Lines before a file rotates."
    )
    webhook_concurrency: int = Field(
        default=DEFAULT_WEBHOOK_CONCURRENCY, ge=1, description="Bodies delivered at once."
    )
    webhook_max_attempts: int = Field(
        default=DEFAULT_WEBHOOK_MAX_ATTEMPTS, ge=1, description="Attempts before giving up."
    )
    webhook_retry_base_seconds: float = Field(
        default=0.05, gt=0.0, description="First retry backoff (real), doubled each time."
    )
    webhook_retry_max_seconds: float = Field(
        default=5.0, gt=0.0, description="Cap of the retry backoff (real)."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0.0, description="Timeout of one webhook POST (real)."
    )
    emit_interval_seconds: float = Field(
        default=0.02, gt=0.0, description="Real seconds between emitter ticks."
    )

    # Ground truth and stats.
    ground_truth_path: Path | None = Field(
        default=None, description="Also write the ground truth as NDJSON here."
    )
    stats_seconds_kept: int = Field(
        default=3600, ge=1, description="Per-second request counts kept in /sandbox/stats."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SandboxConfig:
        faults = self.p_500 + self.p_hang + self.p_accept_then_drop
        if faults > 1.0:
            raise ValueError(f"p_500 + p_hang + p_accept_then_drop must be <= 1 (got {faults})")
        kinds = self.p_invalid_number + self.p_opted_out + self.p_user_limit
        if kinds > 1.0:
            raise ValueError(
                f"p_invalid_number + p_opted_out + p_user_limit must be <= 1 ({kinds})"
            )
        if self.webhook_url is not None and self.webhook_dir is not None:
            raise ValueError("webhook_url and webhook_dir are exclusive: set one of them")
        keys = [(t.name, t.language) for t in self.templates]
        if len(keys) != len(set(keys)):
            raise ValueError("templates: each (name, language) may appear only once")
        return self

    def p_delivered(self, route_mm: bool) -> float:
        """Delivery probability of the route taken."""
        return self.p_delivered_mm if route_mm else self.p_delivered_cloud

    def p_read(self, route_mm: bool) -> float:
        """Read probability (given delivered) of the route taken."""
        return self.p_read_mm if route_mm else self.p_read_cloud

    def with_runtime_changes(self, changes: dict[str, Any]) -> SandboxConfig:
        """A copy with some `RUNTIME_FIELDS` changed, validated as a whole.

        Args:
            changes: Field names and new values.

        Returns:
            The new configuration.

        Raises:
            ValueError: a field is not runtime-changeable, or a value is invalid.
        """
        refused = sorted(set(changes) - RUNTIME_FIELDS)
        if refused:
            raise ValueError(
                f"{', '.join(refused)}: not changeable at run time "
                f"(allowed: {', '.join(sorted(RUNTIME_FIELDS))})"
            )
        # model_dump keeps SecretStr objects, so secrets survive the round trip unchanged.
        return SandboxConfig.model_validate({**self.model_dump(), **changes})

    def runtime_values(self) -> dict[str, Any]:
        """The current values of the runtime-changeable fields."""
        return {name: getattr(self, name) for name in sorted(RUNTIME_FIELDS)}
