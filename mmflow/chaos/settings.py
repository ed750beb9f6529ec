"""What a chaos run does: audience size, the fault schedule, and the sandbox's background faults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "DEFAULT_CHAOS_RECIPIENTS",
    "ChaosSettings",
    "short_chaos_settings",
]

DEFAULT_CHAOS_RECIPIENTS = 200_000
DEFAULT_FLOW_KILLS = 5
DEFAULT_RECEIVER_KILLS = 3
DEFAULT_MESSAGES_PER_SECOND = 1000.0
DEFAULT_CHUNK_SIZE = 5000
DEFAULT_STORM_SECONDS = 20.0
DEFAULT_BURSTS = 3
DEFAULT_LATENCY_MS = 20.0


class ChaosSettings(BaseModel):
    """A chaos run's audience, fault schedule and background faults; passed keyword-only.

    Attributes:
        recipients: Customers in the generated warehouse (a few are dirty and rejected).
        seed: Seed of the warehouse, the fault schedule and the sandbox.
        flow_kills: Times the send flow is SIGKILLed mid-campaign and started again.
        receiver_kills: Times the webhook receiver is SIGKILLed under load and restarted.
        receiver_down_seconds: Longest time the receiver stays down after a kill.
        messages_per_second: The account's cap: the sandbox answers 130429 above it and the
            campaign's client is configured with it.
        chunk_size: Messages per task run of the send flow.
        storm_seconds: Length of the long 130429 storm (every send answered 130429).
        bursts: Short 130429 bursts (half of the sends answered 130429 for two seconds).
        latency_ms: The sandbox's answer latency.
        p_500, p_hang, hang_seconds, p_accept_then_drop: Send faults (see `SandboxConfig`);
            a hang longer than the client's 30 s timeout leaves the outcome unknown.
        p_duplicate, p_late, p_redeliver: Webhook disorder: duplicated events, late events
            (out of order), whole bodies POSTed again.
        land_every_seconds: How often webhooks are landed while the campaign runs (the
            re-started flow reconciles unknown sends against them).
        api_key, webhook_secret: The secrets the run uses (random when None); a secret
            audit passes known ones to look for them in everything the run wrote.

    Example:
        >>> ChaosSettings(recipients=2000).flow_kills
        5
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: int = Field(default=DEFAULT_CHAOS_RECIPIENTS, ge=200, description="Customers.")
    seed: int = Field(default=0, description="Seed of the warehouse, schedule and sandbox.")
    flow_kills: int = Field(default=DEFAULT_FLOW_KILLS, ge=0, description="Send flow SIGKILLs.")
    receiver_kills: int = Field(
        default=DEFAULT_RECEIVER_KILLS, ge=0, description="Receiver SIGKILLs under load."
    )
    receiver_down_seconds: float = Field(
        default=4.0, gt=0, description="Longest receiver downtime after a kill."
    )
    messages_per_second: float = Field(
        default=DEFAULT_MESSAGES_PER_SECOND, gt=0, le=1000, description="The account's cap."
    )
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=10, description="Messages per chunk.")
    storm_seconds: float = Field(
        default=DEFAULT_STORM_SECONDS, ge=0, description="The long 130429 storm."
    )
    bursts: int = Field(default=DEFAULT_BURSTS, ge=0, description="Short 130429 bursts.")
    latency_ms: float = Field(default=DEFAULT_LATENCY_MS, ge=0, description="Answer latency.")
    p_500: float = Field(default=0.01, ge=0, le=1, description="HTTP 500 (131000).")
    p_hang: float = Field(default=0.0001, ge=0, le=1, description="Hung answers.")
    hang_seconds: float = Field(default=35.0, ge=0, description="How long a hang lasts.")
    p_accept_then_drop: float = Field(
        default=0.001, ge=0, le=1, description="Accepted, connection dropped."
    )
    p_duplicate: float = Field(default=0.02, ge=0, le=1, description="Duplicated events.")
    p_late: float = Field(default=0.1, ge=0, le=1, description="Late (out of order) events.")
    p_redeliver: float = Field(default=0.02, ge=0, le=1, description="Bodies POSTed again.")
    land_every_seconds: float = Field(default=5.0, gt=0, description="Landing interval.")
    api_key: SecretStr | None = Field(default=None, description="The API key (random if None).")
    webhook_secret: SecretStr | None = Field(
        default=None, description="The webhook signing secret (random if None)."
    )


def short_chaos_settings(**changes: object) -> ChaosSettings:
    """The short version the test suite runs: 2,000 customers, fewer and quicker faults."""
    values: dict[str, object] = {
        "recipients": 2000,
        "flow_kills": 2,
        "receiver_kills": 2,
        "receiver_down_seconds": 1.5,
        "messages_per_second": 300.0,
        "chunk_size": 200,
        "storm_seconds": 2.0,
        "bursts": 1,
        "latency_ms": 5.0,
        "p_500": 0.02,
        "p_hang": 0.0,
        "p_accept_then_drop": 0.005,
        "p_duplicate": 0.05,
        "p_redeliver": 0.05,
        "land_every_seconds": 1.0,
    }
    values.update(changes)
    return ChaosSettings.model_validate(values)
