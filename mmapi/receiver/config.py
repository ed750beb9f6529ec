"""Configuration of the webhook receiver: where segments go, limits, and the optional secrets.

Every check that needs a secret is on exactly when its secret is set: `app_secret` turns on
`X-Hub-Signature-256`, `d360_secret` turns on `x-360dialog-signature`, `verify_token` turns
on the `GET` verification handshake. Secrets are `SecretStr`, read from the environment at
the command line's edge and unwrapped only where a signature is computed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "DEFAULT_KEPT_HEADERS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_SEGMENT_MAX_BYTES",
    "DEFAULT_SEGMENT_MAX_SECONDS",
    "DEFAULT_WEBHOOK_PATH",
    "ReceiverConfig",
]

DEFAULT_WEBHOOK_PATH = "/webhook"
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_SEGMENT_MAX_BYTES = 64 << 20
DEFAULT_SEGMENT_MAX_SECONDS = 300.0
# Headers stored with each body: the signatures (to re-check later), and what tells senders apart.
DEFAULT_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-hub-signature-256",
    "x-360dialog-signature",
    "x-request-id",
)


class ReceiverConfig(BaseModel):
    """What the receiver listens for, where it writes, and which checks it runs.

    Attributes:
        directory: Folder of the NDJSON segments (created if missing); bodies refused as
            not JSON go to its `quarantine/` subfolder.
        path: URL path of the webhook (POST bodies, GET verification).
        max_body_bytes: Larger bodies are answered 413 and not stored.
        segment_max_bytes: A segment is closed and a new one started past this size.
        segment_max_seconds: ... or when it is older than this.
        app_secret: Meta app secret; when set, `X-Hub-Signature-256` must match.
        d360_secret: 360dialog signature secret; when set, `x-360dialog-signature` must match.
        verify_token: When set, `GET path?hub.mode=subscribe&hub.verify_token=...` echoes
            `hub.challenge`.
        kept_headers: Request headers stored with each body (lower case).
        fsync: Make each group of bodies durable before answering; off only in tests that
            measure something else.

    Example:
        >>> config = ReceiverConfig(directory=Path("raw"), app_secret="s3cret")
        >>> config.app_secret
        SecretStr('**********')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: Path = Field(description="Folder of the NDJSON segments (created if missing).")
    path: str = Field(
        default=DEFAULT_WEBHOOK_PATH,
        pattern=r"^/[A-Za-z0-9._~/-]*$",
        description="URL path of the webhook (POST bodies, GET verification).",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1, description="Larger bodies are answered 413."
    )
    segment_max_bytes: int = Field(
        default=DEFAULT_SEGMENT_MAX_BYTES, ge=1, description="Segment size before rotation."
    )
    segment_max_seconds: float = Field(
        default=DEFAULT_SEGMENT_MAX_SECONDS, gt=0, description="Segment age before rotation."
    )
    app_secret: SecretStr | None = Field(
        default=None, description="Meta app secret; when set, X-Hub-Signature-256 must match."
    )
    d360_secret: SecretStr | None = Field(
        default=None,
        description="360dialog signature secret; when set, x-360dialog-signature must match.",
    )
    verify_token: SecretStr | None = Field(
        default=None, description="When set, the GET handshake echoes hub.challenge."
    )
    kept_headers: tuple[str, ...] = Field(
        default=DEFAULT_KEPT_HEADERS, description="Request headers stored with each body."
    )
    fsync: bool = Field(default=True, description="Make bodies durable before answering.")

    @field_validator("kept_headers")
    @classmethod
    def _lower_case(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name.strip().lower() for name in value if name.strip()))

    @field_validator("app_secret", "d360_secret", "verify_token")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty environment variable means "not set", never "the empty secret".
        if value is not None and not value.get_secret_value().strip():
            return None
        return value
